r"""Autoregressive generation with a KV cache: one jitted prefill, one jitted decode step.

The cache holds, per layer, keys and values $[B, S, H_{kv}, d_h]$ for $S$ = prompt length + new tokens.
Prefill runs the prompt $t_{1..T}$ at positions $0..T-1$ and writes its keys/values at $0..T-1$; each
decode step runs one token at position $p$ (a traced scalar, so one compiled program serves every
step), writes at $p$ and attends the cache under the layer's mask (causal, $p - j < W$ on local layers),
so unwritten slots $j > p$ are never read. Both equal the full forward (``tests/test_gemma.py``).

``residual_hook(layer, h) -> h`` runs after every layer in prefill ($h$: $[B, T, D]$) and in every
decode step ($[B, 1, D]$); ``attention_override`` as in :func:`gemma_forward`, fed the cache.

:func:`generate_batch` is the sweep form: prefill and all $N-1$ decode steps in **one** compiled
program (``lax.fori_loop``), $B$ rows sampled with their own PRNG keys, and a hook whose parameters
are *traced* arrays (``hook(hook_args, layer, h)``, ``override(hook_args) -> {layer: fn}``), so one
compilation serves every steering value, feature and head mask of a sweep; rows may carry different
``hook_args`` (leading axis $B$). On a CPU one decode step costs about the same for $B=1$ and
$B\approx 64$ (per-op overhead dominates), so a sweep batches prompts x configurations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from attnverify.proofs_numeric.precision import check_bool, check_int, check_real, is_concrete

from .gemma import AttentionFn, ResidualHook, check_hook, check_ids, freeze_override, output_logits, run_layers
from .gemma_config import GemmaConfig

__all__ = ["gemma_decode_step", "gemma_prefill", "generate", "generate_batch", "init_kv_cache"]

KVCache = tuple[tuple[jax.Array, jax.Array], ...]


def init_kv_cache(cfg: GemmaConfig, batch: int, length: int, dtype: Any = jnp.float32) -> KVCache:
    """Zeroed per-layer ``(k, v)``, each $[B, S, H_{kv}, d_h]$ with $S$ = ``length`` (at most the context)."""
    if not isinstance(cfg, GemmaConfig):
        raise TypeError(f"cfg must be a GemmaConfig (model.config), got {type(cfg).__name__}")
    batch = check_int(batch, "batch", minimum=1)
    length = check_int(length, "length", minimum=1, maximum=cfg.context_length)
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


def _check_call(model: Any, where: str, residual_hook: Any, jit: Any) -> bool:
    """The arguments every Gemma generation function shares: a Gemma model, a callable hook, a bool ``jit``."""
    from .kinds import check_model

    check_model(model, "gemma", where)
    check_hook(residual_hook)
    return check_bool(jit, "jit")


def _check_sampling(model: Any, where: str, max_new_tokens: Any, greedy: Any, temperature: Any, seed: Any,
                    jit: Any) -> tuple[int, bool, bool]:
    """Arguments :func:`generate` and :func:`generate_batch` share; returns ``(max_new_tokens, greedy, jit)``.
    ``temperature`` must be finite and > 0 when sampling (``inf`` would sample uniformly, silently)."""
    jit = _check_call(model, where, None, jit)
    max_new_tokens = check_int(max_new_tokens, "max_new_tokens", minimum=1)
    greedy = check_bool(greedy, "greedy")
    if not greedy:
        check_real(temperature, "temperature", positive=True)
    check_int(seed, "seed", minimum=0)
    return max_new_tokens, greedy, jit


def _cache_size(cache: Any, cfg: GemmaConfig) -> tuple[int, int]:
    """``(B, S)`` of a cache from :func:`init_kv_cache`; ``ValueError`` naming ``cache`` otherwise."""
    try:
        shapes = {(tuple(k.shape), tuple(v.shape)) for k, v in cache}
    except (TypeError, ValueError, AttributeError):
        shapes = set()
    if len(cache if isinstance(cache, tuple) else ()) != cfg.num_layers or len(shapes) != 1:
        raise ValueError("cache must be the per-layer (k, v) tuple from init_kv_cache(model.config, batch, length)")
    (k, _), = shapes
    if len(k) != 4 or k[2:] != (cfg.num_kv_heads, cfg.head_dim):
        raise ValueError(f"cache: layer shape {k} is not [B, S, {cfg.num_kv_heads}, {cfg.head_dim}]")
    return k[0], k[1]


def gemma_prefill(model: Any, ids: jax.Array, cache: KVCache, *, residual_hook: ResidualHook | None = None,
                  attention_override: Mapping[int, AttentionFn] | None = None,
                  jit: bool = True) -> tuple[jax.Array, KVCache]:
    """Run the prompt ``ids`` $[B, T]$ into ``cache``; returns (next-token logits $[B, V]$, cache).
    ``ValueError`` naming ``ids`` for ids outside the vocabulary, or more rows or tokens than ``cache`` holds."""
    jit = _check_call(model, "gemma_prefill", residual_hook, jit)
    cfg = model.config
    ids = check_ids(ids, cfg, "ids")
    B, S = _cache_size(cache, cfg)
    if ids.shape[0] != B or ids.shape[1] > S:
        raise ValueError(f"ids: shape {tuple(ids.shape)} does not fit the cache of {B} rows x {S} positions")
    fn = _prefill_jit if jit else _prefill
    return fn(model.params, ids, cache, cfg=cfg, hook=residual_hook,
              override=freeze_override(attention_override, cfg.num_layers))


def gemma_decode_step(model: Any, token: jax.Array, position: int | jax.Array, cache: KVCache, *,
                      residual_hook: ResidualHook | None = None,
                      attention_override: Mapping[int, AttentionFn] | None = None,
                      jit: bool = True) -> tuple[jax.Array, KVCache]:
    """Run one token per row (``token`` $[B]$) at ``position``; returns (next logits $[B, V]$, cache).
    ``ValueError`` naming ``token`` (shape, vocabulary) or ``position`` (outside ``0..S-1`` of the cache)."""
    jit = _check_call(model, "gemma_decode_step", residual_hook, jit)
    cfg = model.config
    B, S = _cache_size(cache, cfg)
    if not is_concrete(token):
        pass
    elif np.shape(token) != (B,):
        raise ValueError(f"token must be [B={B}] (one id per cache row), got shape {np.shape(token)}")
    else:
        token = check_ids(token, cfg, "token")[0]
    if is_concrete(position):
        p = np.asarray(position)
        position = check_int(int(p) if p.ndim == 0 and np.issubdtype(p.dtype, np.integer) else position,
                             "position", minimum=0, maximum=S - 1)
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
    max_new_tokens, greedy, jit = _check_sampling(model, "generate", max_new_tokens, greedy, temperature, seed, jit)
    check_hook(residual_hook)
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
            # the argmax / sample of the previous step is in the vocabulary: no per-step check (it would sync the device)
            logits, cache = (_decode_jit if jit else _decode)(
                model.params, token, jnp.asarray(T + i, jnp.int32), cache, cfg=cfg, hook=residual_hook,
                override=freeze_override(attention_override, cfg.num_layers))
    new = np.asarray(jnp.stack(out, axis=1))
    return new[0] if np.ndim(prompt_ids) == 1 else new


def _sample(logits: jax.Array, keys: jax.Array, temperature: jax.Array, greedy: bool, bias: Any = None) -> jax.Array:
    if bias is not None:  # additive logit bias [V]: -inf bans a token (image / control tokens)
        logits = logits + bias.astype(logits.dtype)[None, :]
    if greedy:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    draw = lambda k, lg: jax.random.categorical(k, lg / temperature)  # noqa: E731
    return jax.vmap(draw)(keys, logits).astype(jnp.int32)


def _batch_loop(params: Any, ids: jax.Array, keys: jax.Array, hook_args: Any, temperature: jax.Array, bias: Any = None, *,
                cfg: GemmaConfig, new: int, hook: Any, override: Any, greedy: bool) -> jax.Array:
    B, T = ids.shape
    hk = None if hook is None else (lambda layer, h: hook(hook_args, layer, h))
    ov = freeze_override(None if override is None else override(hook_args), cfg.num_layers)
    cache = init_kv_cache(cfg, B, T + new, params["embed"].dtype)
    h, cache, _ = run_layers(cfg, params, ids, 0, cache, hk, ov, False)
    split = jax.vmap(jax.random.split)(keys)
    first = _sample(output_logits(cfg, params, h[:, -1:])[:, 0], split[:, 1], temperature, greedy, bias)
    out = jnp.zeros((B, new), jnp.int32).at[:, 0].set(first)

    def body(i, carry):
        tok, cache, keys, out = carry
        h, cache, _ = run_layers(cfg, params, tok[:, None], T + i, cache, hk, ov, False)
        split = jax.vmap(jax.random.split)(keys)
        nxt = _sample(output_logits(cfg, params, h)[:, 0], split[:, 1], temperature, greedy, bias)
        return nxt, cache, split[:, 0], out.at[:, i + 1].set(nxt)

    return lax.fori_loop(0, new - 1, body, (first, cache, split[:, 0], out))[3]


_batch_jit = jax.jit(_batch_loop, static_argnames=("cfg", "new", "hook", "override", "greedy"))


def generate_batch(model: Any, prompt_ids: Any, max_new_tokens: int, *, greedy: bool = False, temperature: float = 1.0,
                   keys: Any = None, seed: int = 0, hook: Any = None, hook_args: Any = None, override: Any = None,
                   jit: bool = True, logit_bias: Any = None) -> np.ndarray:
    r"""Continue the rows of ``prompt_ids`` $[B, T]$ (one length; pad or group prompts by length) by
    ``max_new_tokens`` tokens in one compiled prefill + decode loop (module docstring).

    **Arguments:** ``greedy`` argmax, else sampling at ``temperature``; ``keys`` $[B, 2]$ PRNG keys,
    one per row (default: split from ``seed``; equal keys give two rows the same sampling noise);
    ``hook(hook_args, layer, h) -> h`` a residual hook whose parameters ``hook_args`` (a pytree of
    arrays) are traced, not static; ``override(hook_args) -> {layer: fn}`` attention overrides built
    from them; ``hook`` and ``override`` themselves are static (reuse the same objects);
    ``logit_bias`` $[V]$ added to every step's logits before sampling (``-inf`` bans a token, e.g.
    image and control tokens; default none).

    **Returns:** ``int32`` numpy $[B, N]$. **Raises:** ValueError for a bad argument (named) or a
    prompt plus ``max_new_tokens`` beyond the context length.
    """
    max_new_tokens, greedy, jit = _check_sampling(model, "generate_batch", max_new_tokens, greedy, temperature, seed, jit)
    if hook is not None and not callable(hook):
        raise TypeError(f"hook must be a function hook(hook_args, layer, h) -> h or None, got {type(hook).__name__}")
    if override is not None and not callable(override):
        raise TypeError(f"override must be a function override(hook_args) -> {{layer: fn}} or None, got {type(override).__name__}")
    if np.ndim(prompt_ids) != 2:
        raise ValueError(f"prompt_ids must be [B, T], got shape {np.shape(prompt_ids)}")
    cfg = model.config
    ids = check_ids(prompt_ids, cfg, name="prompt_ids", extra=max_new_tokens)
    B = ids.shape[0]
    keys = jax.random.split(jax.random.PRNGKey(seed), B) if keys is None else jnp.asarray(keys)
    if keys.shape != (B, 2) or keys.dtype != jnp.uint32:
        raise ValueError(f"keys must be [B={B}, 2] uint32 PRNG keys (jax.random.split(key, B)), got shape "
                         f"{tuple(keys.shape)} dtype {keys.dtype}")
    kw = dict(cfg=cfg, new=max_new_tokens, hook=hook, override=override, greedy=bool(greedy))
    fn = _batch_jit if jit else _batch_loop
    bias = None
    if logit_bias is not None:
        bias = jnp.asarray(logit_bias, jnp.float32)
        if bias.shape != (cfg.vocab_size,) or bool(jnp.any(jnp.isnan(bias) | (bias == jnp.inf))):
            raise ValueError(f"logit_bias must be [V={cfg.vocab_size}] without NaN or +inf, got shape {tuple(bias.shape)}")
        if not bool(jnp.any(jnp.isfinite(bias))):
            raise ValueError("logit_bias bans every token (all entries -inf); at least one must stay finite")
    return np.asarray(fn(model.params, ids, keys, hook_args, jnp.asarray(temperature, jnp.float32), bias, **kw))
