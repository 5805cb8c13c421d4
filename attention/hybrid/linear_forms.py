r"""Causal linear attention in three equal forms, each with an explicit initial and final state.

Spec ``hybrid_linear.md`` §2 (C4). One head, features $\phi_q(q_n),\phi_k(k_j)\in\mathbb R^D$
(positive for the maps of :mod:`.features`), values $v_j\in\mathbb R^{d_v}$, and an initial state
$(S_0,z_0)\in\mathbb R^{D\times d_v}\times\mathbb R^D$ (the keys of an earlier segment; zero for a fresh
sequence):

$$S_n=S_0+\sum_{j\le n}\phi_k(k_j)v_j^\top,\qquad z_n=z_0+\sum_{j\le n}\phi_k(k_j),\qquad
y_n=\frac{\phi_q(q_n)^\top S_n}{\phi_q(q_n)^\top z_n}.$$

Three forms compute the same $y$ and the same final state $(S_T,z_T)$:

- :func:`linear_attention_parallel` -- the masked product $y=\frac{\phi_qS_0+\mathrm{tril}(\phi_q\phi_k^\top)v}
  {\phi_qz_0+\mathrm{tril}(\phi_q\phi_k^\top)\mathbf 1}$, $O(T^2D)$;
- :func:`linear_attention_chunked` -- chunks of $C$ tokens: inside a chunk the masked product, across
  chunks the state, $O(TCD+TDd_v)$, i.e. linear in $T$ ($T$ need not be a multiple of $C$: the last
  chunk is zero-padded, and zero key features add nothing to the state);
- :func:`linear_attention_recurrent` -- one token at a time (``lax.scan``), $O(TDd_v)$ with an
  $O(Dd_v)$ state.

All are ``jit``/``vmap``/``grad``-friendly and compute in the common float dtype of the inputs (state
included). Concrete inputs are validated: non-finite entries, negative features, ``T = 0`` and
disagreeing shapes raise ``ValueError`` naming the argument, and so does a row whose normaliser
$\phi_q(q_n)^\top z_n$ is exactly 0 (all-zero features: $y_n=0/0$). Under ``jit`` such a row is NaN,
and a NaN input gives NaN rows (never a silent 0). Python lists are accepted. Example::

    y, state = linear_attention_chunked(fq, fk, v, chunk=64)
    y2, state2 = linear_attention_recurrent(fq2, fk2, v2, state)   # continue the same sequence
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

import numpy as np

from .._finite import check_finite, check_int, check_ndim, check_nonempty, is_traced

__all__ = ["LinearState", "empty_linear_state", "linear_attention_parallel", "linear_attention_chunked",
           "linear_attention_recurrent", "safe_ratio", "as_array", "check_zero_rows"]


class LinearState(NamedTuple):
    r"""The state of causal linear attention: $S=\sum_j\phi_k(k_j)v_j^\top$ ``[D, d_v]`` and
    $z=\sum_j\phi_k(k_j)$ ``[D]`` (the normaliser)."""

    S: jax.Array
    z: jax.Array


def empty_linear_state(D: int, d_v: int, dtype=jnp.float64) -> LinearState:
    """The zero state of a fresh sequence: ``S`` ``[D, d_v]`` and ``z`` ``[D]`` of zeros."""
    if int(D) != D or D < 1 or int(d_v) != d_v or d_v < 1:
        raise ValueError(f"D and d_v must be integers >= 1, got D={D}, d_v={d_v}")
    return LinearState(jnp.zeros((int(D), int(d_v)), dtype), jnp.zeros(int(D), dtype))


def safe_ratio(num: jax.Array, den: jax.Array, fill: float = float("nan")) -> jax.Array:
    r"""``num / den[..., None]``; an exact 0 denominator gives ``fill`` (default NaN: the 0/0 of all-zero
    features, or a zero-padded row). A NaN or negative ``den`` passes through as the ratio (NaN in, NaN
    out, also under ``jit``). The division is by 1 on the 0 rows, so gradients stay finite."""
    zero = den == 0
    return jnp.where(zero[..., None], jnp.asarray(fill, num.dtype), num / jnp.where(zero, 1, den)[..., None])


def as_array(name: str, x):
    """A Python list or tuple as a NumPy array (``ValueError`` naming ``name`` when ragged); others unchanged."""
    if isinstance(x, (list, tuple)):
        try:
            return np.asarray(x)
        except ValueError as e:
            raise ValueError(f"{name} must be an array (a rectangular list of numbers): {e}") from None
    return x


def check_zero_rows(y: jax.Array) -> jax.Array:
    r"""Concrete ``y`` only: ``ValueError`` when a row is the 0/0 of a zero normaliser
    $\phi_q(q_n)^\top z_n=0$ (all-zero features; inputs are finite, so NaN means exactly that)."""
    if not is_traced(y):
        bad = np.isnan(np.asarray(y)).any(axis=-1)
        if bad.any():
            n = int(np.argmax(bad))
            raise ValueError(f"phi_q(q_n) . z_n = 0 at row n = {n} (phi_q or phi_k all zero there): y_n is 0/0; "
                             "use strictly positive feature maps")
    return y


def check_features(name: str, x) -> None:
    r"""Finite (``check_finite``) and, for feature maps, non-negative: a negative feature can make the
    normaliser $\phi_q^\top z$ zero or negative, and the ratio meaningless (concrete arrays only)."""
    check_finite(name, x)
    if name.startswith("phi") and not is_traced(x):
        a = np.asarray(x)
        if (a < 0).any():
            idx = tuple(int(i) for i in np.argwhere(a < 0)[0])
            raise ValueError(f"{name} must be non-negative (positive feature maps, spec §2), got {a[idx]!r} at index {idx}")


def _validate(phi_q, phi_k, v, state) -> tuple[jax.Array, jax.Array, jax.Array, LinearState]:
    phi_q, phi_k, v = as_array("phi_q", phi_q), as_array("phi_k", phi_k), as_array("v", v)
    for name, x in (("phi_q", phi_q), ("phi_k", phi_k), ("v", v)):
        check_ndim(name, x, 2, "[T, dim]")
        check_features(name, x)
    dtype = jnp.result_type(float, phi_q, phi_k, v)  # one float dtype: the scan carry must not change type
    phi_q, phi_k, v = (jnp.asarray(x, dtype) for x in (phi_q, phi_k, v))
    if phi_q.shape != phi_k.shape or v.shape[0] != phi_q.shape[0] or phi_q.ndim != 2 or v.ndim != 2:
        raise ValueError(f"shapes disagree: phi_q {phi_q.shape}, phi_k {phi_k.shape}, v {v.shape} (want [T, D], [T, D], [T, d_v])")
    check_nonempty("phi_q", phi_q, 0, "tokens (T = 0)")
    D, dv = phi_k.shape[1], v.shape[1]
    if state is None:
        return phi_q, phi_k, v, empty_linear_state(D, dv, dtype)
    if not isinstance(state, tuple) or len(state) != 2:
        raise TypeError(f"state must be a LinearState (S, z), got {type(state).__name__}")
    S, z = jnp.asarray(state[0], dtype), jnp.asarray(state[1], dtype)
    if S.shape != (D, dv) or z.shape != (D,):
        raise ValueError(f"state shapes must be S [{D}, {dv}] and z [{D}], got S {S.shape}, z {z.shape}")
    check_finite("state.S", S)
    check_features("state.z", z)
    return phi_q, phi_k, v, LinearState(S, z)


def _chunk_step(state: LinearState, Q: jax.Array, K: jax.Array, V: jax.Array) -> tuple[LinearState, jax.Array]:
    """One chunk: inter-chunk part from the state, intra-chunk part from the masked product."""
    C = Q.shape[0]
    a = jnp.where(jnp.tril(jnp.ones((C, C), bool)), Q @ K.T, 0.0)
    y = safe_ratio(Q @ state.S + a @ V, Q @ state.z + a.sum(-1))
    return LinearState(state.S + K.T @ V, state.z + K.sum(0)), y


def linear_attention_parallel(phi_q: jax.Array, phi_k: jax.Array, v: jax.Array,
                              state: LinearState | None = None) -> tuple[jax.Array, LinearState]:
    r"""Masked parallel form: ``(y [T, d_v], final state)``; the whole sequence is one chunk."""
    phi_q, phi_k, v, state = _validate(phi_q, phi_k, v, state)
    final, y = _chunk_step(state, phi_q, phi_k, v)
    return check_zero_rows(y), final


def linear_attention_chunked(phi_q: jax.Array, phi_k: jax.Array, v: jax.Array,
                             state: LinearState | None = None, *, chunk: int = 64) -> tuple[jax.Array, LinearState]:
    r"""Chunked form with chunk size ``chunk`` $=C\ge1$: ``lax.scan`` over $\lceil T/C\rceil$ chunks.
    Returns ``(y [T, d_v], final state)``."""
    check_int(chunk, "chunk", minimum=1)
    phi_q, phi_k, v, state = _validate(phi_q, phi_k, v, state)
    T = phi_q.shape[0]
    C = min(int(chunk), T)  # a chunk longer than the sequence is the whole sequence
    N = -(-T // C)

    def blocks(x):
        return jnp.pad(x, ((0, N * C - T), (0, 0))).reshape(N, C, x.shape[1])

    final, y = jax.lax.scan(lambda s, x: _chunk_step(s, *x), state, (blocks(phi_q), blocks(phi_k), blocks(v)))
    return check_zero_rows(y.reshape(N * C, -1)[:T]), final


def linear_attention_recurrent(phi_q: jax.Array, phi_k: jax.Array, v: jax.Array,
                               state: LinearState | None = None) -> tuple[jax.Array, LinearState]:
    r"""Recurrent form: $S\mathrel{+}=\phi_k(k_n)v_n^\top$, $z\mathrel{+}=\phi_k(k_n)$, then
    $y_n=\phi_q(q_n)^\top S/\phi_q(q_n)^\top z$, one token per ``lax.scan`` step.
    Returns ``(y [T, d_v], final state)``."""
    phi_q, phi_k, v, state = _validate(phi_q, phi_k, v, state)

    def step(s: LinearState, x):
        fq, fk, vn = x
        s = LinearState(s.S + jnp.outer(fk, vn), s.z + fk)
        return s, safe_ratio(fq @ s.S, fq @ s.z)

    final, y = jax.lax.scan(step, state, (phi_q, phi_k, v))
    return check_zero_rows(y), final
