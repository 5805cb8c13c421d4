"""Spec topk_tv worked examples E1-E4, the §3.3 tie test, the §5 pitfalls and the C12-C14 reference values.

Every expected number below is copied from ``../shared/papers/topk_tv.md`` (or is a closed form).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_close

from attnverify.bounds import (certified_topk, chi2_divergence, delta_method_tail_mass, gaussian_kept_fraction,
                    gaussian_tail_mass, head_tail_decomposition, keps_rule, kl_divergence, output_error_bounds,
                    single_gap_bound, tail_mass, topk_distributions, tv_distance)

E = [  # logits, k, tau, KL, gap bound, chi2
    (np.zeros(10), 3, 0.7, 1.2039728043, 0.7, 7 / 3),
    (np.array([3.0, 3, 1, 1, 1]), 2, 0.1687468257, 0.1848208683, 0.1687468257, 0.2030029249),
    (np.array([2.0, 1, 0, -1]), 2, 0.1192029220, 0.1269280110, 0.2689414214, math.exp(-2)),
    (np.array([2.0, 2, 0, 0, 0]), 2, 0.1687468257, 0.1848208683, None, None),
]


@pytest.mark.parametrize("logits,k,tau,kl,gap,chi2", E, ids=["E1", "E2", "E3", "E4"])
def test_worked_examples_tau_kl_gap_chi2(logits, k, tau, kl, gap, chi2):
    p, ph = topk_distributions(logits, k)
    assert_close(tail_mass(logits, k), tau, rtol=1e-9, what="tau")
    assert_close(tv_distance(p, ph), tau, rtol=1e-9, what="TV")
    assert_close(kl_divergence(ph, p), kl, rtol=1e-9, what="KL")
    assert_close(-math.log1p(-tau), kl, rtol=1e-9, what="KL closed form")
    if gap is not None:
        assert_close(single_gap_bound(logits, k), gap, rtol=1e-9, what="gap bound")
        assert_close(chi2_divergence(ph, p), chi2, rtol=1e-9, what="chi2")


def test_pinsker_and_bretagnolle_huber_e1_e2():
    for kl, pinsker, bh in [(math.log(10 / 3), 0.7758778, 0.8366600), (0.1848208683, 0.3039908455, 0.4107880545)]:
        assert_close(math.sqrt(kl / 2), pinsker, rtol=1e-6)
        assert_close(math.sqrt(1 - math.exp(-kl)), bh, rtol=1e-6)


def test_e3_output_error_and_certificate_terms():
    s, v = np.array([2.0, 1, 0, -1]), np.array([[1.0, 0], [0, 1], [-1, 0], [0, -1]])
    ht = head_tail_decomposition(s, v, 2)
    assert_close(jnp.linalg.norm(ht.error), 0.1857082263, rtol=1e-9)
    assert_close(ht.error, ht.tau * (ht.mu_tail - ht.mu_head), atol=1e-15)
    b = output_error_bounds(s, v, 2)
    assert_close(b.diam, 2.0, rtol=1e-12)
    assert_close(b.diameter, 0.2384058440, rtol=1e-9)
    assert_close(b.var_p, 0.6480542737, rtol=1e-9)
    assert_close(b.variance, 0.2961496390, rtol=1e-9)
    assert_close(b.two_c_tau, 0.2384058440, rtol=1e-9)
    assert float(b.best) >= float(b.error_norm)


def test_e4_equality_case():
    s = np.array([2.0, 2, 0, 0, 0])
    v = np.array([[1.0, 0], [1, 0], [0, 1], [0, 1], [0, 1]])
    b = output_error_bounds(s, v, 2)
    for got in (b.error_norm, b.diameter, b.variance):
        assert_close(got, 0.2386440495, rtol=1e-9)
    assert_close(b.two_c_tau, 0.3374936514, rtol=1e-9)
    assert_close(b.var_p, 0.2805426690, rtol=1e-9)
    assert int(b.active) in (0, 1)  # 2C tau never wins with C = max ||v||


def test_section_3_3_tie_rule():
    s = jnp.array([3.0, 3, 1, 1, 1])
    tails = [float(tail_mass(s, k)) for k in range(1, 6)]
    assert_close(np.array(tails), np.array([0.5844, 0.1687, 0.1125, 0.0562, 0.0]), atol=5e-5)
    r = certified_topk(s, 0.1)
    assert int(r.k) == 4 and np.asarray(r.kept).tolist() == [True, True, True, True, False]
    g = certified_topk(s, 0.1, tie="group")
    assert int(g.k) == 4 and int(g.n_kept) == 5


def test_cancellation_pitfall():
    s = np.array([0.0, -40, -40])
    assert_close(tail_mass(s, 1), 8.4967e-18, rtol=1e-4)
    assert_close(tail_mass(s, 2), 4.2484e-18, rtol=1e-4)
    assert int(certified_topk(s, 1e-18).k) == 3
    assert int(certified_topk(s, 5e-18).k) == 2


def test_boundary_rounding_pitfalls():
    r = certified_topk(np.zeros(10), 0.7)  # exact tau_3 = 7/10 > fl(0.7): k* = 4
    assert int(r.k) == 4
    # uniform n = 4: exact k* is 2 at eps = .5 and 3 at .25 ("<=" semantics)
    for eps, kstar in [(0.5, 2), (0.25, 3)]:
        r = certified_topk(np.zeros(4), eps)
        assert int(r.k) in (kstar, kstar + 1) and (int(r.k) == kstar or not bool(r.minimal_certified))
        exact = certified_topk(np.zeros(4), eps, exact_fallback=True)
        assert int(exact.k) == kstar and bool(exact.minimal_certified)


def test_eps_zero_keeps_every_finite_entry_even_underflowed():
    s = np.array([0.0, -800.0, -np.inf, -1e4])
    r = certified_topk(s, 0.0)
    assert int(r.k) == 3 and np.asarray(r.kept).tolist() == [True, True, False, True]


def test_c12_values_and_monte_carlo():
    assert_close(gaussian_tail_mass(2.0, 0.3, 1.7), 0.241964, atol=5e-7)
    assert_close(gaussian_kept_fraction(2.0, 0.3, 1.7), 0.158655, atol=5e-7)
    rng = np.random.default_rng(0)
    s = rng.standard_normal(4_000_000)
    w = np.exp(s)
    ratio = w[s < 0.7].sum() / w.sum()
    assert_close(gaussian_tail_mass(0.7), 0.382089, atol=5e-7)
    assert abs(ratio - 0.382089) < 0.002  # spec: 0.38265 with 4e6 draws


def test_c13_values():
    from jax.scipy.special import ndtri

    for e, z in [(0.001, -3.0902323062), (0.01, -2.3263478740), (0.05, -1.6448536270)]:
        assert_close(ndtri(e), z, rtol=1e-9)
    assert_close(keps_rule(2.3263478740, 0.01), 0.5, atol=1e-10)
    assert_close(1 / np.asarray(keps_rule(np.array([2.3263, 2.7571, 3.0008]), 0.01)), np.array([2.0, 3.0, 4.0]), atol=2e-3)
    assert_close(keps_rule(3.0, 0.05), 0.0877, atol=5e-5)
    x = 3.0 + float(ndtri(0.001)) + 3.0  # Mills tail expansion at large x (sigma = 6, eps = .001)
    mills = math.exp(-x * x / 2) / math.sqrt(2 * math.pi) / x * (1 - x**-2 + 3 * x**-4)
    assert abs(float(keps_rule(6.0, 0.001)) / mills - 1) < 0.02


def test_c14_delta_method_reference_values():
    assert_close(delta_method_tail_mass(128, 1.0, 0.0), 0.1615, atol=1e-4)
    assert_close(delta_method_tail_mass(128, 2.0, 1.5), 0.4375, atol=1e-4)
    assert_close(gaussian_tail_mass(0.0, 0.0, 1.0), 0.1587, atol=1e-4)


def test_delta_k_search_e2_and_soundness():
    from attnverify.bounds import delta_k_search

    r = delta_k_search(np.array([3.0, 3, 1, 1, 1]), 0.17)  # C5-tight bound at k=2 equals tau_2 = 0.1687
    assert int(r.k) == 2 and int(r.scored) == 3
    assert_close(r.bound, 0.1687468257, rtol=1e-9)
    assert int(delta_k_search(np.array([3.0, 3, 1, 1, 1]), 0.1).k) >= int(certified_topk(np.array([3.0, 3, 1, 1, 1]), 0.1).k)
