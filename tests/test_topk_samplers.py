"""Known failures of production top-p / top-k samplers (issue 12, §4), each as a test of
``certified_topk`` with its expected result derived independently (exact rationals or closed forms).

Top-p with ``p = 1 - eps`` keeps the smallest head with mass >= p, which is the certified set for
``eps`` (spec §3.4); the tests pass ``eps`` itself, as the spec says to.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import jax
import numpy as np
import pytest

from attnverify.bounds import certified_topk

W = 16  # every small row is padded with masked (-inf) keys to one width: one compiled program


def _row(vals) -> np.ndarray:
    """``[1, W]`` row: ``vals`` then masked keys (not counted in n, never kept)."""
    out = np.full((1, W), -np.inf)
    out[0, : len(vals)] = vals
    return out


def _exact_kstar(n: int, eps: Fraction) -> int:
    """Uniform row of ``n`` equal logits: tau_k = (n - k) / n exactly, k* = min{k >= 1: (n-k)/n <= eps}."""
    return next(k for k in range(1, n + 1) if Fraction(n - k, n) <= eps)


@pytest.mark.parametrize("n,eps", [(4, Fraction(1, 4)), (4, Fraction(1, 2)), (8, Fraction(3, 8)), (10, Fraction(3, 10))])
def test_boundary_token_kept_when_the_kept_mass_lands_exactly_on_one_minus_eps(n, eps):
    """Uniform rows where the exact head mass of the k*-set is exactly 1 - eps ((n-k*)/n = eps). A
    sampler that tests ``cumsum < p`` strictly, or compares rounded floats, drops the boundary token.
    The certified set never does (k >= k*); where the float eps is the exact rational the tail can sit
    inside the rounding band, so minimality is then not certified -- and the 50-digit fallback
    resolves it to exactly k*."""
    kstar = _exact_kstar(n, Fraction(float(eps)))  # the float eps, read as an exact real
    r = certified_topk(_row(np.zeros(n)), float(eps))
    assert kstar <= int(r.k[0]) <= kstar + 1  # never drops the boundary token; at most one extra
    assert not bool(r.minimal_certified[0]) or int(r.k[0]) == kstar
    exact = certified_topk(_row(np.zeros(n)), float(eps), exact_fallback=True)
    assert int(exact.k[0]) == kstar and bool(exact.minimal_certified[0])
    assert np.asarray(exact.kept)[0].tolist() == [True] * kstar + [False] * (W - kstar)  # index tie rule


def test_token_tied_with_the_boundary_is_treated_consistently():
    """(3,3,1,1,1) at eps = 0.1 (spec §3.3): tails (.5844,.1687,.1125,.0562,0) give k = 4 in every
    permutation; ``index`` keeps the lower-index tied tokens, ``group`` the whole tied group."""
    base = np.array([3.0, 3, 1, 1, 1])
    tail3 = 2 * np.exp(1.0) / (2 * np.exp(3.0) + 3 * np.exp(1.0))  # tau_3 = 2e/(2e^3+3e) = .1125 > .1
    assert tail3 > 0.1 and np.exp(1.0) / (2 * np.exp(3.0) + 3 * np.exp(1.0)) <= 0.1
    perms = np.array(list(itertools.permutations(range(5))))
    rows = np.concatenate([base[perms], np.full((len(perms), W - 5), -np.inf)], axis=1)
    r = certified_topk(rows, 0.1)
    g = certified_topk(rows, 0.1, tie="group")
    assert (np.asarray(r.k) == 4).all() and (np.asarray(g.k) == 4).all() and (np.asarray(g.n_kept) == 5).all()
    kept = np.asarray(r.kept)
    for row, kp in zip(rows, kept):
        ones = np.flatnonzero(row == 1.0)
        assert kp[row == 3.0].all() and kp[ones[:2]].all() and not kp[ones[2]]  # highest-index 1 dropped


def test_float32_cumsum_that_never_reaches_one_minus_eps():
    """n = 1000 equal float32 logits, eps = 1e-9: the float32 running sum of p = fl(1/n) ends below
    fl32(1 - eps) = 1 (so ``searchsorted(cumsum, 1 - eps)`` returns n, out of range). Exactly,
    tau_k = (n-k)/n > eps for k < n, so k* = n, and every kept index is in range."""
    n = 1000
    p32 = np.full(n, 1.0 / n, np.float32)
    assert np.cumsum(p32, dtype=np.float32)[-1] < np.float32(1 - 1e-9)  # the failure is reproduced
    assert np.searchsorted(np.cumsum(p32, dtype=np.float32), np.float32(1 - 1e-9)) == n
    r = certified_topk(np.zeros((1, n), np.float32), 1e-9)
    assert int(r.k[0]) == n and np.asarray(r.kept).all() and bool(r.minimal_certified[0])


@pytest.mark.parametrize("eps,kstar", [(5e-18, 2), (1e-18, 3), (1e-300, 3)])
def test_p_close_to_one(eps, kstar):
    """p = 1 - eps with eps below u = 2^-53, where fl(1 - eps) = 1 and top-p keeps everything or
    nothing useful. Row (0, -40, -40): tau_1 = 2e^-40/(1+2e^-40) = 8.4967e-18, tau_2 = e^-40/(1+2e^-40)
    = 4.2484e-18 (spec §5), so k* = 2 at 5e-18 and 3 at 1e-18 and below."""
    assert 1.0 - eps == 1.0
    t1, t2 = 2 * np.exp(-40) / (1 + 2 * np.exp(-40)), np.exp(-40) / (1 + 2 * np.exp(-40))
    assert (t1 > eps) and ((t2 <= eps) == (kstar == 2))
    r = certified_topk(_row([0.0, -40.0, -40.0]), eps)
    assert int(r.k[0]) == kstar and bool(r.minimal_certified[0])


def test_search_does_not_stall_on_subnormal_pivots():
    """Distinct subnormal logits j * 2^-1074 (j = -7..8, no zero): their exponentials are all 1 in
    float64, yet the keys are distinct. Exactly, p_i = 1/16 (1 + O(2^-1070)), so at eps = 0.45 the
    tail (16-k)/16 <= 0.45 first at k* = 9 -- the 9 largest logits. Under jit the loop is bounded
    (at most 64 * 4 steps), so it returns."""
    tiny = np.float64(5e-324)
    x = np.arange(-7, 9) * tiny
    assert len(np.unique(x)) == 16 and (np.abs(x[x != 0]) < np.finfo(np.float64).tiny).all()
    perm = np.random.default_rng(0).permutation(16)
    row = _row(x[perm])
    for r in (certified_topk(row, 0.45), jax.jit(lambda a: certified_topk(a, 0.45))(row)):
        assert int(r.k[0]) == 9 and bool(r.minimal_certified[0])
        assert set(np.flatnonzero(np.asarray(r.kept)[0])) == set(np.argsort(-x[perm], kind="stable")[:9])
