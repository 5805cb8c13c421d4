r"""Matrix-free sectional curvature of one tangent plane (no $m^4$ tensor, no $d\,m^2$ Hessian).

For constant coordinate fields $u,v$ (they commute), with $\phi_{ab}(\theta)=g_\theta(a,b)$ and
$\Gamma_{ab}\in\mathbb R^m$ the Christoffel symbols of the first kind contracted with $a,b$,
$\Gamma_{ab,l}=\tfrac12\big(D_ag(b,e_l)+D_bg(a,e_l)-\partial_l\phi_{ab}\big)$, the lowered form of
:mod:`geometry._intrinsic` contracted with $(u,v,u,v)$ gives

$$R(u,v,u,v)=D_uD_v\phi_{uv}-\tfrac12D_u^2\phi_{vv}-\tfrac12D_v^2\phi_{uu}
+\Gamma_{uv}^\top g^{-1}\Gamma_{uv}-\Gamma_{uu}^\top g^{-1}\Gamma_{vv}.$$

*Metric route* (``metric_fn``): one evaluation of $g$, one batched JVP of ``metric_fn`` along
$(u,v)$, one batched VJP for $\nabla\phi_{uu},\nabla\phi_{vv},\nabla\phi_{uv}$, and one batched
second-order JVP for the three $D_aD_b\phi$ -- a fixed number of autodiff passes for every $m$.

*Mean route* (``mu_fn``, or a :class:`~geometry.PullbackMetric`): the Gauss equation with
$h_{ab}=D_aD_b\tilde\mu$ (one batched second-order JVP over the pairs $uu,vv,uv$), the Jacobian
$\tilde J$ (one linearisation) and $\Gamma_{ab}=\tilde J^\top h_{ab}$:
$R(u,v,u,v)=h_{uu}^\top h_{vv}-|h_{uv}|^2-\Gamma_{uu}^\top g^{-1}\Gamma_{vv}+\Gamma_{uv}^\top g^{-1}\Gamma_{uv}$
(spec §3 (b) step 5).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from attnverify.proofs_numeric.precision import require_x64

from ._contractions import area2, orthonormal_plane, solve_metric
from ._accuracy import DEFAULT_MAX_COND, DEFAULT_RTOL, EPS, JET_ERROR, accurate_or_nan, sym_pairs
from ._metrics import PullbackMetric
from ._validation import check_point, check_spd, check_tangent_pair

__all__ = ["sectional_curvature_matrix_free"]


def _second_jvp(f: Callable, theta: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    """$D_aD_bf(\\theta)$ by forward-over-forward."""
    return jax.jvp(lambda t: jax.jvp(f, (t,), (b,))[1], (theta,), (a,))[1]


def _pairs(u: jax.Array, v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Direction pairs ``(uu, vv, uv)`` stacked as two ``(3, m)`` arrays."""
    return jnp.stack([u, v, u]), jnp.stack([u, v, v])


def _metric_jets(metric_fn: Callable, theta: jax.Array, u: jax.Array, v: jax.Array) -> tuple:
    """``(g, D_u g, D_v g, grad phi_{uu,vv,uv}, D_aD_b phi)``: the jets of the metric route."""
    g, lin = jax.linearize(metric_fn, theta)
    dgu, dgv = jax.vmap(lin)(jnp.stack([u, v]))  # D_u g, D_v g
    a, b = _pairs(u, v)
    _, pullback = jax.vjp(metric_fn, theta)
    cot = 0.5 * (a[:, :, None] * b[:, None, :] + b[:, :, None] * a[:, None, :])
    (grad_phi,) = jax.vmap(pullback)(cot)  # rows: grad phi_uu, phi_vv, phi_uv
    # second derivatives D_a D_b phi_cd for (a,b,c,d) = (u,v,u,v), (u,u,v,v), (v,v,u,u)
    phi_dirs = (jnp.stack([u, v, u]), jnp.stack([v, v, u]))
    sec_a, sec_b = jnp.stack([u, u, v]), jnp.stack([v, u, v])

    def second(x, y, c, e):
        return _second_jvp(lambda t: c @ metric_fn(t) @ e, theta, x, y)

    return g, dgu, dgv, grad_phi, jax.vmap(second)(sec_a, sec_b, *phi_dirs)


def _sectional_metric(jets: tuple, u: jax.Array, v: jax.Array) -> jax.Array:
    g, dgu, dgv, grad_phi, d2 = jets
    gam = jnp.stack([dgu @ u, dgv @ v, 0.5 * (dgu @ v + dgv @ u)]) - 0.5 * grad_phi
    sol = solve_metric(g, gam.T)  # columns g^{-1} Gamma_ab
    num = d2[0] - 0.5 * d2[1] - 0.5 * d2[2] + gam[2] @ sol[:, 2] - gam[0] @ sol[:, 1]
    return num / area2(g, u, v)


