r"""The verdict report for referees: one self-contained HTML page (``attnverify verify --html DIR``).

The page opens from disk with no server and no network: styles and the filter script are inline, and
every statement is MathML (:mod:`proofs_numeric.mathml`), which the browser renders itself. It holds
the summary, how to read a verdict, a table of every claim filterable by paper, verdict and text, and
for each claim: its statement, evidence (worst error against tolerance, or the empirical decision: effect,
95 % interval, rule, units and n, the paper's figure beside ours, control and detectable effect where
recorded), the pinned files it decided from (path and SHA-256) and the source line that registers it.

It is built from a :class:`~proofs_numeric.Report` or from the dictionary of a ``verify --json`` file
(:func:`load_report_json`), so a report can be re-rendered without re-running its claims::

    write_html_report(load_report_json("reports/verify.json"), "reports/html")   # reports/html/index.html
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ._html_assets import CSS, SCRIPT, VERDICT_COLOURS
from .io import atomic_write_text
from .mathml import tex_to_mathml, text_with_math
from .report import HOW_TO_READ, VERDICT_ORDER
from .report_schema import NON_FINITE, is_effect, report_json_problem

__all__ = ["html_report", "write_html_report", "load_report_json", "select_claims", "claim_sources", "pinned_files",
           "unpinned_files", "report_json_problem", "NON_FINITE"]

_e = html.escape
#: keys of a decision or of the details that name a negative control or a minimal detectable effect
CONTROL_KEYS = ("controls", "control", "negative_control", "placebo")
MDE_KEYS = ("detectable_effect", "mde", "minimal_detectable_effect")


def load_report_json(path: str | Path) -> dict[str, Any]:
    """The dictionary of a ``verify --json`` file, every field checked
    (:func:`~proofs_numeric.report_schema.report_json_problem`); ``ValueError`` names the file and the field
    when it is not one (also for an integer of more than 4300 digits and for nesting deeper than Python's
    recursion limit)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError, and int('1' * 5000)'s digit limit
        raise ValueError(f"{p} is not valid JSON: {e}") from None
    except RecursionError:
        raise ValueError(f"{p} is not a verify --json report: its JSON nests deeper than Python's recursion limit") from None
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise ValueError(f"{p} is not an attnverify verify --json report (no 'claims' list)")
    problem = report_json_problem(data)
    if problem:
        raise ValueError(f"{p} is not a valid verify --json report: {problem}")
    return data


def select_claims(data: Mapping[str, Any], only: str | None, *, source: str | Path = "the report") -> dict[str, Any]:
    """``data`` with only the claims whose id matches the glob ``only`` (all when ``None``), recorded in its
    ``only`` field; ``ValueError`` when none matches."""
    import fnmatch

    if only is None:
        return dict(data)
    claims = [c for c in data["claims"] if fnmatch.fnmatchcase(c["id"], only)]
    if not claims:
        raise ValueError(f"--only {only!r} matches no claim of {source} ({len(data['claims'])} claims)")
    return {**data, "claims": claims, "only": only}


def claim_sources(ids: list[str] | None = None) -> dict[str, tuple[str, int]]:
    """``{claim id: (path relative to the repository, line)}`` of the code that registers each claim: the
    line recorded at registration (the decorator, or the call of a factory that names the id:
    :func:`~proofs_numeric._registry.registration_site`), else the check function's first line; claims
    not in the registry are left out."""
    import inspect

    from ._registry import _CLAIMS, claim_source, discover

    discover()
    root = Path(__file__).resolve().parents[1]
    out = {}
    for cid, c in _CLAIMS.items():
        if ids is not None and cid not in ids:
            continue
        site = claim_source(cid)
        try:
            if site is None:
                fn = inspect.unwrap(c.check)
                site = (inspect.getsourcefile(fn) or "", inspect.getsourcelines(fn)[1])
        except (TypeError, OSError):
            continue
        path, line = Path(site[0]).resolve(), site[1]
        out[cid] = (str(path.relative_to(root)) if path.is_relative_to(root) else str(path), int(line))
    return out


