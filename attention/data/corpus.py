r"""A deterministic corpus of real English text available offline: Python standard-library docstrings.

Every Python install ships its standard library as source. :func:`stdlib_docstrings` reads the
``.py`` files of ``sysconfig.get_paths()["stdlib"]`` in sorted path order (skipping tests,
private ``_modules``, demos, ``site-packages``), parses them with :mod:`ast` (nothing is
imported, so no side effects), and yields the module, class and function docstrings of at
least ``min_chars`` characters in a fixed traversal order. :func:`text_corpus` WordPiece-
tokenizes that stream and cuts it into consecutive chunks ``[CLS] t_1 .. t_{n-2} [SEP]``.
:func:`file_chunks` instead takes **one chunk per source file** (the first $n-2$ tokens of the file's
docstrings), so that chunks are independent units for a statistic (consecutive chunks of one
docstring stream share files, topics and style).

Determinism: the same Python version and tokenizer give the same chunks in every run (no
randomness, no hashing of sets; the file list is sorted). Other Python versions ship other
docstrings, hence other (equally real) chunks.
"""

from __future__ import annotations

import ast
import dataclasses
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..models.bert_load import BertModel

__all__ = ["stdlib_docstrings", "text_corpus", "file_chunks", "FileChunks"]

_SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idlelib", "turtledemo", "lib2to3",
              "__pycache__", "ensurepip", "tkinter", "unittest", "pydoc_data"}
_NODES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
_CACHE: dict[str, list[int]] = {}


def _stdlib_files(root: Path) -> list[Path]:
    out = []
    for f in root.rglob("*.py"):
        parts = f.relative_to(root).parts
        if any(p in _SKIP_DIRS or p.startswith(("_", "test", "config-")) for p in parts):
            continue
        out.append(f)
    return sorted(out, key=lambda f: f.relative_to(root).as_posix())


def _prose(doc: str) -> bool:
    """Mostly letters and spaces (drops ASCII-art diagrams and tables)."""
    return sum(c.isalpha() or c == " " for c in doc) >= 0.8 * len(doc)


