r"""One interface to the three real models: :func:`load_model`, :func:`encode`, :func:`forward`.

==================  =======================  =====================  ==================================
name                model                    layers x heads         model-specific functions
==================  =======================  =====================  ==================================
``"minilm"``        MiniLM-L6 (BERT)         6 x 12                 :func:`load_bert`, :func:`bert_forward`
``"mpnet"``         all-mpnet-base-v2        12 x 12                :func:`load_mpnet`, :func:`mpnet_forward`
``"gemma-3-270m"``  Gemma 3 270M (GGUF)      18 x 4 (1 KV head)     :func:`load_gemma`, :func:`gemma_forward`
==================  =======================  =====================  ==================================

:func:`forward` returns :class:`ModelOutputs`: the last hidden states and, with ``attention=True``, the
attention probabilities $P^{(\ell,h)}\in[0,1]^{T\times T}$ of every layer $\ell$ and head $h$,
stacked as ``[L, B, H, T, T]``, rows summing to 1 over the keys a query may see. For the encoders
that is the softmax of $QK^\top/\sqrt{d_h}$ (+ MPNet's relative position bias) over the valid keys;
for Gemma it is the causal softmax of $c\,q_hk_{g(h)}^\top$ **after the GQA expansion** (query head
$h$ reads key head $g(h)=\lfloor hH_{kv}/H\rfloor$) with the **sliding-window mask** of the local
layers applied ($0\le i-j<W$), the probabilities the model actually uses.

Example::

    from attnverify.attention import encode, forward, load_model

    model = load_model("mpnet")
    ids, mask = encode(model, ["Attention is all you need."])
    out = forward(model, ids, mask, attention=True)
    out.probs.shape      # (12, 1, 12, T, T)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from attnverify.proofs_numeric.precision import check_bool, check_choice, check_int

from .bert import BertOutputs, as_ids_and_mask, bert_forward
from .bert_load import BertModel
from .bert_text import tokenize
from .gemma import GemmaOutputs, _forward, attend_with_probs, gemma_attention_probs, rms_norm
from .gemma_config import GemmaConfig
from .gemma_load import GemmaModel
from .kinds import model_kind
from .mpnet import mpnet_forward

__all__ = ["MODEL_NAMES", "Model", "ModelOutputs", "encode", "forward", "load_model"]

MODEL_NAMES = ("minilm", "mpnet", "gemma-3-270m")
Model = BertModel | GemmaModel  #: what :func:`load_model` returns (MPNet is a BertModel with an MPNetConfig)


class ModelOutputs(NamedTuple):
    r"""What :func:`forward` returns for every model ($L$ layers, $B$ sequences, $H$ query heads, $T$ tokens,
    model width $D$):

    - ``hidden`` ``[B, T, D]``: the last hidden states (encoders: the last layer's output; Gemma: after
      the final RMSNorm, the states the tied output layer reads);
    - ``mask`` ``[B, T]`` bool: valid tokens;
    - ``probs`` ``[L, B, H, T, T]`` attention probabilities with ``attention=True``, else None;
    - ``raw``: the model-specific output (:class:`BertOutputs` or :class:`GemmaOutputs`: logits, q, k, v,
      per-layer residuals, ...).
    """

    hidden: jax.Array
    mask: jax.Array
    probs: jax.Array | None
    raw: BertOutputs | GemmaOutputs


def load_model(name: str, *, dtype: Any = jnp.float32) -> Model:
    """Load ``"minilm"``, ``"mpnet"`` or ``"gemma-3-270m"`` from its installed weight package (offline).

    Returns the model-specific object (:class:`BertModel` or :class:`GemmaModel`), which every
    model-specific function of its family accepts. ``ValueError`` for another name."""
    check_choice(name, MODEL_NAMES, "name")
    if name == "minilm":
        from .bert_load import load_bert

        return load_bert(dtype=dtype)
    if name == "mpnet":
        from .mpnet_load import load_mpnet

        return load_mpnet(dtype=dtype)
    from .gemma_load import load_gemma

    return load_gemma(dtype=dtype)


def encode(model: Model, texts: Sequence[str], max_len: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Tokenize ``texts`` for ``model``: ``(input_ids, attention_mask)``, both ``[B, T]`` int32, padded on
    the right (encoders: ``[CLS] ... [SEP]``; Gemma: ``<bos> ...``). ``max_len`` truncates (encoders:
    with a warning, as :func:`tokenize`; Gemma: to ``max_len`` tokens)."""
    if model_kind(model) != "gemma":
        return tokenize(model, texts, max_len)
    if isinstance(texts, str) or not texts:
        raise ValueError("texts must be a non-empty sequence of strings (not one string)")
    if model.tokenizer is None:
        raise ValueError("this Gemma model was loaded without a tokenizer (load_gemma(tokenizer=True))")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"texts must be strings: texts[{bad[0]}] is {type(texts[bad[0]]).__name__}")
    if max_len is not None:
        max_len = check_int(max_len, "max_len", minimum=1, maximum=model.config.context_length)
    rows = [e.ids[:max_len] for e in model.tokenizer.encode_batch(list(texts))]
    T = max(len(r) for r in rows)
    ids, mask = np.zeros((len(rows), T), np.int32), np.zeros((len(rows), T), np.int32)
    for i, r in enumerate(rows):
        ids[i, : len(r)], mask[i, : len(r)] = r, 1
    return ids, mask


