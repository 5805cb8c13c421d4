r"""MC-Search (``docs/papers/topk_tv.md``, C15; Thm 7.2 of the paper, reconstructed): certified Top-k that
scores only part of the keys.

Keys are grouped into cells :math:`C_j`, each with an upper bound :math:`U_j\ge s_i` for all
:math:`i\in C_j` (for ball cells, :func:`ball_upper_bounds`). Cells are scored in decreasing
:math:`U_j`. After each cell, with :math:`S` the scored keys, :math:`Z_S=\sum_{i\in S}e^{s_i}` and
:math:`B=\sum_{j\ \rm open}|C_j|e^{U_j}`,

.. math:: \hat\tau(h)=\frac{Z_S-Z_{\text{top-}h}+B}{Z_S+B},\qquad h=1..|S|,

is an upper bound on the true tail of the top-:math:`h` scored keys, because the unscored mass
:math:`Z_{\rm unscored}\le B` and :math:`x\mapsto(a+x)/(b+x)` is non-decreasing for :math:`a\le b`.
:math:`\min_h\hat\tau(h)=\hat\tau(|S|)=B/(Z_S+B)`, so the search stops at the first cell after which
:math:`B/(Z_S+B)\le\varepsilon` and keeps the top :math:`h^*` scored keys, :math:`h^*` the smallest
:math:`h` with :math:`\hat\tau(h)\le\varepsilon`. Once every cell is scored :math:`B=0`, so it always
stops. **Cost = the number of scored keys** (``scored``), at least :math:`k^*` and at most :math:`n`.

Every :math:`\hat\tau` is evaluated with the rounding guard of §3.2 (:func:`tau_bounds`, the shift
:math:`m` = the largest scored logit or open bound, so :math:`Z_S+B\ge1`; ``rho`` counts the
:math:`|S|+\#\text{open}` terms plus one rounding of :math:`|C_j|\hat e_j`), so ``tau_upper`` is a
rigorous bound on the true tail of the kept set: **soundness** :math:`\tau(H)\le\texttt{tau\_upper}
\le\varepsilon`, hence :math:`|H|\ge k^*` (claim ``topk.mc_search_sound``).

This is a host-side numpy routine (concrete arrays only, not jit-able): rows are vectorised, cells
are a Python loop of at most :math:`C` steps, each :math:`O(Rn)`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from jax.typing import ArrayLike

from ._certificate import check_c_exp, guard_rho, guarded_exp, tau_bounds
from ._validate import check_eps, check_logits

__all__ = ["MCSearchResult", "mc_search"]


class MCSearchResult(NamedTuple):
    """Result of :func:`mc_search` (batch shape ``B = logits.shape[:-1]``), numpy arrays."""

    k: np.ndarray  #: int ``B``: kept keys :math:`|H|=h^*` (>= k*; 0 for fully masked rows)
    kept: np.ndarray  #: bool ``B + (n,)``: kept keys in token order
    scored: np.ndarray  #: int ``B``: scored keys (the cost; masked keys are never scored)
    cells_scored: np.ndarray  #: int ``B``: cells opened before the stop
    tau_upper: np.ndarray  #: float64 ``B``: rigorous bound on the true tail of ``kept``, ``<= eps``


def _as_array(value: Any, name: str, dtype: Any = None) -> np.ndarray:
    """``np.asarray`` naming the argument when the value is not numeric (strings, ragged lists, None)."""
    try:
        a = np.asarray(value) if dtype is None else np.asarray(value, dtype)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}: {e}") from None
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}")
    return a


def _broadcast(a: np.ndarray, shape: tuple, name: str, target: str) -> np.ndarray:
    try:
        return np.broadcast_to(a, shape)
    except ValueError:
        raise ValueError(f"{name} of shape {a.shape} does not broadcast to {target} {shape}") from None


def _check_cells(x: np.ndarray, cell: np.ndarray, upper: np.ndarray) -> None:
    if not np.issubdtype(cell.dtype, np.integer):
        raise TypeError(f"cell must be an integer array (cell index per key), got dtype {cell.dtype}")
    if cell.shape != x.shape:
        raise ValueError(f"cell has shape {cell.shape}, which does not broadcast to logits {x.shape}")
    if upper.shape[:-1] != x.shape[:-1]:
        raise ValueError(f"upper must have shape logits.shape[:-1] + (n_cells,), got {upper.shape} for {x.shape}")
    c = upper.shape[-1]
    if (cell < 0).any() or (cell >= c).any():
        raise ValueError(f"cell indices must lie in [0, {c}) (n_cells = upper.shape[-1])")
    if np.isnan(upper).any():
        raise ValueError("upper contains NaN")
    u_i = np.take_along_axis(upper, cell, axis=-1)
    bad = np.isfinite(x) & ~(x <= u_i)
    if bad.any():
        i = tuple(int(a) for a in np.argwhere(bad)[0])
        raise ValueError(f"upper is not an upper bound: logit {x[i]!r} at {i} exceeds its cell bound {u_i[i]!r}")


def mc_search(logits: ArrayLike, eps: ArrayLike, cell: ArrayLike, upper: ArrayLike, *, c_exp: float = 2.0) -> MCSearchResult:
    r"""Run MC-Search on each row of ``logits`` ``[..., n]`` (float64, ``-inf`` = masked key).

    **Arguments:**

    - ``eps``: TV budget in ``[0, 1)``, scalar or per row.
    - ``cell``: int ``[..., n]`` (broadcast to ``logits``): the cell of each key, in ``[0, C)``.
    - ``upper``: float64 ``[..., C]``: :math:`U_j\ge s_i` for every key of cell :math:`j` (checked;
      ``ValueError`` if violated). Empty cells are skipped.
    - ``c_exp``: exp accuracy in ulps for the §3.2 guard.

    **Returns:** :class:`MCSearchResult`; ``scored`` is the cost reported next to :math:`k_\varepsilon`.

    Example: keys ``(3, 3, 1, 1, 1)`` in cells ``(0, 0, 1, 1, 1)`` with ``upper = (3, 1)`` and
    ``eps = 0.2``: after cell 0, :math:`B/(Z_S+B)=3e/(2e^3+3e)=0.169\le0.2`, so it stops with 2 scored keys
    and keeps both.
    """
    check_logits(logits)
    check_eps(eps, allow_zero=True)
    x = np.asarray(logits, np.float64)
    if x.ndim == 0:
        raise ValueError("logits must have at least one axis [..., n]")
    check_c_exp(c_exp, x.shape[-1])
    up = _as_array(upper, "upper", np.float64)
    if up.ndim == 0 or up.shape[-1] == 0:
        raise ValueError(f"upper must have shape logits.shape[:-1] + (n_cells,) with n_cells >= 1, got {up.shape}")
    cl = _as_array(cell, "cell")
    cl = _broadcast(cl, x.shape, "cell", "logits") if cl.ndim <= x.ndim else cl
    up = _broadcast(up, x.shape[:-1] + up.shape[-1:], "upper", "logits.shape[:-1] + (n_cells,)")
    _check_cells(x, cl, up)
    _broadcast(np.asarray(eps, np.float64), x.shape[:-1], "eps", "the batch shape logits.shape[:-1]")
    shape, n, c = x.shape[:-1], x.shape[-1], up.shape[-1]
    x, cl, up = x.reshape(-1, n), cl.reshape(-1, n), up.reshape(-1, c)
    epsr = np.broadcast_to(np.asarray(eps, np.float64), shape).reshape(-1)
    out = _search(x, cl.astype(np.int64), up, epsr, float(c_exp))
    return MCSearchResult(*(o.reshape(shape + o.shape[1:]) for o in out))


def _search(x: np.ndarray, cl: np.ndarray, up: np.ndarray, eps: np.ndarray, c_exp: float) -> MCSearchResult:
    r, n = x.shape
    c = up.shape[1]
    fin = np.isfinite(x)
    rows = np.arange(r)[:, None]
    size = np.bincount((cl + c * rows).ravel(), weights=fin.ravel(), minlength=r * c).reshape(r, c)
    u_eff = np.where(size > 0, up, -np.inf)
    order = np.argsort(-u_eff, axis=1, kind="stable")  # explore order: decreasing U_j
    rank = np.argsort(order, axis=1)
    pos = np.take_along_axis(rank, cl, axis=1)  # explore step at which each key is scored
    n_cells = (size > 0).sum(1)
    u_sorted = np.take_along_axis(u_eff, order, axis=1)
    size_sorted = np.take_along_axis(size, order, axis=1)
    stop = np.full(r, -1)
    with np.errstate(invalid="ignore", over="ignore"):
        for j in range(c):
            todo = (stop < 0) & (j < n_cells)
            if not todo.any():
                break
            up_j, *_ = _bounds(x[todo], fin[todo] & (pos[todo] <= j), u_sorted[todo], size_sorted[todo], j, c_exp)
            hit = np.flatnonzero(todo)[up_j <= eps[todo]]
            stop[hit] = j
    stop = np.maximum(stop, 0)
    scored_mask = fin & (pos <= stop[:, None])
    with np.errstate(invalid="ignore", over="ignore"):
        k, kept, tau_up = _select(x, scored_mask, u_sorted, size_sorted, stop, eps, c_exp)
    empty = n_cells == 0
    return MCSearchResult(np.where(empty, 0, k), kept & ~empty[:, None], scored_mask.sum(1),
                          np.where(empty, 0, stop + 1), np.where(empty, 0.0, tau_up))


def _open_terms(x, scored, u_sorted, size_sorted, j):
    """Shift ``m`` (largest scored logit or open bound), open bounds and sizes after step ``j`` (per row)."""
    j = np.broadcast_to(j, (len(x),))
    open_ = np.arange(u_sorted.shape[1])[None, :] > j[:, None]
    u_open = np.where(open_ & (size_sorted > 0), u_sorted, -np.inf)
    m = np.maximum(np.max(np.where(scored, x, -np.inf), axis=1), np.max(u_open, axis=1))[:, None]
    return m, u_open, np.where(np.isfinite(u_open), size_sorted, 0)


def _bounds(x, scored, u_sorted, size_sorted, j, c_exp):
    """Guarded ``tau_hat(|S|) = B / (Z_S + B)`` after step ``j``: ``(tau_up, z, b, rho, n_sub)``."""
    m, u_open, sz = _open_terms(x, scored, u_sorted, size_sorted, j)
    e, dmax, n_sub = guarded_exp(x, m, scored, xp=np)
    eb, dmax_b, _ = guarded_exp(u_open, m, np.isfinite(u_open), xp=np)
    deep_b = (np.isfinite(u_open) & (eb == 0) & (sz > 0)) * sz
    b = np.sum(sz * eb, axis=1)
    z = np.sum(e, axis=1) + b
    terms = scored.sum(1) + (sz > 0).sum(1)
    rho = guard_rho(terms + 1, np.maximum(dmax, dmax_b), c_exp)
    n_sub = n_sub + deep_b.sum(1)
    _, tau_up, _ = tau_bounds(b, z, (sz > 0).sum(1), rho, n_sub, xp=np)
    return tau_up, z, b, rho, n_sub


def _select(x, scored, u_sorted, size_sorted, stop, eps, c_exp):
    """Smallest ``h`` with guarded ``tau_hat(h) <= eps`` among the scored keys (stable on ``(-s, i)``)."""
    tau_all, _, b, rho, n_sub = _bounds(x, scored, u_sorted, size_sorted, stop, c_exp)
    m, *_ = _open_terms(x, scored, u_sorted, size_sorted, stop)
    xs_ = np.where(scored, x, -np.inf)
    order = np.argsort(-xs_, axis=1, kind="stable")
    xs = np.take_along_axis(xs_, order, axis=1)
    fin = np.isfinite(xs)
    e, _, _ = guarded_exp(xs, m, fin, xp=np)
    suffix = np.concatenate([np.cumsum(e[:, ::-1], axis=1)[:, ::-1], np.zeros_like(e[:, :1])], axis=1)
    z = suffix[:, :1] + b[:, None]
    ns = fin.sum(1)
    hh = np.arange(x.shape[1] + 1)[None, :]
    n_open = (np.arange(u_sorted.shape[1])[None, :] > stop[:, None]) & (size_sorted > 0)
    cnt = np.maximum(ns[:, None] - hh, 0) + n_open.sum(1)[:, None]
    _, tau_h, _ = tau_bounds(suffix + b[:, None], z, cnt, rho[:, None], n_sub[:, None], xp=np)
    at_all = hh == ns[:, None]
    tau_h = np.where(at_all, np.minimum(tau_h, tau_all[:, None]), tau_h)  # h = |S| passed the stop test
    ok = ((tau_h <= eps[:, None]) | at_all) & (hh >= 1) & (hh <= ns[:, None])
    k = np.argmax(ok, axis=1)
    kept_sorted = np.arange(x.shape[1])[None, :] < k[:, None]
    kept = np.zeros(x.shape, bool)
    np.put_along_axis(kept, order, kept_sorted, axis=1)
    return k, kept, np.take_along_axis(tau_h, k[:, None], axis=1)[:, 0]
