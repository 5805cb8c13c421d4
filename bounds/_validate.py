"""Input validation at the Python boundary (concrete arrays only; traced values pass through).

Every check raises :class:`ValueError` naming the problem and, for arrays, the first offending
row (batch index) and position, so a bad row in a batch of thousands can be found.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attnverify.proofs_numeric.precision import check_int, is_concrete

__all__ = ["is_concrete", "check_keep_mask", "check_logits", "check_eps", "check_k", "check_sigma", "check_values", "finite_count",
           "check_sorted", "check_distributions", "check_value_bound", "check_blocks", "check_int", "check_finite_values", "DIST_TOL"]

DIST_TOL = 1e-9  # |sum_i p_i - 1| allowed per row, relative to n (rounding of a float64 softmax)


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
    if a.shape[-1] == 0:
        raise ValueError(f"{name} must have n >= 1 keys along the last axis, got shape {a.shape}")
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
    a = np.asarray(eps)
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{name} must be a real number or array of reals, got {eps!r} (dtype {a.dtype})")
    e = a.astype(np.float64)
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
    try:
        kb = np.broadcast_to(kk, n.shape) if kk.ndim <= n.ndim else kk
    except ValueError:
        kb = kk
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


def check_sorted(logits: Any, name: str = "logits") -> None:
    """The ``assume_sorted=True`` contract, checked in O(n): every row descending (``-inf`` last).

    Skipped on tracers (inside ``jit`` the contract is unchecked; check before tracing).
    """
    if not is_concrete(logits):
        return
    a = np.asarray(logits)
    if a.ndim == 0 or a.shape[-1] < 2:
        return
    bad = ~(a[..., 1:] <= a[..., :-1])
    if bad.any():
        raise ValueError(f"assume_sorted=True but {name} are not descending: {_where(bad)} is followed by a larger "
                         "entry (sort the rows, or pass assume_sorted=False)")


def check_distributions(p: Any, q: Any) -> None:
    """``p`` and ``q``: the same shape ``[..., n]`` (no broadcasting), ``n >= 1``, finite, ``>= 0``, each row
    summing to 1 within ``DIST_TOL * n``. Shape checks run on tracers too; value checks on concrete arrays."""
    for name, x in (("p", p), ("q", q)):
        if np.ndim(x) == 0 or np.shape(x)[-1] == 0:
            raise ValueError(f"{name} must be a distribution [..., n] with n >= 1, got shape {np.shape(x)}")
    if np.shape(p) != np.shape(q):
        raise ValueError(f"shape mismatch: p {np.shape(p)} vs q {np.shape(q)} (distributions over the same n keys)")
    for name, x in (("p", p), ("q", q)):
        if not is_concrete(x):
            continue
        a = np.asarray(x, dtype=np.float64)
        if not np.isfinite(a).all():
            raise ValueError(f"{name} has a non-finite entry at {_where(~np.isfinite(a))}")
        if (a < 0).any():
            raise ValueError(f"{name} has a negative entry at {_where(a < 0)}: not a distribution")
        tot = a.sum(-1)
        off = np.abs(tot - 1.0) > DIST_TOL * a.shape[-1]
        if off.any():
            i = tuple(int(j) for j in np.argwhere(off)[0]) if off.ndim else ()
            raise ValueError(f"{name} row {i} sums to {float(tot[i])!r}, not 1: not a distribution")


def check_value_bound(C: Any, logits: Any, values: Any) -> None:
    """``C`` (scalar or per row) must be finite and ``>= max_j ||v_j||`` over unmasked keys (it is an upper bound)."""
    if not is_concrete(C, logits, values):
        return
    c = np.asarray(C, dtype=np.float64)
    if not np.isfinite(c).all():
        raise ValueError(f"C must be finite, got {c if c.ndim == 0 else c[~np.isfinite(c)][0]!r}")
    fin = np.isfinite(np.asarray(logits))
    vmax = np.sqrt(np.max(np.where(fin, np.sum(np.asarray(values, np.float64) ** 2, -1), 0.0), axis=-1))
    try:
        cb = np.broadcast_to(c, vmax.shape)
    except ValueError:
        raise ValueError(f"C has shape {c.shape}, which does not broadcast to the batch shape {vmax.shape}") from None
    bad = cb < vmax * (1 - 1e-12)
    if bad.any():
        i = tuple(int(j) for j in np.argwhere(bad)[0]) if bad.ndim else ()
        raise ValueError(f"C = {float(cb[i])!r} is below max_j ||v_j|| = {float(vmax[i])!r} (row {i}): C must bound every value norm")


def check_blocks(blocks: Any, n_blocks: Any, logits: Any) -> int:
    """``n_blocks`` an integer ``>= 1``; ``blocks`` integer ids in ``[0, n_blocks)`` on every unmasked key."""
    nb = check_int(n_blocks, "n_blocks", minimum=1)
    if blocks is None or not is_concrete(blocks, logits):
        return nb
    b = np.asarray(blocks)
    if not np.issubdtype(b.dtype, np.integer):
        raise TypeError(f"blocks must be integer block ids, got dtype {b.dtype}")
    bad = ((b < 0) | (b >= nb)) & np.isfinite(np.asarray(logits))
    if bad.any():
        raise ValueError(f"blocks must lie in [0, n_blocks={nb}): {_where(bad)} has id {int(b[tuple(np.argwhere(bad)[0])])}")
    return nb


def check_finite_values(x: Any, name: str, positive: bool = False) -> None:
    """Every entry of ``x`` real and finite (``> 0`` with ``positive``); ``ValueError`` naming ``name`` and the entry."""
    if not is_concrete(x):
        return
    a = np.asarray(x)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise TypeError(f"{name} must be real numbers, got dtype {a.dtype}")
    bad = ~np.isfinite(a) | ((a <= 0) if positive else False)
    if np.any(bad):
        val = a if a.ndim == 0 else a[tuple(np.argwhere(bad)[0])]
        raise ValueError(f"{name} must be finite{' and > 0' if positive else ''}, got {val!r}")


def check_keep_mask(name: str, keep: Any) -> Any:
    """A keep mask: boolean, or numeric with values in {0, 1} only (converted to bool).

    ``ValueError`` naming the first other value (``2``, ``0.5``, NaN): an integer mask combined
    bitwise would silently evict a token marked ``2``. Tracers must already be boolean.
    """
    if not is_concrete(keep):
        if getattr(keep, "dtype", None) != np.bool_:
            raise TypeError(f"{name} must be a boolean mask inside jit, got dtype {keep.dtype}")
        return keep
    a = np.asarray(keep)
    if a.dtype == np.bool_:
        return keep
    if not np.issubdtype(a.dtype, np.number):
        raise TypeError(f"{name} must be a boolean mask, got dtype {a.dtype}")
    bad = ~((a == 0) | (a == 1))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be a boolean mask (0/1 accepted); entry {idx} is {a[idx]!r}")
    import jax.numpy as jnp

    return jnp.asarray(a.astype(bool))
