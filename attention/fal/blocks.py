r"""The pieces of one pre-LN transformer block shared by every FAL schedule: layer norm, causal
multi-head attention (incl. $W_O$) and the GELU MLP, each over the heads or hidden units present in
its parameters (all of them, or one tensor-parallel shard).

:mod:`attention.fal.model` builds the block stacks from them and :mod:`attention.fal.folded` the
folded first block ($N+1$ backward all-reduces); both import them from here, so neither imports
the other's module.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from attnverify.proofs_numeric.precision import check_real, is_concrete

__all__ = ["layer_norm"]

Params = dict[str, Any]


def _vec(v: jax.Array, like: jax.Array) -> jax.Array:
    return jnp.reshape(v, (1,) * (like.ndim - 1) + (-1,))


def layer_norm(x: jax.Array, g: jax.Array, b: jax.Array, eps: float = 1e-5) -> jax.Array:
    r"""$\mathrm{LN}(x)=\gamma\odot(x-\mu)/\sqrt{\sigma^2+\epsilon}+\beta$ over the last axis (``eps`` >= 0)."""
    if is_concrete(eps):
        check_real(eps, "eps", nonnegative=True)
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    return xc * jax.lax.rsqrt((xc * xc).mean(-1, keepdims=True) + eps) * _vec(g, x) + _vec(b, x)


def _mha(p: Params, u: jax.Array) -> jax.Array:
    """Causal multi-head attention over the heads present in ``p`` (all, or one shard), incl. $W_O$."""
    q, k, v = jnp.einsum("btd,dshe->sbthe", u, p["wqkv"])  # fused QKV: one column-parallel input, one f
    T = u.shape[1]
    s = jnp.einsum("bqhe,bkhe->bhqk", q, k) / jnp.sqrt(jnp.asarray(q.shape[-1], u.dtype))
    s = jnp.where(jnp.tril(jnp.ones((T, T), bool))[None, None], s, -jnp.inf)
    o = jnp.einsum("bhqk,bkhe->bqhe", jax.nn.softmax(s, -1), v)
    return jnp.einsum("bqhe,hed->bqd", o, p["wo"])


def _mlp(p: Params, u: jax.Array) -> jax.Array:
    """$\\mathrm{GELU}(uW_1+b_1)W_2$ over the hidden units present in ``p`` (no $b_2$)."""
    h = u @ p["w1"]
    return jax.nn.gelu(h + _vec(p["b1"], h)) @ p["w2"]