def pinned_files(claim: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every file a claim decided from: entries carrying a ``sha256`` and a ``file`` (or ``path``) in its
    evidence record (``claim["evidence"]``) or anywhere in its details (``details["evidence_files"]``: the
    pins of ``experiments/evidence_manifest.json`` that ``verify`` checked; a reference run's provenance)."""
    found: list[dict[str, Any]] = []

    def walk(x: Any) -> Iterator[dict[str, Any]]:
        if isinstance(x, Mapping):
            if "sha256" in x and any(k in x for k in ("file", "path")):
                yield {k: x[k] for k in ("file", "path", "sha256", "reproduce", "command", "pinned", "protocol", "note", "replaces") if k in x}
            for v in x.values():
                yield from walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                yield from walk(v)

    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in walk([claim.get("evidence"), claim.get("details")]):
        key = (str(entry.get("file") or entry.get("path")), str(entry["sha256"]))
        if key in seen:  # one file recorded twice (a reference run's provenance and the verify's pin check): merge
            for k, v in entry.items():
                seen[key].setdefault(k, v)
            if _unpinned(entry):
                seen[key]["pinned"] = entry["pinned"]
        else:
            seen[key] = entry
            found.append(entry)
    return found


def _unpinned(f: Mapping[str, Any]) -> bool:
    """A file record of a user's run: ``pinned`` false (the verify's pin check) or ``"no: ..."`` (a reference
    run's provenance)."""
    p = f.get("pinned")
    return p is False or (isinstance(p, str) and p.lower().startswith("no"))


def unpinned_files(claim: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The files of a user's run (``verify --evidence DIR``) that decided the claim in place of pinned ones:
    the entries of :func:`pinned_files` recorded with ``pinned`` false or ``"no: ..."``."""
    return [f for f in pinned_files(claim) if _unpinned(f)]


def _badge(c: Mapping[str, Any]) -> str:
    """The verdict badge; a verdict decided from an unpinned local run says so in its text and its title."""
    v = str(c["verdict"])
    style = f"background:{VERDICT_COLOURS.get(v, '#444')}"
    local = unpinned_files(c)
    if not local:
        return f'<span class="badge" style="{style}">{_e(v)}</span>'
    files = "; ".join(f"{f.get('file') or f.get('path')} (sha256 {str(f['sha256'])[:12]})" for f in local)
    title = (f"decided from an unpinned local run (attnverify verify --evidence), not the pinned evidence: {files}. "
             "Promote the run with attnverify promote to pin it.")
    return f'<span class="badge unpinned" style="{style}" title="{_e(title)}">{_e(v)} \u00b7 unpinned local run</span>'


def _sci(x: Any, digits: int) -> str:
    """``x`` in scientific notation; a non-finite number, which ``--json`` writes as ``"nan"``/``"inf"``, as its word."""
    return f"{x:.{digits}e}" if isinstance(x, (int, float)) and not isinstance(x, bool) else _e(str(x))


def _g(x: Any) -> str:
    return f"{x:.3g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else _e(str(x))


def _first(mappings: tuple[Mapping[str, Any], ...], keys: tuple[str, ...]) -> Any:
    for m in mappings:
        for k in keys:
            if m.get(k) not in (None, ""):
                return m[k]
    return None


def _row(label: str, value_html: str) -> str:
    return f"<tr><th>{_e(label)}</th><td>{value_html}</td></tr>"


def _effect(d: Mapping[str, Any]) -> str:
    lo, hi = d["ci"]
    return f"{_e(d['effect'])} = <b>{_g(d['estimate'])}</b> [{_g(lo)}, {_g(hi)}]"


def _evidence_cell(c: Mapping[str, Any]) -> str:
    if c.get("decision"):
        return _effect(c["decision"])
    return "-" if c.get("worst_error") is None else f"{_sci(c['worst_error'], 1)} (tol {_sci(c['tolerance'], 0)})"


def _controls(controls: Any) -> str:
    """Each placebo's effect and outcome ("passes" blocks verified), and whether it could pass at this n."""
    if controls is None:
        return "not recorded"
    if not isinstance(controls, Mapping) or not all(is_effect(v) for v in controls.values()):
        return _e(json.dumps(controls, default=str))
    return "<br>".join(f"{_e(name)}: {_effect(c)}, {_e(c.get('outcome') or '-')}"
                       + (" <b>(blocks verified)</b>" if c.get("passes") else "")
                       + (" (cannot pass at this n)" if c.get("can_pass") is False else "")
                       for name, c in controls.items())


def _decision_rows(c: Mapping[str, Any]) -> list[str]:
    d, det = c["decision"], c.get("details") or {}
    rows = [
        _row("effect", _effect(d) + f" ({d.get('level', 0.95):.0%} CI, {_e(d['method'])})"
             + ("" if d.get("p_value") is None else f", p = {_g(d['p_value'])}")),
        _row("decision rule", _e(d["rule"]) + f" (boundary {_g(d['boundary'])}, test: {_e(d.get('test', 'direction'))})"),
        _row("units, n", f"{_e(d['units'])}; n = {d['n_units']}"),
    ]
    if d.get("paper_figure") or d.get("paper_setting") or d.get("our_setting"):
        rows.append(_row("paper", f"{_e(d.get('paper_figure') or '-')}; setting: {_e(d.get('paper_setting') or '-')}"))
        rows.append(_row("ours", f"{_effect(d)}; setting: {_e(d.get('our_setting') or 'as the paper')}"))
    for name, part in (d.get("parts") or {}).items():
        rows.append(_row(f"part: {name}", _effect(part) + f" ({_e(part.get('outcome') or '-')}, n = {'-' if part.get('n_units') is None else part['n_units']})"))
    rows.append(_row("negative control", _controls(_first((d, det), CONTROL_KEYS))))
    mde = _first((d, det), MDE_KEYS)
    rows.append(_row("detectable effect (80 % power)", "not recorded" if mde is None else
                     (_g(mde) if isinstance(mde, (int, float)) else _e(json.dumps(mde, default=str)))))
    return rows


def _claim_section(c: Mapping[str, Any], source: tuple[str, int] | None, source_url: str | None) -> str:
    v, cid = c["verdict"], c["id"]
    rows = [
        _row("paper, equation", f"{_e(c['paper'])}, {_e(c['equation'])}"),
        _row("provenance", _e(c["provenance"]) + (" (empirical)" if c.get("empirical") else "")),
        _row("statement", tex_to_mathml(c["statement"], display=True)),
    ]
    if c.get("decision"):
        rows += _decision_rows(c)
    elif c.get("worst_error") is not None:
        rows.append(_row("evidence", f"worst {_e(c.get('error_kind', 'abs'))} error {_sci(c['worst_error'], 2)} "
                         f"(tolerance {_sci(c['tolerance'], 0)}) over {c['n_random']} random + {c['n_adversarial']} adversarial instances"))
    rows.append(_row("sympy", _e(c.get("symbolic", "n/a"))))
    links = [f'depends on <a href="#c-{_e(x)}">{_e(x)}</a>' for x in c.get("depends_on") or []]
    if c.get("corrected_by"):
        links.append(f'corrected by <a href="#c-{_e(c["corrected_by"])}">{_e(c["corrected_by"])}</a>')
    if links:
        rows.append(_row("links", "; ".join(links)))
    for f in pinned_files(c):
        name = f.get("file") or f.get("path")
        how = f.get("reproduce") or f.get("command")
        pin = (" (pinned in experiments/evidence_manifest.json)" if f.get("pinned") is True else
               f" ({f.get('note') or 'unpinned local run (attnverify verify --evidence)'})" if _unpinned(f) else "")
        rows.append(_row("decided from", f"<code>{_e(str(name))}</code>{_e(pin)}<br>SHA-256 <code>{_e(str(f['sha256']))}</code>"
                         + (f"<br>reproduce: <code>{_e(str(how))}</code>" if how else "")))
    if source:
        path, line = source
        href = source_url.format(path=path, line=line) if source_url else None
        label = f"<code>{_e(path)}:{line}</code>"
        rows.append(_row("registered at", f'<a href="{_e(href)}">{label}</a>' if href else label))
    if c.get("notes"):
        rows.append(_row("notes", text_with_math(c["notes"])))
    if c.get("counterexample"):
        rows.append(_row("counterexample", f"<pre>{_e(json.dumps(c['counterexample'], default=str, indent=1)[:3000])}</pre>"))
    if v == "failed" and c.get("message"):
        rows.append(_row("failure", f"<pre>{_e(c['message'][-3000:])}</pre>"))
    details = json.dumps(c.get("details") or {}, default=str, indent=1)
    more = f"<details><summary>details ({len(details)} characters)</summary><pre>{_e(details[:6000])}</pre></details>" if c.get("details") else ""
    return (f'<section class="claim" id="c-{_e(cid)}" data-paper="{_e(c["paper"])}" data-verdict="{_e(v)}">'
            f'<h3><code>{_e(cid)}</code> {_badge(c)}</h3>'
            f'<table class="kv">{"".join(rows)}</table>{more}</section>')


def _how_to_read() -> str:
    """:data:`~proofs_numeric.report.HOW_TO_READ` (Markdown: bullets, ``code``, **bold**) as HTML."""
    def inline(s: str) -> str:
        s = _e(s)
        return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", re.sub(r"`([^`]+)`", r"<code>\1</code>", s))

    out, items = [], []
    for block in HOW_TO_READ.split("\n\n"):
        lines = block.strip().split("\n- ")
        if block.strip().startswith("- "):
            items = [" ".join(x.lstrip("- ").split()) for x in lines]
            out.append("<ul>" + "".join(f"<li>{inline(x)}</li>" for x in items) + "</ul>")
        elif block.strip():
            out.append(f"<p>{inline(' '.join(block.split()))}</p>")
    return "".join(out)


def html_report(report: Any, *, sources: Mapping[str, tuple[str, int]] | None = None, source_url: str | None = None) -> str:
    """The page's HTML for a :class:`~proofs_numeric.Report` or its ``as_dict()`` / ``--json`` dictionary.

    ``sources``: ``{claim id: (path, line)}`` (default :func:`claim_sources`); ``source_url``: a format
    string with ``{path}`` and ``{line}`` for the links (default: a ``file:`` link to the checkout)."""
    data = report.as_dict() if hasattr(report, "as_dict") else report
    if not isinstance(data, Mapping) or not isinstance(data.get("claims"), list):
        raise TypeError("report must be a Report or a verify --json dictionary with a 'claims' list")
    claims = data["claims"]
    if sources is None:
        sources = claim_sources([c["id"] for c in claims])
    if source_url is None:
        root = Path(__file__).resolve().parents[1]
        source_url = root.as_uri() + "/{path}#L{line}"
    counts = {v: sum(c["verdict"] == v for c in claims) for v in VERDICT_ORDER}
    papers = sorted({c["paper"] for c in claims})
    n_local = sum(bool(unpinned_files(c)) for c in claims)
    unpinned = (f' <span class="badge unpinned" style="background:#444" title="verdicts decided from a local run given with '
                f'--evidence, not from the pinned evidence">{n_local} from an unpinned local run</span>' if n_local else "")
    badges = "".join(f'<span class="badge" style="background:{VERDICT_COLOURS[v]}">{counts[v]} {_e(v)}</span> ' for v in VERDICT_ORDER)
    by_paper = "".join(
        f"<tr><td>{_e(p)}</td>" + "".join(f"<td>{sum(c['paper'] == p and c['verdict'] == v for c in claims) or ''}</td>" for v in VERDICT_ORDER) + "</tr>"
        for p in papers)
    rows = "".join(
        f'<tr data-paper="{_e(c["paper"])}" data-verdict="{_e(c["verdict"])}"><td><a href="#c-{_e(c["id"])}"><code>{_e(c["id"])}</code></a></td>'
        f'<td>{_e(c["paper"])}, {_e(c["equation"])}</td><td>{tex_to_mathml(c["statement"])}</td>'
        f'<td>{_badge(c)}</td>'
        f'<td>{_evidence_cell(c)}</td></tr>'
        for c in claims)
    options = lambda xs: '<option value="">all</option>' + "".join(f'<option value="{_e(x)}">{_e(x)}</option>' for x in xs)  # noqa: E731
    env = ", ".join(f"{_e(k)} {_e(str(v))}" for k, v in (data.get("environment") or {}).items())
    sections = "".join(_claim_section(c, sources.get(c["id"]), source_url) for c in claims)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>attnverify verdict report</title><style>{CSS}</style></head><body>
<header><h1>attnverify verdict report</h1>
<p>{len(claims)} claims {badges}{unpinned}</p>
<p class="meta">Started {_e(str(data.get('started', '-')))}, seed {_e(str(data.get('seed', '-')))}, scale {_e(str(data.get('scale', '-')))},
selection <code>{_e(str(data.get('only') or '*'))}</code>, {float(data.get('seconds') or 0):.1f} s. Environment: {env}.</p></header>
<details><summary>How to read a verdict</summary>{_how_to_read()}</details>
<h2>Verdicts by paper</h2><table class="grid"><tr><th>paper</th>{"".join(f"<th>{_e(v)}</th>" for v in VERDICT_ORDER)}</tr>{by_paper}</table>
<h2>Claims</h2>
<form id="filters" onsubmit="return false"><label>paper <select id="f-paper">{options(papers)}</select></label>
<label>verdict <select id="f-verdict">{options(VERDICT_ORDER)}</select></label>
<label>text <input id="f-text" type="search" placeholder="claim id or words"></label> <span id="f-count"></span></form>
<table class="grid" id="claims"><thead><tr><th>claim</th><th>paper, equation</th><th>statement</th><th>verdict</th>
<th>worst error (tol) or effect [95 % CI]</th></tr></thead><tbody>{rows}</tbody></table>
<h2>Every claim</h2>{sections}
<script>{SCRIPT}</script></body></html>
"""


def write_html_report(report: Any, out_dir: str | Path, **kwargs: Any) -> Path:
    """Write ``out_dir/index.html`` (atomically) for a Report or a ``--json`` dictionary; returns the path."""
    out = Path(out_dir)
    page = html_report(report, **kwargs)  # before the directory is made: a report that cannot be drawn leaves none
    out.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(out / "index.html", page)
