r"""Attention of a query window over a KV cache: the object every KV-eviction score is computed from.

Paper page ``docs/papers/obcache.md``: raw, **unmasked**, scaled logits $Z_{ij}=q_i^\top k_j/\sqrt d$,
attention $A=\mathrm{softmax}(Z+M)$ with mask $M\in\{0,-\infty\}$, outputs $o_i=\sum_jA_{ij}v_j$.

Example::

    att = window_attention(q, k, v, causal_mask(n, rows=jnp.arange(n - 16, n)))
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._finite import check_nonempty

__all__ = ["WindowAttention", "causal_mask", "window_attention"]


class WindowAttention(NamedTuple):
    """Attention of a query window: ``probs`` $A$ and raw unmasked scaled ``logits`` $Z$ [..., w, n],
    ``out`` $O$ [..., w, dv], log-partition ``lse`` [..., w], boolean ``mask`` [..., w, n] (True: visible)."""

    probs: jax.Array
    logits: jax.Array
    out: jax.Array
    lse: jax.Array
    mask: jax.Array


def _concrete(*xs) -> bool:
    return not any(isinstance(x, jax.core.Tracer) for x in xs)


def _validate(q, k, v, mask) -> None:
    """Shape, finiteness and mask checks at the Python boundary (skipped under tracing)."""
    if not _concrete(q, k, v, mask):
        return
    q, k, v = (np.asarray(x) for x in (q, k, v))
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"q, k, v must be [..., rows, dim]; got shapes {q.shape}, {k.shape}, {v.shape}")
    check_nonempty("k", k, -2, "keys (n = 0)")
    check_nonempty("q", q, -2, "query rows")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"query dim {q.shape[-1]} != key dim {k.shape[-1]} (shapes {q.shape}, {k.shape})")
    if k.shape[:-1] != v.shape[:-1]:
        raise ValueError(f"keys {k.shape} and values {v.shape} must agree on [..., n]")
    if q.shape[:-2] != k.shape[:-2]:
        raise ValueError(f"batch/head axes differ: q {q.shape[:-2]} vs k {k.shape[:-2]}")
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not np.isfinite(x).all():
            bad = np.argwhere(~np.isfinite(x))[0]
            raise ValueError(f"{name} contains NaN/inf at index {tuple(int(i) for i in bad)}")
    if mask is not None:
        m = np.asarray(mask)
        want = q.shape[:-1] + k.shape[-2:-1]
        try:
            m = np.broadcast_to(m, want)
        except ValueError:
            raise ValueError(f"mask shape {np.shape(mask)} does not broadcast to [..., w, n] = {want}") from None
        empty = ~m.any(-1)
        if empty.any():
            raise ValueError(f"query row {tuple(int(i) for i in np.argwhere(empty)[0])} sees no key (mask all False)")


def causal_mask(n: int, rows: jax.Array | np.ndarray) -> jax.Array:
    r"""Boolean causal mask [w, n] for queries at positions ``rows`` over keys ``0..n-1`` ($j\le$ row)."""
    rows = jnp.asarray(rows)
    if _concrete(rows) and rows.size and (int(jnp.min(rows)) < 0 or int(jnp.max(rows)) >= n):
        raise ValueError(f"query positions must lie in [0, {n}); got range [{int(jnp.min(rows))}, {int(jnp.max(rows))}]")
    return jnp.arange(n)[None, :] <= rows[:, None]


@jax.jit
def _attend(q, k, v, mask) -> WindowAttention:
    scale = 1.0 / np.sqrt(q.shape[-1])
    z = jnp.einsum("...id,...jd->...ij", q, k) * scale
    m = jnp.ones(z.shape, bool) if mask is None else jnp.broadcast_to(mask, z.shape)
    zm = jnp.where(m, z, -jnp.inf)
    lse = jax.nn.logsumexp(zm, axis=-1)
    a = jnp.exp(zm - lse[..., None])
    return WindowAttention(a, z, jnp.einsum("...ij,...jd->...id", a, v), lse, m)


def window_attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array | None = None) -> WindowAttention:
    r"""Attention of the window rows ``q`` [..., w, d] over ``k`` [..., n, d], ``v`` [..., n, dv].

    ``mask`` (bool, broadcastable to [..., w, n], True = visible; ``None`` = all visible) enters as
    $M\in\{0,-\infty\}$; the returned ``logits`` are raw and unmasked (spec pitfall 3). Dtype follows
    the inputs (use float64 for the identity checks). Raises ``ValueError`` on mismatched shapes,
    NaN/inf or a row that sees no key.
    """
    _validate(q, k, v, mask)
    return _attend(q, k, v, mask)
