"""The verdicts forest plot (issue 10, item 7): from a report's decisions and from a quick run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attnverify import proofs_numeric as pn
from attnverify.experiments.verdicts import decisions_from_report, forest_plot, verdicts_plot


def _rows():
    rng = np.random.default_rng(0)
    kw = dict(units="seeds", rule="CI above 0")
    return [
        ("gating.a", "verified", pn.decide_direction(rng.normal(1, 0.2, 8), **kw).to_dict()),
        ("gating.b", "inconclusive", pn.decide_direction(rng.normal(0, 1, 8), **kw).to_dict()),
        ("gating.c", "verified", pn.decide_equivalence(rng.normal(0, 0.001, 8), margin=0.01, **kw).to_dict()),
    ]


def test_forest_plot_from_a_report(tmp_path: Path):
    report = {"claims": [{"id": cid, "verdict": v, "decision": d} for cid, v, d in _rows()] + [{"id": "topk.x", "verdict": "verified", "decision": None}]}
    path = tmp_path / "verify.json"
    path.write_text(json.dumps(report))
    rows = decisions_from_report(path)
    assert [r[0] for r in rows] == ["gating.a", "gating.b", "gating.c"]
    fig = forest_plot(rows)
    assert len(fig.axes) == 3 and "inconclusive" in fig.axes[1].get_title(loc="left")
    with pytest.raises(ValueError, match="at least one"):
        forest_plot([])


@pytest.mark.slow
def test_quick_plot_runs_the_cheap_empirical_claims(tmp_path: Path):
    out = verdicts_plot(tmp_path, quick=True, seed=0)
    assert out["source"] == "run" and len(out["rows"]) == 3
    assert {Path(f).name for f in out["files"]} == {"verdicts.png", "verdicts.svg", "verdicts.json"}
