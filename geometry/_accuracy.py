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

**The a-priori certificate** (cost). Before the estimate, each route bounds the error of its value to
first order, worst case over the same rounding model ($\|\delta x\|_F\le c_\varepsilon\varepsilon\max(\|x\|_F,
\mathrm{floor})\sqrt{\operatorname{size}x}$, :func:`jet_error`), from quantities the algebra already computed and
$g_i\ge\|g^{-1}\|_F$ (the computed norm with a margin, :func:`inverse_norm_bound`, :func:`output_bound`). A value whose bound is
:data:`CERT_SAFETY` $=10$ times below the tolerance, with $g_i\,\delta g\le$ :data:`LINEAR_REGIME`, is certified;
otherwise ``lax.cond`` runs the perturbation estimate. The probe directions are host constants.

**Reason codes** (:data:`REASONS`): ``0`` regular; ``1`` non-finite metric or derivatives;
``2`` metric not symmetric ($\max|g-g^\top|>10^{-10}\max|g|$); ``3`` metric not positive definite to
working precision (the Cholesky solve breaks down); ``4`` unresolved: the error estimate exceeds the
tolerance, or either is not finite (the chart is too close to a degenerate set for float64, or its scale
leaves the float64 range); ``5`` $\operatorname{cond}(g)$
above a finite ``max_cond`` given by the caller.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_factor, cho_solve, solve_triangular

__all__ = ["CERT_SAFETY", "DEFAULT_MAX_COND", "DEFAULT_RTOL", "ESTIMATES", "JET_ERROR", "N_PROBES", "REASONS", "accurate_or_nan", "binary_scale", "error_estimate", "exact_scale", "hard_reason",
           "inverse_norm_bound", "jet_error", "output_bound", "raised_ricci_norm", "rescaled", "sym_pairs"]

EPS = 2.0**-52
JET_ERROR = 16.0
N_PROBES = 2
DEFAULT_RTOL = 1e-6
DEFAULT_MAX_COND = math.inf  # no cap: the error estimate decides
SYMMETRY_TOL = 1e-10
CERT_SAFETY = 10.0  # the a-priori bound must be 10x below the tolerance to certify
LINEAR_REGIME = 1e-3  # ... and ||g^{-1}|| ||delta g|| at most this (first-order expansion valid)
INVERSE_MARGIN = 1.0 + 1e-6  # covers the rounding of the computed ||g^{-1}||_F (inverse_norm_bound)
REGULAR, NONFINITE, ASYMMETRIC, NOT_POSITIVE_DEFINITE, UNRESOLVED, ILL_CONDITIONED = range(6)
REASONS = (
    "regular",
    "non-finite metric or derivatives",
    "metric not symmetric",
    "metric not positive definite to working precision",
    "unresolved: error estimate above the tolerance, or either not finite (too close to a degenerate set, or out of the float64 range)",
    "cond(g) above max_cond",
)


def sym_pairs(x: jax.Array, *pairs: tuple[int, int]) -> jax.Array:
    """Symmetrise ``x`` in each pair of axes (the symmetries the exact jets have)."""
    for a, b in pairs:
        x = 0.5 * (x + jnp.swapaxes(x, a, b))
    return x


@functools.lru_cache(maxsize=256)
def _unit_noise(index: int, shape: tuple[int, ...]) -> np.ndarray:
    """Fixed standard-normal directions for jet ``index`` of ``shape``, drawn once on the host (a
    trace-time constant: generating them with ``jax.random`` inside the compiled function cost more
    than the algebra they probe)."""
    out = np.random.default_rng((23, index)).standard_normal(shape)
    out.flags.writeable = False
    return out


