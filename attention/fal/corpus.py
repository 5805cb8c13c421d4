r"""The offline character corpus of spec ``fal.md`` O6: the interpreter's standard-library ``.py`` files.

Files under ``sysconfig.get_paths()["stdlib"]`` ending in ``.py``, excluding any path with a
``test``/``tests``, ``site-packages`` or ``dist-packages`` component, sorted by their relative
POSIX path. Each file's text is decoded as UTF-8 (undecodable bytes replaced) and mapped to
character ids: ASCII code point $c<128$ keeps its id, every other character becomes id 0 (NUL,
absent from source files), so $V=128$. File $j$ (0-based, sorted order) is a validation file when
$j\bmod 10=0$, else a training file; each split is the concatenation of its files.

The record (:class:`CharCorpus`) carries the SHA-256 of the concatenation of all files' bytes
in sorted order, each preceded by its relative path and a NUL, so that a different Python
version (another standard library) is visible in every report. Nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import sysconfig
from pathlib import Path

import numpy as np

__all__ = ["CharCorpus", "char_corpus", "VOCAB"]

VOCAB = 128
_EXCLUDE = {"test", "tests", "site-packages", "dist-packages"}


@dataclasses.dataclass(frozen=True)
class CharCorpus:
    """Training and validation character ids (``uint8``, values $<128$) and the corpus record."""

    train: np.ndarray
    val: np.ndarray
    sha256: str
    n_files: int
    n_chars: int
    root: str

    def record(self) -> dict:
        """JSON-serialisable description: source, file count, sizes, SHA-256."""
        return {"source": f"standard-library .py files under {self.root} (O6), sorted by path, "
                          "excluding test/, tests/, site-packages/, dist-packages/",
                "sha256": self.sha256, "n_files": self.n_files, "n_chars": self.n_chars,
                "train_chars": int(self.train.size), "val_chars": int(self.val.size), "vocab": VOCAB,
                "split": "file j (sorted) is validation iff j % 10 == 0"}


def _ids(text: str) -> np.ndarray:
    a = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return np.where(a < VOCAB, a, 0).astype(np.uint8)


@functools.lru_cache(maxsize=2)
def char_corpus(root: str | None = None) -> CharCorpus:
    """Read, hash and split the corpus (cached per ``root``; default: this interpreter's stdlib)."""
    base = Path(root or sysconfig.get_paths()["stdlib"])
    if not base.is_dir():
        raise ValueError(f"root must be a directory, got {base}")
    files = sorted((f for f in base.rglob("*.py") if not _EXCLUDE & set(f.relative_to(base).parts[:-1])),
                   key=lambda f: f.relative_to(base).as_posix())
    if not files:
        raise ValueError(f"root {base} holds no .py files")
    digest = hashlib.sha256()
    parts: tuple[list, list] = ([], [])
    n_chars = 0
    for j, f in enumerate(files):
        raw = f.read_bytes()
        digest.update(f.relative_to(base).as_posix().encode() + b"\0" + raw)
        ids = _ids(raw.decode("utf-8", errors="replace"))
        n_chars += ids.size
        parts[0 if j % 10 else 1].append(ids)
    return CharCorpus(np.concatenate(parts[0]), np.concatenate(parts[1]), digest.hexdigest(), len(files), n_chars, str(base))
