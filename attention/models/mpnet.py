r"""The MPNet encoder forward pass in pure JAX (``all-mpnet-base-v2``), sharing BERT's layer.

MPNet (Song et al., 2020, arXiv:2004.09297) runs the same post-LN layer as BERT
(:mod:`attention.models.bert`), with two differences, both taken from the published implementation
(Hugging Face ``transformers/models/mpnet/modeling_mpnet.py``: ``create_position_ids_from_input_ids``,
``MPNetEncoder.compute_position_bias`` and ``relative_position_bucket``, itself T5's; the same code is
in fairseq's MPNet) and from the checkpoint's ``config.json``:

- **Absolute positions offset by the padding index** $p=$ ``pad_token_id`` $=1$: token $t$ of a row
  gets position $p+\#\{t'\le t:\text{id}_{t'}\neq p\}$ and padding tokens get $p$, so the first token
  uses row 2 of the 514-row table; there is no token-type embedding:
  $X_0=\mathrm{LN}(E_{\rm word}[\text{id}]+E_{\rm pos}[\text{pos}])$.
- **A relative position bias shared by all layers**, computed once per forward from query position
  $i$ and key position $j$ (plain indices $0..n-1$, as the reference does): with $r=j-i$, 32 buckets
  and maximum distance 128, $\beta(r)=16\,[r>0]+b(|r|)$ where $b(m)=m$ for $m<8$ and
  $b(m)=\min(15,\ 8+\lfloor 8\log(m/8)/\log 16\rfloor)$ otherwise; every layer's logits are
  $$S^h_{ij}=\frac{\langle q^h_i,k^h_j\rangle}{\sqrt{d_h}}+W_{\rm rel}[\beta(j-i),h]
  \quad(\text{masked keys}=-\infty),$$
  and these biased logits are what the Top-k theory (``topk_tv`` §1) calls $s$.

The bucket table is evaluated on the host in float32, as the reference evaluates it;
:func:`relative_position_bucket` documents the integer form it equals.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

from attnverify.proofs_numeric.precision import check_bool, check_int

from .bert import BertOutputs, _check_inputs, as_ids_and_mask, _layer, _layer_norm, bert_forward
from .bert_load import BertModel
from .bert_text import mean_pool, tokenize
from .mpnet_load import MPNetConfig

__all__ = ["encoder_forward", "mpnet_forward", "mpnet_position_ids", "mpnet_sentence_embedding", "relative_position_bucket"]


def relative_position_bucket(relative_position: ArrayLike, num_buckets: int = 32, max_distance: int = 128) -> np.ndarray:
    r"""T5/MPNet bucket $\beta(r)$ of relative positions $r=j-i$ (integer array of any shape).

    Half the buckets are for keys after the query ($r>0$), half for keys at or before it; within a
    half, distances $m<$ ``num_buckets // 4`` get their own bucket and larger ones are spaced
    logarithmically up to ``max_distance``. Evaluated in float32 like the reference; for the defaults
    this equals the integer form $b(m)=8+\lfloor\log_2(m^2/64)\rfloor$ capped at 15 (a test checks it).
    """
    r = np.asarray(relative_position)
    if not np.issubdtype(r.dtype, np.integer):
        raise TypeError(f"relative_position must be integers, got dtype {r.dtype}")
    check_int(num_buckets, "num_buckets", minimum=4)
    check_int(max_distance, "max_distance", minimum=num_buckets // 4 + 1)
    half = num_buckets // 2
    exact = half // 2
    m = np.abs(r).astype(np.int64)
    big = np.log(np.maximum(m, 1).astype(np.float32) / np.float32(exact)) / np.float32(math.log(max_distance / exact))
    large = np.minimum(exact + (big * np.float32(half - exact)).astype(np.int64), half - 1)
    return np.where(r > 0, half, 0) + np.where(m < exact, m, large)


def mpnet_position_ids(input_ids: ArrayLike, padding_idx: int = 1) -> jax.Array:
    r"""MPNet's absolute positions: $p+\mathrm{cumsum}(\text{id}\neq p)$ on tokens, $p$ on padding."""
    check_int(padding_idx, "padding_idx", minimum=0)
    ids = jnp.asarray(input_ids)
    if not jnp.issubdtype(ids.dtype, jnp.integer):
        raise TypeError(f"input_ids must be integer token ids, got dtype {ids.dtype}")
    tok = (ids != padding_idx).astype(jnp.int32)
    return jnp.cumsum(tok, axis=1) * tok + padding_idx


@functools.partial(jax.jit, static_argnames=("cfg", "causal", "attention"))
def _forward(params: dict[str, Any], ids: jax.Array, mask: jax.Array, *, cfg: MPNetConfig, causal: bool,
             attention: bool) -> BertOutputs:
    emb, n = params["emb"], ids.shape[1]
    x = emb["word"][ids] + emb["pos"][mpnet_position_ids(ids, cfg.padding_idx)]
    x = _layer_norm(x, emb["ln_g"], emb["ln_b"], cfg.layer_norm_eps)
    rel = np.arange(n)[None, :] - np.arange(n)[:, None]  # key j minus query i
    bucket = relative_position_bucket(rel, cfg.relative_attention_num_buckets, cfg.relative_attention_max_distance)
    bias = jnp.transpose(params["rel_bias"][bucket], (2, 0, 1))  # [H, n, n], once for all layers
    x, per_layer = jax.lax.scan(lambda c, p: _layer(cfg, causal, attention, c, mask, p, bias), x, params["layers"])
    if not attention:
        return BertOutputs(None, None, None, None, None, None, x, mask)
    return BertOutputs(*per_layer, x, mask)


def mpnet_forward(model: BertModel, input_ids: ArrayLike, attention_mask: ArrayLike | None = None, *,
                  causal: bool = False, attention: bool = True) -> BertOutputs:
    r"""Run MPNet and return every layer's attention, exactly as :func:`attention.bert_forward` does
    for BERT (same :class:`BertOutputs` fields; ``logits`` include the relative position bias).

    ``input_ids`` ``[B, n]`` with $n\le 512$, from :func:`attention.tokenize` on a model from
    :func:`attention.load_mpnet`; ``attention_mask`` ``[B, n]`` (default: every token valid).
    """
    from .kinds import check_model

    check_model(model, "mpnet", "mpnet_forward")
    causal, attention = check_bool(causal, "causal"), check_bool(attention, "attention")
    ids, mask = as_ids_and_mask(input_ids, attention_mask)
    _check_inputs(model, ids, mask)
    return _forward(model.params, ids.astype(jnp.int32), mask.astype(bool), cfg=model.config,
                    causal=causal, attention=attention)


def encoder_forward(model: BertModel, input_ids: ArrayLike, attention_mask: ArrayLike | None = None, **kw: Any) -> BertOutputs:
    """:func:`mpnet_forward` for an MPNet model, :func:`attention.bert_forward` for a BERT one."""
    fn = mpnet_forward if isinstance(getattr(model, "config", None), MPNetConfig) else bert_forward
    return fn(model, input_ids, attention_mask, **kw)


def mpnet_sentence_embedding(model: BertModel, texts: Sequence[str], *, max_len: int = 384) -> jax.Array:
    """all-mpnet-base-v2's sentence embedding: mean-pooled final hidden states, L2-normalised
    (``modules.json``: Transformer, mean Pooling, Normalize; ``max_seq_length`` 384). ``[B, 768]``."""
    ids, mask = tokenize(model, texts, max_len)
    return mean_pool(mpnet_forward(model, ids, mask, attention=False).hidden, mask)
