"""Property tests (issue 23 input campaign): malformed input to MC-Search (``mc_search``,
``mc_search_attention``, ``ball_cells``, ``ball_upper_bounds``) raises ValueError/TypeError naming the
argument, before any work; valid input of every accepted form still runs."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from attnverify import bounds as B
from tests._properties import FAST, covers, rejects

X = np.array([[3.0, 3.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
CELL = np.array([0, 0, 1, 1, 1])
UP = np.array([[3.0, 1.0], [5.0, 5.0]])
Q, K = np.ones((1, 2)), np.arange(8.0).reshape(4, 2)


@covers("bounds", "mc_search")
@FAST
@given(st.sampled_from([np.zeros(3), np.zeros((2, 2)), np.zeros((3, 1))]))
def test_mc_search_eps_must_broadcast_to_the_batch(eps):
    rejects(lambda: B.mc_search(X, eps, CELL, UP), "eps")


@covers("bounds", "mc_search")
def test_mc_search_cells_and_bounds_are_named():
    rejects(lambda: B.mc_search(X, 0.1, CELL, 3.0), "upper")
    rejects(lambda: B.mc_search(X, 0.1, CELL, np.zeros((2, 0))), "upper")
    rejects(lambda: B.mc_search(X, 0.1, CELL, ["a", "b"]), "upper")
    rejects(lambda: B.mc_search(X, 0.1, CELL, np.zeros((3, 2))), "upper")
    rejects(lambda: B.mc_search(X, 0.1, np.array([0, 1]), UP), "cell")
    rejects(lambda: B.mc_search(X, 0.1, "abc", UP), "cell")
    rejects(lambda: B.mc_search(X, 0.1, CELL.astype(float), UP), "cell")
    rejects(lambda: B.mc_search(X, 0.1, CELL + 5, UP), "cell")
    rejects(lambda: B.mc_search(X, 0.1, CELL, np.array([[1.0, 1.0], [5.0, 5.0]])), "upper")  # not an upper bound
    rejects(lambda: B.mc_search(X, 0.1, CELL, np.array([[np.nan, 1.0], [5.0, 5.0]])), "upper")
    assert B.mc_search(X, np.array([0.2, 0.3]), CELL, UP).k.shape == (2,)


@covers("bounds", "mc_search_attention", "ball_cells", "ball_upper_bounds")
@FAST
@given(st.sampled_from(["abc", np.nan, -1.0, np.inf]))
def test_attention_entry_point_names_its_arguments(bad_scale):
    rejects(lambda: B.mc_search_attention(Q, K, 0.1, scale=bad_scale), "scale")
    rejects(lambda: B.ball_upper_bounds(Q, B.ball_cells(K, 2), bad_scale), "scale")


@covers("bounds", "mc_search_attention", "ball_cells", "ball_upper_bounds")
def test_attention_counts_masks_and_shapes_are_named():
    rejects(lambda: B.mc_search_attention(Q, K, 0.1, key_mask=[1, 2, 1, 1]), "key_mask")
    rejects(lambda: B.mc_search_attention(Q, K, 0.1, key_mask=[True, False]), "key_mask")
    rejects(lambda: B.mc_search_attention(Q, K, 0.1, n_cells=2.5), "n_cells")
    rejects(lambda: B.mc_search_attention(Q, K, 0.1, n_cells=9), "n_cells")
    rejects(lambda: B.mc_search_attention(Q, K, 0.1, iters=None), "iters")
    rejects(lambda: B.mc_search_attention(Q, K, 0.1, seed=-1), "seed")
    rejects(lambda: B.mc_search_attention(np.array([[np.nan, 1.0]]), K, 0.1), "query", "logits")
    rejects(lambda: B.mc_search_attention(np.ones((0, 2)), K, 0.1), "query")
    rejects(lambda: B.mc_search_attention(Q, np.ones((4, 3)), 0.1), "query", "keys")
    rejects(lambda: B.ball_cells(np.ones((0, 2))), "keys")
    rejects(lambda: B.ball_cells(np.array([[np.inf, 0.0]])), "keys")
    rejects(lambda: B.ball_upper_bounds(np.ones((1, 3)), B.ball_cells(K, 2), 1.0), "query")
    rejects(lambda: B.ball_upper_bounds(Q, "cells", 1.0), "cells")
    res = B.mc_search_attention(Q, K, 0.1, key_mask=[1, 0, 1, 1])
    assert not res.kept[0, 1] and res.k[0] >= 1
