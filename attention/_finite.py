"""Boundary validation shared by the hybrid, SAE and FAL operators.

Public functions validate *concrete* arrays only (a JAX tracer passes through untouched), so the
jit-compiled cores stay pure. Errors are ``ValueError`` naming the argument and the first bad index.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from proofs_numeric.precision import is_concrete

__all__ = ["check_finite", "check_ndim", "is_traced"]


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
