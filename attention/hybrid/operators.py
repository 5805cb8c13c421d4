r"""Hybrid linear + sliding-window softmax attention (LoLCATs form), its recurrent decode and
its component ablations.

Benfeghoul et al., *Untangling Component Imbalance in Hybrid Linear Attention Conversion
Methods*, arXiv 2510.05901 (spec ``hybrid_linear.md`` §2, the LoLCATs code form). Per head, with
window $\mathcal W(n)=\{\max(1,n-w+1),..,n\}$, linear region $\mathcal L(n)=\{1,..,n-w\}$,
$s_{ni}=q_n^\top k_i/\sqrt{d_h}$, $c_n=\max_{\mathcal W(n)}s_{ni}$ and
$\kappa(q,k)=\phi_q(q)^\top\phi_k(k)$, one shared normaliser:

$$y_n=\frac{\gamma\sum_{\mathcal W(n)}e^{s_{ni}-c_n}v_i+\lambda\sum_{\mathcal L(n)}\kappa_{nj}v_j}
{\gamma\sum_{\mathcal W(n)}e^{s_{ni}-c_n}+\lambda\sum_{\mathcal L(n)}\kappa_{nj}},\qquad
r_n=\frac{\lambda\sum_{\mathcal L(n)}\kappa_{nj}}{\text{denominator}} .$$

Cores work on one head, ``[T, .]`` arrays, any float dtype (computed in the input dtype), and are
``jit``/``vmap``-friendly with a traced ``window``. Example::

    y, r = hybrid_attention(q, k, v, fq, fk, window=16, gamma=0.1)
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

from .._finite import check_int
from ._checks import check_window, hybrid_inputs

__all__ = [
    "HybridParts", "hybrid_parts", "hybrid_from_parts", "hybrid_attention", "hybrid_attention_recurrent",
    "causal_linear_attention", "causal_linear_attention_recurrent", "window_weight",
]

Component = Literal["hybrid", "swa", "la_full", "la_region", "sinks", "none"]


class HybridParts(NamedTuple):
    r"""The four sums of the hybrid: window $(\sum e^{s-c}v,\ \sum e^{s-c})$ and linear
    $(\sum_{\mathcal L}\kappa v,\ \sum_{\mathcal L}\kappa)$, shapes ``[T, d_v]``, ``[T]``."""

    window_num: jax.Array
    window_den: jax.Array
    linear_num: jax.Array
    linear_den: jax.Array


def window_weight(omega: jax.Array) -> jax.Array:
    r"""$\gamma_h=\sigma(\omega_h)$; the code's default $\omega_0=-2.1972$ gives $\gamma\approx0.1$."""
    return jax.nn.sigmoid(omega)


def _masks(T: int, window) -> tuple[jax.Array, jax.Array]:
    n = jnp.arange(T)[:, None]
    i = jnp.arange(T)[None, :]
    return (i <= n) & (i > n - window), i <= n - window  # W(n) has w keys incl. n; L(n) = tril(-w)


def hybrid_parts(scores: jax.Array, kernel: jax.Array, v: jax.Array, window) -> HybridParts:
    r"""The window and linear sums from logits ``scores`` $[T,T]$ ($s_{ni}$), kernel values
    ``kernel`` $[T,T]$ ($\kappa_{nj}$) and values ``v`` $[T,d_v]$, for window ``window`` $\ge1$.
    The window is never empty, so $c_n$ is finite for finite logits."""
    win, lin = _masks(scores.shape[-1], window)
    c = jnp.max(jnp.where(win, scores, -jnp.inf), axis=-1, keepdims=True)
    e = jnp.where(win, jnp.exp(jnp.where(win, scores - c, 0.0)), 0.0)
    kap = jnp.where(lin, kernel, 0.0)
    return HybridParts(e @ v, e.sum(-1), kap @ v, kap.sum(-1))


