r"""Per-row computations of the ``topk-real`` experiment, in fixed-shape blocks.

- :func:`finite_n_predictor`: :func:`bounds.keps_finite_n` (and :func:`bounds.keps_rule`)
  tabulated on a grid of spreads and interpolated in probit space;
- :func:`certify_rows`: :func:`bounds.certified_topk` on ``[CHUNK, width]`` blocks (rows padded
  with ``-inf`` keys, which are masked and not counted in $n$), so every sequence length shares
  one compiled program;
- independent checks from the kept mask alone: the direct TV $\tfrac12\sum_i|p_i-\widehat p_i|$,
  minimality (dropping the lowest kept key must break TV $\le\varepsilon$) and the actual output
  error $\|\mathrm{Attn}-\mathrm{Attn}_k\|_2$;
- :func:`bounds_on_sample`: :func:`bounds.output_error_bounds` on a seeded sample of rows.

All arrays are float64 numpy; rows are ``[R, n]``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np
from scipy.special import ndtr, ndtri

__all__ = ["SIGMA_RANGE", "CHUNK", "finite_n_predictor", "certify_rows", "tv_direct", "minimality_violations",
           "output_error", "softmax", "bounds_on_sample"]

SIGMA_RANGE = (0.25, 6.0)  #: spreads where the finite-n predictor is tabulated


@functools.lru_cache(maxsize=64)
def _probit_table(which: str, n: int, eps: float, points: int) -> tuple[np.ndarray, np.ndarray]:
    from attnverify import bounds

    grid = np.linspace(SIGMA_RANGE[0], SIGMA_RANGE[1], points)
    vals = bounds.keps_finite_n(n, grid, eps) if which == "finite_n" else bounds.keps_rule(grid, eps)
    return grid, ndtri(np.clip(np.asarray(vals, np.float64), 1e-300, 1 - 1e-16))


def finite_n_predictor(n: int, eps: float, points: int = 9, which: str = "finite_n"):
    r"""$\sigma\mapsto$ :func:`bounds.keps_finite_n` $(n,\sigma,\varepsilon)$ (or, with
    ``which="rule"``, :func:`bounds.keps_rule`), tabulated and interpolated.

    The predictor costs ~0.3 s per evaluation, so it is tabulated on ``points`` spreads in
    :data:`SIGMA_RANGE` and interpolated linearly in probit space, where the asymptotic rule
    $\Phi_c(\sigma+z_\varepsilon)$ is exactly linear ($\Phi^{-1}(k/n)=-\sigma-z_\varepsilon$, so the rule
    is reproduced to rounding); outside the range it is extrapolated linearly. Cached per process.
    Measured interpolation error against direct evaluation at $n\in\{128,512\}$: at most 0.009
    (7 points), 0.006 (9), 0.0015 (17) in $k_\varepsilon/n$.
    """
    grid, probit = _probit_table(which, int(n), float(eps), int(points))

    def f(sigma: np.ndarray) -> np.ndarray:
        x = np.asarray(sigma, np.float64)
        inner = np.interp(x, grid, probit)
        lo = probit[0] + (x - grid[0]) * (probit[1] - probit[0]) / (grid[1] - grid[0])
        hi = probit[-1] + (x - grid[-1]) * (probit[-1] - probit[-2]) / (grid[-1] - grid[-2])
        return ndtr(np.where(x < grid[0], lo, np.where(x > grid[-1], hi, inner)))

    return f


CHUNK = 1536  #: rows per certified_topk call (= 12 heads x 128 queries): one compiled shape


def _blocks(x: np.ndarray, width: int, fill: float) -> tuple[np.ndarray, int]:
    """Pad rows ``[R, n, ...]`` to ``[ceil(R/CHUNK)*CHUNK, width, ...]`` (new keys = ``fill``, new rows
    copy row 0); returns the padded array and ``R``."""
    r, n = x.shape[:2]
    rows = -(-r // CHUNK) * CHUNK
    out = np.full((rows, width) + x.shape[2:], fill)
    out[:r, :n] = x
    out[r:, :n] = x[:1]
    return out, r


def certify_rows(s: np.ndarray, eps: float, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`bounds.certified_topk` on rows ``s`` ``[R, n]`` in fixed blocks ``[CHUNK, width]``;
    returns ``k`` ``[R]``, ``kept`` ``[R, n]``, ``minimal_certified`` ``[R]``."""
    from attnverify import bounds

    x, r = _blocks(s, width, -np.inf)
    parts = [bounds.certified_topk(x[i: i + CHUNK], eps) for i in range(0, len(x), CHUNK)]
    k, kept, minimal = (np.concatenate([np.asarray(getattr(c, f)) for c in parts])[:r]
                        for f in ("k", "kept", "minimal_certified"))
    return k, kept[:, : s.shape[1]].astype(bool), minimal.astype(bool)


