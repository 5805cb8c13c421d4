"""Input checks at the Python boundary (concrete arrays only; traced values pass through).

Validation never runs inside ``jit``/``vmap``: a traced value is returned unchanged, so the
compiled cores stay pure. Shapes are static, so shape checks run on tracers too.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from attnverify.proofs_numeric.precision import check_choice, check_int, is_concrete

__all__ = ["is_concrete", "check_point", "check_vector", "check_spd", "check_metric_shape", "check_mean_shape",
           "check_choice", "check_positive_int", "check_points", "check_plane", "check_tangent_pair", "PLANE_TOL"]

PLANE_TOL = 1e-12  # |v - proj_u v| / |v| below this: u and v span no plane to working precision


def check_positive_int(value: Any, name: str) -> int:
    """An integer ``>= 1`` (``TypeError`` for floats and bools, ``ValueError`` below 1)."""
    return check_int(value, name, minimum=1)


def check_points(points: Any, name: str = "points", grouped: bool = False) -> jax.Array:
    """Float64 points ``[N, m]`` (``[R, N, m]`` when ``grouped``), ``N >= 0``, ``m >= 1``, finite when concrete."""
    a = jnp.asarray(points, dtype=jnp.float64)
    want = 3 if grouped else 2
    if a.ndim != want or a.shape[-1] < 1:
        raise ValueError(f"{name} must have shape {'[R, N, m]' if grouped else '[N, m]'} with m >= 1, got {a.shape}")
    if is_concrete(a):
        bad = ~np.isfinite(np.asarray(a))
        if bad.any():
            raise ValueError(f"{name} has a non-finite entry at index {tuple(int(i) for i in np.argwhere(bad)[0])}")
    return a


def check_tangent_pair(u: Any, v: Any, m: int) -> tuple[jax.Array, jax.Array]:
    """Tangent vectors ``u``, ``v`` of shape ``(m,)`` spanning a plane (see :func:`check_plane`)."""
    if m < 2:
        raise ValueError(f"sectional curvature needs m >= 2 coordinates (a plane spanned by u and v); theta has m={m}, "
                         "where any u and v are dependent")
    u, v = check_vector(u, m, "u"), check_vector(v, m, "v")
    check_plane(u, v)
    return u, v


def check_plane(u: jax.Array, v: jax.Array) -> None:
    """Concrete ``u``, ``v`` must span a plane: ``ValueError`` when they are linearly dependent
    to working precision (``|v - proj_u v| <= 1e-12 |v|``, or a zero vector)."""
    if not is_concrete(u, v):
        return
    a, b = np.asarray(u), np.asarray(v)
    nu, nv = np.linalg.norm(a), np.linalg.norm(b)
    if nu == 0 or nv == 0:
        raise ValueError(f"tangent vector {'u' if nu == 0 else 'v'} is zero: u and v must span a plane")
    w = b - (a @ b) / (a @ a) * a
    if np.linalg.norm(w) <= PLANE_TOL * nv:
        raise ValueError("u and v are linearly dependent (to working precision): they span no plane")

def check_point(theta: Any, name: str = "theta") -> jax.Array:
    """A float64 1-D parameter point; ``ValueError`` for a wrong rank or non-finite entries."""
    theta = jnp.asarray(theta, dtype=jnp.float64)
    if theta.ndim != 1 or theta.shape[0] < 1:
        raise ValueError(f"{name} must be a 1-D array of m >= 1 coordinates, got shape {theta.shape}")
    if is_concrete(theta):
        bad = np.flatnonzero(~np.isfinite(np.asarray(theta)))
        if bad.size:
            raise ValueError(f"{name} has non-finite entries at indices {bad.tolist()}")
    return theta


def check_vector(v: Any, m: int, name: str) -> jax.Array:
    """A tangent vector of length ``m`` (finite when concrete)."""
    v = check_point(v, name)
    if v.shape != (m,):
        raise ValueError(f"{name} must have shape ({m},) to match theta, got {v.shape}")
    return v


def check_spd(sigma: Any, d: int | None = None, max_cond: float = 1e12) -> jax.Array:
    """A symmetric positive-definite ``d x d`` covariance; ``ValueError`` naming the problem."""
    s = jnp.asarray(sigma, dtype=jnp.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"Sigma must be a square matrix, got shape {s.shape}")
    if d is not None and s.shape[0] != d:
        raise ValueError(f"Sigma is {s.shape[0]}x{s.shape[0]} but the mean map has d={d} outputs")
    if is_concrete(s):
        a = np.asarray(s)
        if not np.isfinite(a).all():
            i = np.argwhere(~np.isfinite(a))[0].tolist()
            raise ValueError(f"Sigma has non-finite entries (first at index {i})")
        if not np.allclose(a, a.T, rtol=1e-12, atol=1e-14 * max(1.0, np.abs(a).max())):
            i = np.unravel_index(int(np.argmax(np.abs(a - a.T))), a.shape)
            raise ValueError(f"Sigma is not symmetric (largest asymmetry at index {tuple(int(k) for k in i)})")
        ev = np.linalg.eigvalsh(a)
        if not ev[0] > 0:
            raise ValueError(f"Sigma is not positive definite (smallest eigenvalue {ev[0]:.3e})")
        if ev[-1] / ev[0] > max_cond:
            raise ValueError(f"Sigma is numerically singular (condition number {ev[-1] / ev[0]:.3e} > {max_cond:.0e})")
    return s


def check_metric_shape(metric_fn: Any, theta: jax.Array) -> None:
    """The metric function must map ``(m,)`` to ``(m, m)`` (checked with ``eval_shape``)."""
    out = jax.eval_shape(metric_fn, theta)
    m = theta.shape[0]
    if getattr(out, "shape", None) != (m, m):
        raise ValueError(f"metric_fn must return an ({m}, {m}) matrix at a point of shape ({m},), got {getattr(out, 'shape', out)}")


def check_mean_shape(mu_fn: Any, theta: jax.Array) -> int:
    """The mean map must map ``(m,)`` to ``(d,)``; returns ``d``."""
    out = jax.eval_shape(mu_fn, theta)
    shape = getattr(out, "shape", None)
    if shape is None or len(shape) != 1:
        raise ValueError(f"mu_fn must return a 1-D mean vector of shape (d,), got {shape}")
    if shape[0] < theta.shape[0]:
        raise ValueError(f"mu_fn maps m={theta.shape[0]} parameters to d={shape[0]} < m outputs: not an immersion")
    return int(shape[0])
