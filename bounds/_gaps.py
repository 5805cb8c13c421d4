r"""Tail-mass bounds from the ordered logits alone: single gap (C5), multi-gap (C6), blockwise (C7).

Spec ``topk_tv`` §2. Sorted logits :math:`s_1\ge\dots\ge s_n` (finite entries only; ``-inf`` keys
are masked and not counted in :math:`n`), :math:`\Delta_k=s_k-s_{k+1}`, :math:`Z_H=\sum_{i\le k}e^{s_i}`.

- C5 (Thm 4.5): :math:`\tau\le\big(1+\tfrac{k}{n-k}e^{\Delta_k}\big)^{-1}`, evaluated as
  :math:`\sigma(-\log\tfrac k{n-k}-\Delta_k)` so :math:`\Delta_k>750` cannot overflow;
  ``variant="tight"`` gives :math:`\frac{(n-k)e^{s_{k+1}}}{Z_H+(n-k)e^{s_{k+1}}}`.
- C6: cuts :math:`k=c_0<\dots<c_R=n`, :math:`A=\sum_r(c_r-c_{r-1})e^{s_{c_{r-1}+1}-s_k}`,
  :math:`\tau\le A/(k+A)`; default cuts :math:`c_r=\min(n,k+2^r)` (our choice).
- C7 (eq. 4.4): blocks :math:`B_b` of the tail with :math:`\ell_b\le s\le u_b` on :math:`B_b`,
  :math:`L=\sum_b|B_b|e^{\ell_b}`, :math:`U=\sum_b|B_b|e^{u_b}`:
  :math:`\frac{L}{Z_H+L}\le\tau\le\frac{U}{Z_H+U}`; default: equal-size blocks in sorted order
  with exact block min and max (our choice).

Each function takes ``logits [..., n]`` (any order unless ``assume_sorted``) and ``k`` (int or per
row, in ``[1, n]``; ``k = n`` gives the exact bound 0) and returns float64 arrays of shape
``logits.shape[:-1]``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

from ._tv import batch_k, descending, positions, shifted_exp, topk_mask
from ._validate import check_blocks, check_k, check_logits, check_sorted, is_concrete

__all__ = ["single_gap_bound", "multi_gap_bound", "blockwise_bounds"]


def _prepare(logits: Any, k: Any, assume_sorted: bool):
    check_logits(logits)
    check_k(k, logits)
    if assume_sorted:
        check_sorted(logits)
    x = jnp.asarray(logits)
    s = x if assume_sorted else descending(x)[0]
    n = jnp.sum(jnp.isfinite(s), axis=-1)
    kk = batch_k(k, s)
    return s, n, kk


def _at(s: jax.Array, pos: jax.Array) -> jax.Array:
    """``s[..., pos]`` per row, positions clipped into range."""
    pos = jnp.clip(pos, 0, s.shape[-1] - 1)
    return jnp.take_along_axis(s, pos[..., None] if pos.ndim == s.ndim - 1 else pos, axis=-1)


def single_gap_bound(logits: ArrayLike, k: ArrayLike, *, variant: Literal["paper", "tight"] = "paper",
                     assume_sorted: bool = False) -> jax.Array:
    r"""C5 single-gap bound on :math:`\tau_k` (spec Thm 4.5). Example: E2 ``(3,3,1,1,1)``, ``k=2``
    gives :math:`1/(1+\tfrac23e^2)=0.1687\ldots` (tight)."""
    if variant not in ("paper", "tight"):
        raise ValueError(f"variant must be 'paper' or 'tight', got {variant!r}")
    return _single_gap(*_prepare(logits, k, assume_sorted), variant)


@functools.partial(jax.jit, static_argnums=3)
def _single_gap(s: jax.Array, n: jax.Array, k: jax.Array, variant: str) -> jax.Array:
    sk, sk1 = _at(s, k - 1)[..., 0], _at(s, k)[..., 0]
    last = k >= n
    if variant == "paper":
        delta = jnp.where(last, 0.0, sk - sk1)
        ratio = jnp.log(k / jnp.where(last, 1, n - k))
        return jnp.where(last, 0.0, jax.nn.sigmoid(-(ratio + delta)))
    e, _ = shifted_exp(s)
    pos = positions(s)
    zh = jnp.sum(jnp.where(pos < k[..., None], e, 0.0), axis=-1)
    a = (n - k) * jnp.where(last, 0.0, _at(e, k)[..., 0])
    return a / (zh + a)


def _default_cuts(k: jax.Array, n: jax.Array, n_max: int) -> jax.Array:
    r = jax.lax.broadcasted_iota(jnp.int32, k.shape + (int(math.ceil(math.log2(max(n_max, 2)))) + 2,), k.ndim)
    return jnp.minimum(n[..., None], k[..., None] + jnp.where(r == 0, 0, 2 ** r))


def multi_gap_bound(logits: ArrayLike, k: ArrayLike, cuts: ArrayLike | None = None, *, assume_sorted: bool = False) -> jax.Array:
    r"""C6 multi-gap bound :math:`A/(k+A)` on :math:`\tau_k`; ``cuts [..., R+1]`` (ints, non-decreasing,
    first ``k``, last ``n``; repeated cuts are empty blocks) or the default :math:`\min(n,k+2^r)`."""
    s, n, k = _prepare(logits, k, assume_sorted)
    if cuts is None:
        c = _default_cuts(k, n, s.shape[-1])
    else:
        c = jnp.asarray(cuts)
        if is_concrete(c, logits):
            cn, kn, nn = np.asarray(c), np.asarray(k), np.asarray(n)
            if cn.shape[:-1] not in ((), kn.shape) or cn.shape[-1] < 2:
                raise ValueError(f"cuts must have shape [..., R+1] matching the batch {kn.shape}, got {cn.shape}")
            cb = np.broadcast_to(cn, kn.shape + cn.shape[-1:])
            bad = (cb[..., 0] != kn) | (cb[..., -1] != nn) | (np.diff(cb, axis=-1) < 0).any(-1)
            if bad.any():
                i = tuple(int(j) for j in np.argwhere(bad)[0]) if bad.ndim else ()
                raise ValueError(f"cuts must be non-decreasing from k to n: row {i} has cuts {cb[i].tolist()}, "
                                 f"k={int(kn[i])}, n={int(nn[i])}")
        c = jnp.broadcast_to(c, k.shape + c.shape[-1:])
    return _multi_gap(s, k, c)


@jax.jit
def _multi_gap(s: jax.Array, k: jax.Array, c: jax.Array) -> jax.Array:
    size = c[..., 1:] - c[..., :-1]
    top = _at(s, c[..., :-1])  # s_{c_{r-1}+1} in 1-based notation
    sk = _at(s, k - 1)
    a = jnp.sum(jnp.where(size > 0, size * jnp.exp(jnp.minimum(top - sk, 0.0)), 0.0), axis=-1)
    return a / (k + a)


def blockwise_bounds(logits: ArrayLike, k: ArrayLike, *, n_blocks: int = 8, blocks: ArrayLike | None = None,
                     assume_sorted: bool = False) -> tuple[jax.Array, jax.Array]:
    r"""C7 two-sided bounds ``(lower, upper)`` on :math:`\tau_k`.

    ``blocks`` (ints in ``[0, n_blocks)``, shape ``[..., n]``, token order) assigns tail keys to
    blocks (any partition); by default the tail is cut into ``n_blocks`` equal-size blocks in
    sorted order. Block bounds are the exact block min and max.
    """
    if blocks is not None and jnp.shape(blocks) != jnp.shape(logits):
        raise ValueError(f"shape mismatch: blocks {jnp.shape(blocks)} vs logits {jnp.shape(logits)}")
    n_blocks = check_blocks(blocks, n_blocks, logits)
    if blocks is not None:
        check_logits(logits)
        check_k(k, logits)
        if assume_sorted:
            check_sorted(logits)
        x = jnp.asarray(logits)
        return _blockwise_given(x, batch_k(k, x), jnp.asarray(blocks), n_blocks, assume_sorted)
    return _blockwise_sorted(*_prepare(logits, k, assume_sorted), n_blocks)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _blockwise_given(x: jax.Array, k: jax.Array, blocks: jax.Array, n_blocks: int, assume_sorted: bool):
    e, _ = shifted_exp(x)
    m = jnp.max(jnp.where(jnp.isfinite(x), x, -jnp.inf), axis=-1)
    tail = ~topk_mask(x, k, assume_sorted) & jnp.isfinite(x)
    zh = jnp.sum(jnp.where(tail, 0.0, e), axis=-1)
    lo = up = jnp.zeros(zh.shape)
    for b in range(n_blocks):
        mb = tail & (jnp.asarray(blocks) == b)
        cnt = jnp.sum(mb, axis=-1)
        mn = jnp.min(jnp.where(mb, x, jnp.inf), axis=-1)
        mx = jnp.max(jnp.where(mb, x, -jnp.inf), axis=-1)
        lo = lo + jnp.where(cnt > 0, cnt * jnp.exp(mn - m), 0.0)
        up = up + jnp.where(cnt > 0, cnt * jnp.exp(jnp.minimum(mx - m, 0.0)), 0.0)
    return lo / (zh + lo), up / (zh + up)


@functools.partial(jax.jit, static_argnums=3)
def _blockwise_sorted(s: jax.Array, n: jax.Array, k: jax.Array, n_blocks: int):
    e, _ = shifted_exp(s)
    pos = positions(s)
    head = pos < k[..., None]
    zh = jnp.sum(jnp.where(head, e, 0.0), axis=-1)
    m_t = jnp.maximum(n - k, 1)[..., None]
    j = pos - k[..., None]
    b = jnp.floor_divide(jnp.maximum(j, 0) * n_blocks, m_t)
    first = k[..., None] + -jnp.floor_divide(-b * m_t, n_blocks)
    last = k[..., None] + -jnp.floor_divide(-(b + 1) * m_t, n_blocks) - 1
    tail = (~head) & (pos < n[..., None])
    lo = jnp.sum(jnp.where(tail, _at(e, last), 0.0), axis=-1)
    up = jnp.sum(jnp.where(tail, _at(e, first), 0.0), axis=-1)
    return lo / (zh + lo), up / (zh + up)
