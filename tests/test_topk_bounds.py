"""Tail-mass bounds, output certificates, Gaussian rule and finite-n predictor: properties and bad input."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import adversarial_logit_rows, assert_close, random_logit_rows, rng
from hypothesis import given, settings
from hypothesis import strategies as st

from attnverify.bounds import (blockwise_bounds, head_tail_decomposition, keps_finite_n, keps_monte_carlo, keps_rule,
                    kl_divergence, mst_partition_bound, multi_gap_bound, output_error_bounds, single_gap_bound,
                    tail_mass, topk_distributions)
from attnverify.proofs_numeric.instances import sort_rows_desc


def _rows_and_k(seed=0, count=300):
    x, _ = random_logit_rows(rng(seed), count, n_range=(2, 64))
    n = np.isfinite(x).sum(1)
    k = 1 + (rng(seed + 1).random(count) * (n - 1)).astype(np.int64)
    return x, n, k


def test_sorted_and_unsorted_paths_agree():
    x, _, k = _rows_and_k()
    xs = sort_rows_desc(x)
    assert_close(tail_mass(x, k), tail_mass(xs, k, assume_sorted=True), rtol=1e-13)
    for f in (single_gap_bound, multi_gap_bound):
        assert_close(f(x, k), f(xs, k, assume_sorted=True), rtol=1e-13)
    lo, up = blockwise_bounds(x, k)
    lo2, up2 = blockwise_bounds(xs, k, assume_sorted=True)
    assert_close(lo, lo2, rtol=1e-13)
    assert_close(up, up2, rtol=1e-13)


def test_bound_hierarchy_and_edge_cases():
    x, n, k = _rows_and_k(3)
    tau = np.asarray(tail_mass(x, k))
    c5, mg = np.asarray(single_gap_bound(x, k)), np.asarray(multi_gap_bound(x, k))
    lo, up = (np.asarray(a) for a in blockwise_bounds(x, k))
    assert (tau <= mg * (1 + 1e-12)).all() and (mg <= c5 * (1 + 1e-12)).all()
    assert (lo <= tau * (1 + 1e-12)).all() and (tau <= up * (1 + 1e-12)).all()
    assert float(single_gap_bound(np.zeros(5), 5)) == 0.0  # k = n: nothing discarded
    assert_close(single_gap_bound(np.zeros(8), 3), 5 / 8, rtol=1e-15)  # Delta_k = 0 gives (n-k)/n
    big = single_gap_bound(np.array([0.0, -800.0, -900.0]), 1)  # Delta_k > 750: no overflow
    assert np.isfinite(float(big)) and float(big) >= 0.0


def test_c5_equality_on_two_level_rows():
    x = np.array([[1.5, 1.5, 1.5, -2.0, -2.0, -np.inf]])
    assert_close(single_gap_bound(x, 3), tail_mass(x, 3), rtol=1e-12)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.floats(-20, 20), min_size=2, max_size=16), st.integers(1, 15), st.integers(-30, 30))
def test_shift_invariance(vals, k, shift):
    x = np.full(16, -np.inf)
    x[: len(vals)] = vals
    k = min(k, len(vals))
    for f in (tail_mass, single_gap_bound, multi_gap_bound):
        assert_close(f(x + shift, k), f(x, k), rtol=1e-12, atol=1e-300)


def test_output_bounds_on_random_rows_and_active_term():
    x, _, k = _rows_and_k(5, 200)
    v = rng(6).normal(size=x.shape + (4,))
    b = output_error_bounds(x, v, k)
    err = np.asarray(b.error_norm)
    assert (err <= np.asarray(b.best) * (1 + 1e-12) + 1e-15).all()
    assert (np.asarray(b.active) != 2).all()  # 2C tau never wins when C = max ||v_j||
    ht = head_tail_decomposition(x, v, k)
    assert_close(ht.error, np.asarray(ht.tau)[:, None] * (np.asarray(ht.mu_tail) - np.asarray(ht.mu_head)), atol=1e-14)


def test_kl_direction_pitfall():
    p, ph = topk_distributions(np.array([1.0, 0.0, -1.0]), 2)
    assert np.isinf(float(kl_divergence(p, ph)))  # KL(P || P_hat) = inf for tau > 0
    assert np.isfinite(float(kl_divergence(ph, p)))


def test_keps_rule_table_and_mu_independence():
    assert_close(keps_rule(np.array([1.0, 2.0, 2.5, 3.0, 4.0]), 0.01),
                 np.array([.9076, .6279, .4311, .2503, .0471]), atol=5e-5)


@pytest.mark.parametrize("n,sigma,eps,spec_mc", [(128, 2.5, 0.01, .4762), (128, 3.0, 0.01, .3320),
                                                 (128, 3.0, 0.05, .1567), (256, 3.0, 0.05, .1349)])
def test_finite_n_predictor_against_spec_monte_carlo(n, sigma, eps, spec_mc):
    # the spec's MC means are independent expected values; the asymptotic rule is 10-45% off here
    assert abs(float(keps_finite_n(n, sigma, eps)) / spec_mc - 1) < 0.03
    assert abs(float(keps_rule(sigma, eps)) / spec_mc - 1) > 0.05


def test_monte_carlo_matches_spec_table_cell():
    mc = keps_monte_carlo(128, 3.0, 0.01, n_rep=2000, seed=1)
    assert abs(mc.mean - .3320) < 5 * mc.sd * np.sqrt(2 / 2000)
    assert mc.mean > float(keps_rule(3.0, 0.01))


def test_adversarial_rows_all_k_do_not_break_bounds():
    x, _ = adversarial_logit_rows(rng(7))
    n = np.isfinite(x).sum(1)
    for k in (1, 2):
        ok = n > k
        tau, c5 = np.asarray(tail_mass(x[ok], k)), np.asarray(single_gap_bound(x[ok], k))
        assert np.isfinite(c5).all() and (tau <= c5 * (1 + 1e-12)).all()


def test_bad_input_messages():
    with pytest.raises(ValueError, match=r"NaN at row \(1,\), index 2"):
        tail_mass(np.array([[0.0, 1, 2], [0, 1, np.nan]]), 1)
    with pytest.raises(ValueError, match=r"\+inf"):
        single_gap_bound(np.array([0.0, np.inf]), 1)
    with pytest.raises(ValueError, match=r"k must lie in \[1, n\]: row \(1,\) has k=3 but n=2"):
        tail_mass(np.array([[0.0, 1, 2], [0, 1, -np.inf]]), 3)
    with pytest.raises(ValueError, match=r"k must lie in"):
        tail_mass(np.zeros(3), 0)
    with pytest.raises(ValueError, match="shape mismatch: values"):
        output_error_bounds(np.zeros((2, 3)), np.zeros((2, 4, 2)), 1)
    with pytest.raises(ValueError, match="sigma must be finite and > 0"):
        keps_rule(0.0, 0.1)
    with pytest.raises(ValueError, match="sigma must be finite and > 0"):
        keps_finite_n(128, -1.0, 0.1)
    with pytest.raises(ValueError, match=r"eps must lie in \(0, 1\)"):
        keps_rule(1.0, 0.0)
    with pytest.raises(ValueError, match=r"eps must lie in \(0, 1\)"):
        keps_monte_carlo(10, 1.0, 1.0)
    with pytest.raises(ValueError, match="cuts must be non-decreasing"):
        multi_gap_bound(np.zeros(6), 2, np.array([1, 4, 6]))
    with pytest.raises(ValueError, match="exactly one of k or kept"):
        tail_mass(np.zeros(3))
    with pytest.raises(NotImplementedError):
        mst_partition_bound()
    assert jnp.isfinite(tail_mass(np.array([0.0, -np.inf]), 1))
