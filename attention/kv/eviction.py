r"""KV-cache eviction policies at prefill: accumulated-attention hosts and their OBCache variants.

The OBCache paper (arXiv 2510.07651), §2.4-2.5 (hosts H2O, TOVA, SnapKV); our summary is ``docs/papers/obcache.md``.
As in kvpress, a policy is a small frozen dataclass whose single extension point is
:meth:`EvictionPolicy.score`; the host only fixes *which* query rows are scored and whether the
scores are max-pooled. Eviction of a prompt of $n$ tokens with budget $B$ (spec §2.5):

1. Score the window rows $\mathcal W$: all $n$ rows (H2O), the last row (TOVA), or the last $w$ rows
   (SnapKV), with a causal mask; $s_p$ = :meth:`score` summed over $\mathcal W$.
2. The last ``n_recent`` tokens are always kept; the candidates are $p<n-n_{\rm recent}$.
3. Candidate scores are max-pooled (``kernel, stride 1, padding kernel//2``; SnapKV: 7), then the
   first ``n_sinks`` candidates get $+\infty$ (attention sinks).
4. Keep the top $B-n_{\rm recent}$ candidates (ties: lower index first, ``lax.top_k``).

Example::

    pol = snapkv(OBCacheKey)                                   # SnapKV host, OBCache key score
    keep = keep_mask(pol, q, k, v, budget=0.1, n_recent=2, n_sinks=4)   # bool [..., n]
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from .._finite import check_int, check_keep_mask, check_scores
from .obcache import exact_errors, obcache_scores
from .window import WindowAttention, _attend, _validate, causal_mask, window_attention

__all__ = [
    "EvictionPolicy", "AccumulatedAttention", "OBCacheValue", "OBCacheKey", "OBCacheJoint", "RemovalOracle",
    "SCORES", "h2o", "tova", "snapkv", "eviction_policies", "budget_count", "select_tokens", "keep_mask",
    "max_pool1d", "eviction_error", "keep_masks",
]


@dataclasses.dataclass(frozen=True)
class EvictionPolicy:
    """Base policy. ``window``: number of last prompt rows scored (``None``: all rows); ``pool``: odd
    max-pool kernel over candidate scores (1: none); ``host``: label. Subclasses override :meth:`score`."""

    window: int | None = None
    pool: int = 1
    host: str = "custom"
    label: ClassVar[str] = "base"

    @property
    def name(self) -> str:
        return self.host if self.label == "attn" else f"{self.host}+{self.label}"

    def score(self, att: WindowAttention, v: jax.Array) -> jax.Array:
        """Per-token saliency [..., n] from the window attention ``att`` and values ``v`` [..., n, dv]."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class AccumulatedAttention(EvictionPolicy):
    r"""Host score $S^A_p=\sum_{i\in\mathcal W}A_{ip}$ (H2O, TOVA, SnapKV; spec C11)."""

    label: ClassVar[str] = "attn"

    def score(self, att, v):
        return jnp.sum(att.probs, -2)


@dataclasses.dataclass(frozen=True)
class OBCacheValue(EvictionPolicy):
    r"""OBCache value score $S^V_p=\|v_p\|^2\sum_ia_i^2$ (spec §2.2)."""

    label: ClassVar[str] = "obc-v"

    def score(self, att, v):
        return obcache_scores(att, v).value


@dataclasses.dataclass(frozen=True)
class OBCacheKey(EvictionPolicy):
    r"""OBCache key score $S^K_p=\sum_ia_i^2z_i^2\|v_p-o_i\|^2$ (spec §2.2)."""

    label: ClassVar[str] = "obc-k"

    def score(self, att, v):
        return obcache_scores(att, v).key


@dataclasses.dataclass(frozen=True)
class OBCacheJoint(EvictionPolicy):
    r"""OBCache joint score $S^{VK}_p=\sum_i\|a_iv_p+a_iz_i(v_p-o_i)\|^2$ (spec §2.2)."""

    label: ClassVar[str] = "obc-vk"

    def score(self, att, v):
        return obcache_scores(att, v).joint


@dataclasses.dataclass(frozen=True)
class RemovalOracle(EvictionPolicy):
    r"""Reference score: the exact single-token removal error $E^{\rm rm}_p$ on the window (spec §2.3)."""

    label: ClassVar[str] = "oracle-rm"

    def score(self, att, v):
        return exact_errors(att, v).removal


