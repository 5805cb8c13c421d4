"""Causal linear attention and the hybrid in three forms (issue 15, part 1): parallel, chunked and
recurrent agree in float64 (values, final states, gradients), a state carries a sequence across calls,
deliberately wrong forms are caught, float32 stays finite at long T, bad input is rejected."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnverify.attention.hybrid import (LinearState, hedgehog_features, hedgehog_init, hybrid_attention, hybrid_attention_chunked,
                              hybrid_attention_decode, linear_attention_chunked, linear_attention_parallel,
                              linear_attention_recurrent)
from attnverify.attention.hybrid.linear_forms import safe_ratio
from helpers import assert_close, rng
from test_hybrid import _loop_reference

TOL = 1e-12


def _features(seed: int, T: int, d_h: int, d_prime: int = 16, d_v: int | None = None):
    r = rng(seed)
    q, k = r.standard_normal((T, d_h)) * 2, r.standard_normal((T, d_h))
    v = r.standard_normal((T, d_v or d_h))
    fq = hedgehog_features(jnp.asarray(q), hedgehog_init(jax.random.PRNGKey(seed), d_h, d_prime))
    fk = hedgehog_features(jnp.asarray(k), hedgehog_init(jax.random.PRNGKey(seed + 1), d_h, d_prime))
    state = LinearState(jnp.asarray(r.uniform(0, 3, (2 * d_prime, v.shape[1]))), jnp.asarray(r.uniform(0.5, 3, 2 * d_prime)))
    return jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), fq, fk, state


LA_FORMS = {
    "parallel": linear_attention_parallel,
    "chunked16": lambda *a: linear_attention_chunked(*a, chunk=16),
    "chunked64": lambda *a: linear_attention_chunked(*a, chunk=64),
    "recurrent": linear_attention_recurrent,
}


def _rel(a, b) -> float:
    return float(jnp.max(jnp.abs(a - b)) / jnp.maximum(1.0, jnp.max(jnp.abs(b))))


@pytest.mark.parametrize("T,d_h", [(64, 16), (128, 128), pytest.param(1000, 64, marks=pytest.mark.slow)])
def test_linear_attention_forms_agree_values_states_and_gradients(T, d_h):
    _, _, v, fq, fk, state = _features(T + d_h, T, d_h)
    ref_y, ref_state = linear_attention_parallel(fq, fk, v, state)
    r = rng(1)
    cy, cS, cz = (jnp.asarray(r.standard_normal(x.shape)) for x in (ref_y, ref_state.S, ref_state.z))

    def objective(form):
        def f(fq, fk, v, S, z):
            y, st = form(fq, fk, v, LinearState(S, z))
            return jnp.sum(y * cy) + jnp.sum(st.S * cS) / T + jnp.sum(st.z * cz) / T
        return jax.grad(f, argnums=(0, 1, 2, 3, 4))(fq, fk, v, *state)

    ref_grads = objective(linear_attention_parallel)
    for name, form in LA_FORMS.items():
        y, st = form(fq, fk, v, state)
        assert _rel(y, ref_y) <= TOL, name
        assert _rel(st.S, ref_state.S) <= TOL and _rel(st.z, ref_state.z) <= TOL, name
        for g, g0 in zip(objective(form), ref_grads):
            assert _rel(g, g0) <= TOL, name


def test_linear_attention_matches_the_literal_sum_and_continues_across_calls():
    _, _, v, fq, fk, state = _features(3, 37, 8, 4)
    fq64, fk64, v64 = (np.asarray(x) for x in (fq, fk, v))
    S0, z0 = np.asarray(state.S), np.asarray(state.z)
    lit = np.stack([(fq64[n] @ (S0 + fk64[:n + 1].T @ v64[:n + 1])) / (fq64[n] @ (z0 + fk64[:n + 1].sum(0))) for n in range(37)])
    y_once, st_once = linear_attention_chunked(fq, fk, v, state, chunk=16)
    assert_close(y_once, lit, rtol=TOL, atol=TOL, what="chunked vs literal")
    y1, st1 = linear_attention_recurrent(fq[:20], fk[:20], v[:20], state)
    y2, st2 = linear_attention_chunked(fq[20:], fk[20:], v[20:], st1, chunk=16)
    assert_close(jnp.concatenate([y1, y2]), y_once, rtol=TOL, atol=TOL, what="continued")
    assert_close(st2.S, st_once.S, rtol=TOL, what="final S")


def test_dropping_the_inter_chunk_state_is_caught():
    # a deliberately wrong chunked form (each chunk forgets earlier chunks) fails the equality
    _, _, v, fq, fk, _ = _features(5, 128, 16)
    ref, _ = linear_attention_parallel(fq, fk, v)
    wrong = jnp.concatenate([linear_attention_parallel(fq[i:i + 16], fk[i:i + 16], v[i:i + 16])[0] for i in range(0, 128, 16)])
    assert _rel(wrong, ref) > 1e-3


_SLOW = pytest.mark.slow
# default suite: one window inside the sequence and one beyond it; every other (size, window) pair is `slow`
_HYBRID_CASES = [(64, 16, 16, 16), (128, 32, 64, "T+1")] + [
    pytest.param(T, d_h, C, w, marks=_SLOW)
    for (T, d_h, C) in [(64, 16, 16), (128, 32, 64), (1000, 64, 64)] for w in (1, 16, "T", "T+1")
    if (T, d_h, C, w) not in [(64, 16, 16, 16), (128, 32, 64, "T+1")]]


@pytest.mark.parametrize("T,d_h,C,w", _HYBRID_CASES)
def test_hybrid_forms_agree_values_and_gradients(T, d_h, C, w):
    w = {"T": T, "T+1": T + 1}.get(w, w)
    q, k, v, fq, fk, _ = _features(T + 7 * d_h, T, d_h)
    kw = dict(window=w, gamma=0.3, lam=0.7)
    forms = {"parallel": lambda *a: hybrid_attention(*a, **kw),
             "chunked": lambda *a: hybrid_attention_chunked(*a, **kw, chunk=C),
             "decode": lambda *a: hybrid_attention_decode(*a, **kw)[:2]}
    ref_y, ref_r = forms["parallel"](q, k, v, fq, fk)
    cy = jnp.asarray(rng(2).standard_normal(ref_y.shape))
    grad = lambda form: jax.grad(lambda *a: jnp.sum(form(*a)[0] * cy), argnums=(0, 1, 2, 3, 4))(q, k, v, fq, fk)  # noqa: E731
    ref_g = grad(forms["parallel"]) if T <= 128 else None
    for name, form in forms.items():
        y, r = form(q, k, v, fq, fk)
        assert _rel(y, ref_y) <= TOL and _rel(r, ref_r) <= TOL, name
        if ref_g is not None:
            for g, g0 in zip(grad(form), ref_g):
                assert _rel(g, g0) <= 1e-11, name


def test_hybrid_chunked_and_decode_match_the_spec_loop():
    q, k, v, fq, fk, _ = _features(11, 23, 4, 3, 2)
    for w in (1, 3, 5):
        ref = _loop_reference(*(np.asarray(x) for x in (q, k, v, fq, fk)), w, 0.2, 1.3)
        assert_close(hybrid_attention_chunked(q, k, v, fq, fk, window=w, gamma=0.2, lam=1.3, chunk=4)[0], ref, rtol=TOL, atol=TOL)
        y, _, st = hybrid_attention_decode(q, k, v, fq, fk, window=w, gamma=0.2, lam=1.3)
        assert_close(y, ref, rtol=TOL, atol=TOL)
        assert int(st.position) == 23


def test_decode_continues_from_its_state():
    q, k, v, fq, fk, _ = _features(12, 40, 8)
    y_all, r_all, _ = hybrid_attention_decode(q, k, v, fq, fk, window=6, gamma=0.5)
    y1, _, st = hybrid_attention_decode(q[:17], k[:17], v[:17], fq[:17], fk[:17], window=6, gamma=0.5)
    y2, r2, _ = hybrid_attention_decode(q[17:], k[17:], v[17:], fq[17:], fk[17:], window=6, gamma=0.5, state=st)
    assert_close(jnp.concatenate([y1, y2]), y_all, rtol=TOL, atol=TOL)


def test_window_normalised_first_is_a_different_model():
    # spec pitfall: normalising the window softmax before mixing (dropping c_n's role) changes y
    q, k, v, fq, fk, _ = _features(13, 64, 16)
    y, r = hybrid_attention(q, k, v, fq, fk, window=8, gamma=0.3)
    swa, _ = hybrid_attention(q, k, v, fq, fk, window=8, gamma=0.3, component="swa")
    la = safe_ratio(*(lambda a: (a @ v, a.sum(-1)))(jnp.tril(fq @ fk.T, -8)), fill=0.0)  # empty region: 0
    wrong = (1 - 0.5) * swa + 0.5 * la
    assert _rel(wrong, y) > 1e-3


def test_float32_long_sequence_stays_finite():
    T, d_h = 4096, 32
    q, k, v, fq, fk, _ = _features(14, T, d_h)
    y64, st64 = linear_attention_chunked(fq, fk, v, chunk=64)
    y32, st32 = linear_attention_chunked(fq.astype(jnp.float32), fk.astype(jnp.float32), v.astype(jnp.float32), chunk=64)
    assert y32.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(y32))) and bool(jnp.all(jnp.isfinite(st32.z)))
    assert _rel(y32.astype(jnp.float64), y64) < 1e-4


@pytest.mark.parametrize("bad", [dict(chunk=0), dict(chunk=2.5), dict(chunk=True)])
def test_bad_chunk_is_rejected(bad):
    _, _, v, fq, fk, _ = _features(15, 8, 4, 2)
    with pytest.raises(ValueError, match="chunk"):
        linear_attention_chunked(fq, fk, v, **bad)


def test_bad_state_and_window_are_rejected():
    q, k, v, fq, fk, _ = _features(16, 8, 4, 2)
    with pytest.raises(ValueError, match="state"):
        linear_attention_parallel(fq, fk, v, LinearState(jnp.zeros((3, 4)), jnp.zeros(3)))
    with pytest.raises(TypeError, match="state"):
        linear_attention_recurrent(fq, fk, v, jnp.zeros(4))
    with pytest.raises(ValueError, match="window"):
        hybrid_attention_chunked(q, k, v, fq, fk, window=0, gamma=0.1)
    with pytest.raises(ValueError, match="shapes"):
        hybrid_attention_decode(q, k[:5], v, fq, fk, window=2, gamma=0.1)
