r"""Forest plot of empirical verdicts, grouped by effect measure: estimate, 95 % CI, boundary, paper's figure.

Effects live on different scales (accuracy differences, log error ratios, correlations, slopes), so the
rows are grouped by **effect measure** (:func:`measure_of`) and each group has **one shared x-axis**: two
intervals in a group can be compared by eye. In every row the decision boundary is a dashed tick, an
equivalence margin $\pm m$ a shaded band, the estimate a dot coloured by the verdict, and the paper's figure
(where the decision states a single number) an open diamond. Example::

    rows = decisions_from_report("reports/verify.json")      # [(claim id, verdict, Decision dict), ...]
    fig = forest_plot(rows)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from attnverify import proofs_numeric as pn
from attnverify.proofs_numeric.plotstyle import VERDICT_COLOURS

__all__ = ["DEFAULT_REPORT", "COLOURS", "MEASURES", "measure_of", "paper_value", "decisions_from_report",
           "decisions_from_run", "forest_plot", "verdicts_plot"]

DEFAULT_REPORT = Path("reports/verify.json")
COLOURS = VERDICT_COLOURS
#: empirical claims cheap enough for the quick (test-suite) version of the plot
QUICK_PATTERNS = ("delta.helps_local_queries", "delta.needs_locality", "obcache.output_aware_beats_attention_synthetic")
#: (group title with its unit, pattern on the effect's name): the first match names the group
MEASURES: tuple[tuple[str, str], ...] = (
    ("Correlation (Pearson or Spearman r, unitless)", r"\bpearson\b|\bspearman\b|\bcorrelation\b"),
    ("Log ratio (natural log, unitless)", r"\blog\s*\(|\blog ratio\b|\blog-ratio\b"),
    ("Slope (per unit of the regressor)", r"\bslope\b"),
    ("Cosine similarity or its difference (unitless)", r"\bcos\b|\bcos\(|cosine"),
    ("Ratio (unitless)", r"\s/\s|\bratio\b"),
    ("Difference of proportions (accuracy, recall, agreement, rate; fraction)",
     r"^(?=.*(accuracy|recall|agreement|rate|fraction|success))(?=.*(\bminus\b|\s-\s|difference|\bgap\b))"),
    ("Proportion (accuracy, recall, rate, fraction; 0 to 1)", r"accuracy|recall|fraction|rate|agreement|proportion|success"),
)
OTHER = "Other measures (one axis; each row's effect named on the right)"

Row = tuple[str, str, dict[str, Any]]


def measure_of(d: dict[str, Any]) -> str:
    """The group of a decision: its ``measure`` field when present, else the first of :data:`MEASURES`
    whose pattern matches its effect's name, else :data:`OTHER`."""
    if d.get("measure"):
        return str(d["measure"])
    effect = str(d.get("effect", "")).lower()
    for title, pattern in MEASURES:
        if re.search(pattern, effect):
            return title
    return OTHER


def paper_value(d: dict[str, Any]) -> float | None:
    """The paper's figure as a number when ``paper_figure`` states exactly one (``"r ≈ 0.79"`` -> 0.79)."""
    nums = re.findall(r"(?<![\w.])[-+−]?\d+(?:\.\d+)?(?![\w.])", str(d.get("paper_figure") or ""))
    return float(nums[0].replace("−", "-")) if len(nums) == 1 else None


def decisions_from_report(path: str | Path = DEFAULT_REPORT) -> list[Row]:
    """``(claim id, verdict, decision dict)`` of every claim of a ``verify --json`` report that carries a decision."""
    import json

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [(c["id"], c["verdict"], c["decision"]) for c in data.get("claims", []) if c.get("decision")]


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


