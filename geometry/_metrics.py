r"""Fisher–Rao metric of a fixed-covariance Gaussian mean model, and the degeneracy flag.

For $p(z\mid\theta)=\mathcal N(z;\mu(\theta),\Sigma)$ with $\Sigma\succ0$ fixed the Fisher
information is the pullback metric (spec ``gating_curvature`` C1)

$$g(\theta)=J(\theta)^\top\Sigma^{-1}J(\theta),\qquad J=\partial\mu/\partial\theta\in\mathbb R^{d\times m}.$$

**Degenerate charts (documented choice: NaN + flag).** Where $\operatorname{rank}J<m$ the metric
is singular and curvature is undefined. Every curvature function of :mod:`geometry` then returns
NaN in *all* entries of its output (never a finite number), both eagerly and under ``jit``/``vmap``;
the explicit flag is :func:`metric_is_degenerate`: $g$ non-finite, not symmetric
($\max|g-g^\top|>10^{-10}\max|g|$), a diagonal entry $\le0$, or the **scale-invariant** condition
number $\operatorname{cond}(D^{-1/2}gD^{-1/2})>$ ``max_cond`` (default $10^{10}$, $D=\operatorname{diag}g$;
symmetric diagonal scaling, so a chart in badly scaled coordinates, e.g. a mean of $10^{-5}$ next to a
shape of order 1, is not flagged; Cholesky solves are insensitive to such scaling). For pullback metrics the chart is also
degenerate *to working precision* when $\sigma_{\min}(\tilde J)\le10^{-8}\,\|\tilde\mu(\theta)\|$
(``RANK_TOL``): then the derivatives are below the rounding level of the mean itself (e.g. a
saturated softmax, whose $1-\alpha_i$ underflows), and a finite answer would be noise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

from attnverify.proofs_numeric.precision import require_x64

from ._validation import check_metric_shape, check_point, check_spd

__all__ = ["PullbackMetric", "pullback_metric", "metric_condition_number", "metric_is_degenerate", "DEFAULT_MAX_COND"]

DEFAULT_MAX_COND = 1e10
RANK_TOL = 1e-8
SYMMETRY_TOL = 1e-10
MetricFn = Callable[[jax.Array], jax.Array]


class PullbackMetric:
    r"""The callable $\theta\mapsto J^\top\Sigma^{-1}J$; keeps ``mu_fn`` and $\Sigma$ for the extrinsic methods.

    Uses the Cholesky factor $\Sigma=LL^\top$: $g=\tilde J^\top\tilde J$ with $\tilde J=L^{-1}J$
    (whitening, spec §3 (b) step 6). Pure and ``jit``/``vmap`` friendly.
    """

    def __init__(self, mu_fn: Callable[[jax.Array], jax.Array], sigma: Any = None):
        self.mu_fn = mu_fn
        self.sigma = None if sigma is None else check_spd(sigma)
        self.chol = None if self.sigma is None else jnp.linalg.cholesky(self.sigma)

    def whiten(self, y: jax.Array) -> jax.Array:
        """$L^{-1}y$ for ``y`` of shape ``(d,)`` or ``(d, ...)`` (identity when $\\Sigma=I$)."""
        if self.chol is None:
            return y
        if y.shape[0] != self.chol.shape[0]:
            raise ValueError(f"mu_fn returns d={y.shape[0]} outputs but Sigma is {self.chol.shape[0]}x{self.chol.shape[0]}")
        flat = y.reshape(y.shape[0], -1)
        return solve_triangular(self.chol, flat, lower=True).reshape(y.shape)

    def whitened_mean(self, theta: jax.Array) -> jax.Array:
        r"""$\tilde\mu(\theta)=L^{-1}\mu(\theta)$: Euclidean inner products then equal $\langle\cdot,\cdot\rangle_\Sigma$."""
        return self.whiten(self.mu_fn(theta))

    def mean_norm2(self, theta: jax.Array) -> jax.Array:
        r"""$\|\tilde\mu(\theta)\|^2$, the scale of the numerical-rank test."""
        y = self.whitened_mean(theta)
        return y @ y

    def __call__(self, theta: jax.Array) -> jax.Array:
        jt = jax.jacfwd(self.whitened_mean)(theta)
        return jt.T @ jt


def pullback_metric(mu_fn: Callable[[jax.Array], jax.Array], sigma: Any = None) -> PullbackMetric:
    r"""Fisher–Rao metric $g=J^\top\Sigma^{-1}J$ of $\mathcal N(\mu(\theta),\Sigma)$ (spec C1).

    **Arguments:** ``mu_fn`` maps ``(m,)`` to ``(d,)`` (float64); ``sigma`` is a fixed SPD
    ``(d, d)`` covariance, identity when ``None``. A non-SPD, non-symmetric or non-finite
    ``sigma`` raises ``ValueError``.

    **Returns:** a pure callable ``metric_fn(theta) -> (m, m)``.

    Example::

        g = pullback_metric(lambda t: jnp.array([t[0], t[1], t[0] * t[1]]))
        g(jnp.array([0.5, 0.2]))   # [[1.04, 0.1], [0.1, 1.25]]
    """
    return PullbackMetric(mu_fn, sigma)


def scaled_metric(g: jax.Array) -> jax.Array:
    r"""$D^{-1/2}gD^{-1/2}$ with $D=\operatorname{diag}g$ (unit diagonal; NaN where a diagonal entry is $\le0$)."""
    dg = jnp.diagonal(g)
    s = jnp.where(dg > 0, 1.0 / jnp.sqrt(jnp.where(dg > 0, dg, 1.0)), jnp.nan)
    return g * s[:, None] * s[None, :]


def _eig_ok(g: jax.Array, max_cond: float, mean_norm2: Any = 0.0) -> jax.Array:
    # singular values of the symmetric, diagonally scaled g are |eigenvalues| (an indefinite g is
    # caught by the Cholesky factorisation the curvature solves use, which yields NaN)
    finite = jnp.all(jnp.isfinite(g))
    g0 = jnp.where(finite, g, 0.0)
    symmetric = jnp.max(jnp.abs(g0 - g0.T)) <= SYMMETRY_TOL * jnp.max(jnp.abs(g0))
    dg = jnp.diagonal(g0)
    gs = scaled_metric(jnp.where(finite & symmetric, g0, jnp.eye(g.shape[0], dtype=g.dtype)))
    sv = jnp.linalg.svd(jnp.where(jnp.isfinite(gs), gs, 0.0), compute_uv=False)
    floor = RANK_TOL**2 * mean_norm2  # lambda_min(g) >= sv_min(gs) min(diag g): the conservative side
    return finite & symmetric & jnp.all(dg > 0) & (sv[-1] * jnp.min(dg) > floor) & (sv[0] <= max_cond * sv[-1])


def mean_scale(metric_fn: Any, theta: jax.Array) -> Any:
    r"""$\|\tilde\mu(\theta)\|^2$ for a :class:`PullbackMetric`, else 0 (no numerical-rank test)."""
    return metric_fn.mean_norm2(theta) if isinstance(metric_fn, PullbackMetric) else 0.0


def nan_unless_regular(g: jax.Array, out: Any, max_cond: float, mean_norm2: Any = 0.0) -> Any:
    """Replace every leaf of ``out`` by NaN where ``g`` is degenerate (the documented NaN choice)."""
    ok = _eig_ok(g, max_cond, mean_norm2)
    return jax.tree_util.tree_map(lambda x: jnp.where(ok, x, jnp.nan), out)


def metric_condition_number(metric_fn: MetricFn, theta: Any, *, scaled: bool = False) -> jax.Array:
    r"""$\operatorname{cond}(g(\theta))=\lambda_{\max}/\lambda_{\min}$ (``inf`` when $\lambda_{\min}\le0$).

    ``scaled=True`` gives the condition number after symmetric diagonal scaling,
    $\operatorname{cond}(D^{-1/2}gD^{-1/2})$, the quantity the degeneracy rule compares with ``max_cond``.
    Needs float64 (``RuntimeError`` otherwise).
    """
    require_x64("metric_condition_number")
    theta = check_point(theta)
    check_metric_shape(metric_fn, theta)
    g = metric_fn(theta)
    ev = jnp.linalg.eigvalsh(scaled_metric(g) if scaled else g)
    return jnp.where(ev[0] > 0, ev[-1] / ev[0], jnp.inf)  # inf for singular or indefinite g


def metric_is_degenerate(metric_fn: MetricFn, theta: Any, max_cond: float = DEFAULT_MAX_COND) -> jax.Array:
    """The explicit flag: ``True`` exactly where curvature functions return NaN (see the module docstring).

    Needs float64 (``RuntimeError`` otherwise: in float32 the rule would answer wrongly).
    """
    require_x64("metric_is_degenerate")
    theta = check_point(theta)
    check_metric_shape(metric_fn, theta)
    g = metric_fn(theta)
    return ~(_eig_ok(g, max_cond, mean_scale(metric_fn, theta)) & jnp.all(jnp.isfinite(jnp.linalg.cholesky(g))))
