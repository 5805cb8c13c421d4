r"""Accurate or NaN: a first-order error estimate for every curvature value, and per-point reason codes.

**The contract.** Every curvature output of :mod:`geometry` is either within the tolerance of the
exact value of its formula at the point, or NaN with a reason code saying why:

$$|\hat c-c|\le\mathrm{rtol}\cdot\max(|\hat c|,\ c_0),$$

where $\hat c$ is the output, $c$ the exact value, ``rtol`` the tolerance (default
:data:`DEFAULT_RTOL` $=10^{-6}$) and $c_0$ the *curvature scale of the chart* at the point: for a mean map
$c_0=\|\partial^2\tilde\mu\|_F^2/\|\tilde J\|_F^4$ (the curvature its second derivatives would give at
unit conditioning), for a metric function $c_0=(\|\partial^2g\|_F+\|\partial g\|_F^2/\|g\|_F)/\|g\|_F^2$,
times the number of terms of the output ($m(m-1)$ for $S$, $m-1$ for $\mathrm{Ric}$) and the units of a
tensor output ($\|g\|^2$ for $R_{ijkl}$). A flat chart ($c=0$) thus gives $|\hat c|\le\mathrm{rtol}\,c_0$ or NaN.

**The estimate** (small-sample statistical condition estimation, Kenney & Laub, SIAM J. Sci. Comput.
15 (1994) 36-61). Each route splits into *jets* computed by autodiff of the user's function
($\tilde J,\partial^2\tilde\mu$ for the Gauss equation; $g,\partial g,\partial^2g$ for the metric route)
and an *algebra* (QR, Cholesky solves, contractions) mapping them to the output. Rounding in both is
modelled as a perturbation of every jet $x$ by $\delta x$ with entries of size
$\le c_\varepsilon\,\varepsilon\,\|x\|_F$ (:data:`JET_ERROR` $c_\varepsilon=16$, $\varepsilon=2^{-52}$):
*normwise*, not per column, because a column of $J$ that is small by cancellation inside $\mu$ (a gate
times a vanishing vector) is as inaccurate in absolute terms as the others. For a mean map the size
is at least $c_\varepsilon\varepsilon\|\tilde\mu\|$ (coordinates of order one): derivatives computed
through $\mu$'s own operations cannot be more accurate than $\mu$ (a saturated softmax, whose
$1-\alpha_i$ rounds to 0, has a Jacobian of pure rounding noise at $10^{-26}$). The algebra is
backward stable, so its own rounding is of the same form. The estimate is the response
$\max_{s}\|\mathrm{algebra}(x+\delta x_s)-\mathrm{algebra}(x)\|_\infty$ to :data:`N_PROBES` $=2$ random
symmetric perturbations $\delta x_s$, evaluated (the algebra runs 3 times, the jets once). Evaluated,
not linearised: where the Gauss equation's $\mathrm{II}$ is 0 to rounding (a rank-deficient chart in
$\mathbb R^{m+1}$, collinear values) $R$ is quadratic in the error and the first-order response is 0.
Near a degenerate set the response grows like $1/\sigma_{\min}(\tilde J)^k$ and the value turns NaN
before it turns wrong.

**Reason codes** (:data:`REASONS`): ``0`` regular; ``1`` non-finite metric or derivatives;
``2`` metric not symmetric ($\max|g-g^\top|>10^{-10}\max|g|$); ``3`` metric not positive definite to
working precision (the Cholesky solve breaks down); ``4`` unresolved: the error estimate exceeds the
tolerance (the chart is too close to a degenerate set for float64); ``5`` $\operatorname{cond}(g)$
above a finite ``max_cond`` given by the caller.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["DEFAULT_MAX_COND", "DEFAULT_RTOL", "JET_ERROR", "N_PROBES", "REASONS", "accurate_or_nan", "error_estimate", "hard_reason", "sym_pairs"]

EPS = 2.0**-52
JET_ERROR = 16.0
N_PROBES = 2
DEFAULT_RTOL = 1e-6
DEFAULT_MAX_COND = math.inf  # no cap: the error estimate decides
SYMMETRY_TOL = 1e-10
REGULAR, NONFINITE, ASYMMETRIC, NOT_POSITIVE_DEFINITE, UNRESOLVED, ILL_CONDITIONED = range(6)
REASONS = (
    "regular",
    "non-finite metric or derivatives",
    "metric not symmetric",
    "metric not positive definite to working precision",
    "unresolved: error estimate above the tolerance (too close to a degenerate set for float64)",
    "cond(g) above max_cond",
)


def sym_pairs(x: jax.Array, *pairs: tuple[int, int]) -> jax.Array:
    """Symmetrise ``x`` in each pair of axes (the symmetries the exact jets have)."""
    for a, b in pairs:
        x = 0.5 * (x + jnp.swapaxes(x, a, b))
    return x


def _probes(jets: Any, symmetrize: Callable[[Any], Any] | None, noise_floors: Any = None) -> Any:
    """:data:`N_PROBES` perturbations (stacked on a leading axis) of size ``JET_ERROR * eps * max(||x||_F, floor)``
    per entry (``noise_floors``: one scalar per jet, or ``None``)."""
    leaves, tree = jax.tree_util.tree_flatten(jets)
    floors = [0.0] * len(leaves) if noise_floors is None else list(noise_floors)
    keys = jax.random.split(jax.random.PRNGKey(23), len(leaves))
    out = [JET_ERROR * EPS * jnp.maximum(jnp.linalg.norm(x.ravel()), f) * jax.random.normal(k, (N_PROBES,) + x.shape, x.dtype)
           for k, x, f in zip(keys, leaves, floors)]
    probes = jax.tree_util.tree_unflatten(tree, out)
    return probes if symmetrize is None else jax.vmap(symmetrize)(probes)


def error_estimate(algebra: Callable[[Any], Any], jets: Any, symmetrize: Callable[[Any], Any] | None = None,
                   noise_floors: Any = None) -> tuple[Any, jax.Array]:
    r"""``(value, err)``: ``algebra(jets)`` and $\max_s\|\mathrm{algebra}(\mathrm{jets}+\delta_s)-\mathrm{algebra}(\mathrm{jets})\|_\infty$
    (module docstring); ``inf`` when a perturbed evaluation is NaN."""
    value = algebra(jets)
    perturbed = jax.vmap(lambda d: algebra(jax.tree_util.tree_map(jnp.add, jets, d)))(_probes(jets, symmetrize, noise_floors))
    diffs = jax.tree_util.tree_map(lambda p, v: jnp.abs(p - v[None]), perturbed, value)
    err = jnp.max(jnp.stack([jnp.max(leaf) for leaf in jax.tree_util.tree_leaves(diffs)]))
    return value, jnp.where(jnp.isnan(err), jnp.inf, err)  # a perturbation at the rounding level broke the algebra


def hard_reason(g: jax.Array, jets: Any) -> jax.Array:
    """Reason code ``1`` (non-finite), ``2`` (not symmetric) or ``0`` from the metric and the jets alone."""
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves((g, jets))]))
    g0 = jnp.where(jnp.isfinite(g), g, 0.0)
    symmetric = jnp.max(jnp.abs(g0 - g0.T)) <= SYMMETRY_TOL * jnp.max(jnp.abs(g0))
    return jnp.where(~finite, NONFINITE, jnp.where(~symmetric, ASYMMETRIC, REGULAR))


def _singular(g: jax.Array) -> jax.Array:
    r"""$g$ singular to working precision: a symmetric perturbation of size $c_\varepsilon\varepsilon\|g\|_F$
    changes $\log\det g$ by more than $\log2$, or breaks its Cholesky factorisation."""
    g0 = jnp.where(jnp.isfinite(g), g, 0.0)
    e = _probes(g0, lambda x: sym_pairs(x, (0, 1)))
    logdet = lambda a: 2.0 * jnp.sum(jnp.log(jnp.diagonal(jnp.linalg.cholesky(a))))  # noqa: E731
    ld, ldp = logdet(g0), jax.vmap(lambda d: logdet(g0 + d))(e)
    return ~jnp.all(jnp.abs(ldp - ld) <= jnp.log(2.0))


def accurate_or_nan(
    algebra: Callable[[Any], Any],
    jets: Any,
    g: jax.Array,
    floor: jax.Array,
    rtol: float,
    symmetrize: Callable[[Any], Any] | None = None,
    max_cond: float = math.inf,
    noise_floors: Any = None,
) -> tuple[Any, jax.Array, jax.Array, jax.Array]:
    """``(value or NaN, reason code, error estimate, tolerance)`` for one point: NaN in every entry unless
    the code is ``0``; the tolerance is ``rtol * max(max|value|, floor)``.

    ``floor`` is $c_0$ in the output's units; ``rtol`` the relative tolerance; ``max_cond`` an optional
    cap on the (unscaled) condition number of ``g``; ``noise_floors`` the rounding floor of each jet
    (module docstring).
    """
    value, err = error_estimate(algebra, jets, symmetrize, noise_floors)
    leaves = jax.tree_util.tree_leaves(value)
    size = jnp.max(jnp.stack([jnp.max(jnp.abs(x)) for x in leaves]))
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) & jnp.isfinite(err)
    code = hard_reason(g, jets)
    code = jnp.where((code == REGULAR) & (~finite | _singular(g)), NOT_POSITIVE_DEFINITE, code)
    tol = rtol * jnp.maximum(size, floor)
    code = jnp.where((code == REGULAR) & ~(err <= tol), UNRESOLVED, code)
    if not math.isinf(max_cond):
        ev = jnp.linalg.eigvalsh(jnp.where(code == REGULAR, g, jnp.eye(g.shape[0], dtype=g.dtype)))
        code = jnp.where((code == REGULAR) & ~(ev[-1] <= max_cond * ev[0]), ILL_CONDITIONED, code)
    ok = code == REGULAR
    return jax.tree_util.tree_map(lambda x: jnp.where(ok, x, jnp.nan), value), code, err, tol
