r"""Steering success that means the target language, fluently (the pre-registered success rule).

A continuation $y$ (the generated text only, never the prompt) of a prompt steered towards language
$L$ is a **success** when all four hold:

1. **length**: $|y|\ge 32$ non-space characters (C10: the language ID is judged at $\ge32$);
2. **label**: :func:`language_label` $(y)=L$: the fastText label, but ``other`` when fewer than half of
   the non-space characters are letters (punctuation runs such as "：—。。。" are no language), and for
   zh/ja ``other`` when fewer than half of the letters are CJK (:func:`cjk_letter_share` counts
   letters only, never CJK punctuation);
3. **not degenerate**: the zlib compression ratio $r(y)=|\mathrm{zlib}_9(y)|/|y|$ (UTF-8 bytes) and the
   distinct-token share $u(y)=|\{\text{tokens}\}|/\#\text{tokens}$ (the model's own tokens) are both
   at least thresholds $r^\ast,u^\ast$ **calibrated on unsteered continuations** of the same run:
   the 10th percentile (linear interpolation) of each over the unsteered continuations
   (:func:`calibrate_degeneracy`; stated before the steered texts are scored, and stored in the run);
4. **valid words**: :func:`target_validity` $(y,L)\ge v^\ast=0.5$: a majority of the scorable units are
   words of $L$'s own ``wordfreq`` list. For en/fr/es the units are whitespace words (lower-cased, edge
   punctuation stripped; first and last dropped, the prompt and the length cut may split them), valid
   when in $L$'s top-$V$ list **and** at least as frequent in $L$ as in English (so "the", "time" are
   not Spanish). For zh/ja each CJK letter is a unit, valid when in $L$'s character set; a Latin word
   in a zh/ja continuation is an invalid unit. No scorable unit gives NaN, and **NaN is a failure**.

The plain label rate (criterion 2 alone, with the length cut) is reported beside it, for comparison
with the paper's fastText metric.
"""

from __future__ import annotations

import functools
import math
import unicodedata
import zlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from attnverify.proofs_numeric.precision import check_int, check_real

from ._args import check_texts

__all__ = ["SuccessRule", "MIN_CHARS", "MIN_VALIDITY", "CALIBRATION_QUANTILE", "compression_ratio", "distinct_share",
           "letter_share", "cjk_letter_share", "language_label", "target_validity", "calibrate_degeneracy", "judge",
           "reference_words"]

MIN_CHARS = 32  #: C10: continuations are judged at >= 32 non-space characters
MIN_VALIDITY = 0.5  #: a majority of the scorable units are target-language words
CALIBRATION_QUANTILE = 0.10  #: r*, u* are this quantile of the unsteered continuations' values
_LATIN = ("en", "fr", "es")


class SuccessRule(NamedTuple):
    """The thresholds of one run: ``min_compression`` $r^\\ast$, ``min_distinct`` $u^\\ast$ (calibrated),
    ``min_validity`` $v^\\ast$ and ``min_chars`` (fixed)."""

    min_compression: float
    min_distinct: float
    min_validity: float = MIN_VALIDITY
    min_chars: int = MIN_CHARS


def _text(text) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return text


def compression_ratio(text: str) -> float:
    r"""$|\mathrm{zlib}_9(y)|/|y|$ over UTF-8 bytes (loops compress: low values); NaN for empty text."""
    b = _text(text).encode("utf-8")
    return len(zlib.compress(b, 9)) / len(b) if b else float("nan")


def distinct_share(tokens: Sequence) -> float:
    r"""$|\{\text{tokens}\}|/\#\text{tokens}$ (the model's token ids, or characters); NaN when empty."""
    toks = list(tokens)
    return len(set(toks)) / len(toks) if toks else float("nan")


def _is_cjk_letter(ch: str) -> bool:
    name = unicodedata.name(ch, "")
    return ch.isalpha() and name.startswith(("CJK", "HIRAGANA", "KATAKANA"))


def letter_share(text: str) -> float:
    """Share of the non-space characters that are letters (Unicode category L*); 0 for no character."""
    chars = [c for c in _text(text) if not c.isspace()]
    return sum(c.isalpha() for c in chars) / len(chars) if chars else 0.0


def cjk_letter_share(text: str) -> float:
    """Share of the letters that are CJK ideographs or kana (punctuation such as 。，： is not a letter)."""
    letters = [c for c in _text(text) if c.isalpha()]
    return sum(_is_cjk_letter(c) for c in letters) / len(letters) if letters else 0.0


def language_label(texts: Sequence[str], detector=None) -> list[str]:
    """The guarded label of each text (module docstring, criterion 2); ``detector`` default fastText lite."""
    from .langid import detect_language

    texts = check_texts(texts)
    raw = (detector or detect_language)(texts)
    out = []
    for t, lab in zip(texts, raw):
        if letter_share(t) < 0.5:
            lab = "other"
        elif lab in ("zh", "ja") and cjk_letter_share(t) < 0.5:
            lab = "other"
        out.append(lab)
    return out


