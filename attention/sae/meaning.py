r"""The offline meaning proxy of C9 (spec O8): character n-gram F-score against a reference translation.

LaBSE (the paper's measure) cannot run offline. The proxy is chrF (Popović, WMT 2015) with
$n=1..N$ and $\beta=2$: for the multisets $C_n$ (continuation) and $R_n$ (reference) of character
$n$-grams, whitespace removed,

$$P_n=\frac{|C_n\cap R_n|}{|C_n|},\quad R_n=\frac{|C_n\cap R_n|}{|R_n|},\quad
\mathrm{chrF}=\frac{(1+\beta^2)\bar P\bar R}{\beta^2\bar P+\bar R},$$

$\bar P,\bar R$ the means over $n$ with non-empty sets (0 when none). **Limits:** it rewards shared
surface forms (names, cognates, digits), not meaning; a steered continuation *continues* the prompt
rather than translating it, so even a perfect steer scores well below 1; zh/ja references share Han
characters across the two languages; and it cannot see paraphrases. It is a comparison between
conditions on the same prompts, never an absolute figure.
"""

from __future__ import annotations

from collections import Counter

__all__ = ["chrf"]


def _grams(text: str, n: int) -> Counter:
    s = "".join(text.split())
    return Counter(s[i:i + n] for i in range(len(s) - n + 1))


def chrf(hypothesis: str, reference: str, max_n: int = 3, beta: float = 2.0) -> float:
    """chrF of ``hypothesis`` against ``reference`` in $[0,1]$ (see the module docstring)."""
    if not isinstance(hypothesis, str) or not isinstance(reference, str):
        raise TypeError("hypothesis and reference must be strings")
    if not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"max_n must be a positive int, got {max_n!r}")
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    ps, rs = [], []
    for n in range(1, max_n + 1):
        c, r = _grams(hypothesis, n), _grams(reference, n)
        if not c or not r:
            continue
        hit = sum((c & r).values())
        ps.append(hit / sum(c.values()))
        rs.append(hit / sum(r.values()))
    if not ps:
        return 0.0
    p, r = sum(ps) / len(ps), sum(rs) / len(rs)
    return 0.0 if p + r == 0 else (1 + beta**2) * p * r / (beta**2 * p + r)
