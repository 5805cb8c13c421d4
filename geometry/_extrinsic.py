r"""Method (b): curvature of a pullback metric from the Gauss equation (spec §3 (b)).

With $\Sigma=LL^\top$ and the whitened mean $\tilde\mu=L^{-1}\mu$ (so that
$\langle a,b\rangle_\Sigma$ becomes Euclidean), $\tilde J=\partial\tilde\mu$,
$\tilde H_{ij}=\partial_i\partial_j\tilde\mu$ and $Q$ an orthonormal basis of
$\operatorname{range}\tilde J$ (thin QR), the second fundamental form is
$\mathrm{II}_{ij}=(I-QQ^\top)\tilde H_{ij}$ (the $\Sigma^{-1}$-orthogonal normal projection
$P_N=I-J g^{-1}J^\top\Sigma^{-1}$ in whitened form), and

$$R_{ijkl}=\langle\mathrm{II}_{ik},\mathrm{II}_{jl}\rangle-\langle\mathrm{II}_{il},\mathrm{II}_{jk}\rangle,$$

with the same index convention as :mod:`geometry._intrinsic`. Only second derivatives of $\mu$ are
needed. Functions take ``(mu_fn, theta, sigma=None)``; ``mu_fn: (m,) -> (d,)`` with ``d >= m``.
Degenerate charts give NaN (:mod:`geometry._metrics`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from attnverify.proofs_numeric.precision import require_x64

from ._contractions import gaussian_from_riemann, ricci_from_riemann, scalar_from_ricci, sectional_from_riemann
from ._metrics import DEFAULT_MAX_COND, PullbackMetric, nan_unless_regular
from ._validation import check_mean_shape, check_point, check_tangent_pair

__all__ = [
    "second_fundamental_form", "riemann_tensor_extrinsic", "ricci_tensor_extrinsic", "scalar_curvature_extrinsic",
    "sectional_curvature_extrinsic", "gaussian_curvature_extrinsic",
]

MeanFn = Callable[[jax.Array], jax.Array]


def _prepare(mu_fn: MeanFn, theta: Any, sigma: Any) -> tuple[PullbackMetric, jax.Array]:
    require_x64("curvature")
    theta = check_point(theta)
    pm = mu_fn if isinstance(mu_fn, PullbackMetric) else PullbackMetric(mu_fn, sigma)
    d = check_mean_shape(pm.mu_fn, theta)
    if pm.chol is not None and pm.chol.shape[0] != d:
        raise ValueError(f"mu_fn returns d={d} outputs but Sigma is {pm.chol.shape[0]}x{pm.chol.shape[0]}")
    return pm, theta


def _fundamental_forms(pm: PullbackMetric, theta: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(g, II)`` with ``II`` of shape ``(d, m, m)`` in whitened coordinates."""

    def jac_aux(t):
        j = jax.jacfwd(pm.whitened_mean)(t)
        return j, j

    h, j = jax.jacfwd(jac_aux, has_aux=True)(theta)  # h[a, i, k] = d_k d_i mu~_a
    q, _ = jnp.linalg.qr(j)
    d, m = j.shape
    flat = h.reshape(d, m * m)
    ii = (flat - q @ (q.T @ flat)).reshape(d, m, m)
    return j.T @ j, ii


def second_fundamental_form(mu_fn: MeanFn, theta: Any, sigma: Any = None, max_cond: float = DEFAULT_MAX_COND) -> jax.Array:
    r"""$\mathrm{II}_{ij}=P_N\,\partial_i\partial_j\tilde\mu$ in whitened coordinates, shape ``(d, m, m)``.

    $\langle\mathrm{II}_{ij},\mathrm{II}_{kl}\rangle$ (Euclidean) equals $\langle\cdot,\cdot\rangle_\Sigma$ of the unwhitened form.
    """
    pm, theta = _prepare(mu_fn, theta, sigma)
    g, ii = _fundamental_forms(pm, theta)
    return nan_unless_regular(g, ii, max_cond, pm.mean_norm2(theta))


