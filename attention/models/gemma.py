r"""The Gemma 3 decoder forward pass in pure JAX.

For token ids $t_1..t_T$ and $D$ = ``hidden_size``, with $\mathrm{RMS}_s(x) = x\,/\sqrt{\overline{x^2} +
\epsilon} \odot s$ where the stored scale $s = 1 + w$ (GGUF files already hold $1 + w$; it is not
added again), each layer $\ell$ computes (Gemma 3 technical report, 2025; HF ``Gemma3DecoderLayer``):

$$x = \mathrm{RMS}_{a}(h),\quad q_h = \mathrm{RoPE}_{\theta_\ell}(\mathrm{RMS}_{q}(x W^Q_h)),\quad
  k_g = \mathrm{RoPE}_{\theta_\ell}(\mathrm{RMS}_{k}(x W^K_g)),\quad v_g = x W^V_g$$
$$o_h = \mathrm{softmax}\big(c\, q_h k_{g(h)}^\top + M_\ell\big) v_{g(h)},\qquad
  h \leftarrow h + \mathrm{RMS}_{a'}\big(\textstyle\sum_h o_h W^O_h\big)$$
$$h \leftarrow h + \mathrm{RMS}_{f'}\big((\mathrm{gelu}_{\tanh}(u W^G) \odot u W^U) W^D\big),\quad u = \mathrm{RMS}_f(h)$$

with $c = 1/\sqrt{256}$, $g(h) = \lfloor h H_{kv}/H \rfloor$ (GQA), $M_\ell$ causal, and for local
layers also $i - j < W$ (sliding window); $\theta_\ell$ is the local or global RoPE base
(:class:`GemmaConfig`). The input is $h_0 = \sqrt{D}\,E[t]$ (the factor cast to the activation dtype,
as in HF), the output $\mathrm{logits} = \mathrm{RMS}_{n}(h_L) E^\top$ (tied embeddings).

RoPE uses the half-split ("NeoX", HF ``rotate_half``) layout: llama.cpp runs ``gemma3`` with
``LLAMA_ROPE_TYPE_NEOX`` and its converter permutes q/k only for the llama family, not for Gemma.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
from jax import lax

from attnverify.proofs_numeric.precision import check_bool, check_real, is_concrete

from .gemma_config import GemmaConfig

__all__ = ["AttentionInputs", "GemmaOutputs", "attend_with_probs", "gemma_attention", "gemma_attention_probs", "gemma_block",
           "gemma_forward", "rms_norm", "rope"]

Array = jax.Array
ResidualHook = Callable[[int, Array], Array]
AttentionFn = Callable[["AttentionInputs"], Array]


class AttentionInputs(NamedTuple):
    r"""What one layer's attention function receives (and :func:`gemma_attention` computes from).

    ``q`` $[B, T, H, d_h]$ and ``k`` $[B, S, H_{kv}, d_h]$ after their RMSNorm and RoPE (not scaled),
    ``v`` $[B, S, H_{kv}, d_h]$; ``mask`` $[T, S]$ bool (True: query $i$ may attend key $j$; causal,
    and windowed on local layers); ``q_positions`` $[T]$ / ``k_positions`` $[S]$ absolute positions
    (in KV-cached decode, $S$ is the cache length and keys past the current position are masked);
    ``scale`` $c$; ``softcap`` (None in Gemma 3); ``layer`` and ``is_global`` (Python values).
    """

    q: Array
    k: Array
    v: Array
    mask: Array
    q_positions: Array
    k_positions: Array
    scale: float
    softcap: float | None
    layer: int
    is_global: bool


class GemmaOutputs(NamedTuple):
    r"""``logits`` $[B, T, V]$; with ``return_hidden``, per layer $\ell = 0..L-1$ (tuples of $L$ arrays):
    ``residuals`` $h_{\ell+1}$ $[B, T, D]$ after layer $\ell$ (after ``residual_hook``),
    ``attn_inputs`` the normalised $x = \mathrm{RMS}_a(h_\ell)$ fed to attention $[B, T, D]$,
    ``attn_heads`` the per-head outputs $o_h$ before $W^O$ $[B, T, H, d_h]$, and ``attn_outputs``
    the attention block's addition to the residual, $\mathrm{RMS}_{a'}(\sum_h o_h W^O_h)$ $[B, T, D]$;
    ``embeddings`` is $h_0$. Otherwise these are None."""

    logits: Array
    embeddings: Array | None = None
    residuals: tuple[Array, ...] | None = None
    attn_inputs: tuple[Array, ...] | None = None
    attn_heads: tuple[Array, ...] | None = None
    attn_outputs: tuple[Array, ...] | None = None


def _trailing(w: Array, ndim: int) -> Array:
    """``w`` of shape ``[n]`` as ``[1, ..., 1, n]`` (explicit broadcasting; no rank promotion)."""
    return w.reshape((1,) * (ndim - 1) + w.shape)


def rms_norm(x: Array, scale: Array, eps: float) -> Array:
    r"""$x / \sqrt{\mathrm{mean}(x^2) + \epsilon} \odot s$ over the last axis, with the *stored* scale
    $s = 1 + w$ (GGUF convention). Computed in float32 at least, returned in ``x.dtype``."""
    if is_concrete(eps):
        check_real(eps, "eps", nonnegative=True)
    acc = jnp.promote_types(x.dtype, jnp.float32)
    xf = x.astype(acc)
    y = xf * lax.rsqrt(jnp.mean(xf * xf, axis=-1, keepdims=True) + eps)
    return (y * _trailing(scale.astype(acc), x.ndim)).astype(x.dtype)


def rope(x: Array, positions: Array, base: float) -> Array:
    r"""Rotary embedding, half-split layout: with $\omega_i = \theta^{-2i/d_h}$, $i < d_h/2$, and angle
    $p\,\omega_i$, $(x_i, x_{i+d_h/2}) \mapsto (x_i \cos - x_{i+d_h/2} \sin,\ x_{i+d_h/2} \cos + x_i \sin)$.
    ``x`` $[B, T, H, d_h]$, ``positions`` $[T]$ (int). Scores $q_i^\top k_j$ then depend on $i - j$ only."""
    if x.shape[-1] % 2:
        raise ValueError(f"x: rope needs an even head dimension d_h, got shape {tuple(x.shape)}")
    if is_concrete(base):
        check_real(base, "base", positive=True)
    half = x.shape[-1] // 2
    dt = jnp.promote_types(x.dtype, jnp.float32)
    inv_freq = 1.0 / (base ** (jnp.arange(half, dtype=dt) * (2.0 / x.shape[-1])))
    ang = positions.astype(dt)[:, None] * inv_freq[None, :]
    cos, sin = jnp.cos(ang)[None, :, None, :], jnp.sin(ang)[None, :, None, :]
    x1, x2 = x[..., :half].astype(dt), x[..., half:].astype(dt)
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).astype(x.dtype)


def gemma_attention_probs(a: AttentionInputs) -> Array:
    r"""Attention probabilities $P_h = \mathrm{softmax}(c\,q_h k_{g(h)}^\top + M)$ of every query head
    after the GQA expansion ($g(h) = \lfloor h H_{kv}/H \rfloor$), with the causal and, on local layers,
    the sliding-window mask applied (masked entries get probability 0): $[B, H, T, S]$."""
    B, T, H, dh = a.q.shape
    G = H // a.k.shape[2]
    q = a.q.reshape(B, T, a.k.shape[2], G, dh)
    s = jnp.einsum("btkgd,bskd->bkgts", q, a.k) * a.scale
    if a.softcap is not None:
        s = a.softcap * jnp.tanh(s / a.softcap)
    s = jnp.where(a.mask[None, None, None], s, jnp.finfo(s.dtype).min)
    return jax.nn.softmax(s, axis=-1).reshape(B, H, T, a.k.shape[1])


def attend_with_probs(probs: Array, v: Array) -> Array:
    r"""$o_h = P_h v_{g(h)}$ for probabilities $[B, H, T, S]$ and values $[B, S, H_{kv}, d_h]$: $[B, T, H, d_h]$."""
    B, H, T, S = probs.shape
    kv = v.shape[2]
    p = probs.reshape(B, kv, H // kv, T, S)
    return jnp.einsum("bkgts,bskd->btkgd", p, v).reshape(B, T, H, v.shape[3])


def gemma_attention(a: AttentionInputs) -> Array:
    r"""Grouped-query softmax attention $o = \mathrm{softmax}(c\,q k^\top + M) v$, masked entries $-\infty$
    (finfo.min); returns $[B, T, H, d_h]$. The default attention function of every layer."""
    return attend_with_probs(gemma_attention_probs(a), a.v)


def gemma_block(cfg: GemmaConfig, p: Mapping[str, Array], layer: int, h: Array, offset: Any,
                cache: tuple[Array, Array] | None, attend: AttentionFn) -> tuple[Array, tuple[Array, Array], tuple]:
    """One decoder layer on ``h`` $[B, T, D]$ at positions ``offset + arange(T)``; with ``cache``
    (k, v of shape $[B, S, H_{kv}, d_h]$) the new keys/values are written at ``offset`` and the
    queries attend the whole cache. Returns (h, (k, v), (x, heads, attn_out))."""
    eps, T = cfg.rms_eps, h.shape[1]
    x = rms_norm(h, p["attn_norm"], eps)
    q = rms_norm(jnp.einsum("btd,dhk->bthk", x, p["wq"]), p["q_norm"], eps)
    k = rms_norm(jnp.einsum("btd,dhk->bthk", x, p["wk"]), p["k_norm"], eps)
    v = jnp.einsum("btd,dhk->bthk", x, p["wv"])
    q_pos = offset + jnp.arange(T, dtype=jnp.int32)
    base = cfg.rope_base(layer)
    q, k = rope(q, q_pos, base), rope(k, q_pos, base)
    if cache is not None:
        zero = jnp.zeros((), jnp.int32)
        at = (zero, jnp.asarray(offset, jnp.int32), zero, zero)
        k = lax.dynamic_update_slice(cache[0], k.astype(cache[0].dtype), at)
        v = lax.dynamic_update_slice(cache[1], v.astype(cache[1].dtype), at)
        k_pos = jnp.arange(k.shape[1], dtype=jnp.int32)
    else:
        k_pos = q_pos
    delta = q_pos[:, None] - k_pos[None, :]
    mask = delta >= 0
    if not cfg.is_global(layer):
        mask = mask & (delta < cfg.sliding_window)
    heads = attend(AttentionInputs(q, k, v, mask, q_pos, k_pos, cfg.query_scale, cfg.attn_softcap, layer,
                                   cfg.is_global(layer)))
    attn_out = rms_norm(jnp.einsum("bthk,hkd->btd", heads, p["wo"]), p["post_attn_norm"], eps)
    h = h + attn_out
    u = rms_norm(h, p["ffn_norm"], eps)
    gated = jax.nn.gelu(u @ p["w_gate"], approximate=True) * (u @ p["w_up"])
    h = h + rms_norm(gated @ p["w_down"], p["post_ffn_norm"], eps)
    return h, (k, v), (x, heads, attn_out)


def run_layers(cfg: GemmaConfig, params: Mapping[str, Any], ids: Array, offset: Any,
               caches: tuple | None, hook: ResidualHook | None, override: tuple, record: bool):
    """Embed ``ids`` $[B, T]$, run all layers (hooks and overrides applied), final-norm.

    Returns ``(h_final [B, T, D], new caches, records)``; ``records`` is ``(h0, per-layer tuples)``
    when ``record`` else None. Shared by :func:`gemma_forward` and the KV-cached generation."""
    embed = params["embed"]
    # an id outside 0..V-1 (possible only for traced ids, which check_ids cannot see) embeds as NaN, not as
    # another token's row (a clamped gather would return a plausible wrong answer)
    rows = jnp.take(embed, jnp.where(ids < 0, embed.shape[0], ids), axis=0, mode="fill", fill_value=jnp.nan)
    h = rows * jnp.asarray(math.sqrt(cfg.hidden_size), embed.dtype)
    h0, per_layer, new_caches = h, [], []
    overrides = dict(override)
    for layer, p in enumerate(params["layers"]):
        h, kv, rec = gemma_block(cfg, p, layer, h, offset, None if caches is None else caches[layer],
                            overrides.get(layer, gemma_attention))
        if hook is not None:
            h = hook(layer, h)
        new_caches.append(kv)
        if record:
            per_layer.append((h,) + rec)
    h = rms_norm(h, params["final_norm"], cfg.rms_eps)
    return h, tuple(new_caches), ((h0, per_layer) if record else None)


def output_logits(cfg: GemmaConfig, params: Mapping[str, Any], h: Array) -> Array:
    r"""Tied output layer $h E^\top$ (with $c \tanh(\cdot / c)$ when ``final_softcap`` is set)."""
    logits = jnp.einsum("btd,vd->btv", h, params["embed"])
    if cfg.final_softcap is not None:
        logits = cfg.final_softcap * jnp.tanh(logits / cfg.final_softcap)
    return logits


def _forward(params: Mapping[str, Any], ids: Array, *, cfg: GemmaConfig, return_hidden: bool,
             override: tuple, hook: ResidualHook | None) -> GemmaOutputs:
    h, _, rec = run_layers(cfg, params, ids, 0, None, hook, override, return_hidden)
    logits = output_logits(cfg, params, h)
    if not return_hidden:
        return GemmaOutputs(logits)
    h0, per_layer = rec
    res, xs, heads, outs = (tuple(r[i] for r in per_layer) for i in range(4))
    return GemmaOutputs(logits, h0, res, xs, heads, outs)


_forward_jit = jax.jit(_forward, static_argnames=("cfg", "return_hidden", "override", "hook"))


def check_hook(hook: Any, name: str = "residual_hook") -> None:
    """``TypeError`` naming ``name`` unless ``hook`` is None or callable (it is called inside the forward)."""
    if hook is not None and not callable(hook):
        raise TypeError(f"{name} must be a function hook(layer, h) -> h or None, got {type(hook).__name__}")


def freeze_override(attention_override: Mapping[int, AttentionFn] | None, num_layers: int) -> tuple:
    """``{layer: fn}`` as a sorted tuple (hashable, a static ``jit`` argument); validates the layers."""
    if attention_override is None:
        return ()
    if not isinstance(attention_override, Mapping):
        raise TypeError(f"attention_override must be a mapping {{layer: fn}}, got {type(attention_override).__name__}")
    for layer, fn in attention_override.items():
        if not isinstance(layer, int) or not 0 <= layer < num_layers:
            raise ValueError(f"attention_override: layer {layer!r} is not in 0..{num_layers - 1}")
        if not callable(fn):
            raise TypeError(f"attention_override[{layer}] must be callable, got {type(fn).__name__}")
    return tuple(sorted(attention_override.items(), key=lambda kv: kv[0]))


def check_ids(ids: ArrayLike, cfg: GemmaConfig, name: str = "ids", extra: int = 0) -> Array:
    """``ids`` as int32 ``[B, T]`` (a 1-D sequence gets a batch axis); ValueError naming ``name`` for a
    wrong rank, an empty sequence, an id outside the vocabulary (concrete ids only: traced ids inside
    ``jit`` pass the shape checks unchecked in value), or ``T + extra`` over the context."""
    try:
        a = jnp.asarray(ids)
    except (OverflowError, TypeError, ValueError) as e:
        raise ValueError(f"{name} must be an array of integer token ids: {e}") from None
    if a.size == 0 and a.ndim in (1, 2):  # [] is float32 to NumPy: say "empty", not "dtype float32"
        raise ValueError(f"{name} must have shape [T] or [B, T] with T >= 1, got {tuple(a.shape)} (no tokens)")
    if not jnp.issubdtype(a.dtype, jnp.integer):
        raise TypeError(f"{name} must hold integer token ids, got dtype {a.dtype}")
    a = a[None] if a.ndim == 1 else a
    if a.ndim != 2 or a.shape[1] == 0:
        raise ValueError(f"{name} must have shape [T] or [B, T] with T >= 1, got {tuple(jnp.shape(ids))}")
    if a.shape[1] + extra > cfg.context_length:
        raise ValueError(f"{name}: {a.shape[1]} tokens" + (f" + {extra} new (max_new_tokens)" if extra else "")
                         + f" exceed the context length {cfg.context_length}")
    if not is_concrete(a):  # traced ids (inside jit): shapes were checked, values cannot be
        return a.astype(jnp.int32)
    lo, hi = int(a.min()), int(a.max())
    if lo < 0 or hi >= cfg.vocab_size:
        raise ValueError(f"{name}: token id {lo if lo < 0 else hi} is outside the vocabulary 0..{cfg.vocab_size - 1}")
    return a.astype(jnp.int32)


def gemma_forward(model: Any, ids: ArrayLike, *, return_hidden: bool = False,
                  attention_override: Mapping[int, AttentionFn] | None = None,
                  residual_hook: ResidualHook | None = None, jit: bool = True) -> GemmaOutputs:
    r"""Full (uncached) causal forward of a :class:`GemmaModel` on ``ids`` $[B, T]$ (or $[T]$).

    **Arguments:**

    - ``return_hidden``: also return the residual stream after every layer, each layer's attention
      input, per-head outputs and attention block output (:class:`GemmaOutputs`).
    - ``attention_override``: ``{layer: fn}``, ``fn(AttentionInputs) -> [B, T, H, d_h]`` replaces
      :func:`gemma_attention` on that layer (e.g. a hybrid linear + sliding-window operator, or a head
      ablation that wraps :func:`gemma_attention`).
    - ``residual_hook``: ``hook(layer, h) -> h`` edits the residual stream after each layer.
    - ``jit``: compile (default) or run op by op. Hooks and overrides are static: pass the same
      function objects to reuse the compiled program (a fresh lambda recompiles).

    **Returns:** :class:`GemmaOutputs` (a 1-D ``ids`` keeps its batch axis of 1).
    **Raises:** ValueError naming ``ids`` for ids outside the vocabulary or longer than the context.
    """
    from .kinds import check_model

    check_model(model, "gemma", "gemma_forward")
    cfg = model.config
    a = check_ids(ids, cfg)
    check_hook(residual_hook)
    jit = check_bool(jit, "jit")
    kw = dict(cfg=cfg, return_hidden=check_bool(return_hidden, "return_hidden"), override=freeze_override(attention_override, cfg.num_layers),
              hook=residual_hook)
    return (_forward_jit if jit else functools.partial(_forward))(model.params, a, **kw)