def _probes(jets: Any, symmetrize: Callable[[Any], Any] | None, noise_floors: Any = None) -> Any:
    """:data:`N_PROBES` perturbations (stacked on a leading axis) of size ``JET_ERROR * eps * max(||x||_F, floor)``
    per entry (``noise_floors``: one scalar per jet, or ``None``)."""
    leaves, tree = jax.tree_util.tree_flatten(jets)
    floors = [0.0] * len(leaves) if noise_floors is None else list(noise_floors)
    out = [JET_ERROR * EPS * jnp.maximum(jnp.linalg.norm(x.ravel()), f) * jnp.asarray(_unit_noise(i, (N_PROBES,) + x.shape), x.dtype)
           for i, (x, f) in enumerate(zip(leaves, floors))]
    probes = jax.tree_util.tree_unflatten(tree, out)
    return probes if symmetrize is None else jax.vmap(symmetrize)(probes)


def error_estimate(algebra: Callable[[Any], Any], jets: Any, symmetrize: Callable[[Any], Any] | None = None,
                   noise_floors: Any = None, value: Any = None) -> tuple[Any, jax.Array]:
    r"""``(value, err)``: ``algebra(jets)`` and $\max_s\|\mathrm{algebra}(\mathrm{jets}+\delta_s)-\mathrm{algebra}(\mathrm{jets})\|_\infty$
    (module docstring); ``inf`` when a perturbed evaluation is NaN."""
    value = algebra(jets) if value is None else value
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


def jet_error(x: jax.Array, floor: Any = 0.0) -> jax.Array:
    r"""$\|\delta x\|_F$ of the rounding model: entries of size $c_\varepsilon\varepsilon\max(\|x\|_F,\mathrm{floor})$, so
    $c_\varepsilon\varepsilon\max(\|x\|_F,\mathrm{floor})\sqrt{\operatorname{size}x}$."""
    return JET_ERROR * EPS * jnp.maximum(jnp.linalg.norm(x.ravel()), floor) * math.sqrt(x.size)


def inverse_norm_bound(g: jax.Array, chol_inv: jax.Array | None = None) -> jax.Array:
    r"""$(1+10^{-6})\,\|\widehat{L^{-1}}^\top\widehat{L^{-1}}\|_F\ge\|g^{-1}\|_F\ge\|g^{-1}\|_2$ ($g=LL^\top$, Cholesky; the
    inverse by a triangular solve, whose relative error $\lesssim m\operatorname{cond}(L)\varepsilon\le10^{-9}$ wherever a
    certificate can pass, $g_i\,\delta g\le$ :data:`LINEAR_REGIME`, is covered by the factor); ``inf`` where it fails.
    Up to $\sqrt m$ tighter than $\|L^{-1}\|_F^2=\operatorname{tr}g^{-1}$, and the bounds go as $g_i^3$. ``chol_inv``: the
    $\widehat{L^{-1}}$ the algebra already computed (:func:`~geometry._contractions.cholesky_inverse`, the same bits)."""
    if chol_inv is None:
        chol, _ = cho_factor(g, lower=True)
        chol_inv = solve_triangular(chol, jnp.eye(g.shape[0], dtype=g.dtype), lower=True)
    inv = chol_inv
    b = INVERSE_MARGIN * jnp.linalg.norm(inv.T @ inv)
    return jnp.where(jnp.isfinite(b), b, jnp.inf)


def raised_ricci_norm(g: jax.Array, r: jax.Array, ginv: jax.Array | None = None) -> jax.Array:
    r"""$\|g^{-1}\mathrm{Ric}\,g^{-1}\|_F$ with $\mathrm{Ric}_{jl}=g^{ik}R_{ijkl}$, computed (its own error is covered in
    :func:`output_bound`): to first order $S$ moves by $\delta S=-2\langle\delta g,g^{-1}\mathrm{Ric}\,g^{-1}\rangle$ when $g$ moves.
    ``ginv``: the $g^{-1}$ the algebra already computed (a Cholesky solve against $I$), else one is computed here."""
    if ginv is None:
        ginv = cho_solve(cho_factor(g, lower=True), jnp.eye(g.shape[0], dtype=g.dtype))
    return jnp.linalg.norm(ginv @ jnp.einsum("ik,ijkl->jl", ginv, r) @ ginv)


