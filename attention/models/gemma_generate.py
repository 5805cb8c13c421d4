r"""Autoregressive generation with a KV cache: one jitted prefill, one jitted decode step.

The cache holds, per layer, keys and values $[B, S, H_{kv}, d_h]$ for $S$ = prompt length + new tokens.
Prefill runs the prompt $t_{1..T}$ at positions $0..T-1$ and writes its keys/values at $0..T-1$; each
decode step runs one token at position $p$ (a traced scalar, so one compiled program serves every
step), writes at $p$ and attends the cache under the layer's mask (causal, $p - j < W$ on local layers),
so unwritten slots $j > p$ are never read. Both equal the full forward (``tests/test_gemma.py``).

``residual_hook(layer, h) -> h`` runs after every layer in prefill ($h$: $[B, T, D]$) and in every
decode step ($[B, 1, D]$); ``attention_override`` as in :func:`gemma_forward`, fed the cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .gemma import AttentionFn, ResidualHook, check_ids, freeze_override, output_logits, run_layers
from .gemma_config import GemmaConfig

__all__ = ["gemma_decode_step", "gemma_prefill", "generate", "init_kv_cache"]

KVCache = tuple[tuple[jax.Array, jax.Array], ...]


def init_kv_cache(cfg: GemmaConfig, batch: int, length: int, dtype: Any = jnp.float32) -> KVCache:
    """Zeroed per-layer ``(k, v)``, each $[B, S, H_{kv}, d_h]$ with $S$ = ``length``."""
    shape = (batch, length, cfg.num_kv_heads, cfg.head_dim)
    return tuple((jnp.zeros(shape, dtype), jnp.zeros(shape, dtype)) for _ in range(cfg.num_layers))


def _prefill(params: Any, ids: jax.Array, cache: KVCache, *, cfg: GemmaConfig, hook: ResidualHook | None,
             override: tuple) -> tuple[jax.Array, KVCache]:
    h, cache, _ = run_layers(cfg, params, ids, 0, cache, hook, override, False)
    return output_logits(cfg, params, h[:, -1:])[:, 0], cache


def _decode(params: Any, token: jax.Array, position: jax.Array, cache: KVCache, *, cfg: GemmaConfig,
            hook: ResidualHook | None, override: tuple) -> tuple[jax.Array, KVCache]:
    h, cache, _ = run_layers(cfg, params, token[:, None], position, cache, hook, override, False)
    return output_logits(cfg, params, h)[:, 0], cache


_STATIC = ("cfg", "hook", "override")
_prefill_jit = jax.jit(_prefill, static_argnames=_STATIC)
_decode_jit = jax.jit(_decode, static_argnames=_STATIC)


def gemma_prefill(model: Any, ids: jax.Array, cache: KVCache, *, residual_hook: ResidualHook | None = None,
                  attention_override: Mapping[int, AttentionFn] | None = None,
                  jit: bool = True) -> tuple[jax.Array, KVCache]:
    """Run the prompt ``ids`` $[B, T]$ into ``cache``; returns (next-token logits $[B, V]$, cache)."""
    cfg = model.config
    fn = _prefill_jit if jit else _prefill
    return fn(model.params, ids, cache, cfg=cfg, hook=residual_hook,
              override=freeze_override(attention_override, cfg.num_layers))


def gemma_decode_step(model: Any, token: jax.Array, position: int | jax.Array, cache: KVCache, *,
                      residual_hook: ResidualHook | None = None,
                      attention_override: Mapping[int, AttentionFn] | None = None,
                      jit: bool = True) -> tuple[jax.Array, KVCache]:
    """Run one token per row (``token`` $[B]$) at ``position``; returns (next logits $[B, V]$, cache)."""
    cfg = model.config
    fn = _decode_jit if jit else _decode
    return fn(model.params, token, jnp.asarray(position, jnp.int32), cache, cfg=cfg, hook=residual_hook,
              override=freeze_override(attention_override, cfg.num_layers))


def generate(model: Any, prompt_ids: Any, max_new_tokens: int, *, greedy: bool = True, temperature: float = 1.0,
             seed: int = 0, residual_hook: ResidualHook | None = None,
             attention_override: Mapping[int, AttentionFn] | None = None, jit: bool = True) -> np.ndarray:
    r"""Continue ``prompt_ids`` ($[T]$ or $[B, T]$, e.g. ``model.tokenizer.encode(text).ids``) by
    ``max_new_tokens`` tokens with the KV cache.

    **Arguments:** ``greedy`` argmax (default) or sampling from $\mathrm{softmax}(\ell / \tau)$ with
    ``temperature`` $\tau$ and ``seed``; ``residual_hook(layer, h) -> h`` edits the residual stream
    after every layer in prefill and decode (SAE steering); ``attention_override`` ``{layer: fn}`` as
    in :func:`gemma_forward`; ``jit`` compiled prefill / decode (default) or op by op.

    **Returns:** the new token ids, ``int32`` numpy, $[N]$ for a 1-D prompt, else $[B, N]$.
    **Raises:** ValueError when the prompt plus ``max_new_tokens`` exceeds the context length, or for
    a bad argument (named).
    """
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    if not greedy and not temperature > 0:
        raise ValueError(f"temperature must be > 0 for sampling, got {temperature!r}")
    cfg = model.config
    ids = check_ids(prompt_ids, cfg, name="prompt_ids", extra=max_new_tokens)
    B, T = ids.shape
    kw = dict(residual_hook=residual_hook, attention_override=attention_override, jit=jit)
    cache = init_kv_cache(cfg, B, T + max_new_tokens, model.params["embed"].dtype)
    logits, cache = gemma_prefill(model, ids, cache, **kw)
    key = jax.random.PRNGKey(seed)
    out = []
    for i in range(max_new_tokens):
        if greedy:
            token = jnp.argmax(logits, axis=-1).astype(jnp.int32)
        else:
            key, sub = jax.random.split(key)
            token = jax.random.categorical(sub, logits / temperature, axis=-1).astype(jnp.int32)
        out.append(token)
        if i + 1 < max_new_tokens:
            logits, cache = gemma_decode_step(model, token, T + i, cache, **kw)
    new = np.asarray(jnp.stack(out, axis=1))
    return new[0] if np.ndim(prompt_ids) == 1 else new