@functools.lru_cache(maxsize=8)
def reference_words(lang: str, v: int = 20000) -> tuple[frozenset, frozenset]:
    """``(words, cjk characters)`` of ``lang``'s ``wordfreq`` top-``v`` list; for en/fr/es only the words
    at least as frequent in ``lang`` as in English (English itself: all)."""
    import wordfreq

    if lang not in _LATIN + ("zh", "ja"):
        raise ValueError(f"lang must be one of {_LATIN + ('zh', 'ja')}, got {lang!r}")
    top = [w for w in wordfreq.top_n_list(lang, v) if w.strip()]
    if lang in _LATIN and lang != "en":
        own, en = wordfreq.get_frequency_dict(lang), wordfreq.get_frequency_dict("en")
        top = [w for w in top if own.get(w, 0.0) >= en.get(w, 0.0)]
    return frozenset(w.lower() for w in top), frozenset(c for w in top for c in w if _is_cjk_letter(c))


def _strip(word: str) -> str:
    return "".join(c for c in word.lower() if c.isalpha() or c in "'-").strip("'-")


def _check_target(target: Any) -> None:
    langs = _LATIN + ("zh", "ja")
    if target not in langs:
        raise ValueError(f"target must be one of {langs}, got {target!r}")


def target_validity(text: str, target: str, v: int = 20000) -> float:
    """Share of valid units (module docstring, criterion 4); NaN when no unit is scorable."""
    _check_target(target)
    v = check_int(v, "v", minimum=1)
    words, chars = reference_words(target, v)
    valid = total = 0
    toks = _text(text).split()
    for i, tok in enumerate(toks):
        cjk = [c for c in tok if _is_cjk_letter(c)]
        if cjk:
            ok = sum(c in chars for c in cjk) if target in ("zh", "ja") else 0
            valid, total = valid + ok, total + len(cjk)
        elif 0 < i < len(toks) - 1 and _strip(tok) and any(c.isalpha() for c in tok):
            valid, total = valid + (target in _LATIN and _strip(tok) in words), total + 1
    return valid / total if total else float("nan")


def calibrate_degeneracy(unsteered_texts: Sequence[str], unsteered_tokens: Sequence[Sequence], q: float = CALIBRATION_QUANTILE) -> SuccessRule:
    """$r^\\ast,u^\\ast$: the ``q`` quantiles of the unsteered continuations' ratios and distinct shares."""
    check_texts(unsteered_texts, "unsteered_texts", allow_empty=False)
    if isinstance(unsteered_tokens, str):
        raise TypeError("unsteered_tokens must be a sequence of token-id sequences, not one string")
    q = check_real(q, "q")
    if not 0 <= q <= 1:
        raise ValueError(f"q must be a quantile in [0, 1], got {q}")
    if len(unsteered_texts) != len(unsteered_tokens) or not len(unsteered_texts):
        raise ValueError("unsteered_texts and unsteered_tokens must be non-empty and of one length")
    r = [compression_ratio(t) for t in unsteered_texts]
    u = [distinct_share(t) for t in unsteered_tokens]
    r, u = np.asarray([x for x in r if math.isfinite(x)]), np.asarray([x for x in u if math.isfinite(x)])
    if not r.size or not u.size:
        raise ValueError("no unsteered continuation has a finite compression ratio and distinct share")
    return SuccessRule(float(np.quantile(r, q)), float(np.quantile(u, q)))


def judge(texts: Sequence[str], tokens: Sequence[Sequence], target: str, rule: SuccessRule, labels: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Per text: ``success`` (all four criteria), ``label_success`` (length and label only, the paper's
    metric), and the parts ``label``, ``compression``, ``distinct``, ``validity`` (NaN kept; it fails)."""
    texts = check_texts(texts)
    _check_target(target)
    if not isinstance(rule, SuccessRule):
        raise TypeError(f"rule must be a SuccessRule (from calibrate_degeneracy), got {type(rule).__name__}")
    if isinstance(tokens, str) or len(texts) != len(tokens):
        raise ValueError(f"texts and tokens must have one length, got {len(texts)} and {len(tokens)}")
    labels = language_label(texts) if labels is None else list(labels)
    if len(labels) != len(texts):
        raise ValueError(f"labels must have one label per text ({len(texts)}), got {len(labels)}")
    long = np.asarray([len("".join(t.split())) >= rule.min_chars for t in texts])
    lab = np.asarray([x == target for x in labels]) & long
    r = np.asarray([compression_ratio(t) if t else np.nan for t in texts], np.float64)
    u = np.asarray([distinct_share(k) for k in tokens], np.float64)
    v = np.asarray([target_validity(t, target) for t in texts], np.float64)
    with np.errstate(invalid="ignore"):
        fluent = (r >= rule.min_compression) & (u >= rule.min_distinct) & (v >= rule.min_validity)  # NaN compares False
    return {"success": (lab & fluent).astype(np.float64), "label_success": lab.astype(np.float64), "label": np.asarray(labels),
            "compression": r, "distinct": u, "validity": v}
