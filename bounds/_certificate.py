r"""The certificate of a Top-k selection: the result type and the rounding-guarded tail bounds of §3.2.

Shared by the fast path (:mod:`._certified`) and the exact reference (:mod:`._certified_reference`), so
that neither imports the other.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

__all__ = ["U", "E700", "CertifiedTopK", "tau_bounds"]

U = 2.0**-53
E700 = float(np.exp(-700.0))


class CertifiedTopK(NamedTuple):
    """Result of :func:`certified_topk` (batch shape ``B = logits.shape[:-1]``)."""

    k: Any  #: int ``B``: minimal certified count (0 for fully masked rows)
    kept: Any  #: bool ``B + (n,)``: kept keys in token order
    tau: Any  #: float64 ``B``: fl(tail / Z) of the kept set
    tau_upper: Any  #: rigorous upper bound on the true tail, ``<= eps``
    tau_lower_prev: Any  #: rigorous lower bound on tau_{k-1} (1 when k = 1)
    minimal_certified: Any  #: bool: tau_lower_prev > eps
    kl: Any  #: -log1p(-tau) = KL(P_hat || P)
    n_kept: Any  #: int: number of kept keys (> k only with tie="group")


def tau_bounds(tail: Any, z: Any, count: Any, rho: Any, n_sub: Any, xp: Any = jnp) -> tuple[Any, Any, Any]:
    """``(r, tau_up, tau_lo)`` of §3.2 for a tail sum ``tail`` of ``count`` terms (shared by both paths)."""
    r = tail / z
    up = r * ((1 + rho) / (1 - rho)) * (1 + 4 * U) + n_sub * E700
    lo = r * ((1 - rho) / (1 + rho)) * (1 - 4 * U) - n_sub * E700
    empty = count == 0
    return xp.where(empty, 0.0, r), xp.where(empty, 0.0, up), xp.where(empty, 0.0, lo)
