r"""Compiled, ``vmap``-ed evaluations over random tanh-MLP immersions (shared by claims, tests, benchmarks).

One ``jax.jit`` per function and shape ``(m, d)``: compile time is paid once per shape and process.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from attnverify.proofs_numeric.instances import random_spd

from ._contractions import ricci_from_riemann, scalar_from_ricci
from ._extrinsic import riemann_tensor_extrinsic, sectional_curvature_extrinsic
from ._intrinsic import christoffel_symbols, riemann_tensor
from ._matrix_free import sectional_curvature_matrix_free
from ._metrics import pullback_metric
from ._random_maps import mlp_mean, random_directions, random_mlp_params

__all__ = ["engine_outputs", "christoffel_check", "matrix_free_metric_route", "random_engine_batch", "gaussian_curvature_batch"]


def _engine_one(params: dict, theta: jax.Array, sigma: jax.Array, u: jax.Array, v: jax.Array) -> dict:
    mu = functools.partial(mlp_mean, params)
    metric = pullback_metric(mu, sigma)
    g = metric(theta)
    ra = riemann_tensor(metric, theta)
    rb = riemann_tensor_extrinsic(mu, theta, sigma)
    return {
        "g": g,
        "ra": ra,
        "rb": rb,
        "sa": scalar_from_ricci(g, ricci_from_riemann(g, ra)),
        "sb": scalar_from_ricci(g, ricci_from_riemann(g, rb)),
        "k_mf_mean": sectional_curvature_matrix_free(mu, theta, u, v, sigma=sigma),
        "area2": (u @ g @ u) * (v @ g @ v) - (u @ g @ v) ** 2,
        "u": u,
        "v": v,
    }


engine_outputs = jax.jit(jax.vmap(_engine_one))
"""``engine_outputs(params, theta, sigma, u, v)`` over a leading batch axis: both Riemann tensors,
both scalar curvatures, the metric and the matrix-free (mean route) sectional curvature."""


def _christoffel_one(params: dict, theta: jax.Array, sigma: jax.Array) -> jax.Array:
    mu = functools.partial(mlp_mean, params)
    chol = jnp.linalg.cholesky(sigma)
    j = jnp.linalg.solve(chol, jax.jacfwd(mu)(theta))
    m = theta.shape[0]
    h = jnp.linalg.solve(chol, jax.hessian(mu)(theta).reshape(sigma.shape[0], m * m)).reshape(-1, m, m)
    direct = jnp.einsum("aij,al->ijl", h, j)  # <d_i d_j mu, d_l mu>_Sigma
    engine = jnp.einsum("lk,kij->ijl", j.T @ j, christoffel_symbols(pullback_metric(mu, sigma), theta))
    return jnp.max(jnp.abs(engine - direct)) / jnp.max(jnp.abs(direct))


christoffel_check = jax.jit(jax.vmap(_christoffel_one))
"""Relative error of $g_{lk}\\Gamma^k_{ij}$ against $\\langle\\partial_i\\partial_j\\mu,\\partial_l\\mu\\rangle_\\Sigma$."""


def _mf_metric_one(params: dict, theta: jax.Array, sigma: jax.Array, u: jax.Array, v: jax.Array) -> jax.Array:
    mu = functools.partial(mlp_mean, params)
    metric = pullback_metric(mu, sigma)
    k_mf = sectional_curvature_matrix_free(lambda t: metric(t), theta, u, v)  # a plain metric function
    return jnp.stack([k_mf, sectional_curvature_extrinsic(mu, theta, u, v, sigma)])


matrix_free_metric_route = jax.jit(jax.vmap(_mf_metric_one))
"""``[K_mf(metric route), K_full(Gauss)]`` per instance."""


def random_engine_batch(rng: np.random.Generator, m: int, d: int, count: int, scale: float = 1.0, sigma_cond: float = 1.0, theta_sd: float = 0.5) -> tuple:
    """Arguments ``(params, theta, sigma, u, v)`` for ``count`` random instances of shape ``(m, d)``."""
    params = random_mlp_params(rng, m, d, count=count, scale=scale)
    theta = theta_sd * rng.standard_normal((count, m))
    sigma = np.stack([random_spd(rng, d, sigma_cond) if sigma_cond > 1 else np.eye(d) for _ in range(count)])
    u, v = random_directions(rng, m, count)
    return params, theta, sigma, u, v


@functools.lru_cache(maxsize=None)
def gaussian_curvature_batch(mean_fn, method: str = "extrinsic"):
    """Compiled ``(params_batch, x_batch, sigma_batch) -> K`` for a surface family ``mean_fn(params, x)``.

    ``method`` is ``"extrinsic"`` (Gauss equation), ``"intrinsic"`` (metric autodiff) or ``"both"``
    (returns ``[K_a, K_b]`` per instance).
    """
    from ._extrinsic import gaussian_curvature_extrinsic
    from ._intrinsic import gaussian_curvature

    def one(p, x, sigma):
        f = functools.partial(mean_fn, p)
        ka = lambda: gaussian_curvature(pullback_metric(f, sigma), x)  # noqa: E731
        kb = lambda: gaussian_curvature_extrinsic(f, x, sigma)  # noqa: E731
        return {"extrinsic": kb, "intrinsic": ka, "both": lambda: jnp.stack([ka(), kb()])}[method]()

    return jax.jit(jax.vmap(one))
