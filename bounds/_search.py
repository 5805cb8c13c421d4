r"""Reconstructed :math:`\Delta_k`-Search (``docs/papers/topk_tv.md``, C15; sorted access, our choice).

Logits are revealed in descending order. After revealing :math:`k+1` of them the search stops as soon as

.. math:: \frac{(n-k)e^{s_{k+1}}}{Z_H+(n-k)e^{s_{k+1}}}\le\varepsilon,

(the C5 tight variant, an upper bound on :math:`\tau_k`), keeping the top :math:`k` at a cost of :math:`k+1`
scored keys (:math:`n` if it never stops early). Sound: :math:`\tau_{k_\Delta}\le\varepsilon`, hence
:math:`k_\Delta\ge k^*`. Float64, rows ``[..., n]`` with ``-inf`` masks; no rounding guard (use
:func:`bounds.certified_topk` for a certificate).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._tv import descending, positions, shifted_exp
from ._validate import check_eps, check_logits, check_sorted

__all__ = ["DeltaKSearch", "delta_k_search"]


class DeltaKSearch(NamedTuple):
    k: jax.Array  #: kept count per row
    scored: jax.Array  #: keys revealed (k + 1, or n when it never stops early)
    bound: jax.Array  #: the C5-tight bound at the stop (0 when k = n)


def delta_k_search(logits: ArrayLike, eps: ArrayLike, *, assume_sorted: bool = False) -> DeltaKSearch:
    r"""Run :math:`\Delta_k`-Search on each row; ``eps`` in ``(0, 1)``. Example: for E2 ``(3,3,1,1,1)``
    and ``eps = 0.17`` it stops at ``k = 2`` (the bound equals :math:`\tau_2=0.1687`) after 3 scored keys."""
    check_logits(logits)
    check_eps(eps)
    if assume_sorted:
        check_sorted(logits)
    x = jnp.asarray(logits)
    return _search(x, jnp.broadcast_to(jnp.asarray(eps, jnp.float64), x.shape[:-1]), assume_sorted)


@jax.jit
def _search_sorted(s: jax.Array, eps: jax.Array) -> DeltaKSearch:
    e, _ = shifted_exp(s)
    n = jnp.sum(jnp.isfinite(s), axis=-1)
    k = positions(s) + 1  # candidate k at position k-1; s_{k+1} = s[k]
    zh = jnp.cumsum(e, axis=-1)
    e_next = jnp.concatenate([e[..., 1:], jnp.zeros_like(e[..., :1])], axis=-1)
    a = (n[..., None] - k) * e_next
    bound = a / (zh + a)
    stop = (bound <= eps[..., None]) & (k < n[..., None])
    first = jnp.argmax(stop, axis=-1)
    found = jnp.any(stop, axis=-1)
    kk = jnp.where(found, first + 1, n)
    b = jnp.where(found, jnp.take_along_axis(bound, first[..., None], axis=-1)[..., 0], 0.0)
    return DeltaKSearch(kk, jnp.where(found, kk + 1, n), b)


def _search(x: jax.Array, eps: jax.Array, assume_sorted: bool) -> DeltaKSearch:
    return _search_sorted(x if assume_sorted else descending(x)[0], eps)
