"""Sort-based float64 reference of certified Top-k, and the optional 50-digit exact fallback.

Spec ``topk_tv`` §3.1-§3.3. The reference sorts each row stably on :math:`(-s_i,i)`, forms the
suffix sums :math:`\hat T_k` accumulated from the smallest term (``np.cumsum``), and applies the
same §3.2 rounding guard as :func:`bounds.certified_topk` (shared :func:`tau_bounds`), so the two
agree exactly in ``k`` and the kept set.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ._certified import U, CertifiedTopK, tau_bounds
from ._validate import check_eps, check_logits

__all__ = ["certified_topk_reference", "exact_fallback"]


def certified_topk_reference(logits: Any, eps: Any, *, tie: Literal["index", "group"] = "index",
                             c_exp: float = 2.0) -> CertifiedTopK:
    """Float64 numpy reference of :func:`certified_topk`: stable sort on ``(-s_i, i)``, suffix sums
    accumulated from the smallest term (``np.cumsum``), and the same §3.2 guard. Slow, independent."""
    check_logits(logits)
    check_eps(eps, allow_zero=True)
    x = np.asarray(logits, dtype=np.float64)
    batch = x.shape[:-1]
    epsb = np.broadcast_to(np.asarray(eps, np.float64), batch)
    out = {f: np.zeros(batch, dtype=t) for f, t in
           [("k", np.int64), ("tau", float), ("tau_upper", float), ("tau_lower_prev", float),
            ("minimal_certified", bool), ("kl", float), ("n_kept", np.int64)]}
    kept = np.zeros(x.shape, dtype=bool)
    for i in np.ndindex(batch):
        row, ep = x[i], float(epsb[i])
        idx = np.nonzero(np.isfinite(row))[0]
        if idx.size == 0:
            out["tau_lower_prev"][i], out["minimal_certified"][i] = 1.0, True
            continue
        order = idx[np.argsort(-row[idx], kind="stable")]
        d = row[order] - row[order].max()
        e = np.exp(d)
        n = len(e)
        suffix = np.concatenate([np.cumsum(e[::-1])[::-1], [0.0]])  # suffix[k] = T_k
        rho = (n + 1) * U + U * np.max(np.abs(d)) + c_exp * U
        n_sub = int(np.sum(d < -700.0))
        cnt = n - np.arange(n + 1)
        r, up, lo = tau_bounds(suffix, suffix[0], cnt, rho, n_sub, xp=np)
        k = int(np.argmax(up[1:] <= ep)) + 1
        last = k
        if tie == "group":
            while last < n and row[order[last]] == row[order[k - 1]]:
                last += 1
        kept[i + (order[:last],)] = True
        t = r[last]
        tu = up[last]
        out["k"][i], out["n_kept"][i], out["tau"][i], out["tau_upper"][i] = k, last, t, tu
        out["tau_lower_prev"][i] = 1.0 if k == 1 else lo[k - 1]
        out["minimal_certified"][i] = out["tau_lower_prev"][i] > ep
        out["kl"][i] = -np.log1p(-t)
    return CertifiedTopK(out["k"], kept, out["tau"], out["tau_upper"], out["tau_lower_prev"],
                         out["minimal_certified"], out["kl"], out["n_kept"])


def exact_fallback(logits: Any, eps: Any, res: CertifiedTopK, *, tie: str = "index", dps: int = 50) -> CertifiedTopK:
    """Re-decide rows with ``minimal_certified == False`` in ``dps``-digit mpmath arithmetic.

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
