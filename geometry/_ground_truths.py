r"""External ground truths of the curvature engine, as metric or mean functions.

Each case is a :class:`GroundTruth`: a chart (a metric function ``(m,) -> (m, m)`` or an
embedding ``(m,) -> (d,)``), a sampler of valid points, and the closed-form sectional curvature
$\kappa$ (constant-curvature cases) or Gaussian curvature $K(\theta)$. Sign pinned by the unit
sphere, $K=+1$.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

__all__ = ["GroundTruth", "ground_truths", "spd_metric", "SPD_SCALAR"]


@dataclasses.dataclass(frozen=True)
class GroundTruth:
    name: str
    kind: str  # "metric" or "mean"
    fn: Callable
    sample: Callable[[np.random.Generator], np.ndarray]
    curvature: Callable[[np.ndarray], float]  # Gaussian / constant sectional curvature at theta
    constant: bool = False  # constant sectional curvature: every plane, Ric = (m-1) k g


def _box(lo, hi):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return lambda rng: rng.uniform(lo, hi)


def _const(k):
    return lambda th: k


def spd_metric(p: int) -> Callable:
    r"""Fisher–Rao metric of $\mathcal N(0,\Sigma)$, $g_{ab}=\tfrac12\mathrm{tr}(\Sigma^{-1}E_a\Sigma^{-1}E_b)$, upper-triangular chart."""
    iu = np.triu_indices(p)
    basis = np.zeros((len(iu[0]), p, p))
    for a, (i, j) in enumerate(zip(*iu)):
        basis[a, i, j] = basis[a, j, i] = 1.0

    def metric(th):
        s = jnp.zeros((p, p)).at[iu].set(th)
        s = s + jnp.triu(s, 1).T
        x = jnp.linalg.solve(s, basis.transpose(1, 0, 2).reshape(p, -1)).reshape(p, -1, p).transpose(1, 0, 2)
        return 0.5 * jnp.einsum("aij,bji->ab", x, x)

    return metric


def _spd_sample(p: int):
    def sample(rng):
        b = rng.standard_normal((p, p))
        s = b @ b.T + p * np.eye(p)
        return s[np.triu_indices(p)]

    return sample


SPD_SCALAR = {2: -2.0, 3: -7.5, 4: -18.0}  # S = -p(p-1)(p+2)/4 (spec table)


def _categorical_metric(th):
    p0 = 1.0 - jnp.sum(th)
    return jnp.diag(1.0 / th) + 1.0 / p0


def _categorical_embedding(th):
    return 2.0 * jnp.sqrt(jnp.concatenate([th, (1.0 - jnp.sum(th))[None]]))


def _simplex_sample(n):
    return lambda rng: rng.dirichlet(np.ones(n + 1) * 3.0)[:n]


def _isotropic_normal_metric(d):
    def metric(th):
        w = jnp.concatenate([jnp.ones(d), jnp.array([2.0 * d])])
        return jnp.diag(w) / th[-1] ** 2

    return metric


def ground_truths() -> list[GroundTruth]:
    """The spec's table, plus categorical simplices of dimension 2-4 and SPD(2), SPD(3)."""
    r = 2.0
    big, small = 3.0, 1.0
    cases = [
        GroundTruth("unit_sphere_metric", "metric", lambda t: jnp.diag(jnp.stack([1.0, jnp.sin(t[0]) ** 2])), _box([0.2, -3], [2.9, 3]), _const(1.0), True),
        GroundTruth("unit_sphere_embedding", "mean", lambda t: jnp.stack([jnp.sin(t[0]) * jnp.cos(t[1]), jnp.sin(t[0]) * jnp.sin(t[1]), jnp.cos(t[0])]), _box([0.2, -3], [2.9, 3]), _const(1.0), True),
        GroundTruth("sphere_r2_metric", "metric", lambda t: r**2 * jnp.diag(jnp.stack([1.0, jnp.sin(t[0]) ** 2])), _box([0.2, -3], [2.9, 3]), _const(1 / r**2), True),
        GroundTruth("sphere_r2_graph", "mean", lambda t: jnp.stack([t[0], t[1], jnp.sqrt(r**2 - t[0] ** 2 - t[1] ** 2)]), _box([-1.2, -1.2], [1.2, 1.2]), _const(1 / r**2), True),
        GroundTruth("hyperbolic_half_plane", "metric", lambda t: jnp.eye(2) / t[1] ** 2, _box([-3, 0.1], [3, 5]), _const(-1.0), True),
        GroundTruth("pseudosphere", "mean", lambda t: jnp.stack([jnp.cos(t[1]) / jnp.cosh(t[0]), jnp.sin(t[1]) / jnp.cosh(t[0]), t[0] - jnp.tanh(t[0])]), _box([0.3, -3], [3, 3]), _const(-1.0), True),
        GroundTruth("univariate_normal_fisher_rao", "metric", lambda t: jnp.diag(jnp.array([1.0, 2.0])) / t[1] ** 2, _box([-3, 0.1], [3, 4]), _const(-0.5), True),
        GroundTruth("categorical_2_metric", "metric", _categorical_metric, _simplex_sample(2), _const(0.25), True),
        GroundTruth("categorical_2_embedding", "mean", _categorical_embedding, _simplex_sample(2), _const(0.25), True),
        GroundTruth("categorical_3_metric", "metric", _categorical_metric, _simplex_sample(3), _const(0.25), True),
        GroundTruth("categorical_4_embedding", "mean", _categorical_embedding, _simplex_sample(4), _const(0.25), True),
        GroundTruth("flat_torus_r4", "mean", lambda t: jnp.stack([jnp.cos(t[0]), jnp.sin(t[0]), jnp.cos(t[1]), jnp.sin(t[1])]), _box([-3, -3], [3, 3]), _const(0.0), True),
        GroundTruth("cylinder", "mean", lambda t: jnp.stack([jnp.cos(t[0]), jnp.sin(t[0]), t[1]]), _box([-3, -3], [3, 3]), _const(0.0), True),
        GroundTruth("torus_of_revolution", "mean", lambda t: jnp.stack([(big + small * jnp.cos(t[0])) * jnp.cos(t[1]), (big + small * jnp.cos(t[0])) * jnp.sin(t[1]), small * jnp.sin(t[0])]), _box([-3, -3], [3, 3]), lambda t: np.cos(t[0]) / (small * (big + small * np.cos(t[0])))),
        GroundTruth("saddle_xy", "mean", lambda t: jnp.stack([t[0], t[1], t[0] * t[1]]), _box([-2, -2], [2, 2]), lambda t: -1.0 / (1 + t[0] ** 2 + t[1] ** 2) ** 2),
        GroundTruth("isotropic_normal_d3", "metric", _isotropic_normal_metric(3), _box([-2, -2, -2, 0.2], [2, 2, 2, 3]), _const(-1.0 / 6.0), True),
    ]
    for p in (2, 3):
        m = p * (p + 1) // 2
        cases.append(GroundTruth(f"spd_{p}_fisher_rao", "metric", spd_metric(p), _spd_sample(p), _const(SPD_SCALAR[p] / (m * (m - 1))), False))
    return cases