def _riemann_and_metric(pm: PullbackMetric, theta: jax.Array) -> tuple[jax.Array, jax.Array]:
    g, ii = _fundamental_forms(pm, theta)
    d, m, _ = ii.shape
    flat = ii.reshape(d, m * m)
    gram = (flat.T @ flat).reshape(m, m, m, m)  # gram[i, k, j, l] = <II_ik, II_jl>
    r = jnp.einsum("ikjl->ijkl", gram) - jnp.einsum("iljk->ijkl", gram)
    return g, r


def riemann_tensor_extrinsic(mu_fn: MeanFn, theta: Any, sigma: Any = None, max_cond: float = DEFAULT_MAX_COND) -> jax.Array:
    r"""$R_{ijkl}$ by the Gauss equation, shape ``(m,)*4``; must equal :func:`riemann_tensor` of :func:`pullback_metric`."""
    pm, theta = _prepare(mu_fn, theta, sigma)
    g, r = _riemann_and_metric(pm, theta)
    return nan_unless_regular(g, r, max_cond, pm.mean_norm2(theta))


def ricci_tensor_extrinsic(mu_fn: MeanFn, theta: Any, sigma: Any = None, max_cond: float = DEFAULT_MAX_COND) -> jax.Array:
    r"""$\mathrm{Ric}_{jl}=g^{ik}R_{ijkl}$ from the Gauss equation, shape ``(m, m)``."""
    pm, theta = _prepare(mu_fn, theta, sigma)
    g, r = _riemann_and_metric(pm, theta)
    return nan_unless_regular(g, ricci_from_riemann(g, r), max_cond, pm.mean_norm2(theta))


def scalar_curvature_extrinsic(mu_fn: MeanFn, theta: Any, sigma: Any = None, max_cond: float = DEFAULT_MAX_COND) -> jax.Array:
    r"""Scalar curvature $S$ from the Gauss equation (float64 scalar)."""
    pm, theta = _prepare(mu_fn, theta, sigma)
    g, r = _riemann_and_metric(pm, theta)
    return nan_unless_regular(g, scalar_from_ricci(g, ricci_from_riemann(g, r)), max_cond, pm.mean_norm2(theta))


def sectional_curvature_extrinsic(
    mu_fn: MeanFn, theta: Any, u: Any, v: Any, sigma: Any = None, max_cond: float = DEFAULT_MAX_COND
) -> jax.Array:
    r"""Sectional curvature $K(u,v)$ from the Gauss equation."""
    pm, theta = _prepare(mu_fn, theta, sigma)
    u, v = check_tangent_pair(u, v, theta.shape[0])
    g, r = _riemann_and_metric(pm, theta)
    return nan_unless_regular(g, sectional_from_riemann(g, r, u, v), max_cond, pm.mean_norm2(theta))


def gaussian_curvature_extrinsic(mu_fn: MeanFn, theta: Any, sigma: Any = None, max_cond: float = DEFAULT_MAX_COND) -> jax.Array:
    r"""Gaussian curvature of a surface ($m=2$) from the Gauss equation, $K=R_{1212}/\det g$.

    Example (saddle $z=xy$, spec §3 table)::

        gaussian_curvature_extrinsic(lambda t: jnp.array([t[0], t[1], t[0] * t[1]]), jnp.array([0.5, 0.2]))
        # -0.600925425154738
    """
    pm, theta = _prepare(mu_fn, theta, sigma)
    if theta.shape[0] != 2:
        raise ValueError(f"gaussian_curvature_extrinsic needs m=2 coordinates, got m={theta.shape[0]}")
    g, r = _riemann_and_metric(pm, theta)
    return nan_unless_regular(g, gaussian_from_riemann(g, r), max_cond, pm.mean_norm2(theta))