def output_bound(kind: str, r_norm: jax.Array, dr: jax.Array, gi: jax.Array, dg: jax.Array, ng: jax.Array, value: jax.Array,
                 raised_ricci: jax.Array | None = None) -> jax.Array:
    r"""A-priori first-order bound on the error of output ``kind`` from $\|R\|_F$, its error ``dr``,
    ``gi`` $\ge\|g^{-1}\|_F$ and the metric's error ``dg`` (Frobenius norms):
    $\mathrm{Ric}=g^{-1}\cdot R$: $g_i\,\delta R+g_i^2\delta g\|R\|$; $S=g^{-1}g^{-1}\cdot R$: $g_i^2\delta R+2\delta g\,\rho$ with
    $\rho\ge\|g^{-1}\mathrm{Ric}\,g^{-1}\|_F$ (:func:`raised_ricci_norm` of the computed $g,\hat R$ plus its error
    $g_i^2\delta R+3g_i^3\delta g\|R\|$; without ``raised_ricci``, $\rho=g_i^3\|R\|$);
    $K=R_{1212}/\det g$ ($m=2$, $1/\det g=\|g^{-1}\|_F/\|g\|_F$): $g_i\delta R/\|g\|_F+2|K|g_i\delta g$. ``inf`` (no
    certificate: the perturbation estimate decides) for other outputs, or where the first-order
    expansion is not valid ($g_i\,\delta g>10^{-3}$)."""
    rho = gi**3 * r_norm if raised_ricci is None else raised_ricci + gi**2 * dr + 3.0 * gi**3 * dg * r_norm
    bounds = {
        "riemann": lambda: dr,
        "ricci": lambda: gi * dr + gi**2 * dg * r_norm,
        "scalar": lambda: gi**2 * dr + 2.0 * dg * rho,
        "gaussian": lambda: gi * dr / ng + 2.0 * jnp.abs(value) * gi * dg,
    }
    if kind not in bounds:
        return jnp.inf
    b = bounds[kind]()
    return jnp.where((gi * dg <= LINEAR_REGIME) & jnp.isfinite(b), b, jnp.inf)


ESTIMATES = ("auto", "cheap", "full")


def accurate_or_nan(
    algebra: Callable[[Any], Any],
    jets: Any,
    g: jax.Array,
    floor: jax.Array,
    rtol: float,
    symmetrize: Callable[[Any], Any] | None = None,
    max_cond: float = math.inf,
    noise_floors: Any = None,
    bound: Callable[[Any, Any], jax.Array] | None = None,
    estimate: str = "auto",
    parts: Callable[[Any], tuple[Any, Any]] | None = None,
) -> tuple[Any, jax.Array, jax.Array, jax.Array]:
    """``(value or NaN, reason code, error estimate, tolerance)`` for one point: NaN in every entry unless
    the code is ``0``; the tolerance is ``rtol * max(max|value|, floor)``.

    ``floor`` is $c_0$ in the output's units; ``rtol`` the relative tolerance; ``max_cond`` an optional
    cap on the (unscaled) condition number of ``g``; ``noise_floors`` the rounding floor of each jet
    (module docstring). ``bound(value, aux)``: the a-priori certificate (module docstring), ``None`` for none;
    ``parts(jets) -> (value, aux)``: the algebra with the intermediates ``aux`` the bound reads (evaluated once;
    the perturbed evaluations run ``algebra`` alone).
    ``estimate``: ``"auto"`` (the certificate, else the perturbation estimate, by ``lax.cond``),
    ``"cheap"`` (the certificate only: code ``4`` where it does not certify), ``"full"`` (always the
    perturbation estimate).
    """
    value, aux = (algebra(jets), None) if parts is None else parts(jets)
    leaves = jax.tree_util.tree_leaves(value)
    size = jnp.max(jnp.stack([jnp.max(jnp.abs(x)) for x in leaves]))
    finite_value = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))
    tol = rtol * jnp.maximum(size, floor)
    hard = hard_reason(g, jets)

    def full() -> tuple[jax.Array, jax.Array]:
        err = error_estimate(algebra, jets, symmetrize, noise_floors, value)[1]
        code = jnp.where((hard == REGULAR) & (~(finite_value & jnp.isfinite(err)) | _singular(g)), NOT_POSITIVE_DEFINITE, hard)
        return jnp.where((code == REGULAR) & ~(jnp.isfinite(err) & jnp.isfinite(tol) & (err <= tol)), UNRESOLVED, code), err

    if bound is None or estimate == "full":
        code, err = full()
    else:
        b = jnp.asarray(bound(value, aux), tol.dtype)
        certified = (hard == REGULAR) & finite_value & jnp.isfinite(b) & jnp.isfinite(tol) & (CERT_SAFETY * b <= tol)
        cheap = (jnp.where(certified, REGULAR, jnp.where(hard == REGULAR, UNRESOLVED, hard)), b)
        code, err = cheap if estimate == "cheap" else jax.lax.cond(certified, lambda: cheap, full)
    if not math.isinf(max_cond):
        ev = jnp.linalg.eigvalsh(jnp.where(code == REGULAR, g, jnp.eye(g.shape[0], dtype=g.dtype)))
        code = jnp.where((code == REGULAR) & ~(ev[-1] <= max_cond * ev[0]), ILL_CONDITIONED, code)
    ok = code == REGULAR
    return jax.tree_util.tree_map(lambda x: jnp.where(ok, x, jnp.nan), value), code, err, tol


