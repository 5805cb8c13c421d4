r"""The BERT encoder forward pass in pure JAX, returning every layer's attention.

For layer $\ell$, head $h$ and hidden states $X\in\mathbb R^{n\times D}$:

$$Q=XW_Q^{h}+b_Q^{h},\quad K=XW_K^{h}+b_K^{h},\quad V=XW_V^{h}+b_V^{h},\qquad
S=\frac{QK^\top}{\sqrt{d_h}}\ (\text{masked keys}=-\infty),\quad P=\mathrm{softmax}_{\rm row}(S),\quad O^h=PV,$$

then $X\leftarrow\mathrm{LN}(X+\sum_hO^hW_O^h+b_O)$ and $X\leftarrow\mathrm{LN}(X+\mathrm{GELU}(XW_1+b_1)W_2+b_2)$
(post-LN BERT, exact erf GELU, as in Hugging Face ``BertModel``). The logits $S$ are what the
Top-k theory of ``topk_tv`` (§1, scale $1/\sqrt{d}$) calls $s$.

The forward is ``jax.jit``-compiled (one compilation per input shape and flag set); the layers
run as one ``lax.scan``. Inputs may be sharded (e.g. along the batch axis): the pure core
propagates the sharding.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

from attnverify.proofs_numeric.precision import check_bool, is_concrete

from .bert_load import BertConfig, BertModel

__all__ = ["BertOutputs", "bert_forward"]


class BertOutputs(NamedTuple):
    r"""Per-layer arrays stacked on a leading layer axis ($L$ layers, $B$ sequences, $H$ heads,
    $n$ tokens, head width $d_h$, model width $D$), in the model's dtype:

    - ``logits`` ``[L,B,H,n,n]``: pre-softmax scaled scores $QK^\top/\sqrt{d_h}$, masked keys
      (padding; future keys when ``causal``) set to $-\infty$;
    - ``probs`` ``[L,B,H,n,n]``: row softmax of ``logits`` (masked keys exactly 0);
    - ``q``, ``k``, ``v``, ``head_out`` ``[L,B,H,n,d_h]``: $Q$, $K$, $V$ and $O^h=PV$;
    - ``hidden`` ``[B,n,D]``: final hidden states; ``mask`` ``[B,n]`` bool: valid tokens.

    With ``attention=False`` the per-layer fields are ``None`` (only ``hidden`` and ``mask``).
    """

    logits: jax.Array | None
    probs: jax.Array | None
    q: jax.Array | None
    k: jax.Array | None
    v: jax.Array | None
    head_out: jax.Array | None
    hidden: jax.Array
    mask: jax.Array


def _layer_norm(x: jax.Array, g: jax.Array, b: jax.Array, eps: float) -> jax.Array:
    mu = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mu), axis=-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + eps) * g[None, None, :] + b[None, None, :]


def _layer(cfg: BertConfig, causal: bool, attention: bool, x: jax.Array, mask: jax.Array, p: dict[str, jax.Array],
           bias: jax.Array | None = None):
    """One post-LN encoder layer; ``bias`` ``[H, n, n]`` (MPNet's relative position bias) is added to the scaled logits."""
    n, dh = x.shape[1], cfg.head_dim
    q = jnp.einsum("bnd,dhe->bhne", x, p["wq"]) + p["bq"][None, :, None, :]
    k = jnp.einsum("bnd,dhe->bhne", x, p["wk"]) + p["bk"][None, :, None, :]
    v = jnp.einsum("bnd,dhe->bhne", x, p["wv"]) + p["bv"][None, :, None, :]
    s = jnp.einsum("bhqe,bhke->bhqk", q, k) / jnp.sqrt(jnp.asarray(dh, x.dtype))
    if bias is not None:
        s = s + bias[None].astype(s.dtype)
    keep = mask[:, None, None, :]
    if causal:
        keep = keep & jnp.tril(jnp.ones((n, n), dtype=bool))[None, None, :, :]
    s = jnp.where(keep, s, -jnp.inf)
    prob = jax.nn.softmax(s, axis=-1)
    o = jnp.einsum("bhqk,bhke->bhqe", prob, v)
    attn = jnp.einsum("bhne,hed->bnd", o, p["wo"]) + p["bo"][None, None, :]
    x = _layer_norm(x + attn, p["ln1_g"], p["ln1_b"], cfg.layer_norm_eps)
    h = jax.nn.gelu(jnp.einsum("bnd,df->bnf", x, p["w1"]) + p["b1"][None, None, :], approximate=False)
    x = _layer_norm(x + jnp.einsum("bnf,fd->bnd", h, p["w2"]) + p["b2"][None, None, :], p["ln2_g"], p["ln2_b"], cfg.layer_norm_eps)
    return x, ((s, prob, q, k, v, o) if attention else None)


def _embed(cfg: BertConfig, emb: dict[str, jax.Array], ids: jax.Array) -> jax.Array:
    n = ids.shape[1]
    x = emb["word"][ids] + emb["pos"][:n][None, :, :] + emb["type"][0][None, None, :]
    return _layer_norm(x, emb["ln_g"], emb["ln_b"], cfg.layer_norm_eps)


@functools.partial(jax.jit, static_argnames=("cfg", "causal", "attention"))
def _forward(params: dict[str, Any], ids: jax.Array, mask: jax.Array, *, cfg: BertConfig, causal: bool, attention: bool) -> BertOutputs:
    x = _embed(cfg, params["emb"], ids)
    x, per_layer = jax.lax.scan(lambda c, p: _layer(cfg, causal, attention, c, mask, p), x, params["layers"])
    if not attention:
        return BertOutputs(None, None, None, None, None, None, x, mask)
    s, prob, q, k, v, o = per_layer
    return BertOutputs(s, prob, q, k, v, o, x, mask)


def as_ids_and_mask(input_ids: Any, attention_mask: Any) -> tuple[jax.Array, jax.Array]:
    """``(ids, mask)`` as arrays; ``TypeError``/``ValueError`` naming the argument for ids that are not
    numbers (``"abc"``) and for a mask with NaN/inf (its entries are read as "nonzero = valid")."""
    for name, x in (("input_ids", input_ids), ("attention_mask", attention_mask)):
        if x is not None and is_concrete(x) and not isinstance(x, jax.Array):
            a = np.asarray(x)
            if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
                raise TypeError(f"{name} must be an array of numbers, got dtype {a.dtype}")
    ids = jnp.asarray(input_ids)
    mask = jnp.ones(ids.shape, bool) if attention_mask is None else jnp.asarray(attention_mask)
    if is_concrete(mask) and jnp.issubdtype(mask.dtype, jnp.inexact) and not bool(jnp.isfinite(mask).all()):
        raise ValueError("attention_mask has a NaN or infinite entry (use 1 for valid tokens, 0 for padding)")
    return ids, mask


def _check_inputs(model: BertModel, ids: Any, mask: Any) -> None:
    cfg = model.config
    if ids.ndim != 2 or mask.shape != ids.shape:
        raise ValueError(f"input_ids must be [B, n] and attention_mask the same shape; got {ids.shape} and {mask.shape}")
    if ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError(f"input_ids must hold at least one sequence of at least one token, got shape {ids.shape}")
    if ids.shape[1] > cfg.max_positions:
        raise ValueError(f"input_ids has sequence length {ids.shape[1]}, which exceeds the model's max_positions = "
                         f"{cfg.max_positions} (tokenize(..., max_len) truncates with a warning; bert_forward rejects)")
    if isinstance(ids, jax.core.Tracer) or isinstance(mask, jax.core.Tracer):
        return
    i, m = np.asarray(ids), np.asarray(mask)
    if not np.issubdtype(i.dtype, np.integer):
        raise ValueError(f"input_ids must be integers, got dtype {i.dtype}")
    bad = np.argwhere((i < 0) | (i >= cfg.vocab_size))
    if bad.size:
        raise ValueError(f"input_ids[{tuple(bad[0])}] = {i[tuple(bad[0])]} is outside the vocabulary [0, {cfg.vocab_size})")
    empty = np.flatnonzero(~np.asarray(m, bool).any(axis=1))
    if empty.size:
        raise ValueError(f"attention_mask row {int(empty[0])} has no valid token")


def bert_forward(model: BertModel, input_ids: ArrayLike, attention_mask: ArrayLike | None = None, *,
                 causal: bool = False, attention: bool = True) -> BertOutputs:
    r"""Run the encoder and return every layer's attention (see :class:`BertOutputs`).

    **Arguments:**

    - ``input_ids`` ``[B, n]`` integer token ids (from :func:`attention.tokenize`), $n\le$
      ``config.max_positions`` (longer input is rejected with ``ValueError``).
    - ``attention_mask`` ``[B, n]``, nonzero for valid tokens (default: all valid). Masked keys
      get logit $-\infty$ and probability 0; masked query rows are still computed.
    - ``causal``: also mask future keys ($j>i$), for studying decoder-style attention rows.
    - ``attention``: ``False`` skips the per-layer outputs (only ``hidden``), for throughput.

    **Raises:** ``TypeError`` for an MPNet or Gemma model (use :func:`mpnet_forward`,
    :func:`gemma_forward` or the model-independent :func:`attention.forward`).

    **Dtype:** everything is computed in ``model.dtype`` (float32 by default; cast ``logits`` to
    float64 before certifying Top-k: the cast is exact).

    Example::

        ids, mask = tokenize(model, ["a tiny example"], max_len=16)
        out = bert_forward(model, ids, mask)
        out.probs.shape   # (6, 1, 12, n, n)
    """
    from .kinds import check_model

    check_model(model, "bert", "bert_forward")
    causal, attention = check_bool(causal, "causal"), check_bool(attention, "attention")
    ids, mask = as_ids_and_mask(input_ids, attention_mask)
    _check_inputs(model, ids, mask)
    return _forward(model.params, ids.astype(jnp.int32), mask.astype(bool), cfg=model.config, causal=causal, attention=attention)
