"""SAE steering: hand-computed examples, the registered claims C1-C5 at small scale,
deliberately wrong formulas, bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

import attnverify.attention.sae.claims as sc
import attnverify.attention.sae.planted as sp_
from attnverify import proofs_numeric as pn
from attnverify.attention.sae.jumprelu import JumpReLUSAE, clamp_feature, feature_scores, jumprelu, sae_encode, sae_error, validate_sae
from helpers import assert_close, rng

IDS = ["sae.jumprelu", "sae.clamp_is_additive", "sae.error_term_gap", "sae.rank_one", "sae.planted_recovery"]


def _toy_sae():
    # d = 2, m = 2: encoder = identity, decoder rows d_0 = (1, 1), d_1 = (0, 2), thresholds 0.5
    return JumpReLUSAE(np.eye(2), np.zeros(2), np.array([[1.0, 1.0], [0.0, 2.0]]), np.array([0.1, -0.1]), np.full(2, 0.5))


def test_hand_computed_clamp():
    sae = _toy_sae()
    x = np.array([[2.0, 0.25], [0.5, 1.0]])  # row 1: f = (2, 0); row 2: f = (0, 1) (0.5 is not > 0.5)
    assert_close(sae_encode(sae, x), np.array([[2.0, 0.0], [0.0, 1.0]]), rtol=0)
    # clamp feature 1 to c = 3: alpha = (3 - 0, 3 - 1) = (3, 2), so x' = x + alpha (0, 2)
    assert_close(clamp_feature(sae, x, 1, 3.0), x + np.array([[0.0, 6.0], [0.0, 4.0]]), rtol=1e-15)
    # without the error term x' = x_hat(f'): row 1 -> 2 (1,1) + 3 (0,2) + b_dec
    assert_close(clamp_feature(sae, x, 1, 3.0, keep_error=False)[0], np.array([2.1, 7.9]), rtol=1e-15)
    assert_close(sae_error(sae, x)[0], x[0] - np.array([2.1, 1.9]), rtol=1e-15)


def test_planted_closed_form_against_quadrature():
    for theta in (0.0, 1.0, 2.5):
        m4 = integrate.quad(lambda u: u * stats.norm.pdf(u, 4.0), theta, np.inf)[0]
        m0 = integrate.quad(lambda u: u * stats.norm.pdf(u), theta, np.inf)[0]
        assert_close(sp_.planted_mean_difference(theta), m4 - m0, rtol=1e-9)


@pytest.mark.parametrize("cid", IDS)
def test_claims_verified_at_small_scale(cid):
    r = pn.run_claim(pn.get_claim(cid), scale=0.01)
    assert r.verdict is pn.Verdict.VERIFIED, r.message
    c = pn.get_claim(cid)
    assert r.symbolic == ("n/a" if c.symbolic is None else "proved" if c.symbolic_kind == "derivation" else "identity")


def _fails(monkeypatch, module, name, wrong, cid, jitted=()):
    monkeypatch.setattr(module, name, wrong)
    for f in jitted:
        f.clear_cache()
    try:
        r = pn.run_claim(pn.get_claim(cid), scale=0.01)
    finally:
        monkeypatch.undo()
        for f in jitted:
            f.clear_cache()
    assert r.verdict is pn.Verdict.FAILED, r.message


def test_non_strict_step_fails_c1(monkeypatch):
    # H(0) = 1 (">=") disagrees at exact ties pi = theta
    _fails(monkeypatch, sc, "jumprelu", lambda pre, th: jnp.where(pre >= th, pre, 0.0), "sae.jumprelu", (sc._c1_violations,))


def test_dropping_the_error_term_fails_c2(monkeypatch):
    real = sc.clamp_feature
    _fails(monkeypatch, sc, "clamp_feature", lambda sae, x, j, c, keep_error=True: real(sae, x, j, c, keep_error=False),
           "sae.clamp_is_additive", (sc._c2_c3_errors,))


def test_wrong_closed_form_fails_c5(monkeypatch):
    # forgetting the English mean phi(theta) of the truncated Gaussian
    _fails(monkeypatch, sp_, "planted_mean_difference", lambda theta: 4.0 * stats.norm.sf(theta - 4) + stats.norm.pdf(theta - 4),
           "sae.planted_recovery")


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), j=st.integers(0, 5))
def test_clamping_to_the_current_value_is_a_no_op(seed, j):
    r = rng(seed)
    sae = JumpReLUSAE(r.normal(size=(4, 6)), r.normal(size=6), r.normal(size=(6, 4)), r.normal(size=4), r.uniform(0.1, 1, 6))
    x = r.normal(size=(1, 4))
    c = float(sae_encode(sae, x)[0, j])
    assert_close(clamp_feature(sae, x, j, c), x, rtol=1e-13, atol=1e-13)


def test_jit_and_scores():
    sae = _toy_sae()
    x = rng(0).normal(size=(5, 2))
    assert_close(jax.jit(clamp_feature, static_argnums=(2, 4))(sae, x, 0, 1.5, True), clamp_feature(sae, x, 0, 1.5), rtol=1e-15)
    f_l, f_e = np.array([[1.0, 0.0], [3.0, 0.0]]), np.array([[0.0, 1.0], [0.0, 1.0]])
    assert_close(feature_scores(f_l, f_e), np.array([2.0, -1.0]), rtol=0)
    assert_close(feature_scores(f_l, f_e, "rate"), np.array([1.0, -1.0]), rtol=0)
    # welch: Delta / sqrt(s_L^2/2 + s_E^2/2 + eps) with s_L^2 = 2 (ddof 1), s_E^2 = 0
    assert_close(feature_scores(f_l, f_e, "welch", eps=0.0)[0], 2.0, rtol=1e-15)
    assert_close(jumprelu(jnp.array([0.5, 0.5 + 1e-12, 0.5 - 1e-12]), 0.5), np.array([0.0, 0.5 + 1e-12, 0.0]), rtol=0)


def test_bad_input():
    sae = _toy_sae()
    with pytest.raises(ValueError, match=r"theta\[1\] = -1"):
        validate_sae(sae._replace(theta=np.array([0.5, -1.0])))
    with pytest.raises(ValueError, match="w_dec must have shape"):
        validate_sae(sae._replace(w_dec=np.ones((3, 2))))
    with pytest.raises(ValueError, match=r"b_enc has a non-finite entry at index \(0,\)"):
        validate_sae(sae._replace(b_enc=np.array([np.nan, 0.0])))
    with pytest.raises(ValueError, match=r"x has a non-finite entry at index \(0, 1\)"):
        clamp_feature(sae, np.array([[1.0, np.inf]]), 0, 1.0)
    with pytest.raises(ValueError, match="outside"):
        clamp_feature(sae, np.ones((1, 2)), 2, 1.0)
    with pytest.raises(ValueError, match=r"\[\.\.\., d\]"):
        clamp_feature(sae, np.ones((1, 3)), 0, 1.0)
    with pytest.raises(ValueError, match="unknown statistic"):
        feature_scores(np.ones((2, 2)), np.ones((2, 2)), "ttest")
    with pytest.raises(ValueError, match=">= 2 samples"):
        feature_scores(np.ones((1, 2)), np.ones((2, 2)), "welch")
