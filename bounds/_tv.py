r"""Tail mass, total variation, KL and :math:`\chi^2` of renormalised Top-k attention.

Spec ``topk_tv`` (Tzachristas et al., arXiv:2512.07647), §1 and claims C1-C4. For logits
:math:`s\in\mathbb R^n` (``-inf`` = masked key, probability 0, not counted in :math:`n`),
:math:`p_i=e^{s_i}/Z` and the Top-k renormalisation :math:`\widehat P_i=p_i\mathbf 1\{i\in H\}/(1-\tau)`,

.. math:: \tau_k=\sum_{i>k}p_{(i)},\qquad \mathrm{TV}(P,\widehat P)=\tau,\qquad
          \mathrm{KL}(\widehat P\|P)=-\log(1-\tau),\qquad D_{\chi^2}(\widehat P\|P)=\frac{\tau}{1-\tau}.

Sorted order is descending with ties broken by the lower index first (a stable sort on
:math:`(-s_i, i)`). Tails are computed as direct sums of the discarded terms, never as
``1 - cumsum`` (cancellation). All functions take ``[..., n]`` float64 arrays and work
row-wise under ``jit``/``vmap`` and with sharded batches.

``assume_sorted=True`` is a contract checked in O(n) on concrete inputs (``ValueError`` when a row is
not descending); inside ``jit`` it is unchecked. The divergences take two distributions of the same
shape (no broadcasting): finite, non-negative rows summing to 1, else ``ValueError`` naming ``p``/``q``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._validate import check_distributions, check_k, check_keep_mask, check_logits, check_sorted

__all__ = ["positions", "batch_k", "shifted_exp", "descending", "topk_mask", "tail_mass", "topk_distributions",
           "tv_distance", "kl_divergence", "chi2_divergence"]


def positions(x: jax.Array) -> jax.Array:
    """Integer positions ``0..n-1`` along the last axis, broadcast to ``x.shape`` (rank-explicit)."""
    return jax.lax.broadcasted_iota(jnp.int32, x.shape, x.ndim - 1)


def batch_k(k: ArrayLike, x: jax.Array) -> jax.Array:
    """``k`` broadcast to the batch shape ``x.shape[:-1]``."""
    return jnp.broadcast_to(jnp.asarray(k), x.shape[:-1])


def shifted_exp(logits: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""``(e, Z)`` with :math:`e_i=e^{s_i-\max s}` (0 for masked keys) and :math:`Z=\sum_i e_i\ge1`."""
    x = jnp.asarray(logits)
    m = jnp.max(x, axis=-1, keepdims=True)
    m = jnp.where(jnp.isfinite(m), m, 0.0)
    e = jnp.where(jnp.isfinite(x), jnp.exp(x - m), 0.0)
    return e, jnp.sum(e, axis=-1)


