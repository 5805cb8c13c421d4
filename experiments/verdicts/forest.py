r"""Forest plot of empirical verdicts: estimate, 95 % CI, decision boundary and verdict per claim.

Effects live on different scales (accuracy differences, log error ratios, recalls, correlations), so each
claim gets its own row with its own x-axis; the boundary (or the equivalence band $\pm m$) is drawn in
every row, and the colour is the verdict. Example::

    rows = decisions_from_report("reports/verify.json")      # [(claim id, verdict, Decision dict), ...]
    fig = forest_plot(rows)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attnverify import proofs_numeric as pn

__all__ = ["DEFAULT_REPORT", "COLOURS", "decisions_from_report", "decisions_from_run", "forest_plot", "verdicts_plot"]

DEFAULT_REPORT = Path("reports/verify.json")
COLOURS = {"verified": "tab:green", "refuted": "tab:red", "not reproduced": "tab:orange", "inconclusive": "tab:gray",
           "erratum": "tab:purple", "failed": "black"}
#: empirical claims cheap enough for the quick (test-suite) version of the plot
QUICK_PATTERNS = ("delta.helps_local_queries", "delta.needs_locality", "obcache.output_aware_beats_attention_synthetic")

Row = tuple[str, str, dict[str, Any]]


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


def forest_plot(rows: list[Row], title: str = "Empirical claims: effect and 95 % CI"):
    """One row per claim: the interval, the estimate, the boundary (dashed) or equivalence band (shaded)."""
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("forest_plot needs at least one decision")
    fig, axes = plt.subplots(len(rows), 1, figsize=(9.5, 0.9 * len(rows) + 1.0), squeeze=False)
    for ax, (cid, verdict, d) in zip(axes[:, 0], rows):
        lo, hi = d["ci"]
        b, est = d["boundary"], d["estimate"]
        colour = COLOURS.get(verdict, "black")
        if d.get("test") == "equivalence":
            ax.axvspan(-b, b, color="tab:green", alpha=0.12, lw=0)
            span = [lo, hi, -b, b]
        else:
            ax.axvline(b, color="k", ls="--", lw=0.8)
            span = [lo, hi, b]
        ax.plot([lo, hi], [0, 0], color=colour, lw=3, solid_capstyle="butt")
        ax.plot([est], [0], "o", color=colour, ms=6)
        width = max(span) - min(span) or max(abs(b), 1e-3)
        ax.set_xlim(min(span) - 0.15 * width, max(span) + 0.15 * width)
        ax.set_yticks([])
        ax.set_ylim(-1, 1)
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(f"{cid}: {verdict}   (n = {d['n_units']} {d['units'].split(' (')[0]})", fontsize=8, loc="left", color=colour)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
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
