r"""The certificate of a Top-k selection: the result type and the rounding-guarded tail bounds of §3.2.

Shared by the fast path (:mod:`._certified`), the exact reference (:mod:`._certified_reference`) and
MC-Search (:mod:`._mc_search`), so that none imports another.

**The guard and its domain** (spec ``topk_tv`` §3.2). With :math:`m=\max_i s_i` and
:math:`d_i=\mathrm{fl}(s_i-m)` every entry is either

- *normal*, :math:`d_i\ge-700`: :math:`\hat e_i=\mathrm{fl}(e^{d_i})` enters the float64 sums, and
  :math:`|d_i|\le700`; or
- *deep*, :math:`d_i<-700` (including :math:`d_i=-\infty` when :math:`s_i-m` overflows, spans up to
  :math:`\pm1.79\cdot10^{308}`): it is **left out of the sums** (:math:`\hat e_i:=0`) and its exact mass
  is bounded by :math:`0<e^{s_i-m}<e^{-700/(1+u)}<E_{\rm deep}:=e^{-699}` (round-to-nearest gives
  :math:`s_i-m\le d_i/(1+u)`).

The relative error of the normal sums is then at most
:math:`\rho=(n+1)u+u\max_{\rm normal}|d_i|+c_{\exp}u\le(n+701+c_{\exp})u`, with :math:`u=2^{-53}` and
:math:`n` the finite count, whatever the logit span. The guard is rigorous on the domain
:math:`\rho\le\tfrac12`, i.e. :math:`n+c_{\exp}\le2^{51}`, :math:`c_{\exp}\ge0` bounding the exp error in
ulps (``ValueError`` outside it). With :math:`n_{\rm sub}` deep entries, :math:`r=\mathrm{fl}(\hat T/\hat Z)`
and :math:`\hat Z\ge1` (the maximum contributes :math:`e^0=1` exactly):

.. math:: \tau^{\rm up}=r\tfrac{1+\rho}{1-\rho}(1+4u)+n_{\rm sub}E_{\rm deep},\qquad
          \tau^{\rm lo}=\max\bigl(0,\ r\tfrac{1-\rho}{1+\rho}(1-4u)-n_{\rm sub}E_{\rm deep}\bigr).

The guard of the earlier release used :math:`\max_i|d_i|` over *all* entries; once the span exceeded
about :math:`2^{53}`, :math:`\rho>1` and :math:`\tau^{\rm up}` turned negative (the
regression test in ``tests/test_topk_certified.py`` restores it and watches the soundness claim fail).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

__all__ = ["U", "E_DEEP", "D_DEEP", "CertifiedTopK", "tau_bounds", "guarded_exp", "guarded_terms", "guard_rho", "check_c_exp"]

U = 2.0**-53
D_DEEP = -700.0  #: shifted logits below this are "deep": left out of the sums, bounded by E_DEEP each
E_DEEP = float(np.exp(-699.0))  #: > e^{-700/(1+u)}: bounds the exact mass of one deep entry
E700 = E_DEEP  # backwards-compatible name
N_MAX = 2**51  #: domain of the guard: n + c_exp <= N_MAX keeps rho <= 1/2


class CertifiedTopK(NamedTuple):
    """Result of :func:`certified_topk` (batch shape ``B = logits.shape[:-1]``).

    Rows that are not valid input (a NaN or ``+inf`` logit, seen only under ``jit``, where
    validation cannot raise) come back with ``valid = False``, ``minimal_certified = False``,
    ``k = n_kept = 0``, nothing kept, and ``tau``, ``tau_upper``, ``tau_lower_prev``, ``kl`` NaN
    (so a downstream ``tau_upper <= eps`` test is False as well).
    """

    k: Any  #: int ``B``: minimal certified count (0 for fully masked or invalid rows)
    kept: Any  #: bool ``B + (n,)``: kept keys in token order
    tau: Any  #: float64 ``B``: fl(tail / Z) of the kept set
    tau_upper: Any  #: rigorous upper bound on the true tail, ``<= eps``
    tau_lower_prev: Any  #: rigorous lower bound on tau_{k-1} (1 when k = 1)
    minimal_certified: Any  #: bool: tau_lower_prev > eps (and the row is valid)
    kl: Any  #: -log1p(-tau) = KL(P_hat || P)
    n_kept: Any  #: int: number of kept keys (> k only with tie="group")
    valid: Any = True  #: bool ``B``: the row has no NaN / +inf logit (always True on concrete input)


def guarded_terms(x: Any, m: Any, fin: Any, xp: Any = jnp) -> tuple[Any, Any, Any]:
    r"""Elementwise ``(e, |d| if normal else 0, deep)``: :math:`\hat e_i` with deep and masked entries set
    to 0 (``m`` has keepdims shape)."""
    d = xp.where(fin, x - m, 0.0)
    normal = fin & (d >= D_DEEP)
    return xp.where(normal, xp.exp(xp.where(normal, d, 0.0)), 0.0), xp.where(normal, -d, 0.0), fin & ~normal


def guarded_exp(x: Any, m: Any, fin: Any, xp: Any = jnp) -> tuple[Any, Any, Any]:
    r"""``(e, rho_d, n_sub)``: :math:`\hat e_i` with deep and masked entries set to 0, the argument term
    :math:`\max_{\rm normal}|d_i|` and the deep count :math:`n_{\rm sub}` (``m`` has keepdims shape)."""
    e, absd, deep = guarded_terms(x, m, fin, xp)
    return e, xp.max(absd, axis=-1), xp.sum(deep, axis=-1)


def guard_rho(n: Any, max_abs_d: Any, c_exp: float) -> Any:
    r""":math:`\rho=(n+1)u+u\max|d_i|+c_{\exp}u` (§3.2, step 3)."""
    return (n + 1) * U + U * max_abs_d + c_exp * U


def check_c_exp(c_exp: Any, n: int) -> None:
    """``c_exp`` must be a finite float ``>= 0`` and ``n + c_exp <= 2^51`` (the guard's domain)."""
    if not isinstance(c_exp, (int, float)) or isinstance(c_exp, bool) or not np.isfinite(c_exp) or c_exp < 0:
        raise ValueError(f"c_exp must be a finite number >= 0 (exp error in ulps), got {c_exp!r}")
    if n + c_exp > N_MAX:
        raise ValueError(f"logits: row length {n} is outside the rounding guard's domain n + c_exp <= 2^51")


def tau_bounds(tail: Any, z: Any, count: Any, rho: Any, n_sub: Any, xp: Any = jnp) -> tuple[Any, Any, Any]:
    """``(r, tau_up, tau_lo)`` of §3.2 for a tail of ``count`` terms whose normal part sums to ``tail``
    (shared by every path). ``count == 0`` (empty tail) gives exactly ``(0, 0, 0)``."""
    r = tail / z
    up = r * ((1 + rho) / (1 - rho)) * (1 + 4 * U) + n_sub * E_DEEP
    lo = xp.maximum(r * ((1 - rho) / (1 + rho)) * (1 - 4 * U) - n_sub * E_DEEP, 0.0)
    empty = count == 0
    return xp.where(empty, 0.0, r), xp.where(empty, 0.0, up), xp.where(empty, 0.0, lo)