def descending(logits: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Logits sorted descending (stable: lower index first among ties; masked keys last) and the
    permutation ``order`` with ``sorted = take_along_axis(logits, order)``."""
    x = jnp.asarray(logits)
    order = jnp.argsort(-x, axis=-1, stable=True)
    return jnp.take_along_axis(x, order, axis=-1), order


def topk_mask(logits: jax.Array, k: ArrayLike, assume_sorted: bool = False) -> jax.Array:
    """Boolean mask (token order) of the Top-k set under the index tie rule; ``k`` int or per row."""
    check_logits(logits)
    if assume_sorted:
        check_sorted(logits)
    x = jnp.asarray(logits)
    if assume_sorted:
        return (positions(x) < batch_k(k, x)[..., None]) & jnp.isfinite(x)
    _, order = descending(x)
    rank = jnp.argsort(order, axis=-1)
    return (rank < batch_k(k, x)[..., None]) & jnp.isfinite(x)


def tail_mass(logits: ArrayLike, k: ArrayLike | None = None, *, kept: ArrayLike | None = None, assume_sorted: bool = False) -> jax.Array:
    r"""Discarded softmax mass :math:`\tau=\sum_{i\notin H}p_i` (= TV, C1), shape ``logits.shape[:-1]``.

    **Arguments:** ``logits [..., n]``; either ``k`` (int or per-row ints in ``[1, n]``; Top-k by
    descending logit, index tie rule) or ``kept`` (bool ``[..., n]``, any kept set :math:`S`,
    giving :math:`P(S^c)`). ``assume_sorted=True`` skips the sort when rows are already
    descending with masked keys last.

    Example: ``tail_mass(jnp.zeros(10), 3)`` is ``0.7`` (spec E1).
    """
    check_logits(logits)
    if assume_sorted:
        check_sorted(logits)
    if (k is None) == (kept is None):
        raise ValueError("tail_mass: give exactly one of k or kept")
    x = jnp.asarray(logits)
    if kept is not None:
        if jnp.shape(kept) != x.shape:
            raise ValueError(f"shape mismatch: kept {jnp.shape(kept)} vs logits {x.shape}")
        kept = check_keep_mask("kept", kept)  # 0.5 or 2 is not a kept set
        e, z = shifted_exp(x)
        return jnp.sum(jnp.where(jnp.asarray(kept), 0.0, e), axis=-1) / z
    check_k(k, logits)
    return _tail_mass_k(x, batch_k(k, x), assume_sorted)


@functools.partial(jax.jit, static_argnums=2)
def _tail_mass_k(x: jax.Array, k: jax.Array, assume_sorted: bool) -> jax.Array:
    s = x if assume_sorted else descending(x)[0]
    e, z = shifted_exp(s)
    return jnp.sum(jnp.where(positions(s) >= k[..., None], e, 0.0), axis=-1) / z


def topk_distributions(logits: ArrayLike, k: ArrayLike, assume_sorted: bool = False) -> tuple[jax.Array, jax.Array]:
    r"""``(P, P_hat)`` in token order: the softmax and its Top-k renormalisation, both ``[..., n]``."""
    check_logits(logits)
    check_k(k, logits)
    if assume_sorted:
        check_sorted(logits)
    x = jnp.asarray(logits)
    return _topk_distributions(x, batch_k(k, x), assume_sorted)


@functools.partial(jax.jit, static_argnums=2)
def _topk_distributions(x: jax.Array, k: jax.Array, assume_sorted: bool) -> tuple[jax.Array, jax.Array]:
    e, z = shifted_exp(x)
    eh = jnp.where(topk_mask(x, k, assume_sorted), e, 0.0)
    return e / z[..., None], eh / jnp.sum(eh, axis=-1, keepdims=True)


def tv_distance(p: ArrayLike, q: ArrayLike) -> jax.Array:
    r""":math:`\mathrm{TV}(P,Q)=\tfrac12\sum_i|P_i-Q_i|` over the last axis (half :math:`\ell_1`)."""
    check_distributions(p, q)
    return _tv(jnp.asarray(p), jnp.asarray(q))


@jax.jit
def _tv(p: jax.Array, q: jax.Array) -> jax.Array:
    return 0.5 * jnp.sum(jnp.abs(p - q), axis=-1)


def kl_divergence(p: ArrayLike, q: ArrayLike) -> jax.Array:
    r""":math:`\mathrm{KL}(P\|Q)=\sum_i P_i\log(P_i/Q_i)\ge0` (natural log, :math:`0\log0=0`; ``inf`` if
    :math:`P_i>0=Q_i`). For the Top-k identity call ``kl_divergence(P_hat, P)``."""
    check_distributions(p, q)
    return _kl(jnp.asarray(p), jnp.asarray(q))


@jax.jit
def _kl(p: jax.Array, q: jax.Array) -> jax.Array:
    safe = jnp.where(p > 0, p / jnp.where(q > 0, q, 1.0), 1.0)
    terms = jnp.where(p > 0, jnp.where(q > 0, p * jnp.log(safe), jnp.inf), 0.0)
    return jnp.maximum(jnp.sum(terms, axis=-1), 0.0)  # Gibbs: KL >= 0; clip rounding below 0


def chi2_divergence(p: ArrayLike, q: ArrayLike) -> jax.Array:
    r""":math:`D_{\chi^2}(P\|Q)=\sum_i(P_i-Q_i)^2/Q_i` over the last axis (terms with :math:`Q_i=0=P_i` are 0)."""
    check_distributions(p, q)
    return _chi2(jnp.asarray(p), jnp.asarray(q))


@jax.jit
def _chi2(p: jax.Array, q: jax.Array) -> jax.Array:
    terms = jnp.where(q > 0, (p - q) ** 2 / jnp.where(q > 0, q, 1.0), jnp.where(p > 0, jnp.inf, 0.0))
    return jnp.sum(terms, axis=-1)