def _metric_scale(jets: tuple) -> jax.Array:
    """$c_0=(\\|D^2\\phi\\|+\\|Dg\\|^2/\\|g\\|)/\\|g\\|^2$ from the jets of the metric route."""
    g, dgu, dgv, _, d2 = jets
    ng = jnp.linalg.norm(g)
    return (jnp.linalg.norm(d2) + (jnp.linalg.norm(dgu) ** 2 + jnp.linalg.norm(dgv) ** 2) / ng) / ng**2


def _symmetric_metric_jets(jets: tuple) -> tuple:
    g, dgu, dgv, grad_phi, d2 = jets
    return sym_pairs(g, (0, 1)), sym_pairs(dgu, (0, 1)), sym_pairs(dgv, (0, 1)), grad_phi, d2


def _mean_jets(pm: PullbackMetric, theta: jax.Array, u: jax.Array, v: jax.Array) -> tuple:
    """``(J, h, mu)`` with ``h`` rows $D_uD_u\\tilde\\mu, D_vD_v\\tilde\\mu, D_uD_v\\tilde\\mu$."""
    f = pm.whitened_mean
    mu, lin = jax.linearize(f, theta)
    j = jax.vmap(lin, out_axes=1)(jnp.eye(theta.shape[0], dtype=theta.dtype))
    a, b = _pairs(u, v)
    return j, jax.vmap(lambda x, y: _second_jvp(f, theta, x, y))(a, b), mu  # h (3, d): h_uu, h_vv, h_uv


def _sectional_mean(jets: tuple, u: jax.Array, v: jax.Array) -> jax.Array:
    j, h, e = jets
    g = j.T @ j + e  # e = 0, perturbed by the error estimate (forming J^T J)
    gam = h @ j  # (3, m)
    sol = solve_metric(g, gam.T)
    num = h[0] @ h[1] - h[2] @ h[2] - gam[0] @ sol[:, 1] + gam[2] @ sol[:, 2]
    return num / area2(g, u, v)


def sectional_curvature_matrix_free(
    metric_fn_or_mu_fn: Callable[[jax.Array], jax.Array],
    theta: ArrayLike,
    u: ArrayLike,
    v: ArrayLike,
    *,
    sigma: ArrayLike | None = None,
    max_cond: float = DEFAULT_MAX_COND,
    rtol: float = DEFAULT_RTOL,
) -> jax.Array:
    r"""Sectional curvature $K(u,v)=R(u,v,u,v)/(g(u,u)g(v,v)-g(u,v)^2)$ with a fixed number of autodiff passes.

    **Arguments:** ``metric_fn_or_mu_fn`` is a metric function ``(m,) -> (m, m)``, a mean map
    ``(m,) -> (d,)`` (then ``sigma`` is its SPD covariance, identity when ``None``), or a
    :class:`~geometry.PullbackMetric` (uses its mean map and $\Sigma$). ``u``, ``v``: ``(m,)``.

    **Returns:** a float64 scalar within ``rtol`` of $K$ (relative to $\max(|K|,c_0)$), or NaN where
    the error estimate of :mod:`geometry._accuracy` exceeds it (near degenerate charts). Agrees with
    :func:`~geometry.sectional_curvature` of the full tensor; memory $O(m^2+dm)$.
    """
    require_x64("curvature")
    theta = check_point(theta)
    m = theta.shape[0]
    u, v = orthonormal_plane(*check_tangent_pair(u, v, m))  # same plane, no cancellation for nearly parallel u, v
    f = metric_fn_or_mu_fn
    pm = f if isinstance(f, PullbackMetric) else None
    if pm is None:
        shape = getattr(jax.eval_shape(f, theta), "shape", None)
        if shape == (m, m) and sigma is None:
            jets = _metric_jets(f, theta, u, v)
            value = accurate_or_nan(lambda x: _sectional_metric(x, u, v), jets, jets[0], _metric_scale(jets), rtol, _symmetric_metric_jets, max_cond)[0]
            return value
        if shape is None or len(shape) != 1 or shape[0] < m:
            raise ValueError(f"expected a metric function returning ({m}, {m}) or a mean map returning (d,) with d >= {m}, got {shape}")
        pm = PullbackMetric(f, None if sigma is None else check_spd(sigma, shape[0]))
    j, h, mu = _mean_jets(pm, theta, u, v)
    ny, nj = jnp.linalg.norm(mu), jnp.linalg.norm(j)
    scale = jnp.linalg.norm(h) ** 2 / jnp.maximum(nj, JET_ERROR * EPS * ny) ** 4
    jets = (j, h, jnp.zeros((m, m), j.dtype))
    sym = lambda x: (x[0], x[1], sym_pairs(x[2], (0, 1)))  # noqa: E731
    value = accurate_or_nan(lambda x: _sectional_mean(x, u, v), jets, j.T @ j, scale, rtol, sym, max_cond, (ny, ny, nj**2))[0]
    return value
