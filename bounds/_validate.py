"""Input validation at the Python boundary (concrete arrays only; traced values pass through).

Every check raises :class:`ValueError` naming the problem and, for arrays, the first offending
row (batch index) and position, so a bad row in a batch of thousands can be found.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from proofs_numeric.precision import is_concrete

__all__ = ["is_concrete", "check_logits", "check_eps", "check_k", "check_sigma", "check_values", "finite_count"]




def _where(bad: np.ndarray) -> str:
    idx = np.argwhere(bad)[0]
    return f"row {tuple(int(i) for i in idx[:-1])}, index {int(idx[-1])}" if bad.ndim > 1 else f"index {int(idx[0])}"


def check_logits(logits: Any, name: str = "logits") -> None:
    """Reject NaN and ``+inf`` entries (``-inf`` is a masked key and allowed) and 0-d input."""
    if not is_concrete(logits):
        return
    a = np.asarray(logits)
    if a.ndim == 0:
        raise ValueError(f"{name} must have at least one axis [..., n], got a scalar")
    if not np.issubdtype(a.dtype, np.floating):
        return
    if np.isnan(a).any():
        raise ValueError(f"{name} contain NaN at {_where(np.isnan(a))}")
    if np.isposinf(a).any():
        raise ValueError(f"{name} contain +inf at {_where(np.isposinf(a))} (use -inf to mask a key)")


def check_eps(eps: Any, allow_zero: bool = False, name: str = "eps") -> None:
    """``eps`` must lie in ``(0, 1)`` (``[0, 1)`` with ``allow_zero``)."""
    if not is_concrete(eps):
        return
    e = np.asarray(eps, dtype=np.float64)
    lo_ok = (e >= 0) if allow_zero else (e > 0)
    bad = ~(lo_ok & (e < 1))
    if bad.any():
        rng = "[0, 1)" if allow_zero else "(0, 1)"
        val = e if e.ndim == 0 else e[tuple(np.argwhere(bad)[0])]
        raise ValueError(f"{name} must lie in {rng}, got {float(val)!r}")


def finite_count(logits: Any) -> np.ndarray:
    """Number of finite (unmasked) entries per row, as numpy ``int64`` of shape ``logits.shape[:-1]``."""
    return np.isfinite(np.asarray(logits)).sum(axis=-1)


def check_k(k: Any, logits: Any, allow_n: bool = True) -> None:
    """``k`` (int or per-row array) must lie in ``[1, n]`` with ``n`` the row's finite count
    (``[1, n-1]`` when ``allow_n`` is False)."""
    if not is_concrete(k, logits):
        return
    kk = np.asarray(k)
    if not np.issubdtype(kk.dtype, np.integer):
        raise ValueError(f"k must be an integer (or integer array), got dtype {kk.dtype}")
    n = finite_count(logits)
    kb = np.broadcast_to(kk, n.shape) if kk.ndim <= n.ndim else kk
    if kb.shape != n.shape:
        raise ValueError(f"k has shape {kk.shape}, which does not broadcast to the batch shape {n.shape}")
    hi = n if allow_n else n - 1
    bad = (kb < 1) | (kb > hi)
    if bad.any():
        i = tuple(int(j) for j in np.argwhere(bad)[0]) if bad.ndim else ()
        rng = "[1, n]" if allow_n else "[1, n-1]"
        raise ValueError(f"k must lie in {rng}: row {i} has k={int(kb[i])} but n={int(n[i])} finite logits")


def check_sigma(sigma: Any) -> None:
    """Gaussian score scale ``sigma`` must be finite and ``> 0``."""
    if not is_concrete(sigma):
        return
    s = np.asarray(sigma, dtype=np.float64)
    bad = ~(np.isfinite(s) & (s > 0))
    if bad.any():
        val = s if s.ndim == 0 else s[tuple(np.argwhere(bad)[0])]
        raise ValueError(f"sigma must be finite and > 0, got {float(val)!r}")


def check_values(logits: Any, values: Any) -> None:
    """``values`` must have shape ``logits.shape + (d_v,)``."""
    ls, vs = np.shape(logits), np.shape(values)
    if len(vs) != len(ls) + 1 or tuple(vs[:-1]) != tuple(ls):
        raise ValueError(f"shape mismatch: values {vs} must be logits.shape + (d_v,) = {ls} + (d_v,)")
