r"""OBCache closed forms: the saliency scores and the exact perturbation errors, $O(w\,n\,d)$ per head.

Paper: Gu, Liang, Zhao, Diao, *OBCache: Optimal Brain KV Cache Pruning* (arXiv 2510.07651); §2.2-2.3
(our summary: ``docs/papers/obcache.md``); notation and formulas in :mod:`.perturbation`, which re-exports
this module's public names. Inputs are a :class:`~attention.kv.window.WindowAttention` and the values
``v`` [..., n, dv]; outputs are per token [..., n], dtype following the inputs.

Example::

    att = window_attention(q, k, v, causal_mask(n, rows=jnp.arange(n - 16, n)))
    s = obcache_scores(att, v)          # s.value, s.key, s.cross, s.joint: [..., n]
    e = exact_errors(att, v)            # e.value, e.key, e.joint, e.removal: [..., n]
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .window import WindowAttention

__all__ = ["OBCacheScores", "ExactErrors", "obcache_scores", "exact_errors"]


class OBCacheScores(NamedTuple):
    r"""Closed-form OBCache saliencies [..., n]: $S^V$, $S^K$, $S^\times$, $S^{VK}$."""

    value: jax.Array
    key: jax.Array
    cross: jax.Array
    joint: jax.Array


class ExactErrors(NamedTuple):
    r"""Exact $\sum_i\|\hat o_i-o_i\|^2$ per token [..., n] for zeroing $v_p$, $k_p$, both, and true removal."""

    value: jax.Array
    key: jax.Array
    joint: jax.Array
    removal: jax.Array


class _Residuals(NamedTuple):
    vn: jax.Array  # ||v_p||^2 [..., n]
    on: jax.Array  # ||o_i||^2 [..., w]
    r2: jax.Array  # ||v_p - o_i||^2 [..., w, n]
    vr: jax.Array  # v_p . (v_p - o_i)
    or_: jax.Array  # o_i . (v_p - o_i)
    one_minus: jax.Array  # 1 - a_ip


def _residuals(att: WindowAttention, v: jax.Array) -> _Residuals:
    r"""$r_{ip}=v_p-o_i$ terms in $O(w\,n\,d)$ without catastrophic cancellation: Gram expansions around the
    window's mean output, and, for each row's dominant token $t$ (the only one that can have
    $a_{it}>1/2$, where $o_i\approx v_t$), the exact $r_{it}=(1-a_{it})v_t-\sum_{j\ne t}a_{ij}v_j$."""
    a, o = att.probs, att.out
    vn, on = jnp.sum(v * v, -1), jnp.sum(o * o, -1)
    vo = jnp.einsum("...id,...jd->...ij", o, v)
    c = jnp.mean(o, -2, keepdims=True)
    vc, oc = v - c, o - c
    r2 = jnp.sum(vc * vc, -1)[..., None, :] + jnp.sum(oc * oc, -1)[..., :, None] - 2 * jnp.einsum("...id,...jd->...ij", oc, vc)
    top = jnp.argmax(a, axis=-1)
    is_top = jnp.broadcast_to(jnp.arange(a.shape[-1]), a.shape) == top[..., None]
    a_rest = jnp.where(is_top, 0.0, a)
    rest = jnp.sum(a_rest, -1)
    v_top = jnp.take_along_axis(v, jnp.broadcast_to(top[..., None], top.shape + v.shape[-1:]), axis=-2)
    r_top = rest[..., None] * v_top - jnp.einsum("...ij,...jd->...id", a_rest, v)
    pick = lambda x, gen: jnp.where(is_top, jnp.sum(x * r_top, -1)[..., None], gen)  # noqa: E731
    return _Residuals(
        vn, on, pick(r_top, jnp.maximum(r2, 0.0)), pick(v_top, vn[..., None, :] - vo), pick(o, vo - on[..., :, None]),
        jnp.where(is_top, rest[..., None], 1.0 - a),
    )


@jax.jit
def obcache_scores(att: WindowAttention, v: jax.Array) -> OBCacheScores:
    r"""OBCache value, key, cross and joint scores (spec §2.2) summed over the window rows.

    $S^{VK}_p=\sum_i\|a_iv_p+a_iz_ir_i\|^2\ge0$ up to rounding; $S^\times$ may be negative. Masked
    entries ($a_i=0$) contribute 0 (the logits are finite, so no NaN). Shapes: [..., n].
    ``v`` must be the values the window attended over: ``[..., n, dv]`` with ``att.probs`` ``[..., w, n]``
    and ``att.out`` ``[..., w, dv]`` (``ValueError`` naming ``v`` otherwise).
    """
    n, dv = att.probs.shape[-1], att.out.shape[-1]
    if jnp.ndim(v) < 2 or jnp.shape(v)[-2:] != (n, dv):
        raise ValueError(f"v must have shape [..., n={n}, dv={dv}] to match the window attention, got {jnp.shape(v)}")
    r = _residuals(att, v)
    a2 = att.probs**2
    s_v = jnp.sum(a2, -2) * r.vn
    s_k = jnp.sum(a2 * att.logits**2 * r.r2, -2)
    s_x = 2 * jnp.sum(a2 * att.logits * r.vr, -2)
    return OBCacheScores(s_v, s_k, s_x, s_v + s_k + s_x)


@jax.jit
def exact_errors(att: WindowAttention, v: jax.Array) -> ExactErrors:
    r"""Exact output errors $\sum_{i\in\mathcal W}\|\hat o_i-o_i\|^2$ per token, closed forms of spec §2.3.

    Evaluated in log space: $e_i=a_ie^{-z_i}=e^{-\mathrm{lse}_i}$, $\log D_i=\mathrm{logaddexp}(\log(1-a_i),
    -\mathrm{lse}_i)$, $a_i/D_i=e^{z_i-\mathrm{lse}_i-\log D_i}$, and $1-a_i$ of a row's dominant token as the
    sum of the other probabilities, so peaked rows ($a_i\to1$) and very negative logits neither
    overflow nor cancel. Rows where the token is masked contribute 0; removal is $+\infty$ when
    $a_i=1$ exactly. Shapes [..., n].
    """
    r = _residuals(att, v)
    a, m = att.probs, att.mask
    lse = att.lse[..., None]
    log_d = jnp.logaddexp(jnp.log(r.one_minus), -lse)
    e_d = jnp.exp(-lse - log_d)  # e / D
    a_d = jnp.exp(att.logits - lse - log_d)  # a / D
    key = jnp.where(m, (e_d - a_d) ** 2 * r.r2, 0.0)  # zero k_p: (e - a) / D * r_i
    jt = e_d**2 * r.on[..., :, None] + 2 * e_d * a_d * r.or_ + a_d**2 * r.r2  # zero both: -(e/D) o_i - (a/D) r_i
    joint = jnp.where(m, jnp.maximum(jt, 0.0), 0.0)
    safe = jnp.where(r.one_minus > 0, r.one_minus, 1.0)
    rm = jnp.where(r.one_minus > 0, (a / safe) ** 2 * r.r2, jnp.inf)
    value = jnp.sum(a**2, -2) * r.vn
    return ExactErrors(value, jnp.sum(key, -2), jnp.sum(joint, -2), jnp.sum(jnp.where(m & (a > 0), rm, 0.0), -2))
