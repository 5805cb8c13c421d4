r"""Parallel English <-> target-language text from Django's translation catalogues (``.po`` files).

The ``django`` wheel ships gettext catalogues ``django/**/locale/<lang>/LC_MESSAGES/django.po``. Each
entry pairs an English source string (``msgid``) with its translation (``msgstr``). They give both
target-language text and a parallel track for the SAE-steering study (``sae_steering.md`` §5, issue
13 §2), offline and deterministically.

:func:`parse_po` is a small parser of the format (``msgctxt``, ``msgid``, ``msgid_plural``,
``msgstr[n]``, continuation lines, the ``#, fuzzy`` flag and C escapes); no gettext compilation is
needed. :func:`po_pairs` keeps the *single-line* pairs: no plural, not fuzzy, source and translation
each one line (the source of at least ``min_chars`` characters, the translation of at least 2), without format placeholders
(``%(name)s``, ``{0}``) or markup, de-duplicated by source string, in sorted file order.
:func:`catalogue_sha256` hashes the files read (sorted relative paths and their bytes), so every run
records exactly which text it used.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import NamedTuple

__all__ = ["PoEntry", "parse_po", "po_files", "po_pairs", "catalogue_sha256", "LANGUAGES"]

#: Django locale directory -> ISO 639-1 code used by the language identifiers
LANGUAGES = {"zh_Hans": "zh", "ja": "ja", "es": "es", "fr": "fr"}

_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}
_PLACEHOLDER = re.compile(r"%\(|%[sd]|\{[^}]*\}|<[^>]+>|&\w+;|\\n|\n|https?://")


class PoEntry(NamedTuple):
    """One catalogue entry: ``msgid`` (English), ``msgstr`` (translations; one per plural form),
    ``plural`` (the ``msgid_plural`` or ``""``), ``context`` (``msgctxt``), ``fuzzy``, and whether
    source and translation were each written on a single line (``single_line``)."""

    msgid: str
    msgstr: tuple[str, ...]
    plural: str
    context: str
    fuzzy: bool
    single_line: bool


def _unquote(line: str, path: str, lineno: int) -> str:
    s = line.strip()
    if len(s) < 2 or s[0] != '"' or s[-1] != '"':
        raise ValueError(f"{path}:{lineno}: expected a quoted string, got {line!r}")
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), s[1:-1])


def parse_po(text: str, path: str = "<po>") -> list[PoEntry]:
    """Parse the text of a ``.po`` file into entries (the header entry, ``msgid ""``, is dropped).

    ``ValueError`` names the file and line of a malformed string."""
    if not isinstance(text, str):
        raise TypeError(f"text must be str, got {type(text).__name__}")
    entries: list[PoEntry] = []
    cur: dict = {}
    key = None

    def flush() -> None:
        if "msgid" in cur and cur["msgid"][0]:
            strs = tuple("".join(v) for k, v in sorted(cur.items()) if k.startswith("msgstr"))
            single = len(cur["msgid"]) == 1 and all(len(v) == 1 for k, v in cur.items() if k.startswith("msgstr"))
            entries.append(PoEntry("".join(cur["msgid"]), strs, "".join(cur.get("msgid_plural", [])),
                                   "".join(cur.get("msgctxt", [])), bool(cur.get("fuzzy")), single))
        cur.clear()

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            flush()
            key = None
        elif line.startswith("#,"):
            if "msgid" in cur:
                flush()
            cur["fuzzy"] = cur.get("fuzzy", False) or "fuzzy" in line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            if key is None:
                raise ValueError(f"{path}:{lineno}: continuation line outside an entry")
            part = _unquote(line, path, lineno)
            if part or cur[key] == [""]:
                cur[key] = [p for p in cur[key] if p] + [part]
        else:
            kw, _, rest = line.partition(" ")
            if kw == "msgctxt" or (kw == "msgid" and "msgid" in cur):
                if "msgid" in cur:
                    flush()
            key = kw
            cur[key] = [_unquote(rest, path, lineno)]
    flush()
    return entries


def po_files(lang: str, root: str | Path | None = None) -> list[Path]:
    """The ``django.po`` catalogues of locale ``lang`` under ``root`` (default: the installed
    ``django`` package), sorted by relative path. ``ValueError`` if there are none."""
    if not isinstance(lang, str) or not lang:
        raise ValueError(f"lang must be a non-empty locale name, got {lang!r}")
    if root is None:
        import django

        root = Path(django.__file__).parent
    root = Path(root)
    files = sorted(root.rglob(f"locale/{lang}/LC_MESSAGES/django.po"), key=lambda p: p.relative_to(root).as_posix())
    if not files:
        raise ValueError(f"no django.po catalogue for locale lang={lang!r} under {root}")
    return files


def catalogue_sha256(files: list[Path], root: str | Path | None = None) -> str:
    """SHA-256 over the sorted files: for each, its path relative to ``root`` and its bytes."""
    h = hashlib.sha256()
    for f in files:
        rel = Path(f).relative_to(root).as_posix() if root is not None else Path(f).name
        h.update(rel.encode() + b"\0" + Path(f).read_bytes() + b"\0")
    return h.hexdigest()


def po_pairs(lang: str, min_chars: int = 4, root: str | Path | None = None) -> tuple[list[tuple[str, str]], str]:
    """``([(english, translation), ...], sha256)``: the single-line pairs of locale ``lang`` (see the
    module docstring) and the SHA-256 of the catalogues read."""
    if not isinstance(min_chars, int) or min_chars < 1:
        raise ValueError(f"min_chars must be a positive int, got {min_chars!r}")
    if root is None:
        import django

        root = Path(django.__file__).parent
    files = po_files(lang, root)
    seen: set[str] = set()
    pairs = []
    for f in files:
        for e in parse_po(f.read_text(encoding="utf-8"), str(f)):
            src, tgt = e.msgid, e.msgstr[0] if e.msgstr else ""
            if e.plural or e.fuzzy or not e.single_line or src in seen:
                continue
            if len(src) < min_chars or len(tgt) < 2 or _PLACEHOLDER.search(src) or _PLACEHOLDER.search(tgt):
                continue
            seen.add(src)
            pairs.append((src, tgt))
    return pairs, catalogue_sha256(files, root)
