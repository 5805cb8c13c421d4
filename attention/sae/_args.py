"""Argument checks shared by the SAE steering functions (SAE, feature index, texts, activation matrices).

Each raises ``TypeError`` (wrong kind of value) or ``ValueError`` (wrong value) naming the argument, and
passes JAX tracers through untouched, so the compiled cores stay pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from attnverify.attention._finite import check_finite, is_traced
from attnverify.proofs_numeric.precision import check_int

__all__ = ["check_feature", "check_texts", "check_matrix"]


def check_feature(j: Any, m: int, name: str = "j") -> Any:
    """A feature index: an integer in ``[0, m - 1]`` (a negative index would silently pick another feature)."""
    if is_traced(j):
        return j
    a = np.asarray(j) if not isinstance(j, (bool, int, float, str)) else j
    if isinstance(a, np.ndarray) and a.ndim == 0 and np.issubdtype(a.dtype, np.integer):
        j = int(a)
    j = check_int(j, name)
    if not 0 <= j < m:
        raise ValueError(f"feature index {name}={j} is outside [0, {m})")
    return j


def check_texts(texts: Any, name: str = "texts", allow_empty: bool = True) -> list[str]:
    """A sequence of strings (not one string); ``TypeError`` naming the first item that is not a string."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"{name} must be a sequence of strings (a list), got {type(texts).__name__}")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{name} must be strings: {name}[{bad[0]}] is {type(texts[bad[0]]).__name__}")
    if not allow_empty and not texts:
        raise ValueError(f"{name} is empty")
    return list(texts)


def check_matrix(name: str, x: Any, min_rows: int = 1, width: int | None = None) -> None:
    """``x`` ``[n >= min_rows, width]``, finite (no-op on tracers beyond the shape)."""
    shape = np.shape(x)
    if len(shape) != 2 or shape[0] < min_rows or (width is not None and shape[1] != width):
        w = "m" if width is None else width
        raise ValueError(f"{name} must be [n >= {min_rows}, {w}], got shape {shape}")
    check_finite(name, x)