def hybrid_from_parts(p: HybridParts, gamma, lam) -> tuple[jax.Array, jax.Array]:
    """``(y, r)``: the hybrid output ``[T, d_v]`` and the linear-mass fraction ``[T]``."""
    wd, ld = gamma * p.window_den, lam * p.linear_den
    den = wd + ld
    y = (gamma * p.window_num + lam * p.linear_num) / den[:, None]
    return y, ld / den


def causal_linear_attention(phi_q: jax.Array, phi_k: jax.Array, v: jax.Array) -> jax.Array:
    r"""Masked parallel causal LA $y_n=\sum_{j\le n}\kappa_{nj}v_j/\sum_{j\le n}\kappa_{nj}$;
    features ``[T, D]`` (positive), values ``[T, d_v]``."""
    phi_q, phi_k, v = jnp.asarray(phi_q), jnp.asarray(phi_k), jnp.asarray(v)
    T = phi_q.shape[0]
    a = jnp.where(jnp.tril(jnp.ones((T, T), bool)), phi_q @ phi_k.T, 0.0)
    return (a @ v) / a.sum(-1)[:, None]


def causal_linear_attention_recurrent(phi_q: jax.Array, phi_k: jax.Array, v: jax.Array) -> jax.Array:
    r"""Recurrent causal LA: $S_n=S_{n-1}+\phi_k(k_n)v_n^\top$, $z_n=z_{n-1}+\phi_k(k_n)$,
    $y_n=\phi_q(q_n)^\top S_n/\phi_q(q_n)^\top z_n$ (``lax.scan``, O(D d_v) state)."""

    phi_q, phi_k, v = jnp.asarray(phi_q), jnp.asarray(phi_k), jnp.asarray(v)

    def step(carry, x):
        S, z = carry
        fq, fk, vn = x
        S, z = S + jnp.outer(fk, vn), z + fk
        return (S, z), (fq @ S) / (fq @ z)

    init = (jnp.zeros((phi_k.shape[1], v.shape[1]), v.dtype), jnp.zeros(phi_k.shape[1], phi_k.dtype))
    return jax.lax.scan(step, init, (phi_q, phi_k, v))[1]


def _component(scores, kernel, v, phi_q, phi_k, window, gamma, lam, component: str, sinks: int):
    T = scores.shape[-1]
    if component == "la_full":
        return causal_linear_attention(phi_q, phi_k, v), jnp.ones(T, v.dtype)
    if component == "none":
        return jnp.zeros_like(v), jnp.zeros(T, v.dtype)
    if component == "sinks":  # softmax over j <= min(s, n)
        n, i = jnp.arange(T)[:, None], jnp.arange(T)[None, :]
        m = (i <= n) & (i < sinks)
        c = jnp.max(jnp.where(m, scores, -jnp.inf), -1, keepdims=True)
        e = jnp.where(m, jnp.exp(jnp.where(m, scores - c, 0.0)), 0.0)
        return (e @ v) / e.sum(-1)[:, None], jnp.zeros(T, v.dtype)
    p = hybrid_parts(scores, kernel, v, window)
    if component == "swa":  # gamma cancels: exactly the window softmax
        return p.window_num / p.window_den[:, None], jnp.zeros(T, v.dtype)
    if component == "la_region":
        return p.linear_num / p.linear_den[:, None], jnp.ones(T, v.dtype)
    return hybrid_from_parts(p, gamma, lam)


