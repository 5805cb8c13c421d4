r"""Text in, token ids out; sentence embeddings by masked mean pooling.

**Long text (documented choice): truncate with a warning.** :func:`tokenize` keeps the first
``max_len - 2`` WordPiece tokens between ``[CLS]`` and ``[SEP]`` (Hugging Face's
``truncation=True``) and emits one :class:`UserWarning` naming how many texts were cut;
``max_len`` itself may not exceed the model's position table (``ValueError``).
:func:`attention.bert_forward` never truncates: it rejects ids longer than the position table.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from attnverify.proofs_numeric.precision import check_bool, check_int, is_concrete

from .bert import bert_forward
from .bert_load import BertModel

__all__ = ["tokenize", "mean_pool", "sentence_embedding"]


def tokenize(model: BertModel, texts: Sequence[str], max_len: int | None = None, *, pad_to_max_len: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """WordPiece-tokenize ``texts`` to ``([CLS] tokens [SEP], padding)``.

    **Arguments:** ``max_len`` (default: the model's ``max_positions``) bounds the length,
    special tokens included; longer texts are truncated with a warning. Rows are padded with
    ``[PAD]`` to the longest row, or to ``max_len`` when ``pad_to_max_len``.

    **Returns:** ``input_ids`` ``[B, n]`` int32 and ``attention_mask`` ``[B, n]`` int32 (1 = token).
    """
    from .kinds import model_kind

    if model_kind(model) == "gemma":
        raise TypeError("tokenize: model must be a BERT or MPNet encoder; for Gemma use attnverify.attention.encode(...) or model.tokenizer")
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of strings, not one string")
    if not texts:
        raise ValueError("texts is empty")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"texts must be strings: texts[{bad[0]}] is {type(texts[bad[0]]).__name__}")
    cap = model.config.max_positions
    max_len = cap if max_len is None else check_int(max_len, "max_len", minimum=2, maximum=cap)
    bodies = [e.ids for e in model.tokenizer.encode_batch(list(texts), add_special_tokens=False)]
    cut = [i for i, b in enumerate(bodies) if len(b) > max_len - 2]
    if cut:
        warnings.warn(f"{len(cut)} of {len(bodies)} texts longer than max_len={max_len} tokens were truncated "
                      f"(first: text {cut[0]}, {len(bodies[cut[0]]) + 2} tokens)", UserWarning, stacklevel=2)
    rows = [[model.cls_id, *b[: max_len - 2], model.sep_id] for b in bodies]
    n = max_len if check_bool(pad_to_max_len, "pad_to_max_len") else max(len(r) for r in rows)
    ids = np.full((len(rows), n), model.pad_id, dtype=np.int32)
    mask = np.zeros((len(rows), n), dtype=np.int32)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


def mean_pool(hidden: Any, mask: Any) -> jax.Array:
    r"""Masked mean over tokens then L2 normalisation: $e=\bar h/\|\bar h\|_2$, $\bar h=\sum_i m_ih_i/\sum_im_i$.

    ``hidden`` ``[B, n, D]``, ``mask`` ``[B, n]`` -> ``[B, D]`` in ``hidden``'s dtype. A row whose mask sums
    to 0 has no mean: ``ValueError`` naming ``mask`` for a concrete mask; under ``jit``/``vmap`` (traced mask)
    that row is NaN (documented, never a silent zero vector).
    """
    hidden = jnp.asarray(hidden)
    if hidden.ndim != 3 or np.shape(mask) != hidden.shape[:2]:
        raise ValueError(f"hidden must be [B, n, D] and mask [B, n]; got shapes {hidden.shape} and {np.shape(mask)}")
    m = jnp.asarray(mask).astype(hidden.dtype)[:, :, None]
    total = jnp.sum(m, axis=1)
    if is_concrete(total) and bool((total == 0).any()):
        raise ValueError(f"mask row {int(np.flatnonzero(np.asarray(total[:, 0]) == 0)[0])} sums to 0 (no valid token): its mean is undefined")
    mean = jnp.sum(hidden * m, axis=1) / total  # 0/0 = NaN on an empty row under jit
    return mean / jnp.maximum(jnp.linalg.norm(mean, axis=-1, keepdims=True), 1e-12)


def sentence_embedding(model: BertModel, texts: Sequence[str], *, max_len: int = 256) -> jax.Array:
    """Sentence-transformers embedding of ``texts``: mean-pooled final hidden states, L2-normalised.

    ``max_len=256`` is all-MiniLM-L6-v2's ``max_seq_length``. Returns ``[B, D]``; cosine
    similarity of two texts is the dot product of their rows.

    Example::

        e = sentence_embedding(model, ["A cat sits.", "A kitten is sitting."])
        float(e[0] @ e[1])   # close to 1 for paraphrases
    """
    ids, mask = tokenize(model, texts, max_len)
    out = bert_forward(model, ids, mask, attention=False)
    return mean_pool(out.hidden, mask)
