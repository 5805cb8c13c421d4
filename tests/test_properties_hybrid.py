"""Property tests (issue 23 input campaign, hybrid forms): bad input to the linear and hybrid forms
raises ValueError/TypeError naming the argument instead of returning zeros or NaN; the forms agree on
every input they accept (float32 included)."""

from __future__ import annotations

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
