r"""Δ attention: sink + sliding-window prefill attention, corrected by dense anchor rows.

Willette, Lee & Hwang, *Δ Attention: Fast and Accurate Sparse Attention Inference by Delta
Correction* (arXiv:2505.11254, NeurIPS 2025); paper page ``docs/papers/delta_attention.md``.

For one head with prefill length $N$, 0-based rows $i$ and $Z=QK^\top/\sqrt d$:

* full causal attention $y_i=\sum_{j\le i}A_{ij}v_j$, $A_{ij}=e^{Z_{ij}}/\sum_{l\le i}e^{Z_{il}}$;
* sink + window attention $y^*_i$, the softmax renormalised over the kept set only (pitfall 5),
  $\mathcal S_i=\{j\le i:\ j<n_{\rm sink}\ \lor\ i-j<w\}$ (the diagonal counts toward $w$);
* Δ attention (Eq. 6-7, 0-based anchors $\alpha(i)=\gamma\lfloor i/\gamma\rfloor$):
  $\hat y_i=y^*_i+\big(y_{\alpha(i)}-y^*_{\alpha(i)}\big)$; each anchor row uses its own causal
  extent $j\le\alpha(i)$ (pitfall 1), so anchor rows are exact;
* the released code's variant (``variant="code"``) computes the last ``cut_n`` rows densely (the
  tail block, see :func:`attention.delta.theory.delta_tail_split`) and corrects the first
  $s_p$ rows exactly as the paper version does;
* the "recompute" baseline (Eq. 5): $\hat y_i=y_i$ on anchor (and tail) rows, $y^*_i$ elsewhere.

All operators take ``q, k, v`` of shape ``[..., n, d]`` (any leading batch/head dims, sharded
arrays welcome) and return ``[..., n, d]`` in the input dtype. ``gamma`` is static (it fixes
the anchor rows); ``window`` and ``n_sink`` are traced, so changing them does not recompile. The sparse pass is a masked dense reference (exact, no speed-up, pitfall
10); the anchor pass really computes only the $\lceil N/\gamma\rceil$ (+ tail) dense rows.

Example::

    >>> import jax.numpy as jnp
    >>> from attnverify.attention import delta_attention
    >>> q = k = v = jnp.ones((2, 16, 4))          # [heads, n, d]
    >>> delta_attention(q, k, v, gamma=4, window=4, n_sink=1).shape
    (2, 16, 4)
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from .._finite import check_choice, check_int
from .theory import delta_tail_split

__all__ = [
    "sink_window_mask",
    "dense_causal_attention",
    "sink_window_attention",
    "delta_attention",
    "recompute_attention",
    "delta_anchor_rows",
    "delta_attention_strides",
]

Variant = Literal["paper", "code"]


def sink_window_mask(n: int, window: int, n_sink: int) -> np.ndarray:
    r"""Boolean ``[n, n]`` mask of $\mathcal S_i=\{j\le i: j<n_{\rm sink}\lor i-j<w\}$."""
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    return (j <= i) & ((j < n_sink) | (i - j < window))


def _attend(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
    """Softmax attention of rows ``q [..., r, d]`` over keys ``[..., n, d]``, renormalised over
    ``mask [r, n]`` (every row keeps at least one key)."""
    z = jnp.einsum("...id,...jd->...ij", q, k) * (1.0 / math.sqrt(q.shape[-1]))
    keep = jnp.reshape(mask, (1,) * (z.ndim - 2) + mask.shape)
    z = jnp.where(keep, z, -jnp.inf)
    z = z - jax.lax.stop_gradient(jnp.max(z, axis=-1, keepdims=True))
    p = jnp.where(keep, jnp.exp(z), 0.0)
    p = p / jnp.sum(p, axis=-1, keepdims=True)
    return jnp.einsum("...ij,...jd->...id", p, v)


def _rows(n: int, gamma: int, variant: Variant, min_tail: int) -> tuple[np.ndarray, int]:
    """Dense rows (anchors, then the tail) and $s_p$, the number of Δ-corrected rows."""
    if variant == "paper":
        s_p = n
    else:
        s_p = max(delta_tail_split(n, gamma, min_tail).s_p, 0)
    return np.concatenate([np.arange(0, s_p, gamma), np.arange(s_p, n)]).astype(np.int64), s_p


def _int(x: int) -> jax.Array:
    return jnp.asarray(int(x), dtype=jnp.int32)


def _validate(q, k, v, gamma: int, window: int, n_sink: int, variant: str, min_tail: int) -> None:
    for name, x in (("q", q), ("k", k), ("v", v)):
        if getattr(x, "ndim", 0) < 2:
            raise ValueError(f"{name} must have shape [..., n, d], got shape {getattr(x, 'shape', None)}")
    if q.shape[:-2] != k.shape[:-2] or k.shape[:-1] != v.shape[:-1] or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"mismatched shapes: q {q.shape}, k {k.shape}, v {v.shape} (need q,k: [..., n, d], v: [..., n, d_v])")
    if q.shape[-2] != k.shape[-2]:
        raise ValueError(f"prefill self-attention needs as many queries as keys: q has {q.shape[-2]}, k has {k.shape[-2]}")
    n = q.shape[-2]
    if n < 1:
        raise ValueError("n must be >= 1")
    check_int(gamma, "gamma", minimum=1)
    check_int(window, "window", minimum=1)
    if window > n:
        raise ValueError(f"window {window} is larger than the sequence length n = {n}")
    check_int(n_sink, "n_sink", minimum=0, maximum=n)
    check_choice(variant, ("paper", "code"), "variant")
    check_int(min_tail, "min_tail", minimum=0)
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, jax.core.Tracer):
            bad = ~np.isfinite(np.asarray(x))
            if bad.any():
                idx = tuple(int(t) for t in np.argwhere(bad)[0])
                raise ValueError(f"{name} contains NaN or inf (first at index {idx})")


@jax.jit
def _sparse_core(q, k, v, window: jax.Array, n_sink: jax.Array) -> jax.Array:
    # window and n_sink are traced: changing them does not recompile
    i, j = jnp.arange(q.shape[-2])[:, None], jnp.arange(k.shape[-2])[None, :]
    return _attend(q, k, v, (j <= i) & ((j < n_sink) | (i - j < window)))


@functools.partial(jax.jit, static_argnames=("gamma", "variant", "min_tail"))
def _anchor_core(q, k, v, gamma: int, variant: Variant, min_tail: int) -> jax.Array:
    n = q.shape[-2]
    rows, _ = _rows(n, gamma, variant, min_tail)
    return _attend(q[..., rows, :], k, v, rows[:, None] >= np.arange(n)[None, :])


@functools.partial(jax.jit, static_argnames=("gamma", "variant", "min_tail", "recompute"))
def _delta_core(q, k, v, gamma, window, n_sink, variant, min_tail, recompute) -> jax.Array:
    n = q.shape[-2]
    rows, s_p = _rows(n, gamma, variant, min_tail)
    anchors = rows[: len(rows) - (n - s_p)]
    ys = _sparse_core(q, k, v, window, n_sink)
    yd = _anchor_core(q, k, v, gamma, variant, min_tail)
    if recompute:
        return ys.at[..., rows, :].set(yd)
    delta = yd[..., : len(anchors), :] - ys[..., anchors, :]
    head = ys[..., :s_p, :] + delta[..., np.arange(s_p) // gamma, :]
    return jnp.concatenate([head, yd[..., len(anchors):, :]], axis=-2)


def dense_causal_attention(q: jax.Array, k: jax.Array, v: jax.Array) -> jax.Array:
    r"""Full causal attention $y=AV$, ``[..., n, d] -> [..., n, d_v]``."""
    _validate(q, k, v, 1, 1, 0, "paper", 0)
    return _anchor_core(q, k, v, 1, "paper", 0)


def sink_window_attention(q: jax.Array, k: jax.Array, v: jax.Array, *, window: int, n_sink: int = 4) -> jax.Array:
    r"""Sparse attention $y^*=A^*V$ over $\mathcal S_i$ (sinks + sliding window, softmax over kept entries)."""
    _validate(q, k, v, 1, window, n_sink, "paper", 0)
    return _sparse_core(q, k, v, _int(window), _int(n_sink))


def delta_anchor_rows(n: int, gamma: int, *, variant: Variant = "paper", min_tail: int = 128) -> np.ndarray:
    """Indices of the rows computed densely: anchors $0,\\gamma,2\\gamma,\\dots$ (and the tail rows)."""
    check_int(n, "n", minimum=1)
    check_int(gamma, "gamma", minimum=1)
    check_choice(variant, ("paper", "code"), "variant")
    check_int(min_tail, "min_tail", minimum=0)
    return _rows(int(n), int(gamma), variant, int(min_tail))[0]


def delta_attention(
    q: jax.Array, k: jax.Array, v: jax.Array, *, gamma: int, window: int, n_sink: int = 4,
    variant: Variant = "paper", min_tail: int = 128,
) -> jax.Array:
    r"""Δ attention $\hat y_i=y^*_i+y_{\alpha(i)}-y^*_{\alpha(i)}$, $\alpha(i)=\gamma\lfloor i/\gamma\rfloor$ (Eq. 6-7).

    **Arguments:** ``q, k, v`` ``[..., n, d]``; ``gamma`` >= 1 the anchor stride; ``window`` in
    ``[1, n]`` and ``n_sink`` >= 0 the sparse pattern; ``variant`` ``"paper"`` (Algorithm 1) or
    ``"code"`` (released ``delta_forward``: the last ``cut_n`` >= ``min_tail`` rows dense);
    ``min_tail`` the code's 128.

    **Returns:** ``[..., n, d_v]``, the input dtype. ``gamma = 1`` gives full attention.
    """
    _validate(q, k, v, gamma, window, n_sink, variant, min_tail)
    return _delta_core(q, k, v, int(gamma), _int(window), _int(n_sink), variant, int(min_tail), False)


def recompute_attention(
    q: jax.Array, k: jax.Array, v: jax.Array, *, gamma: int, window: int, n_sink: int = 4,
    variant: Variant = "paper", min_tail: int = 128,
) -> jax.Array:
    r"""The "recompute" baseline (Eq. 5): dense rows $y_i$ on anchors (and tail), $y^*_i$ elsewhere."""
    _validate(q, k, v, gamma, window, n_sink, variant, min_tail)
    return _delta_core(q, k, v, int(gamma), _int(window), _int(n_sink), variant, int(min_tail), True)


@functools.partial(jax.jit, static_argnames=("gammas",))
def _strides_core(q, k, v, window, n_sink, gammas: tuple[int, ...]) -> jax.Array:
    n = q.shape[-2]
    base = math.gcd(*gammas)  # every stride's anchors are multiples of the gcd: one dense pass
    rows = np.arange(0, n, base)
    ys = _sparse_core(q, k, v, window, n_sink)
    yd = _attend(q[..., rows, :], k, v, rows[:, None] >= np.arange(n)[None, :])
    outs = [ys + (yd[..., ::g // base, :] - ys[..., ::g, :])[..., np.arange(n) // g, :] for g in gammas]
    return jnp.stack(outs)


def delta_attention_strides(
    q: jax.Array, k: jax.Array, v: jax.Array, *, gammas: tuple[int, ...], window: int, n_sink: int = 4,
) -> jax.Array:
    r"""Δ attention (paper version) for several strides at once, ``[len(gammas), ..., n, d_v]``.

    Equal to ``stack([delta_attention(q, k, v, gamma=g, ...) for g in gammas])``, but the sparse
    pass and the dense anchor pass (rows at multiples of $\gcd(\gamma)$) are shared, and there
    is one compilation for all strides. For studies of the stride, e.g. ``gammas=(4, 8, 16, 32, 64)``.
    """
    gammas = tuple(check_int(g, "gamma", minimum=1) for g in gammas)
    if not gammas:
        raise ValueError("gammas must hold at least one stride")
    for g in gammas:
        _validate(q, k, v, g, window, n_sink, "paper", 0)
    return _strides_core(q, k, v, _int(window), _int(n_sink), gammas)