SCORES: tuple[type[EvictionPolicy], ...] = (AccumulatedAttention, OBCacheValue, OBCacheKey, OBCacheJoint)


def h2o(score: type[EvictionPolicy] = AccumulatedAttention) -> EvictionPolicy:
    """H2O host: scores accumulated over all prompt rows, no pooling."""
    return score(window=None, pool=1, host="h2o")


def tova(score: type[EvictionPolicy] = AccumulatedAttention) -> EvictionPolicy:
    """TOVA host: the last prompt row only."""
    return score(window=1, pool=1, host="tova")


def snapkv(score: type[EvictionPolicy] = AccumulatedAttention, window: int = 16, pool: int = 7) -> EvictionPolicy:
    """SnapKV host: the last ``window`` rows, max-pooling of width ``pool`` (spec: 16 and 7)."""
    return score(window=window, pool=pool, host="snapkv")


def eviction_policies(window: int = 16, scores: tuple[type[EvictionPolicy], ...] = SCORES) -> list[EvictionPolicy]:
    """Every host (H2O, TOVA, SnapKV) combined with every score class, in a fixed order."""
    return [host(s) if host is not snapkv else snapkv(s, window) for host in (h2o, tova, snapkv) for s in scores]


def budget_count(budget: float | int, n: int) -> int:
    """Tokens kept: a float fraction in (0, 1] of ``n`` (rounded, at least 1) or an int count in [1, n]."""
    if isinstance(budget, (bool, np.bool_)):
        raise ValueError(f"budget must be a fraction in (0, 1] or a count in [1, n]; got {budget!r}")
    if isinstance(budget, (int, np.integer)):
        if not 1 <= budget <= n:
            raise ValueError(f"budget count {budget} must lie in [1, n={n}]")
        return int(budget)
    if not isinstance(budget, (float, np.floating)):
        raise TypeError(f"budget must be a fraction in (0, 1] (float) or a count in [1, n] (int); got {budget!r} ({type(budget).__name__})")
    b = float(budget)
    if not 0.0 < b <= 1.0:
        raise ValueError(f"budget fraction must lie in (0, 1]; got {budget!r} (pass an int for a token count)")
    return max(1, min(n, int(round(b * n))))


