"""Boundary validation shared by the attention operators (hybrid, SAE, FAL, KV eviction, Δ attention).

Public functions validate *concrete* arrays only (a JAX tracer passes through untouched), so the
jit-compiled cores stay pure. Errors are ``ValueError`` naming the argument and the first bad index.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attnverify.bounds._validate import check_keep_mask
from attnverify.proofs_numeric.precision import check_choice, check_int, check_real, is_concrete

__all__ = ["check_finite", "check_ndim", "is_traced", "check_choice", "check_int", "check_real", "check_keep_mask",
           "check_scores", "check_nonempty"]


def is_traced(x: Any) -> bool:
    """True for JAX tracers (values inside ``jit``/``vmap``/``grad``), which are not validated."""
    return not is_concrete(x)


def check_finite(name: str, x: Any) -> None:
    """Raise ``ValueError`` naming the first NaN/inf entry of ``x`` (no-op on tracers)."""
    if is_traced(x):
        return
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
    bad = ~np.isfinite(a)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} has a non-finite entry at index {idx}: {a[idx]!r}")


def check_ndim(name: str, x: Any, min_ndim: int, what: str) -> None:
    """Raise ``ValueError`` unless ``x`` has at least ``min_ndim`` axes (``what`` names the layout)."""
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) < min_ndim:
        raise ValueError(f"{name} must have shape {what}, got shape {shape}")


def check_nonempty(name: str, x: Any, axis: int, what: str) -> None:
    """Raise ``ValueError`` when axis ``axis`` of ``x`` has length 0 (``what`` names the axis, e.g. ``"n keys"``)."""
    shape = getattr(x, "shape", None) or np.shape(x)
    if len(shape) >= abs(axis) and shape[axis] == 0:
        raise ValueError(f"{name} has no {what} (shape {tuple(shape)}); at least one is needed")


def check_scores(name: str, scores: Any) -> None:
    """Scores ``[..., n]``: real, ``n >= 1``, no NaN (``+-inf`` allowed: forced keep / never keep)."""
    if is_traced(scores):
        return
    a = np.asarray(scores)
    if a.ndim == 0 or a.shape[-1] == 0:
        raise ValueError(f"{name} must have shape [..., n] with n >= 1, got {a.shape}")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise TypeError(f"{name} must be real numbers, got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating) and np.isnan(a).any():
        idx = tuple(int(i) for i in np.argwhere(np.isnan(a))[0])
        raise ValueError(f"{name} has NaN at index {idx}: a NaN score cannot be ranked")
