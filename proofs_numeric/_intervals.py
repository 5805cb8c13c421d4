r"""Confidence intervals over independent units: bootstrap (BCa), Student t, Clopper-Pearson.

Every function takes **one value per independent unit** (a seed, a sequence, a synthetic head),
never rows of one sequence, and returns the point estimate with its interval:

* :func:`bootstrap_ci`: resample units with replacement (``scipy.stats.bootstrap``; BCa, percentile
  when BCa is undefined);
* :func:`t_ci`: $\bar x\pm t_{n-1,\,1-\alpha/2}\,s/\sqrt n$ and the two-sided p-value against 0;
* :func:`proportion_ci`: the exact binomial (Clopper-Pearson) interval of $k/n$;
* :func:`paired_differences`: $a_u-b_u$ per unit, checking that the two samples are paired.

Bad input raises ``ValueError`` naming the argument (fewer than two units, non-finite values,
a level outside $[0.5, 1)$).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

__all__ = ["bootstrap_ci", "t_ci", "proportion_ci", "paired_differences"]


def _finite(name: str, x: Any) -> float:
    try:
        f = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {x!r}") from None
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite, got {f}")
    return f



def _samples(samples: Any, name: str = "samples", *, minimum: int = 2) -> np.ndarray:
    try:
        x = np.asarray(samples, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-D array of real numbers") from None
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per independent unit), got shape {x.shape}")
    if x.size < minimum:
        raise ValueError(f"{name} needs at least {minimum} independent units, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains non-finite values")
    return x


def _level(level: Any) -> float:
    lv = _finite("level", level)
    if not 0.5 <= lv < 1:
        raise ValueError(f"level must be in [0.5, 1), got {lv}")
    return lv


def bootstrap_ci(
    samples: Any,
    statistic: Callable[..., Any] = np.mean,
    *,
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
    method: Literal["BCa", "percentile"] = "BCa",
) -> tuple[float, float, float]:
    """``(estimate, lo, hi)``: the statistic and its bootstrap confidence interval.

    Resamples the independent units with replacement (``scipy.stats.bootstrap``, bias-corrected and
    accelerated by default, percentile when BCa is undefined, e.g. for a constant sample). The
    statistic must accept ``axis=`` (numpy reductions do); one that does not is applied per resample.
    Deterministic for a given ``seed``.
    """
    from scipy import stats

    x = _samples(samples)
    lv = _level(level)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 100:
        raise ValueError(f"n_boot must be an integer >= 100, got {n_boot!r}")
    if method not in ("BCa", "percentile"):
        raise ValueError(f"method must be 'BCa' or 'percentile', got {method!r}")
    if not callable(statistic):
        raise ValueError("statistic must be callable")
    est = float(statistic(x))
    if not math.isfinite(est):
        raise ValueError(f"statistic of the samples is not finite ({est})")
    if np.all(x == x[0]):  # no variation: every resample gives the same value
        return est, est, est
    try:
        statistic(np.stack([x, x]), axis=-1)
        vectorized = True
    except TypeError:
        vectorized = False

    def stat(a, axis=-1):
        return statistic(a, axis=axis) if vectorized else np.apply_along_axis(statistic, axis, a)

    def run(m: str):
        res = stats.bootstrap(
            (x,), stat, n_resamples=int(n_boot), confidence_level=lv, method=m, vectorized=True,
            random_state=np.random.default_rng(seed),
        )
        return float(res.confidence_interval.low), float(res.confidence_interval.high)

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lo, hi = run(method)
        if not (math.isfinite(lo) and math.isfinite(hi)) and method == "BCa":
            lo, hi = run("percentile")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("bootstrap interval is undefined for these samples")
    return est, min(lo, est), max(hi, est)


def t_ci(samples: Any, *, level: float = 0.95) -> tuple[float, float, float, float]:
    """``(mean, lo, hi, p)``: the Student-t interval of the mean and the two-sided p-value against 0."""
    from scipy import stats

    x = _samples(samples)
    lv = _level(level)
    m = float(x.mean())
    if np.all(x == x[0]):
        return m, m, m, (1.0 if m == 0 else 0.0)
    res = stats.ttest_1samp(x, 0.0)
    ci = res.confidence_interval(confidence_level=lv)
    return m, float(ci.low), float(ci.high), float(res.pvalue)


def proportion_ci(successes: int, n: int, *, level: float = 0.95) -> tuple[float, float, float]:
    """``(fraction, lo, hi)``: the Clopper-Pearson (exact binomial) interval of ``successes / n``."""
    from scipy import stats

    for name, v in (("successes", successes), ("n", n)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {v!r}")
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need n >= 1 and 0 <= successes <= n, got successes={successes}, n={n}")
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=_level(level), method="exact")
    return successes / n, float(ci.low), float(ci.high)


def paired_differences(a: Any, b: Any, *, name_a: str = "a", name_b: str = "b") -> np.ndarray:
    """``a - b`` per independent unit (seed, sequence), checking that the two are paired."""
    xa, xb = _samples(a, name_a, minimum=1), _samples(b, name_b, minimum=1)
    if xa.shape != xb.shape:
        raise ValueError(f"{name_a} and {name_b} must be paired (same length), got {xa.size} and {xb.size}")
    return xa - xb
