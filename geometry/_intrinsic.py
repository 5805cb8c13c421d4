r"""Method (a): curvature from the metric alone, by nested forward-mode autodiff (spec §3 (a)).

Conventions (spec §3): $\Gamma_{ij,l}=\tfrac12(\partial_ig_{jl}+\partial_jg_{il}-\partial_lg_{ij})$,
$\Gamma^k_{ij}=g^{kl}\Gamma_{ij,l}$, and with $R^i{}_{jkl}=\partial_k\Gamma^i_{lj}-\partial_l\Gamma^i_{kj}
+\Gamma^i_{kp}\Gamma^p_{lj}-\Gamma^i_{lp}\Gamma^p_{kj}$ and $R_{ijkl}=g_{ip}R^p{}_{jkl}$ one has the
equivalent lowered form used here (no derivative of a linear solve is needed):

$$R_{ijkl}=\tfrac12(\partial_j\partial_kg_{il}+\partial_i\partial_lg_{jk}-\partial_i\partial_kg_{jl}-\partial_j\partial_lg_{ik})
+g^{pq}(\Gamma_{jk,p}\Gamma_{il,q}-\Gamma_{jl,p}\Gamma_{ik,q}).$$

The unit sphere gives $K=+1$. Every output is accurate to ``rtol`` or NaN with a reason code
(:mod:`geometry._accuracy`: jets $g,\partial g,\partial^2g$, algebra :func:`_riemann_core`).
Every function takes ``metric_fn: (m,) -> (m, m)`` and a point ``theta`` of shape ``(m,)``,
works in float64 (``require_x64``) and is pure, so ``jax.jit(jax.vmap(...))`` applies.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from attnverify.proofs_numeric.precision import require_x64

from ._accuracy import DEFAULT_MAX_COND, DEFAULT_RTOL, accurate_or_nan, binary_scale, exact_scale, inverse_norm_bound, jet_error, output_bound, raised_ricci_norm, rescaled, sym_pairs
from ._contractions import cholesky_inverse, gaussian_from_riemann, ricci_from_riemann, scalar_from_ricci, sectional_from_riemann, solve_metric
from ._validation import check_metric_shape, check_point, check_tangent_pair

__all__ = [
    "christoffel_symbols", "riemann_tensor", "ricci_tensor", "scalar_curvature",
    "sectional_curvature", "gaussian_curvature", "metric_jets", "christoffel_first_kind", "intrinsic_with_reason",
]

MetricFn = Callable[[jax.Array], jax.Array]


def _prepare(metric_fn: MetricFn, theta: ArrayLike) -> jax.Array:
    require_x64("curvature")
    theta = check_point(theta)
    check_metric_shape(metric_fn, theta)
    return theta


def value_and_jacfwd(f: Callable, x: jax.Array) -> tuple[Any, Any]:
    """``(f(x), df(x))`` with one primal evaluation (``linearize``), Jacobian axis last; pytree outputs."""
    y, lin = jax.linearize(f, x)
    jac = jax.vmap(lin, out_axes=-1)(jnp.eye(x.shape[0], dtype=x.dtype))
    return y, jac


def metric_jets(metric_fn: MetricFn, theta: jax.Array, order: int = 2) -> tuple[jax.Array, ...]:
    r"""``(g, dg)`` or ``(g, dg, d2g)`` with ``dg[i,j,k]`` $=\partial_kg_{ij}$, ``d2g[i,j,k,l]`` $=\partial_k\partial_lg_{ij}$."""
    if order == 1:
        return value_and_jacfwd(metric_fn, theta)
    (g, dg), (_, d2g) = value_and_jacfwd(lambda t: value_and_jacfwd(metric_fn, t), theta)
    return g, dg, d2g


def christoffel_first_kind(dg: jax.Array) -> jax.Array:
    r"""``c[i,j,l]`` $=\Gamma_{ij,l}=\tfrac12(\partial_ig_{jl}+\partial_jg_{il}-\partial_lg_{ij})$."""
    return 0.5 * (jnp.transpose(dg, (2, 0, 1)) + jnp.transpose(dg, (0, 2, 1)) - dg)


def _riemann_core(g: jax.Array, dg: jax.Array, d2g: jax.Array) -> jax.Array:
    return _riemann_parts(g, dg, d2g)[0]


def _riemann_parts(g: jax.Array, dg: jax.Array, d2g: jax.Array, chol: jax.Array | None = None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(R, Gamma_{ab,p}, Gamma^q_{ab})``: the lowered Riemann tensor and the Christoffel symbols it was built from
    (``chol``: the Cholesky factor of ``g`` when already computed)."""
    c = christoffel_first_kind(dg)  # c[a, b, p] = Gamma_{ab,p}
    c2 = solve_metric(g, jnp.transpose(c, (2, 0, 1)), chol)  # c2[q, a, b] = Gamma^q_{ab}
    t = d2g  # t[i, j, a, b] = d_a d_b g_ij
    lin = 0.5 * (
        jnp.einsum("iljk->ijkl", t) + jnp.einsum("jkil->ijkl", t) - jnp.einsum("jlik->ijkl", t) - jnp.einsum("ikjl->ijkl", t)
    )
    m = g.shape[0]
    prod = (c.reshape(m * m, m) @ c2.reshape(m, m * m)).reshape(m, m, m, m)  # prod[j,k,i,l] = Gamma_{jk,p} Gamma^p_{il}
    quad = jnp.einsum("jkil->ijkl", prod) - jnp.einsum("jlik->ijkl", prod)
    return lin + quad, c, c2


