r"""Claim on MC-Search (spec ``topk_tv`` §3.6, C15; Thm 7.2 reconstructed): termination implies the
certificate, on synthetic attention heads and on adversarial rows with hand-made cells.

The truth is computed in extended precision (numpy ``longdouble``) from the float64 logits, as for
``topk.certified_topk_sound``; with ``eps = 0`` any dropped finite key is a violation (its exact mass
is positive even where longdouble underflows).
"""

from __future__ import annotations

import numpy as np

from attnverify.proofs_numeric import Context, Evidence, claim

from ._certified_reference import certified_topk_reference
from ._claims_certified import wide_span_rows
from ._mc_search import mc_search
from ._mc_search_cells import mc_search_attention

__all__ = ["synthetic_head", "mc_search_violations"]

FULL = 600  #: synthetic heads per run at scale 1 (16 query rows each)


def synthetic_head(rng: np.random.Generator, n: int, d: int, kind: str, q_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """``(Q [16, d], K [n, d])``: ``random`` keys (i.i.d. normal) or ``clustered`` keys (n/16 centres,
    noise 0.15: the spec's reference setting); query norms scaled by ``q_scale``."""
    if kind == "random":
        k = rng.standard_normal((n, d))
    else:
        centres = rng.standard_normal((max(n // 16, 1), d))
        k = centres[rng.integers(len(centres), size=n)] + 0.15 * rng.standard_normal((n, d))
    return q_scale * rng.standard_normal((16, d)), k


def mc_search_violations(x: np.ndarray, eps: np.ndarray, res) -> np.ndarray:
    """Per-row violations of the certificate: true tail of ``kept`` > eps, ``tau_upper`` > eps,
    ``|H| < k*`` where the reference certifies ``k*``, or a count out of order (``|H| <= scored <= n``)."""
    fin = np.isfinite(x)
    xl = x.astype(np.longdouble)
    with np.errstate(invalid="ignore"):
        e = np.where(fin, np.exp(xl - np.max(np.where(fin, xl, -np.inf), axis=-1, keepdims=True)), 0)
    kept = np.asarray(res.kept)
    tail, z = np.where(kept, 0, e).sum(-1), e.sum(-1)
    ref = certified_topk_reference(x, eps)
    bad = (tail > eps * z) | ((eps == 0) & (fin & ~kept).any(-1)) | (res.tau_upper > eps)
    bad |= (res.k < ref.k) & ref.minimal_certified
    bad |= (res.k > res.scored) | (res.scored > fin.sum(-1)) | (kept.sum(-1) != res.k)
    return bad


def _adversarial(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Wide-span / masked rows with random cells and bounds = cell max + slack (0, small, huge)."""
    x = wide_span_rows(rng, 32)
    n_cells = 6
    cell = rng.integers(n_cells, size=x.shape)
    fin = np.isfinite(x)
    cmax = np.full((len(x), n_cells), -np.inf)
    np.maximum.at(cmax, (np.repeat(np.arange(len(x)), x.shape[1]), cell.ravel()), np.where(fin, x, -np.inf).ravel())
    slack = rng.choice([0.0, 1e-3, 2.0, 1e3, 1e300], size=cmax.shape)
    with np.errstate(over="ignore"):
        upper = np.where(np.isfinite(cmax), np.minimum(cmax + slack, np.finfo(np.float64).max), rng.normal(size=cmax.shape))
    upper = np.maximum(upper, cmax)
    eps_grid = np.array([0.0, 1e-300, 1e-12, 0.01, 0.3])
    rows = np.repeat(np.arange(len(x)), len(eps_grid))
    return x[rows], cell[rows], upper[rows], np.tile(eps_grid, len(x))


@claim("topk.mc_search_sound", paper="topk_tv", equation="§3.6 (MC-Search, Thm 7.2, reconstructed)",
       statement=r"\tau(H)\le\texttt{tau\_upper}\le\varepsilon\ \text{at termination, hence}\ |H|\ge k^*;\ "
                 r"|H|\le\text{scored}\le n",
       provenance="derived", tolerance=0.0, error="violations (count per instance)")
def mc_search_sound(ctx: Context) -> Evidence:
    """MC-Search with k-means ball cells on synthetic heads (random and clustered keys, n in {64, 128,
    256}, d = 16) and with random cells and loose bounds on adversarial rows never certifies a kept set
    whose true tail exceeds eps. Details: mean scored keys and mean k* per head type (n / scored is the
    saving; k* is a lower bound on what any certified method must score)."""
    rng = ctx.rng
    rand, stats = [], {}
    for h in range(ctx.count(FULL)):
        kind = ("random", "clustered")[h % 2]
        n = (64, 128, 256)[(h // 2) % 3]
        q, k = synthetic_head(rng, n, 16, kind, rng.uniform(0.5, 3.0))
        eps = float(rng.choice([1e-3, 0.01, 0.05, 0.1]))
        res = mc_search_attention(q, k, eps, seed=h)
        x = (q @ k.T) / 4.0
        rand.append(mc_search_violations(x, np.full(len(x), eps), res).astype(float))
        s = stats.setdefault(f"{kind}_n{n}", {"scored": [], "k_star": [], "kept": []})
        s["scored"].append(res.scored.mean())
        s["kept"].append(res.k.mean())
        s["k_star"].append(certified_topk_reference(x, eps).k.mean())
    x, cell, upper, eps = _adversarial(rng)
    res = mc_search(x, eps, cell, upper)
    adv = mc_search_violations(x, eps, res).astype(float)
    details = {key: {name: float(np.mean(v)) for name, v in s.items()} for key, s in stats.items()}
    return Evidence.from_errors(np.concatenate(rand), adv, details=details)
