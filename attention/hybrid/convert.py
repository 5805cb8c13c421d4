r"""Converting a real decoder's attention layer into the hybrid: an ``attention_override`` function.

Extension point for the hybrid (``docs/papers/hybrid_linear.md``) on a pretrained model (Gemma 3 270M):
:func:`hybrid_override` returns ``fn(AttentionInputs) -> [B, T, H, d_h]`` for
:func:`attention.models.gemma.gemma_forward`'s ``attention_override={layer: fn}``. It runs the hybrid
of :mod:`.operators` per head on the layer's own $q,k,v$ (after their norms and RoPE), with grouped-query
keys and values shared by the $H/H_{kv}$ query heads of a group, Hedgehog feature weights per head, and
the model's score scale $c$ (scores $c\,q^\top k$, i.e. $q$ is rescaled by $c\sqrt{d_h}$ before the
$1/\sqrt{d_h}$ of the hybrid; $\phi_q$ sees the rescaled $q$, a fixed factor its weights absorb).
With ``window`` $\ge T$ it is exactly the model's causal softmax attention (C2), which the tests check
against :func:`attention.models.gemma.gemma_attention`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .toy_model import COMPONENTS, student_heads

__all__ = ["HybridSettings", "hybrid_heads", "hybrid_override"]


@dataclasses.dataclass(frozen=True)
class HybridSettings:
    """Window $w$, linear weight $\\lambda$ and sink count of a converted layer."""

    window: int = 64
    lam: float = 1.0
    sinks: int = 4


def hybrid_override(feat_q: jax.Array, feat_k: jax.Array, omega: jax.Array, settings: HybridSettings = HybridSettings(),
                    component: str = "hybrid") -> Callable[[Any], jax.Array]:
    r"""An attention function for one converted layer.

    **Arguments:** ``feat_q`` ``[H, d_h, d']`` and ``feat_k`` ``[H_kv, d_h, d']`` (Hedgehog weights),
    ``omega`` ``[H]`` ($\gamma_h=\sigma(\omega_h)$), ``settings``, ``component`` (an ablation of
    :data:`.toy_model.COMPONENTS`). **Returns** ``fn(a) -> [B, T, H, d_h]``; ``fn`` raises
    ``ValueError`` for a KV-cached call (the decode path is :func:`.hybrid_forms.hybrid_decode_step`).
    """
    if component not in COMPONENTS:
        raise ValueError(f"component must be one of {COMPONENTS}, got {component!r}")
    if feat_q.ndim != 3 or feat_k.ndim != 3 or omega.shape != feat_q.shape[:1] or feat_q.shape[0] % feat_k.shape[0]:
        raise ValueError(f"need feat_q [H, d_h, d'], feat_k [H_kv, d_h, d'] with H_kv | H, omega [H]; got "
                         f"{feat_q.shape}, {feat_k.shape}, {omega.shape}")

    def fn(a: Any) -> jax.Array:
        if a.k.shape[1] != a.q.shape[1]:
            raise ValueError(f"hybrid_override handles the uncached forward only (keys {a.k.shape[1]} != queries {a.q.shape[1]})")
        return hybrid_heads(a.q, a.k, a.v, a.scale, feat_q, feat_k, omega, settings, component)[0]

    return fn


def hybrid_heads(q: jax.Array, k: jax.Array, v: jax.Array, scale: float, feat_q: jax.Array, feat_k: jax.Array,
                 omega: jax.Array, settings: HybridSettings, component: str = "hybrid") -> tuple[jax.Array, jax.Array]:
    r"""The hybrid (or one ablation) on one layer's ``q`` ``[B, T, H, d_h]``, ``k, v`` ``[B, T, H_kv, d_h]``
    with scores ``scale`` $\cdot q^\top k$: ``(y [B, T, H, d_h], r [B, H, T])`` ($r_n$ per head). Pure,
    ``jit``-able, differentiable in the feature weights and ``omega`` (the body of :func:`hybrid_override`)."""
    B, T, H, dh = q.shape
    G = H // k.shape[2]
    heads = lambda x: jnp.repeat(x, G, axis=2).transpose(0, 2, 1, 3)  # noqa: E731  [B, H, T, d_h]
    qs = (q * (scale * math.sqrt(dh))).transpose(0, 2, 1, 3)
    y, r = student_heads(qs, heads(k), heads(v), feat_q, jnp.repeat(feat_k, G, axis=0), jax.nn.sigmoid(omega),
                         settings, component)
    return y.transpose(0, 2, 1, 3).astype(q.dtype), r
