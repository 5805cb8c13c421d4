r"""Forest plot of empirical verdicts, grouped by effect measure: estimate, 95 % CI, boundary, paper's figure.

Effects live on different scales (accuracy differences, log error ratios, correlations, slopes), so the
rows are grouped by **effect measure and reference point** (:func:`~.measures.measure_of`) and each group
has **one shared x-axis** labelled with its quantity and unit: two intervals in a group can be compared by
eye. An effect that matches no known measure gets a panel of its own, its name as the axis label. In
every row the decision boundary is a dashed tick, an equivalence margin $\pm m$ a shaded band, the
estimate a dot coloured by the verdict, and the paper's figure (where it is one number in the axis'
units: :func:`~.measures.paper_value`) an open diamond. Rows whose effect was not measured, or whose
estimate is not finite (``"nan"``/``"inf"`` as ``verify --json`` writes them), are not drawn: they are
listed by claim id under the panels, with their count. An infinite interval end is drawn as an arrow to the
panel's edge; a NaN end is not drawn (the row's estimate is) and the claim is listed; a non-finite
boundary is not drawn, and the row says so. Example::

    rows = decisions_from_report("reports/verify.json")      # [(claim id, verdict, Decision dict), ...]
    fig = forest_plot(rows)
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

from attnverify import proofs_numeric as pn
from attnverify.proofs_numeric.plotstyle import VERDICT_COLOURS

from .measures import MEASURES, Measure, measure_of, not_measured, paper_value

__all__ = ["DEFAULT_REPORT", "RECORD", "verdicts_of_record", "numbers", "COLOURS", "MEASURES", "measure_of", "paper_value", "decisions_from_report",
           "decisions_from_run", "forest_plot", "verdicts_plot", "groups", "report_rows"]

#: the verification report of this checkout (``attnverify verify`` writes it), found from the package, not the
#: working directory
DEFAULT_REPORT = Path(__file__).resolve().parents[2] / "reports" / "verify.json"
COLOURS = VERDICT_COLOURS
#: the verdicts of record: the ``verify --json`` report of the last full run, committed (copied here after a
#: full ``attnverify verify``); the docs' "Verdicts at a glance" notebook reads it unless asked to run live
RECORD = Path(__file__).resolve().parents[2] / "docs" / "verdicts_of_record.json"
#: empirical claims cheap enough for the quick (test-suite) version of the plot
QUICK_PATTERNS = ("delta.helps_local_queries", "delta.needs_locality", "obcache.output_aware_beats_attention_synthetic")

Row = tuple[str, str, dict[str, Any]]


def decisions_from_report(path: str | Path = DEFAULT_REPORT) -> list[Row]:
    """``(claim id, verdict, decision dict)`` of every claim of a ``verify --json`` report that carries a decision."""
    import json

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [(c["id"], c["verdict"], c["decision"]) for c in data.get("claims", []) if c.get("decision")]


def verdicts_of_record(path: str | Path = RECORD) -> tuple[list[Row], str]:
    """``(rows, provenance)`` of the committed report of record (:data:`RECORD`): the rows of
    :func:`report_rows`, and a sentence naming the run, read from the file itself: ``"the full run of
    2026-12-07 (138 claims, seed 0, scale 1), docs/verdicts_of_record.json"``; a run that was not full
    (a ``--only`` selection, a scale below 1) says so."""
    from attnverify.proofs_numeric.html_report import load_report_json

    data = load_report_json(path)
    full = data.get("only") is None and float(data.get("scale") or 1.0) == 1.0
    kind = "the full run" if full else f"a partial run (selection {data.get('only') or '*'}, scale {data.get('scale')})"
    date = str(data.get("started") or "an unrecorded date")[:10]
    name = Path(path).name if Path(path).resolve() != RECORD else "docs/" + RECORD.name
    return report_rows(path), (f"{kind} of {date} ({len(data['claims'])} claims, seed {data.get('seed', '-')}, "
                               f"scale {float(data.get('scale') or 1.0):g}), {name}")


def decisions_from_run(patterns: tuple[str, ...] = QUICK_PATTERNS, *, scale: float = 0.01, seed: int = 0) -> list[Row]:
    """Run the empirical claims matching ``patterns`` (at ``scale``) and collect their decisions."""
    pn.discover()
    rows: list[Row] = []
    seen = set()
    for pat in patterns:
        for c in pn.claims(pat):
            if c.empirical and c.id not in seen:
                seen.add(c.id)
                r = pn.run_claim(c, seed=seed, scale=scale)
                if r.evidence is not None and r.evidence.decision is not None:
                    rows.append((c.id, r.verdict.value, r.evidence.decision.to_dict()))
    return rows


def numbers(d: dict[str, Any]) -> tuple[float, float, float, float]:
    """``(estimate, ci lo, ci hi, boundary)`` of a decision as floats; ``verify --json`` writes a non-finite
    number as ``"nan"``, ``"inf"`` or ``"-inf"``, which become NaN and $\\pm\\infty$ here."""
    lo, hi = d["ci"]
    return float(d["estimate"]), float(lo), float(hi), float(d["boundary"])


def _drawable(d: dict[str, Any]) -> bool:
    return not not_measured(d) and math.isfinite(numbers(d)[0])


def groups(rows: list[Row]) -> tuple[dict[Measure, list[Row]], list[Row]]:
    """``({measure: rows}, rows not drawn)``: the rows with a finite estimate grouped by
    :func:`~.measures.measure_of` in the order of :data:`~.measures.MEASURES` (shifted and unmatched
    measures after), and the rest: not measured, or a non-finite estimate."""
    out: dict[Measure, list[Row]] = {}
    for row in rows:
        if _drawable(row[2]):
            out.setdefault(measure_of(row[2]), []).append(row)
    order = [q for q, _, _, _ in MEASURES]
    rank = lambda m: (order.index(m[0]) if m[0] in order else len(order), m[0])  # noqa: E731
    return dict(sorted(out.items(), key=lambda kv: rank(kv[0]))), [r for r in rows if not _drawable(r[2])]


def _foot(rows: list[Row], missing: list[Row]) -> list[str]:
    """The lines under the panels naming every claim not drawn, or drawn without part of its interval."""
    def line(what: str, ids: list[str]) -> list[str]:
        n = f"{len(ids)} claim{'s' if len(ids) != 1 else ''}"
        return textwrap.wrap(f"{what}: {n}: " + ", ".join(ids), 120) if ids else []

    nan_end = [cid for cid, _, d in rows if _drawable(d) and any(math.isnan(x) for x in numbers(d)[1:3])]
    return (line("Not measured (no data; not drawn)", [r[0] for r in missing if not_measured(r[2])])
            + line("Non-finite estimate (not drawn)", [r[0] for r in missing if not not_measured(r[2])])
            + line("Interval end NaN (that end not drawn)", nan_end))


def _wrap(text: str, width: int) -> list[str]:
    """A panel title or axis label in lines of ``width`` characters, at most three (then ``...``)."""
    return textwrap.wrap(text, width, max_lines=3, placeholder=" ...") or [""]


def _draw_group(ax: Any, measure: Measure, rows: list[Row]) -> None:
    xs: list[float] = []
    open_ends: list[tuple[int, float, float, str]] = []  # (row, finite end, direction, colour) of an infinite end
    for y, (_, verdict, d) in enumerate(rows):
        est, lo, hi, b = numbers(d)
        colour = COLOURS.get(verdict, "black")
        if math.isfinite(b) and d.get("test") == "equivalence":  # a non-finite boundary: the row's label says so
            ax.fill_between([-abs(b), abs(b)], y - 0.38, y + 0.38, color="#009E73", alpha=0.15, lw=0)
            xs += [-abs(b), abs(b)]
        elif math.isfinite(b):
            ax.plot([b, b], [y - 0.38, y + 0.38], color="black", ls="--", lw=0.9)
            xs.append(b)
        ends = [x if math.isfinite(x) else est for x in (lo, hi)]  # a NaN end: the segment stops at the estimate
        ax.plot(ends, [y, y], color=colour, lw=2.2, solid_capstyle="butt")
        open_ends += [(y, e, math.copysign(1, x), colour) for x, e in zip((lo, hi), ends) if math.isinf(x)]
        ax.plot([est], [y], "o", color=colour, ms=5)
        pv = paper_value(d, measure)
        if pv is not None:
            ax.plot([pv], [y], "D", mfc="white", mec="black", ms=5)
            xs.append(pv)
        xs += [est, *ends]
    lo_x, hi_x = min(xs), max(xs)
    pad = 0.08 * ((hi_x - lo_x) or max(abs(hi_x), 1e-3))
    ax.set_xlim(lo_x - pad, hi_x + pad)
    for y, start, sign, colour in open_ends:  # an infinite interval end: an arrow to the panel's edge
        ax.annotate("", xy=(1.0 if sign > 0 else 0.0, y), xycoords=("axes fraction", "data"), xytext=(start, y),
                    textcoords="data", arrowprops={"arrowstyle": "->", "color": colour, "lw": 2.2})
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([_row_label(cid, d) for cid, _, d in rows], fontsize=7)
    ax.tick_params(axis="y", length=0)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel("\n".join(_wrap(measure[1], 70)), fontsize=7, labelpad=2)


def _row_label(cid: str, d: dict[str, Any]) -> str:
    """``claim id  (n = 20 seeds)``, and what of the row is not drawn because it is not finite."""
    est, lo, hi, b = numbers(d)
    notes = [f"n = {d['n_units']} {d['units'].split(' (')[0]}"]
    notes += ["interval open to the left"] * math.isinf(lo) + ["interval open to the right"] * math.isinf(hi)
    notes += ["boundary not finite, not drawn"] * (not math.isfinite(b))
    return f"{cid}  ({'; '.join(notes)})"


def forest_plot(rows: list[Row], title: str = "Empirical claims: effect with 95 % confidence interval, by effect measure"):
    """One panel per effect measure and reference point (:func:`groups`), one row per measured claim, a
    shared x-axis per panel named with its unit; the claims not measured are listed by name at the foot."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from attnverify.proofs_numeric.plotstyle import style

    if not rows:
        raise ValueError("forest_plot needs at least one decision")
    style()
    panels, missing = groups(rows)
    foot = _foot(rows, missing)
    row_in, title_in, ticks_in, top_in, legend_in = 0.24, 0.3, 0.55, 0.45, 0.5  # layout in inches
    foot_in = 0.16 * len(foot) + (0.1 if foot else 0)
    titles = {m: _wrap(m[0], 80) for m in panels}  # long effect names wrap
    blocks = [title_in + 0.16 * (len(titles[m]) - 1) + row_in * (len(g) + 0.4) + ticks_in
              + 0.12 * (len(_wrap(m[1], 70)) - 1) for m, g in panels.items()]
    height = top_in + sum(blocks) + legend_in + foot_in
    fig = plt.figure(figsize=(7.5, height))
    y = height - top_in
    for block, (measure, g) in zip(blocks, panels.items()):
        axis_h = row_in * (len(g) + 0.4)
        head = title_in + 0.16 * (len(titles[measure]) - 1)
        ax = fig.add_axes((0.5, (y - head - axis_h) / height, 0.46, axis_h / height))
        _draw_group(ax, measure, g)
        fig.text(0.02, (y - 0.05) / height, "\n".join(titles[measure]), fontsize=9, fontweight="bold", va="top")
        y -= block
    for i, line in enumerate(foot):
        fig.text(0.02, (legend_in + foot_in - 0.1 - 0.16 * i) / height, line, fontsize=7, color="#444444", va="top")
    present = [v for v in COLOURS if any(r[1] == v for r in rows if _drawable(r[2]))]
    handles = [Line2D([], [], color=COLOURS[v], lw=2.2, marker="o", ms=5, label=v) for v in present]
    handles += [Line2D([], [], color="black", ls="--", lw=0.9, label="decision boundary"),
                Patch(color="#009E73", alpha=0.15, label="equivalence margin ±m"),
                Line2D([], [], ls="", marker="D", mfc="white", mec="black", label="paper's figure")]
    fig.legend(handles=handles, loc="lower center", ncol=min(5, len(handles)), fontsize=7, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(title, fontsize=10, x=0.02, y=1 - 0.12 / height, ha="left", va="top")
    return fig


def report_rows(path: str | Path) -> list[Row]:
    """:func:`decisions_from_report` of a checked ``verify --json`` file: ``ValueError`` names the file
    and the malformed field, or says that it holds no empirical decision."""
    from attnverify.proofs_numeric.html_report import load_report_json

    if not Path(path).is_file():
        raise ValueError(f"--from-json file {path} does not exist (it must be a verify --json report)")
    data = load_report_json(path)
    rows = [(c["id"], c["verdict"], c["decision"]) for c in data["claims"] if c.get("decision")]
    if not rows:
        raise ValueError(f"{path} holds no empirical decision to plot (run attnverify verify without --only, or with "
                         "--only on empirical claims)")
    return rows


@pn.plot("verdicts", help="forest plot of every empirical claim's effect with its 95 % CI and verdict "
                          "(from --from-json PATH, default the checkout's reports/verify.json)")
def verdicts_plot(out_dir: Path, *, quick: bool = False, seed: int = 0, from_json: str | Path | None = None) -> dict[str, Any]:
    """Draw the decisions of ``from_json`` (a ``verify --json`` report). Without it: in quick mode, by running
    the cheap empirical claims at the test suite's scale; otherwise from this checkout's report,
    :data:`DEFAULT_REPORT` (located from the package, never from the working directory), and a
    ``ValueError`` naming ``--from-json`` when that does not exist. Writes ``verdicts.{png,svg}`` and
    ``verdicts.json`` (the rows and their source)."""
    if from_json is None and not quick:
        if not DEFAULT_REPORT.is_file():
            raise ValueError(f"no verification report at {DEFAULT_REPORT}: run `attnverify verify` first, or give "
                             "--from-json PATH (a verify --json report)")
        from_json = DEFAULT_REPORT
    if from_json is not None:
        rows, source = report_rows(from_json), str(from_json)
    else:
        rows, source = decisions_from_run(QUICK_PATTERNS, scale=0.01, seed=seed), "run"
    files = pn.save_figure(forest_plot(rows), out_dir, "verdicts")
    files.append(pn.atomic_write_json(Path(out_dir) / "verdicts.json", {"source": source, "rows": rows}))
    return {"files": [str(f) for f in files], "rows": rows, "source": source}


verdicts_plot.check_from_json = report_rows  # the CLI checks --from-json with it before creating --out
