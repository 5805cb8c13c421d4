r"""Ball cells for MC-Search (``docs/papers/topk_tv.md``, our choice) and the attention entry point.

Keys :math:`k_i\in\mathbb R^d` are clustered by k-means (Lloyd, :math:`\lceil n/16\rceil` cells by
default) into cells :math:`C_j` with centre :math:`c_j` and radius :math:`r_j=\max_{i\in C_j}\|k_i-c_j\|_2`.
By Cauchy–Schwarz every logit of the cell obeys

.. math:: s_i=\mathrm{scale}\,\langle q,k_i\rangle\le U_j=\mathrm{scale}\,(\langle q,c_j\rangle+\|q\|_2r_j)
          \quad(\mathrm{scale}\ge0),

and :func:`ball_upper_bounds` adds a float64 rounding margin
:math:`4(d+4)u\,\mathrm{scale}\,\|q\|(\|c_j\|+r_j+\max_i\|k_i\|)`, which exceeds the error of the computed
dot products :math:`|\mathrm{fl}(q\cdot k)-q\cdot k|\le\gamma_d\|q\|\|k\|` and of the computed radius, so
the bound holds for the *computed* logits too.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from jax.typing import ArrayLike

from attnverify.proofs_numeric.precision import check_int, check_real

from ._certificate import U
from ._mc_search import MCSearchResult, _as_array, mc_search

__all__ = ["BallCells", "ball_cells", "ball_upper_bounds", "mc_search_attention"]


class BallCells(NamedTuple):
    assign: np.ndarray  #: int ``[n]``: cell of each key
    centers: np.ndarray  #: float64 ``[C, d]``
    radii: np.ndarray  #: float64 ``[C]``: max distance of a member to its centre (0 for empty cells)
    key_norm_max: float  #: max_i ||k_i||


def ball_cells(keys: ArrayLike, n_cells: int | None = None, *, iters: int = 10, seed: int = 0) -> BallCells:
    r"""k-means ball cells of ``keys`` ``[n, d]`` (float64): ``n_cells`` defaults to :math:`\lceil n/16\rceil`;
    ``iters`` Lloyd steps from ``n_cells`` distinct keys drawn with ``seed``."""
    k = _as_array(keys, "keys", np.float64)
    if k.ndim != 2 or k.shape[0] < 1 or k.shape[1] < 1:
        raise ValueError(f"keys must have shape [n, d] with n, d >= 1, got {k.shape}")
    if not np.isfinite(k).all():
        raise ValueError(f"keys contain NaN or inf (first at index {tuple(int(i) for i in np.argwhere(~np.isfinite(k))[0])})")
    n = k.shape[0]
    c = math.ceil(n / 16) if n_cells is None else check_int(n_cells, "n_cells", minimum=1, maximum=n)
    iters = check_int(iters, "iters", minimum=0)
    seed = check_int(seed, "seed", minimum=0)
    centers = k[np.random.default_rng(seed).choice(n, c, replace=False)].copy()
    for _ in range(iters + 1):
        dist = ((k[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
        assign = np.argmin(dist, axis=1)
        sums = np.zeros_like(centers)
        np.add.at(sums, assign, k)
        counts = np.bincount(assign, minlength=c)
        nonempty = counts > 0
        centers[nonempty] = sums[nonempty] / counts[nonempty, None]
    dist = np.linalg.norm(k - centers[assign], axis=1)
    radii = np.zeros(c)
    np.maximum.at(radii, assign, dist)
    return BallCells(assign, centers, radii, float(np.linalg.norm(k, axis=1).max()))


def ball_upper_bounds(query: ArrayLike, cells: BallCells, scale: float) -> np.ndarray:
    r""":math:`U_j` of every query row ``[..., d]`` and cell: ``[..., C]`` (rigorous for computed logits)."""
    q = _as_array(query, "query", np.float64)
    scale = check_real(scale, "scale", nonnegative=True)
    if not isinstance(cells, BallCells):
        raise TypeError(f"cells must be a BallCells (from ball_cells), got {type(cells).__name__}")
    if q.ndim < 1 or q.shape[-1] != cells.centers.shape[1]:
        raise ValueError(f"query must have shape [..., d] with d = {cells.centers.shape[1]} (the keys' width), got {q.shape}")
    if not np.isfinite(q).all():
        raise ValueError(f"query contains NaN or inf (first at index {tuple(int(i) for i in np.argwhere(~np.isfinite(q))[0])})")
    d = q.shape[-1]
    qn = np.linalg.norm(q, axis=-1, keepdims=True)
    margin = 4 * (d + 4) * U * scale * qn * (np.linalg.norm(cells.centers, axis=1) + cells.radii + cells.key_norm_max)
    return scale * (q @ cells.centers.T + qn * cells.radii) + margin


def mc_search_attention(query: ArrayLike, keys: ArrayLike, eps: ArrayLike, *, scale: float | None = None, n_cells: int | None = None,
                        key_mask: ArrayLike | None = None, iters: int = 10, seed: int = 0) -> MCSearchResult:
    r"""MC-Search over the logits :math:`s=\mathrm{scale}\,QK^\top` of one attention head.

    ``query`` ``[R, d]``, ``keys`` ``[n, d]``, ``scale`` a finite real :math:`>0`, default :math:`1/\sqrt d`
    (our choice; ``scale = 0`` would make every logit 0, a uniform row with nothing to search, so it is refused),
    ``key_mask`` bool ``[n]`` (``False`` = padding: logit ``-inf``, never scored, not clustered),
    ``n_cells`` default :math:`\lceil n_{\rm valid}/16\rceil` (our choice). Returns
    :class:`MCSearchResult` over the ``n`` keys, e.g. ``res.scored.mean()`` against
    ``certified_topk(logits, eps).k.mean()`` (:math:`k_\varepsilon`, a lower bound on what any
    certified method must score).
    """
    q, k = _as_array(query, "query", np.float64), _as_array(keys, "keys", np.float64)
    if q.ndim != 2 or k.ndim != 2 or q.shape[1] != k.shape[1]:
        raise ValueError(f"query [R, d] and keys [n, d] must share d, got {q.shape} and {k.shape}")
    if q.shape[0] < 1 or q.shape[1] < 1:
        raise ValueError(f"query must have shape [R, d] with R, d >= 1, got {q.shape}")
    scale = 1.0 / math.sqrt(q.shape[1]) if scale is None else check_real(scale, "scale", positive=True)
    mask = np.ones(k.shape[0], bool) if key_mask is None else _as_array(key_mask, "key_mask")
    if mask.shape != (k.shape[0],):
        raise ValueError(f"key_mask must have shape ({k.shape[0]},), got {mask.shape}")
    if mask.dtype != bool:
        if not np.isin(mask, (0, 1)).all():
            raise ValueError("key_mask must be boolean (or 0/1): True keeps a key, False masks it")
        mask = mask.astype(bool)
    if not mask.any():
        raise ValueError("key_mask masks every key")
    cells = ball_cells(k[mask], n_cells, iters=iters, seed=seed)
    cell = np.zeros(k.shape[0], np.int64)
    cell[mask] = cells.assign
    logits = np.where(mask[None, :], scale * (q @ k.T), -np.inf)
    return mc_search(logits, eps, np.broadcast_to(cell, logits.shape), ball_upper_bounds(q, cells, scale))