def _groups(rows: list[Row]) -> dict[str, list[Row]]:
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(measure_of(row[2]), []).append(row)
    order = [t for t, _ in MEASURES] + [OTHER]
    return dict(sorted(groups.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def _draw_group(ax: Any, title: str, rows: list[Row]) -> None:
    xs: list[float] = []
    for y, (_, verdict, d) in enumerate(rows):
        lo, hi = d["ci"]
        b, est, colour = d["boundary"], d["estimate"], COLOURS.get(verdict, "black")
        if d.get("test") == "equivalence":
            ax.fill_between([-b, b], y - 0.38, y + 0.38, color="#009E73", alpha=0.15, lw=0)
            xs += [-b, b]
        else:
            ax.plot([b, b], [y - 0.38, y + 0.38], color="black", ls="--", lw=0.9)
            xs.append(b)
        ax.plot([lo, hi], [y, y], color=colour, lw=2.2, solid_capstyle="butt")
        ax.plot([est], [y], "o", color=colour, ms=5)
        pv = paper_value(d)
        if pv is not None:
            ax.plot([pv], [y], "D", mfc="white", mec="black", ms=5)
            xs.append(pv)
        xs += [lo, hi]
    lo_x, hi_x = min(xs), max(xs)
    pad = 0.08 * ((hi_x - lo_x) or max(abs(hi_x), 1e-3))
    ax.set_xlim(lo_x - pad, hi_x + pad)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{cid}  (n = {d['n_units']} {d['units'].split(' (')[0]})" for cid, _, d in rows], fontsize=7)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    ax.set_title(title, fontsize=9, loc="left")
    if title == OTHER:
        for y, (_, _, d) in enumerate(rows):
            ax.annotate(d["effect"][:70], (1.0, y), xycoords=("axes fraction", "data"), xytext=(4, 0),
                        textcoords="offset points", fontsize=6, va="center", color="#444444")


def forest_plot(rows: list[Row], title: str = "Empirical claims: effect with 95 % confidence interval, by effect measure"):
    """One panel per effect measure (:func:`measure_of`), one row per claim, a shared x-axis per panel."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from attnverify.proofs_numeric.plotstyle import style

    if not rows:
        raise ValueError("forest_plot needs at least one decision")
    style()
    groups = _groups(rows)
    row_in, title_in, ticks_in, top_in, legend_in = 0.24, 0.3, 0.42, 0.45, 0.5  # layout in inches
    blocks = [title_in + row_in * (len(g) + 0.4) + ticks_in for g in groups.values()]
    height = top_in + sum(blocks) + legend_in
    fig = plt.figure(figsize=(7.5, height))
    y = height - top_in
    for block, (name, g) in zip(blocks, groups.items()):
        axis_h = row_in * (len(g) + 0.4)
        ax = fig.add_axes((0.5, (y - title_in - axis_h) / height, 0.46, axis_h / height))
        _draw_group(ax, name, g)
        y -= block
    present = [v for v in COLOURS if any(r[1] == v for r in rows)]
    handles = [Line2D([], [], color=COLOURS[v], lw=2.2, marker="o", ms=5, label=v) for v in present]
    handles += [Line2D([], [], color="black", ls="--", lw=0.9, label="decision boundary"),
                Patch(color="#009E73", alpha=0.15, label="equivalence margin ±m"),
                Line2D([], [], ls="", marker="D", mfc="white", mec="black", label="paper's figure")]
    fig.legend(handles=handles, loc="lower center", ncol=min(5, len(handles)), fontsize=7, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(title, fontsize=10, x=0.02, ha="left")
    return fig


@pn.plot("verdicts", help="forest plot of every empirical claim's effect with its 95 % CI and verdict")
def verdicts_plot(out_dir: Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """From ``reports/verify.json`` when it exists and carries decisions (not in quick mode), else by running
    the empirical claims (quick: the cheap ones at the test suite's scale). Writes ``verdicts.{png,svg}``
    and ``verdicts.json``."""
    rows = [] if quick else (decisions_from_report() if DEFAULT_REPORT.exists() else [])
    source = str(DEFAULT_REPORT) if rows else "run"
    if not rows:
        rows = decisions_from_run(QUICK_PATTERNS, scale=0.01, seed=seed) if quick else decisions_from_run(("*",), scale=1.0, seed=seed)
    files = pn.save_figure(forest_plot(rows), out_dir, "verdicts")
    files.append(pn.atomic_write_json(Path(out_dir) / "verdicts.json", {"source": source, "rows": rows}))
    return {"files": [str(f) for f in files], "rows": rows, "source": source}
