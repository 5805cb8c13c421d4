"""The verdicts forest plot on every effect measure: one meaning per axis (quantity, unit, reference point),
the paper's figure in the axis' units, unmeasured rows not drawn, and an input that does not depend on the
working directory."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from attnverify.experiments.verdicts import forest
from attnverify.experiments.verdicts.forest import forest_plot, groups
from attnverify.experiments.verdicts.measures import MEASURES, measure_of, not_measured, paper_value, shift_of
from attnverify.proofs_numeric.cli import main

#: one effect name per entry of MEASURES (the registry's wording), in the same order
EFFECTS = (
    "Pearson r between the curvature proxy and test accuracy within a seed",
    "log(|dL/dA_1| / max_{i>1} |dL/dA_i|): trained - initial",
    "log(t_baseline / t_FAL) per interleaved timing block",
    "mean slope of log curvature density (b) against depth",
    "NLL(fal) - NLL(baseline) (nats/char)",
    "mean CKA(MLP inputs) - mean CKA(attention outputs): trained - initial",
    "chrF(steered) - max(chrF unsteered, chrF random)",
    "mean over non-anchor rows of cos(Δ, full) - cos(sparse, full)",
    "n = 128: mean over heads of |finite-n - k| - |rule - k| (k/n units), eps = 0.01",
    "mean gated - ungated curvature proxy (elementwise gate), all tasks, trained",
    "n / mean k_0.01 (n = 128)",
    "mean gated - ungated test accuracy (elementwise gate), linear tasks",
    "best success rate (label + not degenerate + valid words)",
)


def _d(effect: str, est: float = 0.5, ci=(0.4, 0.6), boundary: float = 0.0, paper: str | None = None, **kw) -> dict:
    return {"effect": effect, "estimate": est, "ci": list(ci), "boundary": boundary, "units": kw.pop("units", "seeds"),
            "n_units": 5, "rule": "r", "method": "t", "test": kw.pop("test", "direction"), "paper_figure": paper, **kw}


def _all_measures() -> list[tuple[str, str, dict]]:
    rows = [(f"gating.m{i}", "inconclusive", _d(e)) for i, e in enumerate(EFFECTS)]
    rows += [("topk.shifted", "not reproduced", _d("per-sequence n / mean k_0.01 minus 3 (n = 128 and 256 pooled)",
                                                     -1.4, (-1.45, -1.43), 1.0, "2-4x fewer", test="equivalence")),
             ("hybrid.odd", "inconclusive", _d("long-set hybrid-minus-SWA-only gap, hedgecats - MSE")),
             ("hybrid.odd2", "inconclusive", _d("tokens per joule")),
             ("sae.none", "inconclusive", _d("drop(top-k) - drop(random) -- NOT MEASURED", 0.0, (-1, 1), units="none (no data)"))]
    return rows


def test_registry_wording_maps_to_each_measure_in_order():
    assert len(EFFECTS) == len(MEASURES)
    for effect, (quantity, label, _, _) in zip(EFFECTS, MEASURES):
        assert measure_of({"effect": effect})[:2] == (quantity, label), effect


def test_a_shifted_ratio_has_its_own_axis_and_reference_point():
    plain, shifted = measure_of(_d("n / mean k_0.01 (n = 128)")), measure_of(_d("per-sequence n / mean k_0.01 minus 3 (pooled)"))
    assert plain[0] == "Ratio" and shifted[0] == "Ratio minus 3" and "0 = a ratio of 3" in shifted[1]
    assert shift_of("hybrid minus SWA-only") == 0.0 and shift_of("x minus 3 heads") == 0.0 and shift_of("x minus 2.5") == 2.5


def test_paper_figures_are_put_in_the_axis_units_or_not_drawn():
    assert paper_value(_d("best success rate", paper="up to 90 % (FastText LID)")) == pytest.approx(0.9)
    assert paper_value(_d("log(t_baseline / t_FAL) per block", paper="up to 1.18x single-GPU throughput")) == pytest.approx(math.log(1.18))
    assert paper_value(_d("n / mean k (n = 128)", paper="2.18x")) == 2.18
    assert paper_value(_d("n / mean k minus 3", paper="2.5x")) == pytest.approx(-0.5)
    assert paper_value(_d("n / mean k minus 3", paper="2-4x fewer scored keys on average")) is None  # a range
    assert paper_value(_d("n / mean k (n = 128)", paper="90 %")) is None  # a percentage on a ratio axis
    assert paper_value(_d("Pearson r between a and b", paper="r ≈ 0.79")) == 0.79


def test_every_measure_drawn_with_one_meaning_per_axis_and_unmeasured_rows_listed():
    rows = _all_measures()
    t0 = time.perf_counter()
    fig = forest_plot(rows)
    fig.canvas.draw()
    assert time.perf_counter() - t0 < 10
    panels, missing = groups(rows)
    assert [r[0] for r in missing] == ["sae.none"] and not_measured(rows[-1][2])
    assert len(fig.axes) == len(panels) == len(MEASURES) + 3  # + shifted ratio, + two effects of their own
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert all(labels) and len(set(labels)) == len(labels)  # every axis named, no two panels share a name
    drawn = [t.get_text().split()[0] for ax in fig.axes for t in ax.get_yticklabels()]
    assert "sae.none" not in drawn and sorted(drawn) == sorted(r[0] for r in rows[:-1])
    assert any("Not measured" in t.get_text() and "1 claim: sae.none" in t.get_text() for t in fig.texts)
    by_claim = {r[0]: measure_of(r[2]) for r in rows}
    assert by_claim["hybrid.odd"] != by_claim["hybrid.odd2"]  # unknown measures never share an axis
    ratio_ax = next(ax for ax in fig.axes if ax.get_xlabel().startswith("ratio (unitless"))
    assert [t.get_text().split()[0] for t in ratio_ax.get_yticklabels()] == ["gating.m10"]
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_plot_verdicts_reads_the_option_not_the_working_directory(tmp_path: Path, monkeypatch, capsys):
    report = {"claims": [{"id": cid, "verdict": v, "paper": "p", "equation": "e", "statement": "s", "provenance": "paper",
                          "decision": d} for cid, v, d in _all_measures()[:3]]}
    (tmp_path / "mine.json").write_text(json.dumps(report))
    elsewhere = tmp_path / "cwd"
    (elsewhere / "reports").mkdir(parents=True)
    (elsewhere / "reports" / "verify.json").write_text("not json")  # a cwd-relative report must not be read
    monkeypatch.chdir(elsewhere)
    assert forest.DEFAULT_REPORT.is_absolute()
    monkeypatch.setattr(forest, "DEFAULT_REPORT", tmp_path / "absent" / "verify.json")
    assert main(["plot", "verdicts", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "--from-json" in err and "absent" in err and "Traceback" not in err
    assert main(["plot", "verdicts", "--out", str(tmp_path / "b"), "--from-json", str(tmp_path / "mine.json")]) == 0
    out = json.loads((tmp_path / "b" / "verdicts.json").read_text())
    assert out["source"] == str(tmp_path / "mine.json") and len(out["rows"]) == 3
    assert main(["plot", "verdicts", "--out", str(tmp_path / "c"), "--from-json", str(tmp_path / "missing.json")]) == 2
    assert "--from-json file" in capsys.readouterr().err