def stdlib_docstrings(min_chars: int = 200, *, root: str | Path | None = None) -> Iterator[tuple[str, str]]:
    """Yield ``(relative_path, docstring)`` for the standard library (or the package tree ``root``), in a fixed order.

    Paragraphs with less than 80% letters and spaces (diagrams, tables, code) are dropped, and
    docstrings left shorter than ``min_chars`` (one-liners like "Return self.") are skipped, so
    the corpus is mostly prose.
    """
    root = Path(sysconfig.get_paths()["stdlib"]) if root is None else Path(root)
    for f in _stdlib_files(root):
        try:
            tree = ast.parse(f.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        nodes = [tree] + [nd for nd in ast.walk(tree) if isinstance(nd, _NODES[1:])]
        for nd in nodes:
            doc = ast.get_docstring(nd, clean=True)
            if doc and len(doc) >= min_chars:
                text = "\n\n".join(par for par in doc.split("\n\n") if _prose(par))
                if len(text) >= min_chars:
                    yield f.relative_to(root).as_posix(), text


def _token_stream(model: BertModel, n_needed: int) -> list[int]:
    key = str(model.path)
    stream = _CACHE.get(key)
    if stream is not None and len(stream) >= n_needed:
        return stream
    stream, batch = [], []
    docs = stdlib_docstrings()
    while len(stream) < n_needed:
        batch = [doc for _, (_, doc) in zip(range(64), docs)]
        if not batch:
            break
        for enc in model.tokenizer.encode_batch(batch, add_special_tokens=False):
            stream.extend(enc.ids)
    _CACHE[key] = stream
    return stream


def text_corpus(model: BertModel, n_tokens: int, count: int) -> np.ndarray:
    """``count`` consecutive chunks of standard-library docstrings, each exactly ``n_tokens`` ids.

    Chunk $c$ is ``[CLS]`` + stream tokens $[c(n-2),(c+1)(n-2))$ + ``[SEP]``, so no chunk is
    padded (the attention mask is all ones). ``n_tokens`` in ``[3, max_positions]``
    (128, 256, 512 in the experiments).

    **Returns:** ``input_ids`` ``[count, n_tokens]`` int32 (numpy).

    Example::

        ids = text_corpus(model, 128, 4)    # 4 real-text sequences of 128 tokens
    """
    if not 3 <= n_tokens <= model.config.max_positions:
        raise ValueError(f"n_tokens must be in [3, {model.config.max_positions}], got {n_tokens}")
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    body = n_tokens - 2
    stream = _token_stream(model, body * count)
    if len(stream) < body * count:
        raise ValueError(f"the standard-library corpus has only {len(stream)} tokens, {body * count} needed")
    chunks = np.asarray(stream[: body * count], dtype=np.int32).reshape(count, body)
    cls = np.full((count, 1), model.cls_id, np.int32)
    sep = np.full((count, 1), model.sep_id, np.int32)
    return np.concatenate([cls, chunks, sep], axis=1)


@dataclasses.dataclass(frozen=True)
class FileChunks:
    """``input_ids`` ``[count, n_tokens]`` int32, one chunk per file, and the ``files`` (stdlib-relative paths)
    they come from, in the same order; ``eligible``: how many files had enough tokens."""

    input_ids: np.ndarray
    files: tuple[str, ...]
    eligible: int


_FILE_CACHE: dict[str, list[tuple[str, list[int]]]] = {}


def _file_streams(model: BertModel, n_needed: int) -> list[tuple[str, list[int]]]:
    """Per file (sorted order), its docstrings' token ids concatenated, for files with >= ``n_needed`` tokens
    (the tokenized library is cached per model)."""
    key = str(model.path)
    if key not in _FILE_CACHE:
        by_file: dict[str, list[str]] = {}
        for path, doc in stdlib_docstrings():
            by_file.setdefault(path, []).append(doc)
        _FILE_CACHE[key] = [(path, [t for enc in model.tokenizer.encode_batch(docs, add_special_tokens=False) for t in enc.ids])
                            for path, docs in by_file.items()]
    return [(path, ids) for path, ids in _FILE_CACHE[key] if len(ids) >= n_needed]


def file_chunks(model: BertModel, n_tokens: int, count: int) -> FileChunks:
    r"""``count`` chunks of ``n_tokens`` ids, **one per standard-library file** (independent units).

    The files with at least $n-2$ docstring tokens are listed in sorted path order; the chunks come from
    ``count`` of them evenly spaced over that list (indices $\lfloor j\,E/\text{count}\rfloor$, $E$ eligible
    files), so they span the library rather than one package. Chunk $j$ is ``[CLS]`` + the first $n-2$
    tokens of its file's docstrings + ``[SEP]`` (no padding). Deterministic for a Python version and tokenizer.

    Example::

        fc = file_chunks(model, 512, 16)     # 16 chunks from 16 different files
        fc.input_ids.shape, fc.files[:2]
    """
    if not 3 <= n_tokens <= model.config.max_positions:
        raise ValueError(f"n_tokens must be in [3, {model.config.max_positions}], got {n_tokens}")
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    body = n_tokens - 2
    streams = _file_streams(model, body)
    if len(streams) < count:
        raise ValueError(f"only {len(streams)} standard-library files have {body} docstring tokens, {count} needed")
    picks = [streams[j * len(streams) // count] for j in range(count)]
    chunks = np.asarray([ids[:body] for _, ids in picks], dtype=np.int32)
    cls = np.full((count, 1), model.cls_id, np.int32)
    sep = np.full((count, 1), model.sep_id, np.int32)
    return FileChunks(np.concatenate([cls, chunks, sep], axis=1), tuple(p for p, _ in picks), len(streams))
