r"""The language-ID gate's texts on the Gemma track (C10): recall *and* specificity.

For each target $L$, four sets of ``n`` held-out strings, each as long as the run's median unsteered
continuation (non-space characters), with their Gemma token ids (for the distinct-token share):

* ``recall``: clean $L$ text (held-out catalogue translations joined);
* ``punctuation``: runs of ASCII and CJK punctuation ("。。。", "：—", "，，，");
* ``loops``: a random 2-8 character piece of clean $L$ text, repeated;
* ``other_language``: clean English and other-target text, in turn;
* ``shuffled_label``: clean text of another target judged *as if* it were $L$ -- the gate's negative
  control, whose "recall" must fail.

:func:`experiments.sae_steering.scoring.gate_table` judges them with the run's success rule: recall is
the share judged a success, each specificity the share judged *not* a success.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["gate_sets", "PUNCTUATION"]

PUNCTUATION = list(".,;:!?-—–…'\"()[]/*#。，、：；！？「」『』（）·")


def _clean(pool: list[str], lang: str, length: int, rng) -> str:
    sep = "" if lang in ("zh", "ja") else " "
    s = ""
    while len("".join(s.split())) < length:
        s += pool[int(rng.integers(len(pool)))] + sep
    out, seen = [], 0
    for ch in s:  # cut at `length` non-space characters
        out.append(ch)
        seen += not ch.isspace()
        if seen >= length:
            break
    return "".join(out)


def gate_sets(pairs: dict, n_select: int, n: int, seed: int, targets, length: int, encode) -> dict[str, Any]:
    """``{target: {set: {"texts", "tokens"}}}`` (module docstring); ``encode(text) -> ids`` without BOS."""
    rng = np.random.default_rng([seed, 8])
    pools = {iso: [t for _, t in pairs[iso][n_select:]] for iso in pairs}
    pools["en"] = [s for s, _ in pairs["fr"][n_select:]]
    out: dict[str, Any] = {}
    for t in targets:
        others = [x for x in ("en",) + tuple(targets) if x != t]
        wrong = [x for x in others if x != "en"] or ["en"]
        sets = {"recall": [_clean(pools[t], t, length, rng) for _ in range(n)],
                "punctuation": ["".join(rng.choice(PUNCTUATION, length)) for _ in range(n)],
                "loops": [],
                "other_language": [_clean(pools[o], o, length, rng) for o in (others[i % len(others)] for i in range(n))],
                "shuffled_label": [_clean(pools[o], o, length, rng) for o in (wrong[i % len(wrong)] for i in range(n))]}
        for _ in range(n):
            piece = _clean(pools[t], t, int(rng.integers(2, 9)), rng).strip() or "ab"
            sets["loops"].append((piece * (2 * length // len(piece) + 2))[: 2 * length])
        out[t] = {name: {"texts": texts, "tokens": [list(encode(x)) for x in texts]} for name, texts in sets.items()}
    return out
