r"""Which real model an object is, and a clear error when a model reaches another model's function.

Three model families share this package: BERT-style encoders (MiniLM-L6, :func:`load_bert`), MPNet
(all-mpnet-base-v2, :func:`load_mpnet`; a :class:`BertModel` whose config is an :class:`MPNetConfig`,
with relative position buckets and its own positions) and the Gemma 3 decoder (:func:`load_gemma`).
Their forwards differ, so each model-specific function checks its model first
(:func:`check_model`) instead of failing later on a missing weight.
"""

from __future__ import annotations

from typing import Any

from attnverify.proofs_numeric.precision import check_choice

from .bert_load import BertModel
from .gemma_load import GemmaModel
from .mpnet_load import MPNetConfig

__all__ = ["model_kind", "check_model"]

#: kind -> (description, loader, forward)
_KINDS = {
    "bert": ("a BERT encoder such as MiniLM-L6", "load_bert() / load_model('minilm')", "bert_forward"),
    "mpnet": ("an MPNet encoder", "load_mpnet() / load_model('mpnet')", "mpnet_forward"),
    "gemma": ("a Gemma 3 decoder", "load_gemma() / load_model('gemma-3-270m')", "gemma_forward"),
}


def model_kind(model: Any) -> str:
    """``"bert"``, ``"mpnet"`` or ``"gemma"`` for a loaded model; ``TypeError`` for anything else."""
    if isinstance(model, GemmaModel):
        return "gemma"
    if isinstance(model, BertModel):
        return "mpnet" if isinstance(model.config, MPNetConfig) else "bert"
    raise TypeError(f"model must be a model from attnverify.attention.load_model (MiniLM, MPNet or Gemma 3), got {type(model).__name__}")


def check_model(model: Any, kind: str, where: str) -> None:
    """``TypeError`` naming ``where``, what it needs and the function that fits ``model``, unless
    ``model`` is of ``kind`` (``"bert"``, ``"mpnet"`` or ``"gemma"``)."""
    check_choice(kind, tuple(_KINDS), "kind")
    got = model_kind(model)
    if got != kind:
        need, loader, _ = _KINDS[kind]
        have, _, fits = _KINDS[got]
        raise TypeError(f"{where}: model must be {need} (from {loader}), got {have}; use {fits}(...) or the "
                        "model-independent attnverify.attention.forward(...) for it")