def hybrid_attention(q, k, v, phi_q, phi_k, *, window: int, gamma: float, lam: float = 1.0,
                     component: Component = "hybrid", sinks: int = 4) -> tuple[jax.Array, jax.Array]:
    r"""Hybrid SWA + LA attention of one head (spec §2), or one of its ablations.

    **Arguments:** ``q, k`` ``[T, d_h]``; ``v`` ``[T, d_v]``; ``phi_q, phi_k`` the feature maps'
    outputs ``[T, D]``; ``window`` $w\ge1$; ``gamma`` $\gamma>0$ (window weight); ``lam``
    $\lambda\ge0$ (linear weight; $1-\gamma$ for affine factors); ``component`` one of
    ``hybrid`` (default), ``swa`` (drop $\lambda$ terms), ``la_full`` (LA over all $j\le n$),
    ``la_region`` (LA over $\mathcal L(n)$ only: 0/0 for $n\le w$, so always rejected),
    ``sinks`` (softmax over $j\le\min(s,n)$), ``none`` (output $\equiv0$).

    **Returns:** ``(y [T, d_v], r [T])`` with $r_n$ the linear-mass fraction (1 for LA-only, 0 for
    SWA/sinks/none). **Raises** ``ValueError`` on bad shapes, non-finite input, $w<1$, $\gamma\le0$,
    $\lambda<0$, or ``la_region`` (concrete values; a traced ``window``, ``gamma`` or ``lam`` compiles,
    and then $\gamma=0$ gives NaN rows where the linear region is empty, as in the other forms).
    """
    q, k, v, phi_q, phi_k = hybrid_inputs(q, k, v, phi_q, phi_k, gamma, lam)
    window = check_window(window)
    sinks = check_int(sinks, "sinks", minimum=1)
    if component not in ("hybrid", "swa", "la_full", "la_region", "sinks", "none"):
        raise ValueError(f"unknown component {component!r}")
    if component == "la_region":
        raise ValueError(f"LA-only 'region' is 0/0 for query positions n <= w = {window} (L(n) is empty there); "
                         "use component='la_full'")
    scores = (q @ k.T) / jnp.sqrt(jnp.asarray(q.shape[1], q.dtype))
    return _component(scores, phi_q @ phi_k.T, v, phi_q, phi_k, window, gamma, lam, component, sinks)


def hybrid_attention_recurrent(q, k, v, phi_q, phi_k, *, window, gamma, lam=1.0) -> jax.Array:
    r"""Recurrent decode of the hybrid (spec §2): a ring buffer of the last $w$ keys, values and
    key features, plus $S=\sum\phi_k(k_j)v_j^\top$, $z=\sum\phi_k(k_j)$ over $j\le n-w$. Token
    $n-w$ is folded into $(S,z)$ *before* $y_n$ is computed. Returns ``y [T, d_v]``.
    Concrete inputs are checked like :func:`hybrid_attention` (the third form of the
    parallel = recurrent claim, and exported); a traced ``window``, ``gamma`` or ``lam`` passes (the
    claim vmaps over them). The buffer has ``T`` slots, of which $\min(w,T)$ are used."""
    q, k, v, phi_q, phi_k = hybrid_inputs(q, k, v, phi_q, phi_k, gamma, lam)
    window = check_window(window)
    T, dh = q.shape
    scale = jnp.sqrt(jnp.asarray(dh, q.dtype))
    slots = jnp.arange(T)

    def step(carry, n):
        S, z, kb, vb, fb = carry
        slot = n % window
        fold = n >= window  # the slot holds token n - w, which now leaves the window
        S = S + jnp.where(fold, jnp.outer(fb[slot], vb[slot]), 0.0)
        z = z + jnp.where(fold, fb[slot], 0.0)
        kb, vb, fb = kb.at[slot].set(k[n]), vb.at[slot].set(v[n]), fb.at[slot].set(phi_k[n])
        valid = slots < jnp.minimum(n + 1, window)
        s = (kb @ q[n]) / scale
        c = jnp.max(jnp.where(valid, s, -jnp.inf))
        e = jnp.where(valid, jnp.exp(jnp.where(valid, s - c, 0.0)), 0.0)
        num = gamma * (e @ vb) + lam * (phi_q[n] @ S)
        den = gamma * e.sum() + lam * (phi_q[n] @ z)
        return (S, z, kb, vb, fb), num / den

    D, dv = phi_k.shape[1], v.shape[1]
    init = (jnp.zeros((D, dv), v.dtype), jnp.zeros(D, v.dtype), jnp.zeros_like(k), jnp.zeros_like(v), jnp.zeros_like(phi_k))
    return jax.lax.scan(step, init, jnp.arange(T))[1]
