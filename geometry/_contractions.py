r"""Contractions shared by the intrinsic and extrinsic methods.

$\mathrm{Ric}_{jl}=g^{ik}R_{ijkl}$, $S=g^{jl}\mathrm{Ric}_{jl}$,
$K(X,Y)=R_{ijkl}X^iY^jX^kY^l/(g(X,X)g(Y,Y)-g(X,Y)^2)$, and for $m=2$ $K=R_{1212}/\det g$.
All inverses are Cholesky solves against $g$.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_factor, cho_solve, solve_triangular

__all__ = ["cholesky_inverse", "orthonormal_plane", "solve_metric", "ricci_from_riemann", "scalar_from_ricci", "sectional_from_riemann", "gaussian_from_riemann"]


def solve_metric(g: jax.Array, x: jax.Array, chol: jax.Array | None = None) -> jax.Array:
    r"""$g^{-1}x$ along the first axis of ``x`` (any trailing shape), by Cholesky (``chol``: the lower factor
    $L$ of $g=LL^\top$ when already computed)."""
    m = g.shape[0]
    chol = cho_factor(g, lower=True)[0] if chol is None else chol
    return cho_solve((chol, True), x.reshape(m, -1)).reshape(x.shape)


def cholesky_inverse(g: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""``(L, L^{-1}, g^{-1})`` from one factorisation $g=LL^\top$: $L^{-1}$ by a triangular solve against $I$, and
    $g^{-1}=L^{-\top}L^{-1}$ by a second (the two stages of ``cho_solve`` against $I$: the same bits as
    :func:`inverse_metric`). One point's solves, the contractions and the accuracy certificate share it."""
    chol = cho_factor(g, lower=True)[0]
    chol_inv = solve_triangular(chol, jnp.eye(g.shape[0], dtype=g.dtype), lower=True)
    return chol, chol_inv, solve_triangular(chol, chol_inv, lower=True, trans="T")


def inverse_metric(g: jax.Array) -> jax.Array:
    """$g^{-1}$ by a Cholesky solve against the identity (used only for index contractions)."""
    return solve_metric(g, jnp.eye(g.shape[0], dtype=g.dtype))


def ricci_from_riemann(g: jax.Array, r: jax.Array, ginv: jax.Array | None = None) -> jax.Array:
    r"""$\mathrm{Ric}_{jl}=g^{ik}R_{ijkl}$ for ``r`` of shape ``(m, m, m, m)`` (``ginv``: $g^{-1}$ when already computed)."""
    ric = jnp.einsum("ik,ijkl->jl", inverse_metric(g) if ginv is None else ginv, r)
    return 0.5 * (ric + ric.T)


def scalar_from_ricci(g: jax.Array, ric: jax.Array, ginv: jax.Array | None = None) -> jax.Array:
    r"""$S=g^{jl}\mathrm{Ric}_{jl}$ (``ginv``: $g^{-1}$ when already computed)."""
    return jnp.sum((inverse_metric(g) if ginv is None else ginv) * ric)


def orthonormal_plane(u: jax.Array, v: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""A Euclidean orthonormal basis $(e_1,e_2)$ of $\mathrm{span}(u,v)$ (Gram--Schmidt, two passes).

    $K$ depends on the plane only; contracting $R$ with nearly parallel $u,v$ would cancel
    $O(\varepsilon\|R\|)$ rounding against an $O(\|u\wedge v\|^2)$ value, so every sectional
    route contracts with $(e_1,e_2)$ instead. Dependent vectors give NaN.
    """
    e1 = u / jnp.linalg.norm(u)
    w = v - (e1 @ v) * e1
    w = w - (e1 @ w) * e1
    nw = jnp.linalg.norm(w)
    ok = nw > 1e-12 * jnp.linalg.norm(v)
    return e1, jnp.where(ok, w / jnp.where(ok, nw, 1.0), jnp.nan)


def sectional_from_riemann(g: jax.Array, r: jax.Array, u: jax.Array, v: jax.Array) -> jax.Array:
    r"""$K(u,v)=R(u,v,u,v)/(g(u,u)g(v,v)-g(u,v)^2)$, evaluated on an orthonormal basis of the plane."""
    u, v = orthonormal_plane(u, v)
    num = jnp.einsum("ijkl,i,j,k,l->", r, u, v, u, v)
    return num / area2(g, u, v)


def area2(g: jax.Array, u: jax.Array, v: jax.Array) -> jax.Array:
    """Squared area $g(u,u)g(v,v)-g(u,v)^2$ of the parallelogram spanned by ``u`` and ``v``."""
    guu, gvv, guv = u @ g @ u, v @ g @ v, u @ g @ v
    return guu * gvv - guv * guv


def gaussian_from_riemann(g: jax.Array, r: jax.Array) -> jax.Array:
    """$K=R_{1212}/\\det g$ (``m = 2``)."""
    return r[0, 1, 0, 1] / (g[0, 0] * g[1, 1] - g[0, 1] * g[1, 0])
