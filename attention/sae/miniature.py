r"""The offline miniature's text (``sae_steering.md`` §5, track A): one-language word documents.

Each document is in one language $L\in\{\rm en,fr,es,zh,ja\}$. Its words are drawn i.i.d. from the
top-$V$ list of ``wordfreq`` with probability $\propto$ frequency, joined by a space (en/fr/es) or
by nothing (zh/ja). Tokens are characters; id 0 is BOS and id 1 PAD. :func:`word_lists` records the
SHA-256 of the lists used.
"""

from __future__ import annotations

import functools
import hashlib
from typing import NamedTuple

import numpy as np

__all__ = ["MINI_LANGUAGES", "WordLists", "word_lists", "CharTokenizer", "char_tokenizer", "sample_documents", "word_validity"]

MINI_LANGUAGES = ("en", "fr", "es", "zh", "ja")
_SPACED = {"en", "fr", "es"}


class WordLists(NamedTuple):
    """``words[lang]`` (top-``V`` list), ``probs[lang]`` (normalised frequencies), ``sha256``."""

    words: dict
    probs: dict
    sha256: str


@functools.lru_cache(maxsize=8)
def word_lists(v: int = 300, languages: tuple[str, ...] = MINI_LANGUAGES) -> WordLists:
    """The ``wordfreq`` top-``v`` lists of ``languages`` with frequencies (no network needed)."""
    import wordfreq

    if not isinstance(v, int) or v < 10:
        raise ValueError(f"v must be an int >= 10, got {v!r}")
    if isinstance(languages, str) or not languages or any(lang not in MINI_LANGUAGES for lang in languages):
        raise ValueError(f"languages must be a non-empty tuple drawn from {MINI_LANGUAGES}, got {languages!r}")
    words, probs, h = {}, {}, hashlib.sha256()
    for lang in languages:
        ws = [w for w in wordfreq.top_n_list(lang, v) if w.strip()]
        freq = wordfreq.get_frequency_dict(lang)
        p = np.asarray([freq.get(w, 0.0) for w in ws], np.float64)
        words[lang], probs[lang] = ws, p / p.sum()
        h.update(f"{lang}:{wordfreq.__version__ if hasattr(wordfreq, '__version__') else ''}:".encode())
        h.update("\n".join(f"{w}\t{q:.6e}" for w, q in zip(ws, p)).encode())
    return WordLists(words, probs, h.hexdigest())


class CharTokenizer(NamedTuple):
    """Character vocabulary: ``chars`` (ids ``2..``), BOS = 0, PAD = 1."""

    chars: str

    @property
    def size(self) -> int:
        return len(self.chars) + 2

    def encode(self, text: str) -> list[int]:
        index = {c: i + 2 for i, c in enumerate(self.chars)}
        try:
            return [index[c] for c in text]
        except KeyError as e:
            raise ValueError(f"text contains a character outside the vocabulary: {e.args[0]!r}") from None

    def decode(self, ids) -> str:
        return "".join(self.chars[i - 2] for i in np.asarray(ids).tolist() if i >= 2)


def char_tokenizer(lists: WordLists) -> CharTokenizer:
    """The union of the characters of all lists plus the space, sorted."""
    return CharTokenizer("".join(sorted({" "} | {c for ws in lists.words.values() for w in ws for c in w})))


def sample_documents(lists: WordLists, lang: str, n: int, length: int, rng: np.random.Generator) -> list[str]:
    """``n`` documents of exactly ``length`` characters in ``lang`` (words i.i.d. by frequency)."""
    if lang not in lists.words:
        raise ValueError(f"lang must be one of {sorted(lists.words)}, got {lang!r}")
    sep = " " if lang in _SPACED else ""
    ws, p = lists.words[lang], lists.probs[lang]
    out = []
    for _ in range(n):
        text = ""
        while len(text) < length:
            draws = rng.choice(len(ws), size=max(8, length // 2), p=p)
            text += sep.join(ws[i] for i in draws) + sep
        out.append(text[:length])
    return out


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x3040 <= o <= 0x30FF or 0x3400 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0xFF66 <= o <= 0xFF9F


def word_validity(text: str, target: str, lists: WordLists) -> float:
    r"""Fluency proxy (§5): the share of valid units among the generated units of ``text``.

    Units are whitespace tokens without CJK characters, valid when found in the target's or the
    English list, and single CJK characters, valid when they occur in the target's list (so a CJK
    character is invalid for an en/fr/es target). The first and last whitespace tokens, which the
    prompt and the length cut may split, are dropped (CJK characters are always counted). Returns NaN when no unit is left."""
    if target not in lists.words:
        raise ValueError(f"target must be one of {sorted(lists.words)}, got {target!r}")
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    words = set(lists.words[target]) | set(lists.words.get("en", ()))
    chars = {c for w in lists.words[target] for c in w if _is_cjk(c)}
    valid = total = 0
    toks = text.split()
    for i, tok in enumerate(toks):
        cjk = [c for c in tok if _is_cjk(c)]
        if cjk:
            valid, total = valid + sum(c in chars for c in cjk), total + len(cjk)
        elif 0 < i < len(toks) - 1:
            valid, total = valid + (tok.lower() in words), total + 1
    return valid / total if total else float("nan")
