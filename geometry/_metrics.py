r"""Fisher–Rao metric of a fixed-covariance Gaussian mean model, and the degeneracy flag.

For $p(z\mid\theta)=\mathcal N(z;\mu(\theta),\Sigma)$ with $\Sigma\succ0$ fixed the Fisher
information is the pullback metric (spec ``gating_curvature`` C1)

$$g(\theta)=J(\theta)^\top\Sigma^{-1}J(\theta),\qquad J=\partial\mu/\partial\theta\in\mathbb R^{d\times m}.$$

**Degenerate charts (documented choice: NaN + flag).** Where $\operatorname{rank}J<m$ the metric
is singular and curvature is undefined; near such a set it is a difference of huge, nearly cancelling
terms that float64 cannot resolve. Every curvature function therefore returns, at each point, a value
within its tolerance of the truth or NaN in *all* entries (never a finite wrong number), eagerly and
under ``jit``/``vmap``; the decision is an error estimate of the actual computation
(:mod:`geometry._accuracy`), not a scale-free condition number. The explicit flag is
:func:`metric_is_degenerate` (``True`` exactly where :func:`~geometry.scalar_curvature` of the same
metric function is NaN); :func:`~geometry.curvature_diagnostics` and ``curvature_field(...,
return_reasons=True)`` give the per-point reason code for any route.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
from jax.scipy.linalg import solve_triangular

from attnverify.proofs_numeric.precision import check_bool, require_x64

from ._accuracy import DEFAULT_MAX_COND, DEFAULT_RTOL
from ._intrinsic import intrinsic_with_reason
from ._validation import check_metric_shape, check_point, check_spd

__all__ = ["PullbackMetric", "pullback_metric", "metric_condition_number", "metric_is_degenerate", "DEFAULT_MAX_COND"]

MetricFn = Callable[[jax.Array], jax.Array]


class PullbackMetric:
    r"""The callable $\theta\mapsto J^\top\Sigma^{-1}J$; keeps ``mu_fn`` and $\Sigma$ for the extrinsic methods.

    Uses the Cholesky factor $\Sigma=LL^\top$: $g=\tilde J^\top\tilde J$ with $\tilde J=L^{-1}J$
    (whitening, spec §3 (b) step 6). Pure and ``jit``/``vmap`` friendly.
    """

    def __init__(self, mu_fn: Callable[[jax.Array], jax.Array], sigma: ArrayLike | None = None):
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

    def __call__(self, theta: jax.Array) -> jax.Array:
        jt = jax.jacfwd(self.whitened_mean)(theta)
        return jt.T @ jt


def pullback_metric(mu_fn: Callable[[jax.Array], jax.Array], sigma: ArrayLike | None = None) -> PullbackMetric:
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


def metric_condition_number(metric_fn: MetricFn, theta: ArrayLike, *, scaled: bool = False) -> jax.Array:
    r"""$\operatorname{cond}(g(\theta))=\lambda_{\max}/\lambda_{\min}$ (``inf`` when $\lambda_{\min}\le0$).

    ``scaled=True`` gives the condition number after symmetric diagonal scaling,
    $\operatorname{cond}(D^{-1/2}gD^{-1/2})$ (informative only: the degeneracy rule is the error estimate of
    :mod:`geometry._accuracy`; a finite ``max_cond`` caps the *unscaled* condition number).
    Needs float64 (``RuntimeError`` otherwise).
    """
    require_x64("metric_condition_number")
    scaled = check_bool(scaled, "scaled")
    theta = check_point(theta)
    check_metric_shape(metric_fn, theta)
    g = metric_fn(theta)
    ev = jnp.linalg.eigvalsh(scaled_metric(g) if scaled else g)
    return jnp.where(ev[0] > 0, ev[-1] / ev[0], jnp.inf)  # inf for singular or indefinite g


def metric_is_degenerate(metric_fn: MetricFn, theta: ArrayLike, max_cond: float = DEFAULT_MAX_COND, rtol: float = DEFAULT_RTOL) -> jax.Array:
    """The explicit flag: ``True`` exactly where :func:`~geometry.scalar_curvature` ``(metric_fn, theta)`` is NaN.

    That is: $g$ or its derivatives non-finite, $g$ not symmetric, not positive definite to working
    precision, the error estimate of $S$ above ``rtol`` (:mod:`geometry._accuracy`), or
    $\\operatorname{cond}(g)>$ ``max_cond`` (default ``inf``). The reason code itself comes from
    :func:`~geometry.curvature_diagnostics`. Needs float64 (``RuntimeError`` otherwise: in float32 the
    rule would answer wrongly).
    """
    require_x64("metric_is_degenerate")
    theta = check_point(theta)
    check_metric_shape(metric_fn, theta)
    return intrinsic_with_reason(metric_fn, theta, "scalar", rtol, max_cond)[1] != 0
