"""The verdicts forest plot (issue 10, item 7): from a report's decisions and from a quick run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attnverify import proofs_numeric as pn
from attnverify.experiments.verdicts import decisions_from_report, forest_plot, verdicts_plot
from attnverify.experiments.verdicts.forest import MEASURES, measure_of, paper_value


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
    groups = {measure_of(d) for _, _, d in rows}
    assert len(fig.axes) == len(groups)  # one shared axis per effect measure
    labels = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    assert sorted(x.split()[0] for x in labels) == ["gating.a", "gating.b", "gating.c"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"verified", "inconclusive", "decision boundary", "equivalence margin ±m"} <= set(legend)
    with pytest.raises(ValueError, match="at least one"):
        forest_plot([])


def test_effect_measures_group_comparable_effects_and_paper_figures_parse():
    titles = {t for t, _, _, _ in MEASURES}
    assert measure_of({"effect": "Pearson r between x and y"})[0] == "Correlation"
    assert measure_of({"effect": "mean log(err[a] / err[b])"})[0] == "Log ratio"
    assert measure_of({"effect": "mean gated - ungated test accuracy"})[0] == "Difference of proportions"
    assert measure_of({"effect": "best success rate"})[0] == "Proportion"
    assert measure_of({"effect": "mean over rows of cos(Δ, full) - cos(sparse, full)"})[0] == "Difference of cosine similarities"
    assert measure_of({"effect": "something else"})[0] == "Other: something else" and "Other: something else" not in titles
    assert measure_of({"effect": "x", "measure": "My measure (unit)"})[0] == "My measure (unit)"
    assert paper_value({"paper_figure": "Pearson r ≈ 0.79 between curvature and accuracy", "effect": "Pearson r"}) == 0.79
    assert paper_value({"paper_figure": "between 2 and 3"}) is None and paper_value({}) is None


@pytest.mark.slow
def test_quick_plot_runs_the_cheap_empirical_claims(tmp_path: Path):
    out = verdicts_plot(tmp_path, quick=True, seed=0)
    assert out["source"] == "run" and len(out["rows"]) == 3
    assert {Path(f).name for f in out["files"]} == {"verdicts.png", "verdicts.svg", "verdicts.json"}


NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "verdicts.ipynb"


def _notebook_plot_cell() -> str:
    cells = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    return "".join(cells[1]["source"])


@pytest.mark.parametrize("live", [False, True])
def test_verdicts_notebook_reads_the_record_unless_asked_to_run_live(live, monkeypatch):
    """Quick mode (the docs build) draws the committed verdicts of record and names their run; only
    ATTNVERIFY_VERDICTS_LIVE=1 runs claims."""
    import os

    import IPython.display
    import matplotlib.pyplot as plt

    from attnverify.experiments import verdicts
    from attnverify.experiments.verdicts.forest import RECORD, verdicts_of_record

    def run(*a, **k):
        raise RuntimeError("ran claims live")

    monkeypatch.setattr(verdicts, "decisions_from_run", run)
    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    monkeypatch.setenv("ATTNVERIFY_QUICK", "1")
    if live:
        monkeypatch.setenv("ATTNVERIFY_VERDICTS_LIVE", "1")
        with pytest.raises(RuntimeError, match="ran claims live"):
            exec(_notebook_plot_cell(), {"os": os, "QUICK": True, "Path": Path})
        return
    monkeypatch.delenv("ATTNVERIFY_VERDICTS_LIVE", raising=False)
    ns = {"os": os, "QUICK": True, "Path": Path}
    exec(_notebook_plot_cell(), ns)
    plt.close(ns["fig"])
    record = json.loads(RECORD.read_text())
    rows, _ = verdicts_of_record()
    assert ns["rows"] == rows and len(rows) == sum(bool(c.get("decision")) for c in record["claims"])
    text = shown[0].data
    assert f"the full run of {record['started'][:10]} ({len(record['claims'])} claims" in text
    assert "docs/verdicts_of_record.json" in text


def test_verdicts_of_record_says_when_the_run_was_partial(tmp_path: Path):
    from attnverify.experiments.verdicts.forest import RECORD, verdicts_of_record

    data = json.loads(RECORD.read_text())
    data.update(only="delta*", scale=0.01)
    p = tmp_path / "r.json"
    p.write_text(json.dumps(data))
    assert verdicts_of_record(p)[1].startswith("a partial run (selection delta*, scale 0.01)")


def test_verdicts_of_record_holds_every_registered_claim():
    """The record is refreshed after the final full verify: a claim registered since is missing from it."""
    from attnverify.experiments.verdicts.forest import RECORD

    record = json.loads(RECORD.read_text())
    pn.discover()
    missing = sorted({c.id for c in pn.claims()} - {c["id"] for c in record["claims"]})
    assert record.get("only") is None and float(record.get("scale") or 1) == 1.0
    assert not missing, (f"{RECORD} is stale ({len(missing)} registered claims missing, e.g. {missing[:3]}): after a "
                         "full `attnverify verify`, copy reports/verify.json there")