def _norm(x: jax.Array) -> jax.Array:
    return jnp.linalg.norm(x.ravel())


def _symmetric_jets(jets: tuple) -> tuple:
    return tuple(sym_pairs(x, (0, 1), *([(2, 3)] if x.ndim == 4 else [])) for x in jets)


# output(g, R, g^{-1} or None) and its units relative to the curvature scale c_0, per output kind
OUTPUTS: dict[str, tuple[Callable, Callable]] = {
    "riemann": (lambda g, r, gi=None: r, lambda m, ng: ng**2),
    "ricci": (lambda g, r, gi=None: ricci_from_riemann(g, r, gi), lambda m, ng: (m - 1) * ng),
    "scalar": (lambda g, r, gi=None: scalar_from_ricci(g, ricci_from_riemann(g, r, gi), gi), lambda m, ng: m * (m - 1) * jnp.ones_like(ng)),
    "gaussian": (lambda g, r, gi=None: gaussian_from_riemann(g, r), lambda m, ng: jnp.ones_like(ng)),
}


def intrinsic_with_reason(
    metric_fn: MetricFn, theta: jax.Array, kind: str, rtol: float = DEFAULT_RTOL, max_cond: float = DEFAULT_MAX_COND, plane: Any = None,
    estimate: str = "auto",
) -> tuple[jax.Array, ...]:
    r"""``(value or NaN, reason code, error estimate, tolerance)`` of output ``kind`` (``OUTPUTS`` or ``"sectional"`` with ``plane=(u, v)``);
    ``estimate`` as in :func:`~geometry._accuracy.accurate_or_nan`.

    Curvature scale $c_0=(\|\partial^2g\|_F+\|\partial g\|_F^2/\|g\|_F)/\|g\|_F^2$ (:mod:`geometry._accuracy`).
    """
    g, dg, d2g = metric_jets(metric_fn, theta, order=2)
    k = binary_scale(g, even=True)  # work on g / 2^k (exact; binary_scale), outputs mapped back by 2^(p k)
    g, dg, d2g = (exact_scale(x, -k) for x in (g, dg, d2g))
    if kind == "sectional":
        output, units = (lambda g_, r, gi=None: sectional_from_riemann(g_, r, *plane)), (lambda m, ng: jnp.ones_like(ng))
    else:
        output, units = OUTPUTS[kind]
    ng = _norm(g)
    floor = units(g.shape[0], ng) * (_norm(d2g) + _norm(dg) ** 2 / ng) / ng**2
    noise = _pullback_floors(metric_fn, theta, (g, dg, d2g), k // 2)
    bound = None if kind not in OUTPUTS else functools.partial(_riemann_bound, kind, (g, dg, d2g), noise or (0.0, 0.0, 0.0))

    def parts(j: tuple) -> tuple:  # one Cholesky of g for the solve, the contractions and the certificate
        chol, chol_inv, ginv = cholesky_inverse(j[0])
        r, c, c2 = _riemann_parts(*j, chol)
        return output(j[0], r, ginv), (r, c, c2, chol_inv, ginv)

    out = accurate_or_nan(lambda j: parts(j)[0], (g, dg, d2g), g, floor, rtol, _symmetric_jets, max_cond, noise, bound, estimate, parts)
    return rescaled(out, SCALE_POWER[kind] * k)


# output(g) = s^p output(g / s): R_ijkl ~ s, Ric ~ 1, S, K ~ 1/s
SCALE_POWER = {"riemann": 1, "ricci": 0, "scalar": -1, "gaussian": -1, "sectional": -1}


def _riemann_bound(kind: str, jets: tuple, noise: tuple, value: jax.Array, aux: tuple) -> jax.Array:
    r"""A-priori error bound of output ``kind`` of :func:`_riemann_core` (the certificate of :mod:`geometry._accuracy`).

    With $\delta x$ the rounding model's error of each jet, $g_i\ge\|g^{-1}\|_F$ (:func:`~geometry._accuracy.inverse_norm_bound`) and the
    computed $\hat R,\Gamma,g^{-1}\Gamma$ (``aux``):
    $\delta\Gamma\le\tfrac32\delta\partial g$, $\delta(g^{-1}\Gamma)=g^{-1}Y$ with $\|Y\|\le\delta\Gamma+\delta g\|g^{-1}\Gamma\|$, and
    $\Gamma\cdot g^{-1}Y=(g^{-1}\Gamma)\cdot Y$, so $\delta R\le2\,\delta\partial^2g+2\|g^{-1}\Gamma\|(2\delta\Gamma+\delta g\|g^{-1}\Gamma\|)$
    (Frobenius norms, first order); $\|R\|\le\|\hat R\|+\delta R$."""
    g, dg, d2g = jets
    r, _, c2, chol_inv, ginv = aux
    e_g, e_dg, e_d2g = (jet_error(x, f) for x, f in zip(jets, noise))
    gi = inverse_norm_bound(g, chol_inv)
    e_gam, n_c2 = 1.5 * e_dg, _norm(c2)
    # Gamma_{jk,p} (g^{-1} Y)^p_{il} = (g^{-1}Gamma)^q_{jk} Y_{q,il}: ||Gamma . delta(g^{-1}Gamma)|| <= ||g^{-1}Gamma|| ||Y||
    dr = 2.0 * e_d2g + 2.0 * n_c2 * (2.0 * e_gam + e_g * n_c2)
    raised = raised_ricci_norm(g, r, ginv) if kind == "scalar" else None
    return output_bound(kind, _norm(r) + dr, dr, gi, e_g, _norm(g), value, raised)


def _pullback_floors(metric_fn: MetricFn, theta: jax.Array, jets: tuple, half_scale: Any = 0) -> tuple | None:
    r"""For a pullback metric, the jets' rounding floors: each jet's norm times $\max(1,\|\tilde\mu\|/\|\tilde J\|_F)$
    (the relative noise of $\tilde J$ when it is computed through $\mu$'s own operations); ``None`` otherwise.
    ``jets`` may be divided by $4^{\mathrm{half\_scale}}$, the mean is then divided by $2^{\mathrm{half\_scale}}$."""
    mean = getattr(metric_fn, "whitened_mean", None)
    if mean is None:
        return None
    ny = jnp.linalg.norm(exact_scale(mean(theta), -half_scale))
    inflate = jnp.maximum(1.0, ny / jnp.sqrt(jnp.maximum(jnp.trace(jets[0]), 1e-300)))
    return tuple(inflate * _norm(x) for x in jets)


def christoffel_symbols(metric_fn: MetricFn, theta: ArrayLike, max_cond: float = DEFAULT_MAX_COND, rtol: float = DEFAULT_RTOL) -> jax.Array:
    r"""Christoffel symbols of the second kind, ``gamma[k, i, j]`` $=\Gamma^k_{ij}$, shape ``(m, m, m)``.

    $\Gamma^k_{ij}=g^{kl}\Gamma_{ij,l}$ by a Cholesky solve (no explicit inverse). Accurate to
    ``rtol`` (relative to $\max(\max|\Gamma|,\|\partial g\|_F/\|g\|_F)$) or NaN (:mod:`geometry._accuracy`).

    Example: the unit sphere $g=\mathrm{diag}(1,\sin^2\vartheta)$ has $\Gamma^1_{22}=-\sin\vartheta\cos\vartheta$.
    """
    theta = _prepare(metric_fn, theta)
    g, dg = metric_jets(metric_fn, theta, order=1)
    algebra = lambda j: solve_metric(j[0], jnp.transpose(christoffel_first_kind(j[1]), (2, 0, 1)))  # noqa: E731
    value = accurate_or_nan(algebra, (g, dg), g, _norm(dg) / _norm(g), rtol, _symmetric_jets, max_cond, _pullback_floors(metric_fn, theta, (g, dg)))[0]
    return value


def riemann_tensor(metric_fn: MetricFn, theta: ArrayLike, max_cond: float = DEFAULT_MAX_COND, rtol: float = DEFAULT_RTOL) -> jax.Array:
    r"""The lowered Riemann tensor ``r[i,j,k,l]`` $=R_{ijkl}=\langle R(\partial_k,\partial_l)\partial_j,\partial_i\rangle$, shape ``(m,)*4``.

    Satisfies $R_{ijkl}=-R_{jikl}=-R_{ijlk}=R_{klij}$ and the first Bianchi identity. Costs one
    second-order forward Jacobian of ``metric_fn`` ($m^2$ directions) plus $O(m^5)$ contractions
    (about 3x for the error estimate). Accurate to ``rtol`` or NaN (:mod:`geometry._accuracy`).
    """
    theta = _prepare(metric_fn, theta)
    return intrinsic_with_reason(metric_fn, theta, "riemann", rtol, max_cond)[0]


def ricci_tensor(metric_fn: MetricFn, theta: ArrayLike, max_cond: float = DEFAULT_MAX_COND, rtol: float = DEFAULT_RTOL) -> jax.Array:
    r"""$\mathrm{Ric}_{jl}=g^{ik}R_{ijkl}$, shape ``(m, m)``; the unit sphere gives $\mathrm{Ric}=g$. Accurate or NaN."""
    theta = _prepare(metric_fn, theta)
    return intrinsic_with_reason(metric_fn, theta, "ricci", rtol, max_cond)[0]


def scalar_curvature(metric_fn: MetricFn, theta: ArrayLike, max_cond: float = DEFAULT_MAX_COND, rtol: float = DEFAULT_RTOL) -> jax.Array:
    r"""Scalar curvature $S=g^{jl}\mathrm{Ric}_{jl}$ (a float64 scalar); $S=2K$ when $m=2$.

    Finite only when $|\hat S-S|\le\mathrm{rtol}\max(|\hat S|,m(m-1)c_0)$ by the error estimate of
    :mod:`geometry._accuracy`; otherwise NaN and :func:`~geometry.metric_is_degenerate` is ``True``.
    """
    theta = _prepare(metric_fn, theta)
    return intrinsic_with_reason(metric_fn, theta, "scalar", rtol, max_cond)[0]


def sectional_curvature(
    metric_fn: MetricFn, theta: ArrayLike, u: ArrayLike, v: ArrayLike, max_cond: float = DEFAULT_MAX_COND, rtol: float = DEFAULT_RTOL
) -> jax.Array:
    r"""Sectional curvature $K(u,v)=R_{ijkl}u^iv^ju^kv^l/(g(u,u)g(v,v)-g(u,v)^2)$ of the plane $\mathrm{span}(u,v)$.

    ``u`` and ``v`` (shape ``(m,)``) must be linearly independent (``ValueError``). Accurate or NaN.
    """
    theta = _prepare(metric_fn, theta)
    u, v = check_tangent_pair(u, v, theta.shape[0])
    return intrinsic_with_reason(metric_fn, theta, "sectional", rtol, max_cond, plane=(u, v))[0]


def gaussian_curvature(metric_fn: MetricFn, theta: ArrayLike, max_cond: float = DEFAULT_MAX_COND, rtol: float = DEFAULT_RTOL) -> jax.Array:
    r"""Gaussian curvature $K=R_{1212}/\det g$ of a surface (``theta`` of shape ``(2,)``).

    Finite only when $|\hat K-K|\le\mathrm{rtol}\max(|\hat K|,c_0)$ by the error estimate, else NaN.

    Example::

        sphere = lambda t: jnp.diag(jnp.array([1.0, jnp.sin(t[0]) ** 2]))
        gaussian_curvature(sphere, jnp.array([0.7, 0.1]))   # 1.0
    """
    theta = _prepare(metric_fn, theta)
    if theta.shape[0] != 2:
        raise ValueError(f"gaussian_curvature needs m=2 coordinates, got m={theta.shape[0]}; use sectional_curvature")
    return intrinsic_with_reason(metric_fn, theta, "gaussian", rtol, max_cond)[0]
