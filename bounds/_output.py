r"""Output error of Top-k attention: head-tail factorisation (C9) and the certificates C8, C10, C11.

Spec ``topk_tv`` §1-2. With :math:`\mathrm{Attn}=\sum_ip_iv_i` and :math:`\mathrm{Attn}_k=\sum_i\widehat P_iv_i`,

.. math:: \mathrm{Attn}-\mathrm{Attn}_k=\tau(\mu_{\rm tail}-\mu_{\rm head})\quad\text{(Thm 5.2)},

.. math:: \|\mathrm{Attn}-\mathrm{Attn}_k\|_2\le\min\Big\{\tau\,\mathrm{diam}_{H,T},\ 
          \sqrt{D_{\chi^2}(\widehat P\|P)\,\mathrm{Var}_P(V)},\ 2C\tau\Big\}\quad\text{(Thm 5.6)},

with :math:`D_{\chi^2}=\tau/(1-\tau)`, :math:`\mathrm{Var}_P(V)=\sum_ip_i\|v_i-\bar v\|^2` (trace of the
covariance under :math:`P`), :math:`\mathrm{diam}_{H,T}=\max_{i\in H,j\in T}\|v_i-v_j\|` and
:math:`C=\max_j\|v_j\|` unless given. Shapes: ``logits [..., n]``, ``values [..., n, d_v]``.
Thm 5.8 (maximum-spanning-tree partition) is not implemented (its exact statement is not known):
:func:`mst_partition_bound` raises ``NotImplementedError``.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._tv import batch_k, topk_distributions, topk_mask
from ._validate import check_value_bound, check_values

__all__ = ["HeadTail", "OutputBounds", "OUTPUT_BOUND_NAMES", "head_tail_decomposition",
           "output_error_bounds", "mst_partition_bound"]

OUTPUT_BOUND_NAMES = ("diameter", "variance", "2Ctau")


class HeadTail(NamedTuple):
    """Head-tail factorisation; vectors ``[..., d_v]``, ``tau`` ``[...]``."""

    tau: jax.Array
    mu_head: jax.Array
    mu_tail: jax.Array
    attn: jax.Array
    attn_k: jax.Array
    error: jax.Array  # attn - attn_k


class OutputBounds(NamedTuple):
    """C11 terms, their minimum ``best`` and ``active`` = index into :data:`OUTPUT_BOUND_NAMES`."""

    error_norm: jax.Array
    diameter: jax.Array
    variance: jax.Array
    two_c_tau: jax.Array
    best: jax.Array
    active: jax.Array
    tau: jax.Array
    diam: jax.Array
    var_p: jax.Array
    chi2: jax.Array


def head_tail_decomposition(logits: ArrayLike, values: ArrayLike, k: ArrayLike, assume_sorted: bool = False) -> HeadTail:
    r"""C9: :math:`\mathrm{Attn}-\mathrm{Attn}_k=\tau(\mu_{\rm tail}-\mu_{\rm head})`. When
    :math:`\tau=0` (``k = n``) :math:`\mu_{\rm tail}:=\mu_{\rm head}`.

    Example (E3): logits ``(2,1,0,-1)``, ``k=2``, ``V=(e1,e2,-e1,-e2)`` gives
    :math:`\|\mathrm{err}\|=0.18570\ldots`.
    """
    check_values(logits, values)
    p, ph = topk_distributions(logits, k, assume_sorted)
    return _head_tail(jnp.asarray(logits), jnp.asarray(values), batch_k(k, jnp.asarray(logits)), p, ph, assume_sorted)


@functools.partial(jax.jit, static_argnums=5)
def _head_tail(x, values, k, p, ph, assume_sorted: bool) -> HeadTail:
    v = jnp.where(jnp.isfinite(x)[..., None], values, 0.0)
    keep = topk_mask(x, k, assume_sorted)
    tau = jnp.sum(jnp.where(keep, 0.0, p), axis=-1)
    attn = jnp.einsum("...n,...nd->...d", p, v)
    mu_head = jnp.einsum("...n,...nd->...d", ph, v)
    pt = jnp.where(keep, 0.0, p)
    mu_tail = jnp.where(tau[..., None] > 0, jnp.einsum("...n,...nd->...d", pt, v)
                        / jnp.where(tau > 0, tau, 1.0)[..., None], mu_head)
    return HeadTail(tau, mu_head, mu_tail, attn, mu_head, attn - mu_head)


def output_error_bounds(logits: ArrayLike, values: ArrayLike, k: ArrayLike, C: ArrayLike | None = None, assume_sorted: bool = False) -> OutputBounds:
    r"""C8/C10/C11 certificates for :math:`\|\mathrm{Attn}-\mathrm{Attn}_k\|_2` and which one is active.

    ``C`` defaults to :math:`\max_j\|v_j\|` over unmasked keys (then the :math:`2C\tau` term never
    wins); a given ``C`` must be finite and at least that (``ValueError`` otherwise: a smaller
    ``C`` would give "bounds" below the error). Cost :math:`O(n^2d_v)` per row for the diameter.
    """
    ht = head_tail_decomposition(logits, values, k, assume_sorted)
    if C is not None:
        check_value_bound(C, logits, values)
    x = jnp.asarray(logits)
    return _bounds(x, jnp.asarray(values), batch_k(k, x), ht, None if C is None else jnp.asarray(C), assume_sorted)


@functools.partial(jax.jit, static_argnums=5)
def _bounds(x, values, k, ht: HeadTail, C, assume_sorted: bool) -> OutputBounds:
    fin = jnp.isfinite(x)
    v = jnp.where(fin[..., None], values, 0.0)
    keep = topk_mask(x, k, assume_sorted)
    tail = fin & ~keep
    sq = jnp.sum(v * v, axis=-1)
    d2 = sq[..., :, None] + sq[..., None, :] - 2 * jnp.einsum("...id,...jd->...ij", v, v)
    pair = keep[..., :, None] & tail[..., None, :]
    diam = jnp.sqrt(jnp.maximum(jnp.max(jnp.where(pair, d2, 0.0), axis=(-2, -1)), 0.0))
    p = jnp.where(fin, jnp.exp(x - jnp.max(x, axis=-1, keepdims=True)), 0.0)
    p = p / jnp.sum(p, axis=-1, keepdims=True)
    var_p = jnp.sum(p * jnp.sum((v - ht.attn[..., None, :]) ** 2, axis=-1), axis=-1)
    tau = ht.tau
    chi2 = tau / (1 - tau)
    c = jnp.sqrt(jnp.max(jnp.where(fin, sq, 0.0), axis=-1)) if C is None else C
    terms = jnp.stack([tau * diam, jnp.sqrt(chi2 * var_p), 2 * c * tau], axis=-1)
    return OutputBounds(jnp.linalg.norm(ht.error, axis=-1), terms[..., 0], terms[..., 1], terms[..., 2],
                        jnp.min(terms, axis=-1), jnp.argmin(terms, axis=-1), tau, diam, var_p, chi2)


def mst_partition_bound(*args: Any, **kwargs: Any) -> None:
    """Thm 5.8 (partition via a maximum spanning tree): statement open in the spec; not implemented."""
    raise NotImplementedError("Thm 5.8 (MST partition bound) is open in the paper (its statement is not known)")
