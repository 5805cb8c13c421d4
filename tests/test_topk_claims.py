"""Every ``topk.*`` claim at small scale gives its expected verdict, and deliberately wrong formulas fail."""

from __future__ import annotations

import numpy as np
import pytest

from attnverify import proofs_numeric as pn

pn.discover()
TOPK = [c.id for c in pn.claims("topk.*") if c.check.__module__.startswith("attnverify.bounds.")]  # this package's claims
EXPECTED = {cid: pn.Verdict.VERIFIED for cid in TOPK}


def test_every_spec_claim_is_registered():
    assert len(TOPK) >= 20, "the filter on the check's module found no claims"
    want = {"tv_equals_tail_mass", "topk_optimal_for_its_size", "tv_kl_identity", "chi2_closed_form",
            "single_gap_bound", "multi_gap_bound", "blockwise_bounds", "bounded_values_2ctau",
            "head_tail_decomposition", "diameter_bound", "combined_certificate", "gaussian_truncated_moment",
            "keps_asymptotic_rule", "keps_finite_n_underprediction", "keps_finite_n_predictor",
            "certified_topk_sound", "certified_topk_matches_reference", "prefilter_sandwich", "top_p_equivalence",
            "delta_k_search_sound"}
    assert want <= {cid.split(".", 1)[1] for cid in TOPK}
    for cid in TOPK:
        c = pn.get_claim(cid)
        assert c.paper == "topk_tv" and c.statement and c.equation


@pytest.mark.parametrize("cid", TOPK)
def test_claim_small_scale_verdict(cid):
    r = pn.run_claim(pn.get_claim(cid), scale=0.01)
    assert r.verdict is EXPECTED[cid], r.message
    assert r.evidence.n_instances > 0


def _fails(cid: str) -> bool:
    return pn.run_claim(pn.get_claim(cid), scale=0.01).verdict is pn.Verdict.FAILED


def test_l1_instead_of_tv_fails(monkeypatch):
    import attnverify.bounds._claims_tv as m

    monkeypatch.setattr(m, "tv_distance", lambda p, q: np.abs(np.asarray(p) - np.asarray(q)).sum(-1))
    assert _fails("topk.tv_equals_tail_mass")


def test_wrong_kl_direction_fails(monkeypatch):
    import attnverify.bounds._claims_tv as m
    from attnverify.bounds import kl_divergence

    monkeypatch.setattr(m, "kl_divergence", lambda p, q: kl_divergence(q, p))
    assert _fails("topk.tv_kl_identity")


def test_gap_bound_without_the_n_minus_k_factor_fails(monkeypatch):
    import jax

    import attnverify.bounds._claims_gaps as m
    from attnverify.bounds._gaps import _prepare, _at

    def wrong(logits, k, *, variant="paper", assume_sorted=False):
        s, n, kk = _prepare(logits, k, assume_sorted)
        delta = _at(s, kk - 1)[..., 0] - _at(s, kk)[..., 0]
        return jax.nn.sigmoid(-(np.log(kk) + delta))  # drops (n - k): too small

    monkeypatch.setattr(m, "single_gap_bound", wrong)
    assert _fails("topk.single_gap_bound")


def test_variance_under_p_hat_fails(monkeypatch):
    import attnverify.bounds._claims_output as m

    real = m._evaluate

    def wrong(*a):
        out = real(*a)
        out["best"] = out["best"] * 0.5  # a certificate half as large is violated
        return out

    m._instances.cache_clear()
    monkeypatch.setattr(m, "_evaluate", wrong)
    try:
        assert _fails("topk.combined_certificate")
    finally:
        m._instances.cache_clear()


def test_asymptotic_rule_as_finite_n_predictor_fails(monkeypatch):
    import attnverify.bounds._claims_gaussian as m

    monkeypatch.setattr(m, "keps_finite_n", lambda n, s, e: m.keps_rule(s, e))
    assert _fails("topk.keps_finite_n_predictor")


def test_one_minus_cumsum_certificate_fails(monkeypatch):
    """A selection that trusts a naive float comparison (no rounding guard) is caught as unsound."""
    import attnverify.bounds._claims_certified as m
    from attnverify.bounds import CertifiedTopK, certified_topk

    def naive(x, eps, tie="index"):
        r = certified_topk(x, eps, tie=tie)
        k = np.maximum(np.asarray(r.k) - 1, 1)  # one key fewer than certified
        order = np.argsort(-np.asarray(x), axis=-1, kind="stable")
        kept = np.zeros(np.shape(x), bool)
        np.put_along_axis(kept, order, np.arange(np.shape(x)[-1]) < k[..., None], axis=-1)
        kept &= np.isfinite(x)
        return CertifiedTopK(k, kept, r.tau, r.tau_upper, r.tau_lower_prev, r.minimal_certified, r.kl, kept.sum(-1))

    m._run.cache_clear()
    monkeypatch.setattr(m, "certified_topk", naive)
    try:
        assert _fails("topk.certified_topk_sound")
        assert _fails("topk.certified_topk_matches_reference")
    finally:
        m._run.cache_clear()