def max_pool1d(x: jax.Array, kernel: int) -> jax.Array:
    """``torch.max_pool1d(x, kernel, stride=1, padding=kernel//2)`` along the last axis (padding -inf)."""
    if kernel <= 1:
        return x
    if kernel % 2 == 0:
        raise ValueError(f"pool kernel must be odd, got {kernel}")
    dims = (1,) * (x.ndim - 1) + (kernel,)
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, dims, (1,) * x.ndim, [(0, 0)] * (x.ndim - 1) + [(kernel // 2,) * 2])


def _check_budget(n: int, budget: float | int, n_recent: int, n_sinks: int) -> int:
    b = budget_count(budget, n)
    check_int(n_recent, "n_recent", minimum=0)
    check_int(n_sinks, "n_sinks", minimum=0)
    if n_recent + n_sinks > b:
        raise ValueError(f"n_recent + n_sinks = {n_recent + n_sinks} exceeds the budget of {b} tokens (n={n})")
    return b


def select_tokens(scores: jax.Array, budget: float | int, *, n_recent: int = 0, n_sinks: int = 0, pool: int = 1) -> jax.Array:
    """Boolean keep mask [..., n] from scores [..., n] (steps 2-4 of the module docstring).

    ``ValueError`` for NaN scores (a NaN cannot be ranked), empty rows or a bad budget.
    """
    check_scores("scores", scores)
    scores = jnp.asarray(scores)
    b = _check_budget(scores.shape[-1], budget, n_recent, n_sinks)
    return _select(scores, b, n_recent, n_sinks, check_int(pool, "pool", minimum=1))


@functools.partial(jax.jit, static_argnums=(4,))
def _select(scores, b, n_recent, n_sinks, pool):
    # budget, recent and sinks are traced (one compilation for every budget); pooling only sees the
    # candidates (non-candidates are -inf, i.e. torch's padding), ties go to the lower index
    n = scores.shape[-1]
    pos = jnp.broadcast_to(jnp.arange(n), scores.shape)
    cand = pos < n - n_recent
    c = max_pool1d(jnp.where(cand, jnp.nan_to_num(scores, nan=-jnp.inf), -jnp.inf), pool)
    c = jnp.where(cand, jnp.where(pos < n_sinks, jnp.inf, c), -jnp.inf)
    order = jnp.argsort(-c, axis=-1, stable=True)
    rank = jnp.argsort(order, axis=-1)
    return (cand & (rank < b - n_recent)) | ~cand


def _window_attention(q, k, v, w: int):
    n = k.shape[-2]
    return window_attention(q[..., n - w :, :], k, v, causal_mask(n, jnp.arange(n - w, n)))


@functools.partial(jax.jit, static_argnums=(0,))
def _stacked_scores(policies, q, k, v):
    att = _window_attention(q, k, v, k.shape[-2] if policies[0].window is None else policies[0].window)
    return jnp.stack([p.score(att, v) for p in policies])


def keep_masks(
    policies: tuple[EvictionPolicy, ...], q: jax.Array, k: jax.Array, v: jax.Array, budget: float | int, *, n_recent: int = 0, n_sinks: int = 0
) -> jax.Array:
    """:func:`keep_mask` for several policies of one host (same window and pooling), scored in one
    compiled pass: bool [len(policies), ..., n]."""
    policies = tuple(policies)
    if len({(p.window, p.pool) for p in policies}) != 1:
        raise ValueError("keep_masks needs policies with the same window and pooling (one host)")
    _validate(q, k, v, None)
    n = k.shape[-2]
    w = policies[0].window
    if w is not None and not 1 <= w <= n:
        raise ValueError(f"window {w} must lie in [1, n={n}]")
    if q.shape[-2] != n:
        raise ValueError(f"prompt queries q {q.shape} and keys k {k.shape} must have the same length n")
    b = _check_budget(n, budget, n_recent, n_sinks)
    return _select(_stacked_scores(policies, q, k, v), b, n_recent, n_sinks, int(policies[0].pool))


def keep_mask(
    policy: EvictionPolicy, q: jax.Array, k: jax.Array, v: jax.Array, budget: float | int, *, n_recent: int = 0, n_sinks: int = 0
) -> jax.Array:
    """Score the prompt ``q, k, v`` [..., n, d] with ``policy`` (causal window rows) and select tokens to keep."""
    return keep_masks((policy,), q, k, v, budget, n_recent=n_recent, n_sinks=n_sinks)[0]


def eviction_error(q: jax.Array, k: jax.Array, v: jax.Array, keep: jax.Array) -> jax.Array:
    r"""Relative output error $\|\hat O-O\|_F/\|O\|_F$ [...] of the future queries after eviction.

    ``q`` [..., f, d] are queries at positions $n..n+f-1$ of a sequence whose keys/values ``k``, ``v``
    [..., n+f, d] include the future tokens; ``keep`` [..., n] (or [S, ..., n] for several policies)
    marks the surviving prompt tokens (future tokens are never evicted). Both outputs are causal.
    ``keep`` is boolean (numeric 0/1 accepted; any other value raises ``ValueError``).
    """
    keep = check_keep_mask("keep", keep)
    t, n, f = k.shape[-2], keep.shape[-1], q.shape[-2]
    if t != n + f:
        raise ValueError(f"keys cover {t} positions but prompt ({n}) + future queries ({f}) = {n + f}")
    if keep.shape[-1 - (q.ndim - 2) : -1] != q.shape[:-2]:
        raise ValueError(f"keep {keep.shape} does not match the head axes of q {q.shape}")
    _validate(q, k, v, None)
    return _future_error(q, k, v, keep)


@jax.jit
def _future_error(q, k, v, keep):
    t, n, f = k.shape[-2], keep.shape[-1], q.shape[-2]
    kept = jnp.concatenate([keep, jnp.ones(keep.shape[:-1] + (f,), bool)], -1)
    both = jnp.stack([jnp.ones_like(kept), kept])  # full and evicted outputs in one computation
    mask = jnp.broadcast_to(causal_mask(t, jnp.arange(n, t)), both.shape[:-1] + (f, t)) & both[..., None, :]
    qe, ke, ve = (jnp.broadcast_to(x, both.shape[:-1 - (q.ndim - 2)] + x.shape) for x in (q, k, v))
    out = _attend(qe, ke, ve, mask).out
    return jnp.linalg.norm(out[1] - out[0], axis=(-2, -1)) / jnp.linalg.norm(out[0], axis=(-2, -1))
