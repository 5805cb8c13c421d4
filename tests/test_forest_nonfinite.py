"""The verdicts forest plot on the non-finite numbers a ``verify --json`` report may hold ("nan", "inf",
NaN/Infinity literals): parsed to floats, a non-finite estimate listed and not drawn, an infinite interval
end an arrow, a NaN end and a non-finite boundary named; and the paper's figure and axis labels of
effects the measures do not know."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from attnverify.experiments.verdicts.forest import forest_plot, groups
from attnverify.experiments.verdicts.measures import measure_of, paper_value
from attnverify.proofs_numeric.cli import main


def _d(est=0.5, ci=(0.4, 0.6), boundary=0.0, effect="mean cos(a, b) - cos(c, b)", **kw) -> dict:
    return {"effect": effect, "estimate": est, "ci": list(ci), "boundary": boundary, "units": "heads", "n_units": 6,
            "rule": "r", "method": "t", "test": "direction", "level": 0.95, **kw}


def _texts(fig) -> str:
    return "\n".join([t.get_text() for t in fig.texts]
                     + [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()])


@pytest.mark.parametrize("est", ["nan", float("nan"), "inf", "-inf"])
def test_non_finite_estimate_is_listed_not_drawn(est):
    rows = [("syn.bad", "verified", _d(est=est)), ("syn.good", "verified", _d())]
    panels, missing = groups(rows)
    assert [r[0] for r in missing] == ["syn.bad"] and [r[0] for g in panels.values() for r in g] == ["syn.good"]
    fig = forest_plot(rows)
    fig.canvas.draw()
    assert "Non-finite estimate (not drawn): 1 claim: syn.bad" in _texts(fig)


@pytest.mark.parametrize("ci, words", [((0.0, "inf"), "open to the right"), (("-inf", 1.0), "open to the left"),
                                       ((0.0, float("inf")), "open to the right")])
def test_infinite_interval_end_is_an_arrow_to_the_edge(ci, words):
    fig = forest_plot([("syn.open", "verified", _d(ci=ci))])
    fig.canvas.draw()
    (ax,) = fig.axes
    assert all(math.isfinite(x) for x in ax.get_xlim())
    assert any(a.arrow_patch is not None for a in ax.texts)  # the arrow
    assert words in _texts(fig)


def test_nan_interval_end_is_named():
    fig = forest_plot([("syn.nanend", "verified", _d(ci=[float("nan"), 0.6]))])
    fig.canvas.draw()
    assert "Interval end NaN (that end not drawn): 1 claim: syn.nanend" in _texts(fig)


@pytest.mark.parametrize("boundary", ["inf", "nan", float("-inf")])
def test_non_finite_boundary_is_not_drawn_and_said(boundary):
    fig = forest_plot([("syn.b", "verified", _d(boundary=boundary))])
    fig.canvas.draw()
    assert "boundary not finite, not drawn" in _texts(fig)
    assert all(math.isfinite(x) for x in fig.axes[0].get_xlim())


def test_plot_verdicts_draws_a_report_with_non_finite_strings(tmp_path: Path):
    claims = [{"id": f"syn.c{i}", "verdict": "verified", "paper": "P", "equation": "(1)", "statement": "s",
               "provenance": "p", "decision": d}
              for i, d in enumerate([_d(est="nan"), _d(boundary="inf"), _d(ci=[0, "inf"]), _d(ci=["nan", 1.0])])]
    p = tmp_path / "r.json"
    p.write_text(json.dumps({"claims": claims}))
    assert main(["plot", "verdicts", "--from-json", str(p), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "verdicts.svg").is_file()


def test_paper_figure_after_equals_and_other_axis_unit():
    d = _d(effect="n / mean k_0.01 (n = 128)", paper_figure="58.8 scored keys of 128 = 2.177x")
    assert paper_value(d) == pytest.approx(2.177)
    assert measure_of(_d(effect="weird quantity"))[1] == "weird quantity (unit not stated)"
    assert measure_of(_d(effect="weird quantity (bits)"))[1] == "weird quantity (bits)"
    remark = "gap, hedgecats - MSE (the weaker of the two fixes)"
    assert measure_of(_d(effect=remark))[1] == remark + " (unit not stated)"


def test_long_effect_names_wrap_within_the_figure():
    fig = forest_plot([("syn.long", "verified", _d(effect="q" * 600))])
    fig.canvas.draw()
    title = next(t for t in fig.texts if t.get_text().startswith("Other:"))
    assert len(title.get_text().splitlines()) > 1 and max(map(len, title.get_text().splitlines())) <= 80
