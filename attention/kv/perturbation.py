r"""OBCache: closed-form KV-eviction saliency scores and the exact perturbation errors they approximate.

Paper: Gu, Liang, Zhao, Diao, *OBCache: Optimal Brain KV Cache Pruning* (arXiv 2510.07651); spec
``docs/papers/obcache.md``. One layer, one head, a window $\mathcal W$ of $w$ query rows
over a cache of $n$ keys; every function is batched over leading (head) axes.

Notation: raw, **unmasked**, scaled logits $Z_{ij}=q_i^\top k_j/\sqrt d$; attention
$A=\mathrm{softmax}(Z+M)$ with mask $M\in\{0,-\infty\}$; $o_i=\sum_jA_{ij}v_j$; for a token $p$:
$a_i=A_{ip}$, $z_i=Z_{ip}$, $r_i=v_p-o_i$. The objective is $\mathcal L=\sum_{i\in\mathcal W}\|\hat o_i-o_i\|^2$.

Scores (the OBD second-order term $\tfrac12\delta^\top H_{pp}\delta$, $\delta=-v_p$, $-k_p$ or both):

$$S^V_p=\|v_p\|^2\sum_ia_i^2,\quad S^K_p=\sum_ia_i^2z_i^2\|r_i\|^2,\quad
S^\times_p=2\sum_ia_i^2z_i(\|v_p\|^2-v_p^\top o_i),\quad S^{VK}_p=S^V_p+S^K_p+S^\times_p.$$

Exact errors, with $e_i=a_ie^{-z_i}=e^{-\mathrm{lse}_i}$ and $D_i=1-a_i+e_i$:
zeroing $v_p$ gives $-a_iv_p$ ($E^V=S^V$); zeroing $k_p$ (logit $\to0$, the key stays in the
softmax) gives $\frac{e_i-a_i}{D_i}r_i$; zeroing both gives $\frac{o_i-a_iv_p}{D_i}-o_i$; true removal
gives $\frac{a_i}{1-a_i}(o_i-v_p)$, so $E^{\rm rm}_p=\sum_i\frac{a_i^2}{(1-a_i)^2}\|v_p-o_i\|^2$
($+\infty$ when some $a_i=1$).

Costs: scores and exact closed forms are $O(w\,n\,d)$ per head; the brute-force reference
:func:`perturbation_errors_bruteforce` is $O(w\,n^2d)$.

Layout: :mod:`.window` holds the window attention, :mod:`.obcache` the closed forms, this module the
brute-force/autodiff references (the window attention and closed forms are re-exported here), :mod:`.claims` the claims.

Example::

    att = window_attention(q, k, v, causal_mask(n, rows=jnp.arange(n - 16, n)))
    s = obcache_scores(att, v)          # s.value, s.key, s.cross, s.joint: [..., n]
    e = exact_errors(att, v)            # e.value, e.key, e.joint, e.removal: [..., n]
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from .obcache import ExactErrors as ExactErrors
from .obcache import OBCacheScores as OBCacheScores
from .obcache import exact_errors as exact_errors
from .obcache import obcache_scores as obcache_scores
from .window import WindowAttention as WindowAttention
from .window import _attend, _validate
from .window import causal_mask as causal_mask
from .window import window_attention as window_attention

__all__ = [
    "WindowAttention", "OBCacheScores", "ExactErrors", "PERTURBATIONS", "causal_mask", "window_attention",
    "obcache_scores", "exact_errors", "perturbation_errors_bruteforce", "second_order_autodiff",
]

PERTURBATIONS = ("value", "key", "joint", "removal")
Perturbation = Literal["value", "key", "joint", "removal"]


def _perturbed_error(q, k, v, mask, p, kind: str):
    r"""$\sum_i\|\hat o_i-o_i\|^2$ for one head after perturbing token ``p`` (recomputes attention)."""
    base = _attend(q, k, v, mask)
    if kind == "removal":
        m2 = mask.at[:, p].set(False)
        ok = m2.any(-1)
        new = _attend(q, k, v, jnp.where(ok[:, None], m2, mask))
        err = jnp.sum((new.out - base.out) ** 2, -1)
        return jnp.sum(jnp.where(ok, err, jnp.where(mask[:, p], jnp.inf, 0.0)))
    k2 = k.at[p].set(0.0) if kind in ("key", "joint") else k
    v2 = v.at[p].set(0.0) if kind in ("value", "joint") else v
    return jnp.sum((_attend(q, k2, v2, mask).out - base.out) ** 2)


def perturbation_errors_bruteforce(
    q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array | None, kind: Perturbation, *, batch_size: int = 64
) -> jax.Array:
    r"""Reference: for every token $p$, recompute the window outputs with $p$ perturbed (``kind``:
    ``value``/``key`` zeroing, ``joint`` zeroing of both, ``removal`` from the softmax) and return
    $\sum_i\|\hat o_i-o_i\|^2$ [..., n]. Cost $O(w\,n^2d)$ per head; ``batch_size`` tokens at a time."""
    if kind not in PERTURBATIONS:
        raise ValueError(f"kind must be one of {PERTURBATIONS}, got {kind!r}")
    _validate(q, k, v, mask)
    n = k.shape[-2]
    mask = jnp.broadcast_to(jnp.ones((), bool) if mask is None else mask, q.shape[:-1] + (n,))
    return _bruteforce(q, k, v, mask, kind, int(batch_size))


@functools.partial(jax.jit, static_argnums=(4, 5))
def _bruteforce(q, k, v, mask, kind, batch_size):
    def head(q, k, v, mask):
        return jax.lax.map(lambda p: _perturbed_error(q, k, v, mask, p, kind), jnp.arange(k.shape[0]), batch_size=batch_size)

    f = head
    for _ in range(q.ndim - 2):
        f = jax.vmap(f)
    return f(q, k, v, mask)


def second_order_autodiff(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array | None, p: int) -> dict[str, jax.Array]:
    r"""Reference for one head: $\tfrac12\delta^\top H_{pp}\delta$ from ``jax.hessian`` of $\mathcal L$ restricted
    to token ``p``'s block $(v_p,k_p)\in\mathbb R^{d_v+d}$, for $\delta=-v_p$ (``value``), $-k_p$ (``key``) and
    $-(v_p,k_p)$ (``joint``); also returns the gradient norm at the unperturbed cache (``grad``, 0 in exact
    arithmetic). Shapes: q [w, d], k [n, d], v [n, dv]; scalars out."""
    mask = jnp.ones(q.shape[:-1] + k.shape[-2:-1], bool) if mask is None else jnp.broadcast_to(mask, q.shape[:-1] + k.shape[-2:-1])
    return _second_order(q, k, v, mask, p)


@jax.jit
def _second_order(q, k, v, mask, p):
    dv = v.shape[-1]
    o = _attend(q, k, v, mask).out

    def loss(theta):
        v2 = v.at[p].set(theta[:dv])
        k2 = k.at[p].set(theta[dv:])
        return jnp.sum((_attend(q, k2, v2, mask).out - o) ** 2)

    theta = jnp.concatenate([v[p], k[p]])
    h = jax.hessian(loss)(theta)
    g = jax.grad(loss)(theta)
    dval = jnp.concatenate([-v[p], jnp.zeros_like(k[p])])
    dkey = jnp.concatenate([jnp.zeros_like(v[p]), -k[p]])
    quad = lambda d: 0.5 * d @ h @ d  # noqa: E731
    return {"value": quad(dval), "key": quad(dkey), "joint": quad(dval + dkey), "grad": jnp.linalg.norm(g)}
