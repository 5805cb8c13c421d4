"""Render a :class:`~proofs_numeric.Report` as a terminal table, Markdown and JSON (written atomically)."""

from __future__ import annotations

import re
from pathlib import Path

from ._runner import Report
from .io import atomic_write_json, atomic_write_text

__all__ = [
    "HOW_TO_READ", "VERDICT_ORDER", "summary_line", "summary_table", "markdown_report", "claims_table_markdown",
    "write_reports", "update_readme_table", "effect_text", "evidence_rows", "evidence_table", "unpinned_sources",
]

README_START = "<!-- claims-table:start -->"
README_END = "<!-- claims-table:end -->"


VERDICT_ORDER = ("verified", "refuted", "not reproduced", "inconclusive", "erratum", "failed")

HOW_TO_READ = """\
**How to read a verdict.**

- `verified`: the statement holds within tolerance (mathematics), or its decision rule, stated before the
  data, accepts (empirical).
- `refuted`: the paper's own statement fails in a setting the statement covers, shown by a registered
  counterexample or by an effect whose 95 % CI lies entirely on the side opposite to the paper's.
- `not reproduced`: an empirical figure measured in a setting that differs from the paper's (model, data,
  scale or metric), shown next to the paper's figure with the difference named. It says nothing about the
  paper's own setting.
- `inconclusive`: the data cannot decide; the CI touches or straddles the decision boundary (a tie never
  decides).
- `erratum`: a slip at a boundary case of a spec's or a released code's arithmetic; the corrected statement
  is registered as its own claim and verifies.
- `failed`: a bug in this toolkit, the only verdict that makes `attnverify verify` exit non-zero.

Provenance `paper` marks the paper's statements, `derived` what we derived consistently with them, `finding`
our own results, stated positively (verified when they hold). Every empirical claim names its effect
measure, its units of independence (seeds, sequences; never rows of one sequence), its sample size and its
decision rule, and reports the effect with a 95 % CI; a "no difference" claim needs an equivalence test with
a stated margin. The `sympy` column says `proved` only for a derivation from the model's definitions and
`identity` for an algebraic identity between closed forms.
"""


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2e}"


def summary_line(report: Report) -> str:
    """``97 claims: 80 verified, 3 refuted, 5 not reproduced, 2 inconclusive, 3 erratum, 0 failed``."""
    c = report.counts()
    return f"{len(report.results)} claims: " + ", ".join(f"{c.get(v, 0)} {v}" for v in VERDICT_ORDER)


def _g(x: float) -> str:
    return f"{x:.3g}"


def effect_text(d) -> str:
    """``effect = est [lo, hi]`` with the interval level."""
    return f"{d.effect} = {_g(d.estimate)} [{_g(d.ci[0])}, {_g(d.ci[1])}]"


def unpinned_sources(r) -> list[dict]:
    """The files of a user's run (``verify --evidence DIR``) that a claim's verdict came from."""
    e = r.evidence
    files = [] if e is None else e.details.get("evidence_files", [])
    return [f for f in files if isinstance(f, dict) and not f.get("pinned", True)]


def evidence_rows(report: Report) -> list[dict]:
    """The manifest of pinned evidence (:mod:`proofs_numeric.evidence`), one row per file, with what this
    run found: ``ok`` (bytes match the pin, valid), ``FAILED: ...`` (changed, missing or invalid: the
    message names the file and both hashes or the field), ``unpinned local run: ...`` or ``not read``."""
    from .evidence import manifest

    rows = []
    for pin in manifest():
        deps = [r for r in report.results if pin.reads(r.claim.id)]
        status = "not read (no selected claim reads it)"
        for r in deps:
            recs = [] if r.evidence is None else [f for f in r.evidence.details.get("evidence_files", [])
                                                   if pin.file in (f.get("file"), f.get("replaces"))]
            if r.verdict.value == "failed" and pin.file in r.message:
                status = "FAILED: " + r.message.strip().splitlines()[-1]
                break
            if recs:
                rec = recs[0]
                status = "ok" if rec["pinned"] else f"unpinned local run: {rec['file']} (sha256 {rec['sha256'][:12]}, protocol {rec['protocol']})"
        machine = pin.machine if isinstance(pin.machine, str) else \
            f"{pin.machine.get('backend', '?')} {', '.join(pin.machine.get('devices', []))}, jax {pin.machine.get('jax', '?')}"
        rows.append({**pin.as_dict(), "machine_summary": machine, "status": status, "decides": [r.claim.id for r in deps]})
    return rows