def _gemma_with_probs(params: Any, ids: jax.Array, *, cfg: GemmaConfig) -> tuple[GemmaOutputs, jax.Array]:
    """Gemma's forward with every layer's probabilities recorded while tracing (the attention function
    of each layer is :func:`gemma_attention` split into its probabilities and their use)."""
    probs: list[jax.Array] = []

    def attend(a: Any) -> jax.Array:
        p = gemma_attention_probs(a)
        probs.append(p)
        return attend_with_probs(p, a.v)

    override = tuple((layer, attend) for layer in range(cfg.num_layers))
    out = _forward(params, ids, cfg=cfg, return_hidden=True, override=override, hook=None)
    return out, jnp.stack(probs)


_gemma_with_probs_jit = jax.jit(_gemma_with_probs, static_argnames=("cfg",))
_gemma_hidden_jit = jax.jit(lambda params, ids, cfg: _forward(params, ids, cfg=cfg, return_hidden=True, override=(), hook=None),
                            static_argnames=("cfg",))


def _gemma(model: Any, ids: ArrayLike, mask: ArrayLike | None, attention: bool) -> ModelOutputs:
    from .gemma import check_ids

    a = check_ids(ids, model.config, "input_ids")
    m = np.ones(a.shape, bool) if mask is None else np.asarray(as_ids_and_mask(a, mask)[1]).astype(bool)
    if m.shape != a.shape:
        raise ValueError(f"attention_mask must have the shape of input_ids {tuple(a.shape)}, got {m.shape}")
    if (m[:, 1:] & ~m[:, :-1]).any() or not m[:, 0].all():
        raise ValueError("attention_mask: Gemma is causal, so padding must be on the right (each row 1...1 0...0, "
                         "starting with a valid token)")
    if attention:
        raw, probs = _gemma_with_probs_jit(model.params, a, cfg=model.config)
    else:
        raw, probs = _gemma_hidden_jit(model.params, a, model.config), None
    hidden = rms_norm(raw.residuals[-1], model.params["final_norm"], model.config.rms_eps)
    return ModelOutputs(hidden, jnp.asarray(m), probs, raw)


def forward(model: Model, input_ids: ArrayLike, attention_mask: ArrayLike | None = None, *, attention: bool = False) -> ModelOutputs:
    r"""Run any of the three models on ``input_ids`` ``[B, T]`` (from :func:`encode`) with one signature.

    ``attention_mask`` ``[B, T]``, nonzero on valid tokens (default: all valid; for Gemma, padding on the
    right only). ``attention=True`` also returns every layer's and head's probabilities (see
    :class:`ModelOutputs`). Computed in the model's dtype. ``TypeError`` for an object that is not
    one of the three models; ``ValueError`` naming the argument for malformed ids or mask."""
    kind = model_kind(model)
    attention = check_bool(attention, "attention")
    if kind == "gemma":
        return _gemma(model, input_ids, attention_mask, attention)
    fn = mpnet_forward if kind == "mpnet" else bert_forward
    out = fn(model, input_ids, attention_mask, attention=attention)
    return ModelOutputs(out.hidden, out.mask, out.probs if attention else None, out)
