"""Certified Top-k on MiniLM-L6 attention: the measurement, its failure detection, the claims, outputs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtr, ndtri

import bounds
import proofs_numeric as pn
from experiments.topk_real import claims as _topk_real_claims
from experiments.topk_real import study as topk_real
from experiments.topk_real.protocol import Protocol, finite_n_predictor, measure

# one sequence of 128 tokens, padded to the reduced protocol's width: shares its compiled programs
TINY = Protocol("tiny", {128: 1}, batch=1, bound_rows=64, eps=(0.01, 0.1), predictor_grid=9, width=256)
IDS = ("topk.real_certified_tv", "topk.real_reduction_vs_paper", "topk.real_headline_2_4x",
       "topk.real_rule_vs_predictor", "topk.real_output_bounds")


@pytest.fixture(scope="module")
def model():
    return topk_real._model()


@pytest.fixture(scope="module")
def tiny(model):
    return measure(model, TINY, seed=0)


def test_tiny_measurement_is_sound(tiny):
    cells = {c["eps"]: c for c in tiny["per_n_eps"]}
    rows = 6 * 12 * 128
    for c in cells.values():
        assert c["rows"] == c["tv_rows"] == c["tv_ok"] == rows
        assert c["minimality_violations"] == 0 and sum(c["bound_violations"].values()) == 0
        assert 1 <= c["mean_k"] <= 128 and c["reduction_n_over_mean_k"] == pytest.approx(128 / c["mean_k"])
        # Jensen: the mean of n/k is at least n over the mean of k
        assert c["mean_n_over_k"] >= c["reduction_n_over_mean_k"]
    assert cells[0.1]["mean_k"] < cells[0.01]["mean_k"]  # a larger budget keeps fewer keys
    assert len(tiny["per_head"]) == 2 * 6 * 12


def _drop_one_more(real):
    """A deliberately wrong selection: the certified set minus its lowest-logit key (when k > 1)."""

    def wrong(logits, eps):
        c = real(logits, eps)
        s, kept, k = np.asarray(logits), np.asarray(c.kept, bool).copy(), np.asarray(c.k)
        last = np.where(kept, s, np.inf).argmin(-1)
        drop = np.zeros_like(kept)
        np.put_along_axis(drop, last[..., None], True, axis=-1)
        kept &= ~(drop & (k > 1)[..., None])
        return c._replace(kept=kept, k=kept.sum(-1))

    return wrong


def test_wrong_selection_is_detected(model, monkeypatch):
    monkeypatch.setattr(bounds, "certified_topk", _drop_one_more(bounds.certified_topk))
    s = measure(model, dataclasses.replace(TINY, eps=(0.01,)), seed=0)
    c = s["per_n_eps"][0]
    assert c["tv_ok"] < c["tv_rows"] and c["max_tv_minus_eps"] > 0


def test_wrong_output_bound_is_detected(model, monkeypatch):
    real = bounds.output_error_bounds
    monkeypatch.setattr(bounds, "output_error_bounds", lambda *a, **k: real(*a, **k)._replace(diameter=real(*a, **k).diameter / 4))
    s = measure(model, dataclasses.replace(TINY, eps=(0.1,)), seed=0)
    assert s["per_n_eps"][0]["bound_violations"]["diameter"] > 0


def test_predictor_interpolation_matches_direct_evaluation():
    f = finite_n_predictor(128, 0.01, 9)
    sig = np.array([1.3, 2.2, 3.1])
    assert np.allclose(f(sig), bounds.keps_finite_n(128, sig, 0.01), atol=0.01)
    # the probit-linear interpolant reproduces the asymptotic rule exactly (it is linear there)
    assert np.allclose(ndtr(-(sig + ndtri(0.01))), bounds.keps_rule(sig, 0.01), rtol=1e-12)


@pytest.fixture(scope="module")
def claim_results():
    return {cid: pn.run_claim(pn.get_claim(cid), scale=0.01) for cid in IDS}


def test_claims_at_small_scale(claim_results):
    r = claim_results
    assert all(x.verdict is not pn.Verdict.FAILED for x in r.values()), {k: v.message for k, v in r.items()}
    assert r["topk.real_certified_tv"].verdict is pn.Verdict.VERIFIED
    assert r["topk.real_output_bounds"].verdict is pn.Verdict.VERIFIED
    tv = r["topk.real_certified_tv"].evidence.details
    assert tv["rows_tv_le_eps"] == tv["rows"] == 4 * 72 * (128 + 256)
    table = r["topk.real_reduction_vs_paper"].evidence.details["table"]
    holds = all(t["ours_reduction"] >= 0.9 * t["paper_reduction"] for t in table.values())
    assert r["topk.real_reduction_vs_paper"].evidence.statement_holds is holds
    assert table[128]["paper_reduction"] == pytest.approx(128 / 58.8)  # the paper's figure, spec §4


@pytest.mark.parametrize("cid, key, bad", [
    ("topk.real_certified_tv", "max_tv_minus_eps", 1e-3),
    ("topk.real_reduction_vs_paper", "minimality_violations", 1),
    ("topk.real_headline_2_4x", "minimality_violations", 1),
    ("topk.real_output_bounds", "max_relative_violation", {"diameter": 0.5}),
])
def test_claims_fail_on_doctored_measurements(tiny, monkeypatch, cid, key, bad):
    s = json.loads(json.dumps(pn.io.to_jsonable(tiny)))
    for c in s["per_n_eps"]:
        c["n"] = 128 if c["eps"] == 0.01 else 256
        c[key] = {**c[key], **bad} if isinstance(bad, dict) else bad
    s["per_n_eps"] += [{**c, "eps": 0.01} for c in s["per_n_eps"] if c["n"] == 256]
    monkeypatch.setattr(_topk_real_claims, "_summary", lambda ctx: s)
    assert pn.run_claim(pn.get_claim(cid), scale=0.01).verdict is pn.Verdict.FAILED


def test_experiment_and_plot_write_files(tiny, monkeypatch, tmp_path: Path):
    monkeypatch.setattr(topk_real, "measure", lambda model, protocol, seed: tiny)  # measured above
    res = topk_real.topk_real_experiment(tmp_path / "e", quick=True, seed=0)
    names = {Path(f).name for f in res["files"]}
    assert {"topk_real.json", "topk_real.md", "keps_real.png", "keps_real.svg", "reduction_vs_eps.png",
            "output_bound_ratios.svg"} <= names
    md = (tmp_path / "e" / "topk_real.md").read_text()
    assert "58.8" in md and "| 128 | 0.01 |" in md
    out = topk_real.keps_real_plot(tmp_path / "p", quick=True, seed=0)
    assert all(Path(f).exists() for f in out["files"])


def test_measure_needs_float64(model):
    import jax

    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(RuntimeError, match="float64"):
            measure(model, TINY)
    finally:
        jax.config.update("jax_enable_x64", True)