def evidence_table(report: Report) -> str:
    """The manifest as fixed-width text (printed by ``attnverify verify`` after the claims): the files the
    selected claims read, each with its status; the Markdown and JSON reports list every pin."""
    rows = evidence_rows(report)
    if not rows:
        return ""
    read = [row for row in rows if not row["status"].startswith("not read")]
    out = ["pinned evidence (experiments/evidence_manifest.json):"]
    for row in read:
        out.append(f"  {row['file']}  sha256 {row['sha256'][:16]}  seed {row['seed']}  protocol {row['protocol']}  "
                   f"machine {row['machine_summary']}")
        out.append(f"      claims {', '.join(row['claims'])}; command: {row['command']}")
        out.append(f"      {row['status']}")
    if len(read) < len(rows):
        out.append(f"  ({len(rows) - len(read)} more pinned files are not read by the selected claims; all are listed in the reports)")
    return "\n".join(out)


def summary_table(report: Report) -> str:
    """A fixed-width text table, one row per claim."""
    rows = [("claim", "verdict", "worst err", "tol", "instances", "sympy", "s")]
    for r in report.results:
        e = r.evidence
        rows.append(
            (
                r.claim.id,
                r.verdict.value + (" (unpinned local run)" if unpinned_sources(r) else ""),
                _fmt(None if e is None else e.worst_error),
                f"{r.claim.tolerance:.0e}",
                "-" if e is None else f"{e.n_random}+{e.n_adversarial}",
                r.symbolic,
                f"{r.seconds:.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(f"{summary_line(report)}  [{report.seconds:.1f} s]")
    return "\n".join(lines)


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _evidence_cell(r) -> str:
    c, e = r.claim, r.evidence
    if e is None:
        return "-"
    d = e.decision
    if c.empirical and d is not None:
        return _md_escape(f"{effect_text(d)} (95 % CI, n = {d.n_units} {d.units})")
    return f"{e.worst_error:.1e} ({c.tolerance:.0e}, {_md_escape(c.error)})"


def claims_table_markdown(report: Report) -> str:
    """Markdown table of claims and verdicts (also used for the README)."""
    out = [
        "| claim | paper, equation | provenance | statement | verdict | evidence: worst error (tol) or effect [95 % CI] | instances | sympy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report.results:
        c, e = r.claim, r.evidence
        inst = "-" if e is None else f"{e.n_random} + {e.n_adversarial} adv."
        links = []
        if c.depends_on:
            links.append("depends on " + ", ".join(f"`{d}`" for d in c.depends_on))
        if c.corrected_by:
            links.append(f"corrected by `{c.corrected_by}`")
        for f in unpinned_sources(r):
            links.append(f"from an unpinned local run: `{f['file']}` (sha256 {f['sha256'][:12]}, protocol {f['protocol']})")
        verdict = f"**{r.verdict.value}**" + ("<br>" + "; ".join(links) if links else "")
        sym = "-" if r.symbolic == "n/a" else r.symbolic
        out.append(
            f"| `{c.id}` | {c.paper}, {_md_escape(c.equation)} | {c.provenance.value} | ${_md_escape(c.statement)}$ "
            f"| {verdict} | {_evidence_cell(r)} | {inst} | {sym} |"
        )
    return "\n".join(out)


def _decision_lines(r) -> list[str]:
    d = r.evidence.decision
    lines = [
        f"### `{r.claim.id}`: **{r.verdict.value}**",
        "",
        f"- effect: {_md_escape(d.effect)}",
        f"- units of independence: {_md_escape(d.units)}; n = {d.n_units}",
        f"- decision rule: {_md_escape(d.rule)}",
        f"- result: {_md_escape(effect_text(d))} ({d.level:.0%} CI, {_md_escape(d.method)})"
        + ("" if d.p_value is None else f", p = {d.p_value:.3g}"),
    ]
    if d.detectable_effect is not None:
        lines.append(f"- detectable effect (80 % power, distance from the boundary {d.boundary:.4g}): {d.detectable_effect:.3g}")
    for title, group in (("part", d.parts), ("control", d.controls)):
        for name, c in (group or {}).items():
            lo, hi = c["ci"]
            mde = "" if c.get("detectable_effect") is None else f", detectable {c['detectable_effect']:.3g}"
            flag = "" if title == "part" else (" (blocks verified)" if c.get("passes") else "") + (
                "" if c.get("can_pass") is not False else " (cannot pass at this n)")
            lines.append(f"- {title} `{_md_escape(name)}`: {c['estimate']:.4g} [{lo:.4g}, {hi:.4g}] "
                         f"(n = {c['n_units']} {_md_escape(c['units'])}{mde}) -> {c['outcome']}{flag}")
    if d.paper_setting or d.our_setting or d.paper_figure:
        lines += [
            "",
            "| | paper | ours |",
            "|---|---|---|",
            f"| setting | {_md_escape(d.paper_setting or '-')} | {_md_escape(d.our_setting or 'as the paper')} |",
            f"| figure | {_md_escape(d.paper_figure or '-')} | {_md_escape(effect_text(d))} |",
        ]
    if r.claim.depends_on:
        lines.append("")
        lines.append("Depends on: " + ", ".join(f"`{x}`" for x in r.claim.depends_on) + ".")
    return lines + [""]


def markdown_report(report: Report) -> str:
    """The full Markdown report: how to read it, the summary, the table, empirical decisions,
    refutations, errata, dependencies, failures and details."""
    d = report.as_dict()
    lines = [
        "# attnverify verification report",
        "",
        f"Started {d['started']}, seed {report.seed}, scale {report.scale}, selection `{report.pattern or '*'}`, "
        f"{report.seconds:.1f} s.",
        "",
        f"**{summary_line(report)}.**",
        "",
        HOW_TO_READ,
        "Environment: " + ", ".join(f"{k} {v}" for k, v in d["environment"].items()),
        "",
        claims_table_markdown(report),
        "",
    ]
    empirical = [r for r in report.results if r.claim.empirical and r.evidence is not None and r.evidence.decision is not None]
    if empirical:
        lines += ["## Empirical claims: protocol, effect and 95 % CI", ""]
        for r in empirical:
            lines += _decision_lines(r)
    refuted = [r for r in report.results if r.verdict.value == "refuted" and not r.claim.empirical]
    if refuted:
        lines += ["## Refuted: counterexamples to the paper's statement as stated", ""]
        for r in refuted:
            lines.append(f"### `{r.claim.id}` ({r.claim.paper}, {r.claim.equation})")
            lines.append("")
            if r.claim.notes:
                lines.append(r.claim.notes)
                lines.append("")
            if r.evidence is not None and r.evidence.counterexample:
                lines.append("Counterexample: `" + _md_escape(str(dict(r.evidence.counterexample))) + "`")
                lines.append("")
    errata = [r for r in report.results if r.verdict.value == "erratum"]
    if errata:
        lines += ["## Errata: boundary slips and their corrected statements", ""]
        for r in errata:
            lines.append(f"### `{r.claim.id}` ({r.claim.paper}, {r.claim.equation}), corrected by `{r.claim.corrected_by}`")
            lines.append("")
            if r.claim.notes:
                lines += [r.claim.notes, ""]
            if r.evidence is not None and r.evidence.counterexample:
                lines += ["Boundary case: `" + _md_escape(str(dict(r.evidence.counterexample))) + "`", ""]
    deps = [r for r in report.results if r.claim.depends_on]
    if deps:
        lines += ["## Dependencies between claims", ""]
        for r in deps:
            lines.append(f"- `{r.claim.id}` depends on " + ", ".join(f"`{x}`" for x in r.claim.depends_on))
        lines.append("")
    pinned = evidence_rows(report)
    if pinned:
        lines += ["## Pinned evidence", "",
                  "Every committed file an empirical claim decides from, checked against its SHA-256 before the claim "
                  "decides (`experiments/evidence_manifest.json`; docs/verdicts.md, \"Where the evidence comes from\").", "",
                  "| file | sha256 | command | seed | protocol | machine | claims | this run |", "|---|---|---|---|---|---|---|---|"]
        for row in pinned:
            lines.append(f"| `{row['file']}` | `{row['sha256'][:16]}` | `{_md_escape(row['command'])}` | {_md_escape(str(row['seed']))} "
                         f"| {_md_escape(row['protocol'])} | {_md_escape(row['machine_summary'])} | "
                         f"{', '.join(f'`{c}`' for c in row['claims'])} | {_md_escape(row['status'])} |")
        lines.append("")
    failed = report.failed
    if failed:
        lines += ["## Failures", ""]
        for r in failed:
            lines += [f"### `{r.claim.id}`", "", "```", r.message.strip() or "check failed", "```", ""]
    lines += ["## Details", ""]
    for r in report.results:
        if r.evidence is not None and r.evidence.details:
            lines.append(f"- `{r.claim.id}`: " + _md_escape(", ".join(f"{k}={v}" for k, v in r.evidence.details.items()))[:2000])
    return "\n".join(lines) + "\n"


def write_reports(report: Report, json_path: str | Path | None, markdown_path: str | Path | None) -> list[Path]:
    """Write the JSON and Markdown reports atomically; returns the written paths."""
    written = []
    if json_path:
        written.append(atomic_write_json(json_path, {**report.as_dict(), "evidence_manifest": evidence_rows(report)}))
    if markdown_path:
        written.append(atomic_write_text(markdown_path, markdown_report(report)))
    return written


def update_readme_table(readme: str | Path, report: Report) -> bool:
    """Replace the README block between the claims-table markers with the generated table."""
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {README_START} ... {README_END} block")
    block = f"{README_START}\n{claims_table_markdown(report)}\n{README_END}"
    new = pattern.sub(lambda _: block, text)
    if new != text:
        atomic_write_text(path, new)
    return new != text
