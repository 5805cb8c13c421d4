r"""Sort-based float64 reference of certified Top-k, and the optional 50-digit exact fallback.

Spec ``topk_tv`` §3.1-§3.3. The reference sorts each row stably on :math:`(-s_i,i)`, forms the
suffix sums :math:`\hat T_k` accumulated from the smallest term (``np.cumsum``), and applies the
same §3.2 rounding guard as :func:`bounds.certified_topk` (shared :func:`tau_bounds`), so the two
agree exactly in ``k`` and the kept set.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from jax.typing import ArrayLike

from ._certificate import CertifiedTopK, check_c_exp, guard_rho, guarded_exp, tau_bounds
from ._validate import check_eps, check_logits

__all__ = ["certified_topk_reference", "exact_fallback"]


def certified_topk_reference(logits: ArrayLike, eps: ArrayLike, *, tie: Literal["index", "group"] = "index",
                             c_exp: float = 2.0) -> CertifiedTopK:
    r"""Float64 numpy reference of :func:`bounds.certified_topk` (vectorised over padded rows).

    Stable argsort on :math:`-s` (lower index first among ties, masked keys last), suffix sums
    :math:`\hat T_k` accumulated from the smallest term by ``np.cumsum`` (masked zeros first, which
    does not change them), the §3.2 guard, and :math:`k=\min\{k\ge1:\tau^{\rm up}_k\le\varepsilon\}`.
    """
    check_logits(logits)
    check_eps(eps, allow_zero=True)
    x = np.asarray(logits, dtype=np.float64)
    check_c_exp(c_exp, x.shape[-1])
    epsb = np.broadcast_to(np.asarray(eps, np.float64), x.shape[:-1])[..., None]
    n_max = x.shape[-1]
    order = np.argsort(-x, axis=-1, kind="stable")
    xs = np.take_along_axis(x, order, axis=-1)
    fin = np.isfinite(xs)
    nf = fin.sum(axis=-1, keepdims=True)
    m = np.where(nf > 0, xs[..., :1], 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        e, dmax, n_sub = guarded_exp(xs, m, fin, xp=np)
    suffix = np.concatenate([np.cumsum(e[..., ::-1], axis=-1)[..., ::-1], np.zeros_like(e[..., :1])], axis=-1)
    z = np.where(nf > 0, suffix[..., :1], 1.0)
    rho = guard_rho(nf, dmax[..., None], c_exp)
    n_sub = n_sub[..., None]
    kk = np.arange(n_max + 1)
    cnt = np.maximum(nf - kk, 0)
    r, up, lo = tau_bounds(suffix, z, cnt, rho, n_sub, xp=np)
    ok = (up <= epsb) & (kk >= 1) & (kk <= nf)
    k = np.where(nf[..., 0] > 0, np.argmax(ok, axis=-1), 0)
    kept_sorted = np.arange(n_max) < k[..., None]
    if tie == "group":
        v = np.take_along_axis(xs, np.maximum(k - 1, 0)[..., None], axis=-1)
        kept_sorted = fin & (xs >= v) & (k[..., None] > 0)
    n_kept = kept_sorted.sum(axis=-1)
    kept = np.zeros(x.shape, dtype=bool)
    np.put_along_axis(kept, order, kept_sorted, axis=-1)
    t = np.take_along_axis(r, n_kept[..., None], axis=-1)[..., 0]
    tu = np.take_along_axis(up, n_kept[..., None], axis=-1)[..., 0]
    lp = np.take_along_axis(lo, np.maximum(k - 1, 0)[..., None], axis=-1)[..., 0]
    lp = np.where(k <= 1, 1.0, lp)
    empty = nf[..., 0] == 0
    return CertifiedTopK(k, kept, np.where(empty, 0.0, t), np.where(empty, 0.0, tu), lp,
                         empty | (lp > epsb[..., 0]) | (epsb[..., 0] == 0), np.where(empty, 0.0, -np.log1p(-t)), n_kept,
                         np.ones(k.shape, bool))


def exact_fallback(logits: ArrayLike, eps: ArrayLike, res: CertifiedTopK, *, tie: str = "index", dps: int = 50) -> CertifiedTopK:
    r"""Re-decide rows with ``minimal_certified == False`` in ``dps``-digit mpmath arithmetic.

    While :math:`\sum_{i\ge k}e^{s_{(i)}}\le\varepsilon\sum_ie^{s_i}` holds exactly (to ``dps`` digits)
    for the next smaller ``k``, ``k`` is lowered; the kept set, ``tau`` (rounded from the exact value)
    and ``tau_upper`` (the next float above it) are recomputed and minimality becomes certified.
    """
    import mpmath

    x = np.asarray(logits, dtype=np.float64)
    epsb = np.broadcast_to(np.asarray(eps, np.float64), x.shape[:-1])
    f = {name: np.array(v) for name, v in res._asdict().items()}
    for i in zip(*np.nonzero(~f["minimal_certified"])) if f["k"].ndim else ([()] if not f["minimal_certified"] else []):
        row, idx = x[i], np.nonzero(np.isfinite(x[i]))[0]
        order = idx[np.argsort(-row[idx], kind="stable")]
        with mpmath.workdps(dps):
            e = [mpmath.exp(mpmath.mpf(float(v))) for v in row[order]]
            z, ep = mpmath.fsum(e), mpmath.mpf(float(epsb[i]))
            k = int(f["k"][i])
            while k > 1 and mpmath.fsum(e[k - 1:]) <= ep * z:
                k -= 1
            tail, prev = mpmath.fsum(e[k:]), mpmath.fsum(e[k - 1:])
            last = k
            if tie == "group":
                while last < len(order) and row[order[last]] == row[order[k - 1]]:
                    last += 1
            tau = float(mpmath.fsum(e[last:]) / z)
            f["k"][i], f["n_kept"][i], f["tau"][i] = k, last, tau
            f["tau_upper"][i] = np.nextafter(tau, 1.0) if tail > 0 else 0.0
            f["tau_lower_prev"][i] = np.nextafter(float(prev / z), 0.0) if k > 1 else 1.0
            f["minimal_certified"][i] = k == 1 or prev > ep * z
            f["kl"][i] = -np.log1p(-tau)
            f["kept"][i] = False
            f["kept"][i + (order[:last],)] = True
    return CertifiedTopK(**f)
