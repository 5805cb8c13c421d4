r"""A deterministic multi-source corpus of English prose available offline, each source hashed.

Sources (:data:`PROSE_SOURCES`), all read from files installed with Python or the ``data`` extra,
nothing imported from them and nothing downloaded:

- ``stdlib-docstrings``: the standard library's module, class and function docstrings
  (:func:`attention.data.stdlib_docstrings`, prose paragraphs of at least 200 characters);
- ``django-docstrings``: the same extraction over the installed ``django`` package's source;
- ``django-msgids``: the English message ids of Django's ``locale/en/LC_MESSAGES/*.po``
  catalogues (user-facing sentences: form errors, admin help texts), in file order, without
  duplicates, keeping messages of at least three words (drops language names and labels), joined
  per catalogue into paragraphs.

:func:`prose_corpus` tokenizes each source into one stream and cuts it into consecutive chunks
``[CLS] t_1 .. t_{n-2} [SEP]`` (no padding). Rows take the sources in turn (row $r$ from source
$r \bmod S$ while every source has text left; an exhausted source passes its turns on), so the
first $m$ rows of a larger corpus are the corpus of $m$ rows and every prefix mixes the sources. Each source is recorded with the SHA-256 of exactly the
texts that were tokenized (UTF-8, joined by a blank line), their count and the package version.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import itertools
import platform
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .corpus import stdlib_docstrings
from .po_catalogues import parse_po

__all__ = ["PROSE_SOURCES", "ProseCorpus", "django_msgids", "prose_corpus"]


def _django_root() -> Path:
    try:
        import django
    except ImportError as e:
        raise ValueError("the Django prose sources need the package 'django' (the data extra)") from e
    return Path(django.__file__).parent


def django_msgids(min_words: int = 3) -> Iterator[str]:
    """One paragraph per English Django catalogue: its distinct msgids of at least ``min_words`` words."""
    root, seen = _django_root(), set()
    for f in sorted(root.rglob("locale/en/LC_MESSAGES/*.po"), key=lambda p: p.relative_to(root).as_posix()):
        keep = []
        for m in (e.msgid for e in parse_po(f.read_text(encoding="utf-8"), str(f))):
            m = " ".join(m.split())
            if len(m.split()) >= min_words and m not in seen:
                seen.add(m)
                keep.append(m)
        if keep:
            yield " ".join(keep)


def _versions() -> dict[str, str]:
    import django

    return {"python": platform.python_version(), "django": django.__version__}


PROSE_SOURCES: dict[str, Callable[[], Iterator[str]]] = {
    "stdlib-docstrings": lambda: (d for _, d in stdlib_docstrings()),
    "django-docstrings": lambda: (d for _, d in stdlib_docstrings(root=_django_root())),
    "django-msgids": django_msgids,
}


@dataclasses.dataclass(frozen=True)
class ProseCorpus:
    """``input_ids`` ``[count, n]`` int32; ``source[r]`` names row ``r``'s source; per source:
    ``sha256`` of the tokenized texts, ``texts`` and ``tokens`` used; ``versions`` of Python and Django."""

    input_ids: np.ndarray
    source: tuple[str, ...]
    sha256: dict[str, str]
    texts: dict[str, int]
    tokens: dict[str, int]
    versions: dict[str, str]

    def record(self) -> dict[str, Any]:
        """JSON-able provenance (no token ids)."""
        return {"sources": {s: {"sha256": self.sha256[s], "texts": self.texts[s], "tokens": self.tokens[s],
                                "rows": self.source.count(s)} for s in self.sha256}, "versions": self.versions}


_STREAMS: dict[tuple[str, str], dict[str, Any]] = {}


def _stream(model: Any, source: str, n_needed: int) -> dict[str, Any]:
    st = _STREAMS.setdefault((str(model.path), source), {"ids": [], "ends": [], "texts": [], "it": PROSE_SOURCES[source]()})
    while len(st["ids"]) < n_needed and st["it"] is not None:
        batch = list(itertools.islice(st["it"], 16))
        if not batch:
            st["it"] = None
            break
        for text, enc in zip(batch, model.tokenizer.encode_batch(batch, add_special_tokens=False)):
            st["ids"].extend(enc.ids)
            st["ends"].append(len(st["ids"]))
            st["texts"].append(text)
    return st


def prose_corpus(model: Any, n_tokens: int, count: int, sources: Sequence[str] = tuple(PROSE_SOURCES)) -> ProseCorpus:
    """``count`` chunks of exactly ``n_tokens`` ids, round-robin over ``sources`` (see the module doc).

    ``model`` is any loaded encoder with a ``tokenizer`` and ``cls_id``/``sep_id``
    (:func:`attention.load_bert`, :func:`attention.load_mpnet`).

    Example::

        c = prose_corpus(model, 128, 64)
        c.input_ids.shape, c.sha256["django-msgids"]
    """
    if not 3 <= n_tokens <= model.config.max_positions:
        raise ValueError(f"n_tokens must be in [3, {model.config.max_positions}], got {n_tokens}")
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    sources = tuple(sources)
    unknown = [s for s in sources if s not in PROSE_SOURCES]
    if not sources or unknown or len(set(sources)) != len(sources):
        raise ValueError(f"sources must be distinct names from {list(PROSE_SOURCES)}, got {list(sources)}")
    body, S = n_tokens - 2, len(sources)
    rows = np.empty((count, n_tokens), np.int32)
    rows[:, 0], rows[:, -1] = model.cls_id, model.sep_id
    used, live, owner, turn = dict.fromkeys(sources, 0), list(sources), [], 0
    for r in range(count):
        while live:
            src = live[turn % len(live)]
            st = _stream(model, src, (used[src] + 1) * body)
            if len(st["ids"]) >= (used[src] + 1) * body:
                break
            live.remove(src)  # exhausted: its turns pass to the next sources, so row r never depends on rows > r
        else:
            raise ValueError(f"the sources {list(sources)} hold fewer than {count} chunks of {n_tokens} tokens")
        rows[r, 1:-1] = st["ids"][used[src] * body: (used[src] + 1) * body]
        used[src] += 1
        owner.append(src)
        turn = live.index(src) + 1
    sha, texts = {}, {}
    for src in sources:
        st = _STREAMS.get((str(model.path), src), {"ends": [], "texts": []})  # a source not reached by `count` rows
        n_texts = bisect.bisect_left(st["ends"], used[src] * body) + 1 if used[src] else 0
        sha[src] = hashlib.sha256("\n\n".join(st["texts"][:n_texts]).encode("utf-8")).hexdigest()
        texts[src] = n_texts
    return ProseCorpus(rows, tuple(owner), sha, texts, {s: used[s] * body for s in sources}, _versions())