def tv_direct(p: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """$\\tfrac12\\sum_i|p_i-\\widehat p_i|$ from the kept mask (independent of the certificate)."""
    head = np.where(kept, p, 0.0)
    phat = head / head.sum(-1, keepdims=True)
    return 0.5 * np.abs(p - phat).sum(-1)


def minimality_violations(p: np.ndarray, s: np.ndarray, kept: np.ndarray, check: np.ndarray, eps: float) -> int:
    """Rows flagged minimal where dropping the lowest kept logit still gives TV <= eps (should be 0)."""
    if not check.any():
        return 0
    p, s, kept = p[check], s[check], kept[check]
    prev = kept.copy()
    np.put_along_axis(prev, np.where(kept, s, np.inf).argmin(-1)[:, None], False, axis=-1)
    return int((tv_direct(p, prev) <= eps).sum())


def output_error(p: np.ndarray, kept: np.ndarray, v: np.ndarray) -> np.ndarray:
    """$\\|\\mathrm{Attn}-\\mathrm{Attn}_k\\|_2$ computed directly (exactly 0 when every key is kept):
    ``p`` ``[m,n]``, ``kept`` ``[m,n]``, ``v`` ``[m,n,d]``."""
    head = np.where(kept, p, 0.0)
    diff = p - head / head.sum(-1, keepdims=True)
    return np.where(kept.all(-1), 0.0, np.linalg.norm(np.einsum("mn,mnd->md", diff, v), axis=-1))


def softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@functools.lru_cache(maxsize=8)
def _jit(fn: Any) -> Any:
    """One compiled program per input shape instead of one per primitive (validation runs on
    concrete input only, so it is skipped under ``jit``)."""
    return jax.jit(fn)


def bounds_on_sample(rng: np.random.Generator, s: np.ndarray, v: np.ndarray, p: np.ndarray, k: np.ndarray,
                     kept: np.ndarray, m: int, width: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Actual error (direct) and :func:`bounds.output_error_bounds` on ``m`` random rows of ``s``
    ``[R, n]`` (values ``v`` ``[R/n, n, d]``: one block per sequence and head); the rows are padded
    to ``width`` keys (logit ``-inf``, value 0) so every call has one shape."""
    from attnverify import bounds

    n = s.shape[1]
    idx = np.sort(rng.choice(len(s), size=m, replace=len(s) < m))
    vs = v[idx // n]  # the values of each row's (sequence, head)
    sp = np.full((m, width), -np.inf)
    sp[:, :n] = s[idx]
    vp = np.zeros((m, width, v.shape[-1]))
    vp[:, :n] = vs
    ob = _jit(bounds.output_error_bounds)(sp, vp, k[idx])
    fields = dict(zip(bounds.OUTPUT_BOUND_NAMES, ("diameter", "variance", "two_c_tau")))
    return output_error(p[idx], kept[idx], vs), {b: np.asarray(getattr(ob, f)) for b, f in fields.items()}