def binary_scale(x: jax.Array, even: bool = False) -> jax.Array:
    r"""The integer $k$ with $2^k$ nearest $\max|x|$ in log scale (even if ``even``); ``0`` where that is 0 or not finite.

    Curvature is homogeneous in the chart's scale (:math:`\mu\to2^k\mu` multiplies $R_{ijkl}$ by $4^k$, $K$ and $S$ by
    $4^{-k}$), so a route can work on jets divided by $2^k$ (exact) and map its outputs back with :func:`rescaled`:
    the algebra, $c_0$ and the Cholesky factorisation then never over- or underflow at any scale."""
    top = jnp.max(jnp.abs(x))
    ok = jnp.isfinite(top) & (top > 0)
    k = jnp.round(jnp.log2(jnp.where(ok, top, 1.0)) / (2.0 if even else 1.0)) * (2.0 if even else 1.0)
    return jnp.where(ok, k, 0.0).astype(jnp.int32)


def exact_scale(x: jax.Array, k: Any) -> jax.Array:
    r"""$x\cdot2^k$, equal to ``jnp.ldexp`` wherever the result is a normal float64 (a subnormal
    result is flushed to 0, as XLA:CPU flushes the subnormals the algebra produces), by at most three
    multiplications with powers of two $2^s$, $-1022\le s\le1023$, built from their bits: each step moves $|x|$ the
    same way, so no intermediate over- or underflows unless the result does. ``jnp.ldexp`` lowers to a long
    bit-manipulation sequence that doubled the cost of a point in a ``batch_size=1`` loop."""
    k = jnp.asarray(k, jnp.int64)
    for _ in range(3):
        step = jnp.clip(k, -1022, 1023)
        x = x * jax.lax.bitcast_convert_type((step + 1023) << 52, jnp.float64)
        k = k - step
    return x


def rescaled(out: tuple, power: Any) -> tuple:
    r"""``(value, code, err, tol)`` of :func:`accurate_or_nan` on scaled jets, multiplied back by $2^{\mathrm{power}}$ (exact
    unless it leaves the float64 range: a value or tolerance that overflows becomes NaN with code ``4``)."""
    value, code, err, tol = out
    value, err, tol = (exact_scale(x, power) for x in (value, err, tol))
    code = jnp.where((code == REGULAR) & ~(jnp.all(jnp.isfinite(value)) & jnp.isfinite(tol)), UNRESOLVED, code)
    return jnp.where(code == REGULAR, value, jnp.nan), code, err, tol
