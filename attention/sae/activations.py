r"""A disk cache of residual-stream activations, so that SAE training and feature selection never rerun
the model.

An entry is keyed by $\mathrm{SHA256}(\text{model hash}\,\|\,\text{corpus hash}\,\|\,\ell\,\|\,\text{tag})$ and
stored as one ``.npy`` file written atomically (:func:`proofs_numeric.io.atomic_write_bytes`): a crash
leaves either no entry or a whole one. The directory is ``$ATTNVERIFY_CACHE/sae_steering`` (default
``~/.cache/attnverify/sae_steering``).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from attnverify.proofs_numeric.io import atomic_write_bytes

__all__ = ["cache_dir", "cache_key", "cached_array", "array_sha256"]


def cache_dir() -> Path:
    """``$ATTNVERIFY_CACHE/sae_steering`` or ``~/.cache/attnverify/sae_steering``."""
    root = os.environ.get("ATTNVERIFY_CACHE") or str(Path.home() / ".cache" / "attnverify")
    return Path(root) / "sae_steering"


def array_sha256(*arrays) -> str:
    """SHA-256 over the dtypes, shapes and bytes of ``arrays`` (a model or corpus fingerprint)."""
    h = hashlib.sha256()
    for i, a in enumerate(arrays):
        a = np.ascontiguousarray(np.asarray(a))
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise TypeError(f"arrays[{i}] must be a numeric array, got dtype {a.dtype}")
        h.update(f"{a.dtype.str}{a.shape}".encode() + a.tobytes())
    return h.hexdigest()


def cache_key(model_hash: str, corpus_hash: str, layer: int | str, tag: str = "resid_post") -> str:
    """The entry name: SHA-256 of the four parts (each must be a non-empty string or an int)."""
    for name, v in (("model_hash", model_hash), ("corpus_hash", corpus_hash), ("tag", tag)):
        if not isinstance(v, str) or not v:
            raise ValueError(f"{name} must be a non-empty string, got {v!r}")
    return hashlib.sha256(f"{model_hash}|{corpus_hash}|{layer}|{tag}".encode()).hexdigest()[:32]


def cached_array(key: str, compute: Callable[[], np.ndarray], directory: str | Path | None = None) -> np.ndarray:
    """The array stored under ``key``, computing and storing it first if absent (or unreadable)."""
    if not isinstance(key, str) or not key or "/" in key or key.startswith("."):
        raise ValueError(f"key must be a non-empty file-name string (cache_key(...)), got {key!r}")
    if not callable(compute):
        raise TypeError(f"compute must be a function compute() -> array, got {type(compute).__name__}")
    path = Path(directory or cache_dir()) / f"{key}.npy"
    if path.exists():
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError):
            pass  # a foreign or damaged file: recompute and replace it
    arr = np.asarray(compute())
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())
    return arr
