"""Property tests (issue 23 input campaign, hybrid forms): bad input to the linear and hybrid forms
raises ValueError/TypeError naming the argument instead of returning zeros or NaN; the forms agree on
every input they accept (float32 included)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from attnverify.attention import hybrid as H
from tests._properties import FAST, covers, rejects
from tests.helpers import assert_close

RNG = np.random.default_rng(3)
T, DH, D, DV = 6, 4, 5, 3
Q, K, V = RNG.normal(size=(T, DH)), RNG.normal(size=(T, DH)), RNG.normal(size=(T, DV))
FQ, FK = np.exp(RNG.normal(size=(T, D))), np.exp(RNG.normal(size=(T, D)))
LINEAR = (H.linear_attention_parallel, H.linear_attention_chunked, H.linear_attention_recurrent)


def _hybrid_forms(q, k, v, fq, fk, **kw):
    return (lambda: H.hybrid_attention(q, k, v, fq, fk, window=2, **kw),
            lambda: H.hybrid_attention_chunked(q, k, v, fq, fk, window=2, chunk=4, **kw),
            lambda: H.hybrid_attention_decode(q, k, v, fq, fk, window=2, **kw))


@covers("attention.hybrid", "linear_attention_parallel", "linear_attention_chunked", "linear_attention_recurrent")
@FAST
@given(st.sampled_from(["phi_q", "phi_k", "v"]), st.sampled_from([np.nan, np.inf, -np.inf]), st.integers(0, T - 1))
def test_linear_forms_reject_non_finite_entries(which, bad, row):
    args = {"phi_q": FQ.copy(), "phi_k": FK.copy(), "v": V.copy()}
    args[which][row, 0] = bad
    for f in LINEAR:
        rejects(lambda: f(args["phi_q"], args["phi_k"], args["v"]), which)


@covers("attention.hybrid", "linear_attention_parallel", "linear_attention_chunked", "linear_attention_recurrent",
        "hybrid_attention", "hybrid_attention_chunked", "hybrid_attention_decode")
def test_negative_features_empty_sequences_and_weights_are_named():
    for f in LINEAR:
        rejects(lambda: f(-FQ, FK, V), "phi_q")
        rejects(lambda: f(FQ, FK - 2.0, V), "phi_k")
        rejects(lambda: f(FQ[:0], FK[:0], V[:0]), "phi_q")
    for call in _hybrid_forms(Q, K, V, -FQ, FK, gamma=0.1):
        rejects(call, "phi_q")
    for call in _hybrid_forms(Q[:0], K[:0], V[:0], FQ[:0], FK[:0], gamma=0.1):
        rejects(call, "q", "T")
    for gamma in (np.nan, 0.0, -1.0, np.inf):
        for call in _hybrid_forms(Q, K, V, FQ, FK, gamma=gamma):
            rejects(call, "gamma")
    for call in _hybrid_forms(Q, K, V, FQ, FK, gamma=0.1, lam=-0.5):
        rejects(call, "lam")
    q_nan = Q.copy()
    q_nan[2, 1] = np.inf
    for call in _hybrid_forms(q_nan, K, V, FQ, FK, gamma=0.1):
        rejects(call, "q")


@covers("attention.hybrid", "linear_attention_chunked", "hybrid_attention_chunked", "hybrid_attention_decode")
def test_forms_agree_and_float32_runs():
    y_par, _ = H.linear_attention_parallel(FQ, FK, V)
    y32, state32 = H.linear_attention_chunked(FQ.astype(np.float32), FK.astype(np.float32), V.astype(np.float32), chunk=4)
    assert y32.dtype == jnp.float32 and state32.S.dtype == jnp.float32
    assert_close(y32, y_par, rtol=1e-4, what="float32 chunked against float64 parallel")
    y_mixed, _ = H.linear_attention_chunked(FQ.astype(np.float32), FK, V, H.empty_linear_state(D, DV, jnp.float32), chunk=4)
    assert_close(y_mixed, y_par, rtol=1e-6, what="mixed dtypes: one common float dtype")
    y_h, r_h = H.hybrid_attention(Q, K, V, FQ, FK, window=2, gamma=0.1)
    y_c, r_c = H.hybrid_attention_chunked(Q, K, V, FQ, FK, window=2, gamma=0.1, chunk=4)
    y_d, r_d, _ = H.hybrid_attention_decode(Q, K, V, FQ, FK, window=2, gamma=0.1)
    assert_close(y_c, y_h, rtol=1e-10, what="chunked = parallel")
    assert_close(y_d, y_h, rtol=1e-10, what="decode = parallel")


HYBRID4 = (H.hybrid_attention, H.hybrid_attention_chunked, H.hybrid_attention_recurrent, H.hybrid_attention_decode)


def _y(f, *a, **kw):
    out = f(*a, **kw)
    return out if f is H.hybrid_attention_recurrent else out[0]


@covers("attention.hybrid", "linear_attention_parallel", "linear_attention_chunked", "linear_attention_recurrent")
def test_linear_forms_pass_nan_through_under_jit_and_name_zero_features():
    fk_nan = FK.copy()
    fk_nan[2, 1] = np.nan
    for f in LINEAR:
        y = np.asarray(jax.jit(lambda a, b, c, f=f: f(a, b, c)[0])(FQ, fk_nan, V))
        assert np.isfinite(y[:2]).all() and np.isnan(y[2:]).all(), "a NaN key gives NaN rows from its position on"
        y0 = np.asarray(jax.jit(lambda a, b, c, f=f: f(a, b, c)[0])(FQ * 0, FK * 0, V))
        assert np.isnan(y0).all(), "all-zero features are 0/0 = NaN under jit, never 0"
        rejects(lambda f=f: f(FQ * 0, FK * 0, V), "phi_q")
        assert_close(f(FQ.tolist(), FK.tolist(), V.tolist())[0], H.linear_attention_parallel(FQ, FK, V)[0], rtol=1e-13,
                     what="lists are accepted")
        rejects(lambda f=f: f([[1.0, 2.0], [3.0]], FK, V), "phi_q")
    assert_close(H.linear_attention_chunked(FQ, FK, V, chunk=10**9)[0], H.linear_attention_parallel(FQ, FK, V)[0],
                 rtol=1e-13, what="a chunk longer than T is clamped to T")


@covers("attention.hybrid", "hybrid_attention", "hybrid_attention_chunked", "hybrid_attention_recurrent",
        "hybrid_attention_decode")
def test_hybrid_forms_agree_on_traced_nan_query_and_gamma_zero():
    q_nan = Q.copy()
    q_nan[1, 1] = np.nan
    ref = None
    for f in HYBRID4:
        ys = (np.asarray(jax.jit(lambda a, f=f: _y(f, a, K, V, FQ, FK, window=2, gamma=0.5))(q_nan)),
              np.asarray(jax.jit(lambda g, f=f: _y(f, Q, K, V, FQ, FK, window=2, gamma=g))(0.0)))
        assert np.isnan(ys[0][1]).all() and np.isfinite(np.delete(ys[0], 1, 0)).all(), f"{f.__name__}: NaN q row is NaN"
        assert np.isnan(ys[1][:2]).all() and np.isfinite(ys[1][2:]).all(), f"{f.__name__}: gamma=0 is 0/0 where L(n) is empty"
        ref = ys if ref is None else ref
        for a, b in zip(ys, ref):
            np.testing.assert_allclose(a, b, rtol=1e-12, equal_nan=True)
    g = np.asarray(jax.jit(lambda gm, lm: H.hybrid_attention(Q, K, V, FQ, FK, window=2, gamma=gm, lam=lm)[0])(0.3, 0.7))
    assert_close(g, H.hybrid_attention(Q, K, V, FQ, FK, window=2, gamma=0.3, lam=0.7)[0], rtol=1e-13,
                 what="traced gamma and lam compile")
    assert_close(_y(H.hybrid_attention, Q.tolist(), K, V, FQ, FK.tolist(), window=2, gamma=0.5),
                 _y(H.hybrid_attention, Q, K, V, FQ, FK, window=2, gamma=0.5), rtol=1e-13, what="lists accepted")


@covers("attention.hybrid", "hybrid_attention", "hybrid_attention_chunked", "hybrid_attention_recurrent",
        "hybrid_attention_decode")
def test_every_hybrid_form_names_bad_window_weights_and_arrays():
    for f in HYBRID4:
        for w in (0, -1, 1.5, "2", None, True):
            rejects(lambda f=f, w=w: f(Q, K, V, FQ, FK, window=w, gamma=0.5), "window")
        for gm in (0, -1, np.nan, np.inf, "a", None, True):
            rejects(lambda f=f, gm=gm: f(Q, K, V, FQ, FK, window=2, gamma=gm), "gamma")
        for lm in (-1, np.nan, np.inf):
            rejects(lambda f=f, lm=lm: f(Q, K, V, FQ, FK, window=2, gamma=0.5, lam=lm), "lam")
        rejects(lambda f=f: f(Q, K, V, FQ, -FK, window=2, gamma=0.5), "phi_k")
        rejects(lambda f=f: f(Q, K[:, :2], V, FQ, FK, window=2, gamma=0.5), "k")
        rejects(lambda f=f: f(Q, K, V, FQ[:4], FK, window=2, gamma=0.5), "phi_q")
        rejects(lambda f=f: f(Q[:0], K[:0], V[:0], FQ[:0], FK[:0], window=2, gamma=0.5), "q")
    assert_close(H.hybrid_attention_recurrent(Q, K, V, FQ, FK, window=2, gamma=0.5),
                 H.hybrid_attention(Q, K, V, FQ, FK, window=2, gamma=0.5)[0], rtol=1e-12, what="recurrent = parallel")


@covers("attention.hybrid", "hybrid_decode_step", "hybrid_decode_init", "hedgehog_features", "hedgehog_init")
def test_decode_step_and_feature_maps_name_bad_input():
    st = H.hybrid_decode_init(2, DH, DV, D)
    step = lambda *a, **kw: H.hybrid_decode_step(*a, **({"gamma": 0.5} | kw))  # noqa: E731
    y, _, _ = step(st, Q[0], K[0], V[0], FQ[0], FK[0])
    assert_close(y, H.hybrid_attention(Q[:1], K[:1], V[:1], FQ[:1], FK[:1], window=2, gamma=0.5)[0][0], rtol=1e-13)
    rejects(lambda: step(st, Q, K[0], V[0], FQ[0], FK[0]), "q")
    rejects(lambda: step(st, Q[0], K[0], V[0], FQ[0], -FK[0]), "fk")
    rejects(lambda: step(st, Q[0], K[0], V[0, :2], FQ[0], FK[0]), "v")
    rejects(lambda: step(st, Q[0], K[0], V[0], FQ[0], FK[0], gamma=0.0), "gamma")
    rejects(lambda: step(st, Q[0], K[0], V[0], FQ[0], FK[0], gamma=np.nan), "gamma")
    rejects(lambda: step(None, Q[0], K[0], V[0], FQ[0], FK[0]), "state")
    rejects(lambda: step(st, np.where(np.arange(DH) == 0, np.nan, Q[0]), K[0], V[0], FQ[0], FK[0]), "q")
    for bad in ({"d_h": -1}, {"D": 1.5}, {"d_v": True}):
        args = {"window": 2, "d_h": DH, "d_v": DV, "D": D} | bad
        rejects(lambda args=args: H.hybrid_decode_init(**args), next(iter(bad)))
    W = H.hedgehog_init(jax.random.PRNGKey(0), DH, 8)
    rejects(lambda: H.hedgehog_init(jax.random.PRNGKey(0), -1, 4), "d_h")
    rejects(lambda: H.hedgehog_init(jax.random.PRNGKey(0), DH, 0), "d_prime")
    rejects(lambda: H.hedgehog_features(Q, W[:2]), "weight")
    rejects(lambda: H.hedgehog_features(Q, W[0]), "weight")
    rejects(lambda: H.hedgehog_features(np.where(Q > 1, np.nan, Q), W), "x")
    rejects(lambda: H.hedgehog_features(Q, W, kind="bogus"), "kind")


@covers("attention.hybrid", "recall_batch", "query_accuracy")
def test_recall_task_names_rng_and_targets():
    rejects(lambda: H.recall_batch(0, 2, H.RecallConfig()), "rng")
    rejects(lambda: H.query_accuracy(np.zeros((3, 4, 5)), np.zeros((2, 4), int)), "targets")
    assert H.query_accuracy(np.eye(5)[None, :4], np.arange(4)[None]) == 1.0
