r"""Gemma 3 pieces the steering study needs, compiled once for every feature, value and head mask.

:func:`attention.models.generate` takes the residual hook as a static argument, so each new hook
recompiles. Here the hook reads a :class:`~attention.sae.steering.Steer` of arrays and a head-mask
array, both traced (:func:`~attention.models.gemma_generate.generate_batch`), so one program serves
a whole sweep; every row of the batch is one (prompt, configuration) pair.

* :func:`gemma_residuals`: ``resid_post`` of chosen layers, no output layer;
* :func:`gemma_steered_generate`: batched prefill + KV-cached decode; every position is steered (spec
  O4) **except BOS** (position 0): the SAEs never saw BOS (excluded from their training activations)
  and its residual norm is 5-12x the others', so steering it would apply an edit calibrated elsewhere.
  The prefill holds $T\ge2$ positions (BOS and at least one prompt token), a decode step one position
  $p\ge T$, so "position 0 of a multi-position block" is exactly BOS (tested). Image and control
  tokens are banned (logit $-\infty$, :func:`banned_token_bias`), and :func:`until_eos` cuts a row at
  its first EOS / ``<end_of_turn>`` (generation stops there: later tokens never reach the text);
* :func:`gemma_head_contributions`: the exact per-head share of the attention block's output,
  $\mathrm{RMS}_{a'}(\sum_h o_hW^O_h)=\sum_h (o_hW^O_h)\,r\odot s$ with the shared factor
  $r=(\overline{(\sum_h o_hW^O_h)^2}+\epsilon)^{-1/2}$, for the C8 attribution.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from attnverify.attention.models.gemma import gemma_attention, run_layers
from attnverify.attention.models.gemma_generate import generate_batch
from attnverify.attention.sae.steering import Steer, steer_residual

__all__ = ["gemma_residuals", "gemma_steered_generate", "gemma_head_contributions", "banned_token_bias", "stop_ids", "until_eos", "STOP_PIECES"]


@functools.partial(jax.jit, static_argnames=("cfg", "layers"))
def gemma_residuals(params, ids, *, cfg, layers: tuple[int, ...]) -> jax.Array:
    """``[len(layers), B, T, D]``: the residual stream after each chosen layer (layers past the last
    chosen one and the output layer are not run)."""
    upto = dict(params, layers=params["layers"][: max(layers) + 1])
    _, _, (_, per_layer) = run_layers(cfg, upto, ids, 0, None, None, (), True)
    return jnp.stack([per_layer[layer][0] for layer in layers])


def _row_hook(args, layer, h):
    r"""Row $b$ of ``h [B, T, D]`` gets its own :class:`Steer` (``args[0]``, stacked along axis 0);
    in a prefill block ($T\ge2$) position 0, BOS, is left as it is (module docstring)."""
    out = jax.vmap(lambda st, x: steer_residual(st, layer, x))(args[0], h)
    return out.at[:, 0].set(h[:, 0]) if h.shape[1] > 1 else out


STOP_PIECES = ("<eos>", "<end_of_turn>")  #: generation stops at the first of these


def stop_ids(tokenizer) -> tuple[int, ...]:
    """The ids of :data:`STOP_PIECES` in ``tokenizer``."""
    return tuple(i for i in (tokenizer.token_to_id(p) for p in STOP_PIECES) if i is not None)


def banned_token_bias(tokenizer, vocab_size: int) -> np.ndarray:
    """``[V]`` logit bias: $-\\infty$ on every control token of ``tokenizer`` (the GGUF's token type 3:
    ``<pad>``, ``<bos>``, ``<mask>``, ``<start_of_turn>``...) and on every added token naming an image,
    an unused slot or ``[multimodal]``, except the stop tokens; 0 elsewhere."""
    bias = np.zeros(vocab_size, np.float32)
    keep = set(stop_ids(tokenizer))
    for i, tok in tokenizer.get_added_tokens_decoder().items():
        name = str(getattr(tok, "content", tok))
        if i < vocab_size and i not in keep and (getattr(tok, "special", False) or "image" in name or "unused" in name or name == "[multimodal]"):
            bias[i] = -np.inf
    return bias


def until_eos(row, stops) -> list[int]:
    """The tokens of ``row`` before its first stop token."""
    out = []
    for t in np.asarray(row).tolist():
        if t in stops:
            break
        out.append(int(t))
    return out


def _row_override(args):
    """Head masks ``args[1] [B, layers, heads]``: zero the masked heads' outputs $o_h$ row by row."""
    mask = args[1]

    def masked(layer):
        return lambda a: gemma_attention(a) * mask[:, layer][:, None, :, None].astype(a.q.dtype)

    return {layer: masked(layer) for layer in range(mask.shape[1])}


def gemma_steered_generate(model, ids, steers: Steer, keys, head_masks, temperature: float, *, new: int, logit_bias=None) -> np.ndarray:
    """``[B, new]`` sampled tokens, one row per (prompt ``ids[b]``, configuration ``steers[b]``, key
    ``keys[b]``, head mask ``head_masks[b] [layers, heads]``), all rows in one compiled prefill +
    decode loop (:func:`attention.models.gemma_generate.generate_batch`)."""
    return generate_batch(model, ids, new, temperature=temperature, keys=keys, hook=_row_hook,
                          hook_args=(steers, jnp.asarray(head_masks, jnp.float32)), override=_row_override, logit_bias=logit_bias)


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
