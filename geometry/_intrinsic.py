r"""Method (a): curvature from the metric alone, by nested forward-mode autodiff (spec §3 (a)).

Conventions (spec §3): $\Gamma_{ij,l}=\tfrac12(\partial_ig_{jl}+\partial_jg_{il}-\partial_lg_{ij})$,
$\Gamma^k_{ij}=g^{kl}\Gamma_{ij,l}$, and with $R^i{}_{jkl}=\partial_k\Gamma^i_{lj}-\partial_l\Gamma^i_{kj}
+\Gamma^i_{kp}\Gamma^p_{lj}-\Gamma^i_{lp}\Gamma^p_{kj}$ and $R_{ijkl}=g_{ip}R^p{}_{jkl}$ one has the
equivalent lowered form used here (no derivative of a linear solve is needed):

$$R_{ijkl}=\tfrac12(\partial_j\partial_kg_{il}+\partial_i\partial_lg_{jk}-\partial_i\partial_kg_{jl}-\partial_j\partial_lg_{ik})
+g^{pq}(\Gamma_{jk,p}\Gamma_{il,q}-\Gamma_{jl,p}\Gamma_{ik,q}).$$

The unit sphere gives $K=+1$. Degenerate metrics give NaN (see :mod:`geometry._metrics`).
Every function takes ``metric_fn: (m,) -> (m, m)`` and a point ``theta`` of shape ``(m,)``,
works in float64 (``require_x64``) and is pure, so ``jax.jit(jax.vmap(...))`` applies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from attnverify.proofs_numeric.precision import require_x64

from ._contractions import gaussian_from_riemann, ricci_from_riemann, scalar_from_ricci, sectional_from_riemann, solve_metric
from ._metrics import DEFAULT_MAX_COND, mean_scale, nan_unless_regular
from ._validation import check_metric_shape, check_point, check_tangent_pair

__all__ = [
    "christoffel_symbols", "riemann_tensor", "ricci_tensor", "scalar_curvature",
    "sectional_curvature", "gaussian_curvature", "metric_jets", "christoffel_first_kind",
]

MetricFn = Callable[[jax.Array], jax.Array]


def _prepare(metric_fn: MetricFn, theta: Any) -> jax.Array:
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


def christoffel_symbols(metric_fn: MetricFn, theta: Any, max_cond: float = DEFAULT_MAX_COND) -> jax.Array:
    r"""Christoffel symbols of the second kind, ``gamma[k, i, j]`` $=\Gamma^k_{ij}$, shape ``(m, m, m)``.

    $\Gamma^k_{ij}=g^{kl}\Gamma_{ij,l}$ by a Cholesky solve (no explicit inverse).

    Example: the unit sphere $g=\mathrm{diag}(1,\sin^2\vartheta)$ has $\Gamma^1_{22}=-\sin\vartheta\cos\vartheta$.
    """
    theta = _prepare(metric_fn, theta)
    g, dg = metric_jets(metric_fn, theta, order=1)
    c = christoffel_first_kind(dg)  # [i, j, l]
    gamma = solve_metric(g, jnp.transpose(c, (2, 0, 1)))  # [k, i, j]
    return nan_unless_regular(g, gamma, max_cond, mean_scale(metric_fn, theta))


def _riemann_core(g: jax.Array, dg: jax.Array, d2g: jax.Array) -> jax.Array:
    c = christoffel_first_kind(dg)  # c[a, b, p] = Gamma_{ab,p}
    c2 = solve_metric(g, jnp.transpose(c, (2, 0, 1)))  # c2[q, a, b] = Gamma^q_{ab}
    t = d2g  # t[i, j, a, b] = d_a d_b g_ij
    lin = 0.5 * (
        jnp.einsum("iljk->ijkl", t) + jnp.einsum("jkil->ijkl", t) - jnp.einsum("jlik->ijkl", t) - jnp.einsum("ikjl->ijkl", t)
    )
    m = g.shape[0]
    prod = (c.reshape(m * m, m) @ c2.reshape(m, m * m)).reshape(m, m, m, m)  # prod[j,k,i,l] = Gamma_{jk,p} Gamma^p_{il}
    quad = jnp.einsum("jkil->ijkl", prod) - jnp.einsum("jlik->ijkl", prod)
    return lin + quad


def _riemann_and_metric(metric_fn: MetricFn, theta: jax.Array) -> tuple[jax.Array, jax.Array]:
    g, dg, d2g = metric_jets(metric_fn, theta, order=2)
    return g, _riemann_core(g, dg, d2g)


def riemann_tensor(metric_fn: MetricFn, theta: Any, max_cond: float = DEFAULT_MAX_COND) -> jax.Array:
    r"""The lowered Riemann tensor ``r[i,j,k,l]`` $=R_{ijkl}=\langle R(\partial_k,\partial_l)\partial_j,\partial_i\rangle$, shape ``(m,)*4``.

    Satisfies $R_{ijkl}=-R_{jikl}=-R_{ijlk}=R_{klij}$ and the first Bianchi identity. Costs one
    second-order forward Jacobian of ``metric_fn`` ($m^2$ directions) plus $O(m^5)$ contractions.
    """
    theta = _prepare(metric_fn, theta)
    g, r = _riemann_and_metric(metric_fn, theta)
    return nan_unless_regular(g, r, max_cond, mean_scale(metric_fn, theta))


def ricci_tensor(metric_fn: MetricFn, theta: Any, max_cond: float = DEFAULT_MAX_COND) -> jax.Array:
    r"""$\mathrm{Ric}_{jl}=g^{ik}R_{ijkl}$, shape ``(m, m)``; the unit sphere gives $\mathrm{Ric}=g$."""
    theta = _prepare(metric_fn, theta)
    g, r = _riemann_and_metric(metric_fn, theta)
    return nan_unless_regular(g, ricci_from_riemann(g, r), max_cond, mean_scale(metric_fn, theta))


def scalar_curvature(metric_fn: MetricFn, theta: Any, max_cond: float = DEFAULT_MAX_COND) -> jax.Array:
    r"""Scalar curvature $S=g^{jl}\mathrm{Ric}_{jl}$ (a float64 scalar); $S=2K$ when $m=2$."""
    theta = _prepare(metric_fn, theta)
    g, r = _riemann_and_metric(metric_fn, theta)
    return nan_unless_regular(g, scalar_from_ricci(g, ricci_from_riemann(g, r)), max_cond, mean_scale(metric_fn, theta))


def sectional_curvature(metric_fn: MetricFn, theta: Any, u: Any, v: Any, max_cond: float = DEFAULT_MAX_COND) -> jax.Array:
    r"""Sectional curvature $K(u,v)=R_{ijkl}u^iv^ju^kv^l/(g(u,u)g(v,v)-g(u,v)^2)$ of the plane $\mathrm{span}(u,v)$.

    ``u`` and ``v`` (shape ``(m,)``) must be linearly independent (else NaN).
    """
    theta = _prepare(metric_fn, theta)
    u, v = check_tangent_pair(u, v, theta.shape[0])
    g, r = _riemann_and_metric(metric_fn, theta)
    return nan_unless_regular(g, sectional_from_riemann(g, r, u, v), max_cond, mean_scale(metric_fn, theta))


def gaussian_curvature(metric_fn: MetricFn, theta: Any, max_cond: float = DEFAULT_MAX_COND) -> jax.Array:
    r"""Gaussian curvature $K=R_{1212}/\det g$ of a surface (``theta`` of shape ``(2,)``).

    Example::

        sphere = lambda t: jnp.diag(jnp.array([1.0, jnp.sin(t[0]) ** 2]))
        gaussian_curvature(sphere, jnp.array([0.7, 0.1]))   # 1.0
    """
    theta = _prepare(metric_fn, theta)
    if theta.shape[0] != 2:
        raise ValueError(f"gaussian_curvature needs m=2 coordinates, got m={theta.shape[0]}; use sectional_curvature")
    g, r = _riemann_and_metric(metric_fn, theta)
    return nan_unless_regular(g, gaussian_from_riemann(g, r), max_cond, mean_scale(metric_fn, theta))
