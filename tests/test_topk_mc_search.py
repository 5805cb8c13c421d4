"""MC-Search (spec §3.6): the worked example, the exact-bound identity (singleton cells score exactly
k*), soundness on synthetic heads, the claim and a deliberately wrong bound, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import rng

from attnverify import proofs_numeric as pn
from attnverify.bounds import ball_cells, ball_upper_bounds, certified_topk_reference, mc_search, mc_search_attention


def test_worked_example_stops_after_the_first_cell():
    """(3,3,1,1,1), cells (0,0,1,1,1), U = (3,1), eps = 0.2: after cell 0, B/(Z_S+B) = 3e/(2e^3+3e)
    = 3/(2e^2+3) = 0.1687 <= 0.2 (stop, 2 scored); tau_hat(1) = (e^3+3e)/(2e^3+3e) > 0.2, so h* = 2."""
    r = mc_search(np.array([3.0, 3, 1, 1, 1]), 0.2, np.array([0, 0, 1, 1, 1]), np.array([3.0, 1.0]))
    assert int(r.scored) == 2 and int(r.cells_scored) == 1 and int(r.k) == 2
    assert r.kept.tolist() == [True, True, False, False, False]
    bound = 3 / (2 * np.e**2 + 3)
    assert bound <= float(r.tau_upper) <= bound * (1 + 1e-13)
    # at eps = 0.1 the bound 0.1687 does not certify: the second cell is scored, and then the exact
    # tails (.5844, .1687, .1125, .0562) give k* = 4
    r = mc_search(np.array([3.0, 3, 1, 1, 1]), 0.1, np.array([0, 0, 1, 1, 1]), np.array([3.0, 1.0]))
    assert int(r.scored) == 5 and int(r.k) == 4


def test_singleton_cells_with_exact_bounds_score_exactly_k_star():
    """With one key per cell and U_j = s_j, B is the exact unscored mass: the search stops after the
    k* largest keys and keeps them all (the certified minimal set)."""
    g = rng(11)
    x = g.normal(0, 2, (40, 24))
    x[g.random(x.shape) < 0.1] = -np.inf
    x[:, 0] = g.normal(size=40)
    cell = np.broadcast_to(np.arange(24), x.shape)
    for eps in (1e-6, 0.01, 0.2):
        r = mc_search(x, eps, cell, np.where(np.isfinite(x), x, 0.0))
        ref = certified_topk_reference(x, eps)
        ok = ref.minimal_certified
        assert np.array_equal(r.k[ok], ref.k[ok]) and np.array_equal(r.scored[ok], ref.k[ok])
        assert np.array_equal(r.kept[ok], ref.kept[ok])


@pytest.mark.parametrize("kind", ["random", "clustered"])
def test_sound_on_synthetic_heads(kind):
    from attnverify.bounds._claims_mc_search import mc_search_violations, synthetic_head

    g = rng(12)
    for n, eps in ((64, 0.01), (128, 0.05), (200, 1e-4)):
        q, k = synthetic_head(g, n, 16, kind, 2.0)
        res = mc_search_attention(q, k, eps)
        x = (q @ k.T) / 4.0
        assert not mc_search_violations(x, np.full(len(x), eps), res).any()
        assert (res.scored >= res.k).all() and (res.scored <= n).all()


def test_ball_bounds_hold_for_computed_logits_and_masks():
    g = rng(13)
    k = g.normal(size=(50, 8)) * 100
    q = g.normal(size=(30, 8)) * 100
    cells = ball_cells(k, 5)
    u = ball_upper_bounds(q, cells, 0.125)
    s = 0.125 * (q @ k.T)
    assert (s <= np.take_along_axis(u, np.broadcast_to(cells.assign, s.shape), axis=1)).all()
    mask = np.arange(50) % 7 != 0
    r = mc_search_attention(q, k, 0.01, scale=0.125, key_mask=mask)
    assert not r.kept[:, ~mask].any() and (r.scored <= mask.sum()).all()


def test_claim_verifies_and_a_bound_without_cell_sizes_fails(monkeypatch):
    import attnverify.bounds._claims_mc_search  # noqa: F401  (registers the claim)
    import attnverify.bounds._mc_search as m

    c = pn.get_claim("topk.mc_search_sound")
    assert pn.run_claim(c, scale=0.03).verdict is pn.Verdict.VERIFIED
    real = m._open_terms
    monkeypatch.setattr(m, "_open_terms", lambda *a: (lambda t: (t[0], t[1], np.minimum(t[2], 1)))(real(*a)))
    assert pn.run_claim(c, scale=0.03).verdict is pn.Verdict.FAILED  # B = sum e^{U_j}: |C_j| dropped


def test_bad_input():
    x = np.array([[0.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match="upper is not an upper bound"):
        mc_search(x, 0.1, np.array([0, 0, 1]), np.array([[0.5, 2.0]]))  # logit 1 > U_0 = 0.5
    with pytest.raises(ValueError, match="cell indices"):
        mc_search(x, 0.1, np.array([0, 0, 2]), np.array([[1.0, 2.0]]))
    with pytest.raises(TypeError, match="cell must be an integer"):
        mc_search(x, 0.1, np.array([0.0, 0, 1]), np.array([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="eps must lie in"):
        mc_search(x, 1.5, np.array([0, 0, 1]), np.array([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="NaN"):
        mc_search(np.array([0.0, np.nan]), 0.1, np.array([0, 0]), np.array([1.0]))
    with pytest.raises(ValueError, match="n_cells"):
        ball_cells(np.zeros((4, 2)), 5)
