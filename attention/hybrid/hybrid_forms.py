r"""The hybrid SWA + LA formula of spec §2 in a chunked form and a stateful recurrent decode.

The parallel form is :func:`.operators.hybrid_attention`. With 0-based positions, window
$\mathcal W(n)=\{n-w+1..n\}\cap\{0..\}$, linear region $\mathcal L(n)=\{j\le n-w\}$ and
$c_n=\max_{\mathcal W(n)}s_{ni}$ (exactly as the code: $c_n$ shifts only the window terms),

$$y_n=\frac{\gamma\sum_{\mathcal W(n)}e^{s_{ni}-c_n}v_i+\lambda\,\phi_q(q_n)^\top S_{n-w}}
{\gamma\sum_{\mathcal W(n)}e^{s_{ni}-c_n}+\lambda\,\phi_q(q_n)^\top z_{n-w}},\qquad
S_m=\sum_{j\le m}\phi_k(k_j)v_j^\top,\ z_m=\sum_{j\le m}\phi_k(k_j).$$

- :func:`hybrid_attention_chunked` -- chunks of $C$ queries. Chunk $c$ (queries $cC..cC+C-1$) reads a
  band of $C+w-1$ keys $cC-w+1..cC+C-1$: the window terms and the linear terms $j\in[cC-w+1,n-w]$ come
  from the band, older linear terms from the state over $j\le cC-w$; after the chunk the band's first
  $C$ keys are folded into the state. Cost $O(T(C+w)(d_h+D)+TDd_v)$, linear in $T$.
- :func:`hybrid_decode_step` / :func:`hybrid_attention_decode` -- the recurrent decode with an explicit
  :class:`HybridState`: a ring buffer of the last $w$ keys, values and key features, the linear state,
  and the position. Token $n-w$ is folded into $(S,z)$ *before* $y_n$ (spec pitfall "decode order").

Both return $r_n$ (the linear-mass fraction) next to $y_n$ and equal the parallel form (tests,
float64, gradients included). Concrete inputs are validated like the parallel form: non-finite
entries, negative features, ``T = 0``, $\gamma\le0$ or non-finite, $\lambda<0$ raise ``ValueError``
naming the argument. Under ``jit`` nothing is checked, and the forms agree on what they return: a NaN
query gives a NaN row, and $\gamma=0$ gives NaN (0/0) at the rows whose linear region is empty.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

import numpy as np

from .._finite import check_int, is_traced
from ._checks import check_weights, check_window, hybrid_inputs
from .linear_forms import LinearState, as_array, check_features, safe_ratio

__all__ = ["HybridState", "hybrid_decode_init", "hybrid_decode_step", "hybrid_attention_decode", "hybrid_attention_chunked"]


class HybridState(NamedTuple):
    """Decode cache: ``linear`` (S, z over tokens that left the window), ring buffers ``keys``
    ``[w, d_h]``, ``values`` ``[w, d_v]``, ``key_features`` ``[w, D]``, and ``position`` (tokens seen)."""

    linear: LinearState
    keys: jax.Array
    values: jax.Array
    key_features: jax.Array
    position: jax.Array


def hybrid_decode_init(window: int, d_h: int, d_v: int, D: int, dtype=jnp.float64) -> HybridState:
    """The empty decode cache of a fresh sequence (window ``window`` $=w$ slots)."""
    w = check_int(check_window(window), "window", minimum=1)
    d_h, d_v, D = (check_int(x, n, minimum=1) for x, n in ((d_h, "d_h"), (d_v, "d_v"), (D, "D")))
    z = lambda *s: jnp.zeros(s, dtype)  # noqa: E731
    return HybridState(LinearState(z(D, d_v), z(D)), z(w, d_h), z(w, d_v), z(w, D), jnp.zeros((), jnp.int32))


def _check_step(state, q, k, v, fq, fk, gamma, lam) -> None:
    if not isinstance(state, HybridState):
        raise TypeError(f"state must be a HybridState (from hybrid_decode_init), got {type(state).__name__}")
    want = {"q": state.keys.shape[1:], "k": state.keys.shape[1:], "v": state.values.shape[1:],
            "fq": state.key_features.shape[1:], "fk": state.key_features.shape[1:]}
    for name, x in (("q", q), ("k", k), ("v", v), ("fq", fq), ("fk", fk)):
        if is_traced(x):
            continue
        shape = np.shape(as_array(name, x))
        if tuple(shape) != tuple(want[name]):
            raise ValueError(f"{name} must have shape {tuple(want[name])} (one token, as in state), got {tuple(shape)}")
        check_features({"fq": "phi_q (fq)", "fk": "phi_k (fk)"}.get(name, name), x)
    check_weights(gamma, lam)


def hybrid_decode_step(state: HybridState, q, k, v, fq, fk, *, gamma, lam=1.0) -> tuple[jax.Array, jax.Array, HybridState]:
    r"""One decode step for token $n$ = ``state.position`` with ``q, k`` ``[d_h]``, ``v`` ``[d_v]``,
    features ``fq, fk`` ``[D]``. Returns ``(y_n [d_v], r_n, new state)``. Concrete inputs are checked
    like the other forms (shapes against ``state``, finite, features non-negative, $\gamma>0$, $\lambda\ge0$)."""
    _check_step(state, q, k, v, fq, fk, gamma, lam)
    (S, z), kb, vb, fb, n = state
    w = kb.shape[0]
    slot = n % w
    fold = n >= w  # the slot holds token n - w, which leaves the window now, before y_n
    S = S + jnp.where(fold, jnp.outer(fb[slot], vb[slot]), 0.0)
    z = z + jnp.where(fold, fb[slot], 0.0)
    kb, vb, fb = kb.at[slot].set(k), vb.at[slot].set(v), fb.at[slot].set(fk)
    valid = jnp.arange(w) < jnp.minimum(n + 1, w)
    s = (kb @ q) / jnp.sqrt(jnp.asarray(q.shape[-1], q.dtype))
    c = jnp.max(jnp.where(valid, s, -jnp.inf))  # not stop_gradient: c_n shifts the window terms only, y depends on it
    e = jnp.where(valid, jnp.exp(jnp.where(valid, s - c, 0.0)), 0.0)
    wden, lden = gamma * e.sum(), lam * (fq @ z)
    y = (gamma * (e @ vb) + lam * (fq @ S)) / (wden + lden)
    return y, lden / (wden + lden), HybridState(LinearState(S, z), kb, vb, fb, n + 1)


def hybrid_attention_decode(q, k, v, phi_q, phi_k, *, window: int, gamma, lam=1.0,
                            state: HybridState | None = None) -> tuple[jax.Array, jax.Array, HybridState]:
    r"""The recurrent decode over a whole sequence (``lax.scan`` of :func:`hybrid_decode_step`),
    continuing from ``state`` (default: empty). Returns ``(y [T, d_v], r [T], final state)``."""
    q, k, v, phi_q, phi_k = hybrid_inputs(q, k, v, phi_q, phi_k, gamma, lam)
    if state is None:
        state = hybrid_decode_init(window, q.shape[1], v.shape[1], phi_k.shape[1], v.dtype)
    elif state.keys.shape[0] != check_window(window):
        raise ValueError(f"state has {state.keys.shape[0]} window slots, window={window}")

    def step(st, x):
        y, r, st = hybrid_decode_step(st, *x, gamma=gamma, lam=lam)
        return st, (y, r)

    final, (y, r) = jax.lax.scan(step, state, (q, k, v, phi_q, phi_k))
    return y, r, final


def hybrid_attention_chunked(q, k, v, phi_q, phi_k, *, window: int, gamma, lam=1.0,
                             chunk: int = 64) -> tuple[jax.Array, jax.Array]:
    r"""Chunked hybrid (see the module docstring) with chunk size ``chunk`` $=C$; $T$ need not be a
    multiple of $C$. Returns ``(y [T, d_v], r [T])``."""
    w = check_int(check_window(window), "window", minimum=1)  # the band width is static
    check_int(chunk, "chunk", minimum=1)
    q, k, v, phi_q, phi_k = hybrid_inputs(q, k, v, phi_q, phi_k, gamma, lam)
    T, dh = q.shape
    C, P = min(int(chunk), T), w - 1
    N = -(-T // C)
    pad = lambda x, front: jnp.pad(x, ((front, N * C - T), (0, 0)))  # noqa: E731
    Qb, Fqb = pad(q, 0).reshape(N, C, dh), pad(phi_q, 0).reshape(N, C, -1)
    Kp, Vp, Fkp = pad(k, P), pad(v, P), pad(phi_k, P)
    real = jnp.pad(jnp.ones(T, bool), (P, N * C - T))  # band slots that hold a real token
    a, b = jnp.arange(C)[:, None], jnp.arange(C + P)[None, :]  # query a in the chunk, band slot b
    in_window, in_linear = (b >= a) & (b <= a + P), b < a  # i = cC - P + b: window i > n - w, linear i <= n - w
    scale = jnp.sqrt(jnp.asarray(dh, q.dtype))

    def step(state: LinearState, x):
        c0, Qc, Fqc = x
        band = lambda arr: jax.lax.dynamic_slice_in_dim(arr, c0, C + P)  # noqa: E731
        Kc, Vc, Fkc, ok = band(Kp), band(Vp), band(Fkp), band(real)
        win = in_window & ok[None, :]
        s = (Qc @ Kc.T) / scale
        cmax = jnp.max(jnp.where(win, s, -jnp.inf), -1, keepdims=True)
        cmax = jnp.where(cmax == -jnp.inf, 0.0, cmax)  # padded queries past T may see an empty window; NaN stays
        e = jnp.where(win, jnp.exp(jnp.where(win, s - cmax, 0.0)), 0.0)
        kap = jnp.where(in_linear, Fqc @ Fkc.T, 0.0)
        wden, lden = gamma * e.sum(-1), lam * (Fqc @ state.z + kap.sum(-1))
        y = safe_ratio(gamma * (e @ Vc) + lam * (Fqc @ state.S + kap @ Vc), wden + lden)
        r = safe_ratio(lden[:, None], wden + lden)[:, 0]
        state = LinearState(state.S + Fkc[:C].T @ Vc[:C], state.z + Fkc[:C].sum(0))
        return state, (y, r)

    init = LinearState(jnp.zeros((phi_k.shape[1], v.shape[1]), v.dtype), jnp.zeros(phi_k.shape[1], v.dtype))
    _, (y, r) = jax.lax.scan(step, init, (jnp.arange(N) * C, Qb, Fqb))
    return y.reshape(N * C, -1)[:T], r.reshape(-1)[:T]
