r"""Gemma 3 pieces the steering study needs, compiled once for every feature, value and head mask.

:func:`attention.models.generate` takes the residual hook as a static argument, so each new hook
recompiles. Here the hook is built *inside* the traced function from a
:class:`~attention.sae.steering.Steer` of arrays, and the head ablation from a mask array, so one
program serves a whole sweep; the configurations of one prompt are ``vmap``-ed.

* :func:`gemma_residuals`: ``resid_post`` of chosen layers, no output layer;
* :func:`gemma_steered_generate`: prefill + KV-cached decode (all positions steered, spec O4);
* :func:`gemma_head_contributions`: the exact per-head share of the attention block's output,
  $\mathrm{RMS}_{a'}(\sum_h o_hW^O_h)=\sum_h (o_hW^O_h)\,r\odot s$ with the shared factor
  $r=(\overline{(\sum_h o_hW^O_h)^2}+\epsilon)^{-1/2}$, for the C8 attribution.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from attention.models.gemma import gemma_attention, output_logits, run_layers
from attention.models.gemma_generate import init_kv_cache
from attention.sae.steering import Steer, steer_residual

__all__ = ["gemma_residuals", "gemma_steered_generate", "gemma_head_contributions"]


@functools.partial(jax.jit, static_argnames=("cfg", "layers"))
def gemma_residuals(params, ids, *, cfg, layers: tuple[int, ...]) -> jax.Array:
    """``[len(layers), B, T, D]``: the residual stream after each chosen layer."""
    _, _, (_, per_layer) = run_layers(cfg, params, ids, 0, None, None, (), True)
    return jnp.stack([per_layer[layer][0] for layer in layers])


def _override(cfg, mask):
    def masked(layer):
        return lambda a: gemma_attention(a) * mask[layer][None, None, :, None].astype(a.q.dtype)

    return tuple((layer, masked(layer)) for layer in range(cfg.num_layers))


@functools.partial(jax.jit, static_argnames=("cfg", "new"))
def gemma_steered_generate(params, ids, steers: Steer, keys, head_masks, temperature, *, cfg, new: int) -> jax.Array:
    """``[n, new]`` sampled tokens after ``ids [1, T]``, one row per configuration ``(steer, key, mask)``
    (``steers`` stacked along axis 0, ``head_masks [n, layers, heads]``)."""
    T = ids.shape[1]

    def one(steer, key, mask):
        hook = lambda layer, h: steer_residual(steer, layer, h)  # noqa: E731
        override = _override(cfg, mask)
        cache = init_kv_cache(cfg, 1, T + new, params["embed"].dtype)
        h, cache, _ = run_layers(cfg, params, ids, 0, cache, hook, override, False)
        logits = output_logits(cfg, params, h[:, -1:])[:, 0]

        def body(i, carry):
            logits, cache, key, out = carry
            key, sub = jax.random.split(key)
            tok = jax.random.categorical(sub, logits / temperature, axis=-1).astype(jnp.int32)
            out = out.at[i].set(tok[0])
            h, cache, _ = run_layers(cfg, params, tok[:, None], T + i, cache, hook, override, False)
            return output_logits(cfg, params, h)[:, 0], cache, key, out

        return jax.lax.fori_loop(0, new, body, (logits, cache, key, jnp.zeros(new, jnp.int32)))[3]

    return jax.vmap(one)(steers, keys, head_masks)


@functools.partial(jax.jit, static_argnames=("cfg", "upto"))
def gemma_head_contributions(params, ids, *, cfg, upto: int) -> jax.Array:
    """``[upto + 1, B, T, H, D]``: each head's exact share of the attention output of layers ``0..upto``."""
    _, _, (_, per_layer) = run_layers(cfg, params, ids, 0, None, None, (), True)
    out = []
    for layer in range(upto + 1):
        p = params["layers"][layer]
        each = jnp.einsum("bthk,hkd->bthd", per_layer[layer][2], p["wo"])
        total = each.sum(2)
        r = jax.lax.rsqrt(jnp.mean(total * total, axis=-1) + cfg.rms_eps)
        out.append(each * r[:, :, None, None] * p["post_attn_norm"][None, None, None, :])
    return jnp.stack(out)
