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
Every output is accurate to ``rtol`` or NaN with a reason code (:mod:`geometry._accuracy`: jets
$\tilde J,\partial^2\tilde\mu$, algebra QR + projection + Gauss equation; curvature scale
$c_0=\|\partial^2\tilde\mu\|_F^2/\|\tilde J\|_F^4$).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from attnverify.proofs_numeric.precision import require_x64

from ._accuracy import DEFAULT_RTOL, EPS, JET_ERROR, accurate_or_nan, binary_scale, exact_scale, inverse_norm_bound, jet_error, output_bound, raised_ricci_norm, rescaled, sym_pairs
from ._contractions import cholesky_inverse, sectional_from_riemann
from ._intrinsic import OUTPUTS, value_and_jacfwd
from ._metrics import DEFAULT_MAX_COND, PullbackMetric
from ._validation import check_mean_shape, check_point, check_tangent_pair

__all__ = [
    "second_fundamental_form", "riemann_tensor_extrinsic", "ricci_tensor_extrinsic", "scalar_curvature_extrinsic",
    "sectional_curvature_extrinsic", "gaussian_curvature_extrinsic", "extrinsic_with_reason",
]

MeanFn = Callable[[jax.Array], jax.Array]


def _prepare(mu_fn: MeanFn, theta: ArrayLike, sigma: ArrayLike | None) -> tuple[PullbackMetric, jax.Array]:
    require_x64("curvature")
    theta = check_point(theta)
    pm = mu_fn if isinstance(mu_fn, PullbackMetric) else PullbackMetric(mu_fn, sigma)
    d = check_mean_shape(pm.mu_fn, theta)
    if pm.chol is not None and pm.chol.shape[0] != d:
        raise ValueError(f"mu_fn returns d={d} outputs but Sigma is {pm.chol.shape[0]}x{pm.chol.shape[0]}")
    return pm, theta


def _mean_jets(pm: PullbackMetric, theta: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(J, H, mu)``: whitened Jacobian ``(d, m)``, Hessian ``h[a, i, k]`` $=\\partial_k\\partial_i\\tilde\\mu_a$, mean."""

    def jac_aux(t):
        y, j = value_and_jacfwd(pm.whitened_mean, t)
        return j, (j, y)

    h, (j, y) = jax.jacfwd(jac_aux, has_aux=True)(theta)
    return j, h, y


def _second_form(j: jax.Array, h: jax.Array) -> jax.Array:
    """$\\mathrm{II}=(I-QQ^\\top)H$ with $Q$ from the thin QR of $\\tilde J$, shape ``(d, m, m)``."""
    q, _ = jnp.linalg.qr(j)
    d, m = j.shape
    flat = h.reshape(d, m * m)
    return (flat - q @ (q.T @ flat)).reshape(d, m, m)


def _gauss_equation(j: jax.Array, h: jax.Array, e: jax.Array | float = 0.0) -> tuple[jax.Array, jax.Array]:
    """``(g, R)``: $g=\\tilde J^\\top\\tilde J+e$ ($e=0$; perturbed by the error estimate: forming
    $\\tilde J^\\top\\tilde J$ is not backward stable in $\\tilde J$) and $R_{ijkl}=\\langle\\mathrm{II}_{ik},\\mathrm{II}_{jl}\\rangle-\\langle\\mathrm{II}_{il},\\mathrm{II}_{jk}\\rangle$."""
    return _gauss_parts(j, h, e)[:2]


def _gauss_parts(j: jax.Array, h: jax.Array, e: jax.Array | float = 0.0) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(g, R, II)``: :func:`_gauss_equation` and the second fundamental form it was built from."""
    ii = _second_form(j, h)
    d, m, _ = ii.shape
    flat = ii.reshape(d, m * m)
    gram = (flat.T @ flat).reshape(m, m, m, m)  # gram[i, k, j, l] = <II_ik, II_jl>
    return j.T @ j + e, jnp.einsum("ikjl->ijkl", gram) - jnp.einsum("iljk->ijkl", gram), ii


def _symmetric_mean_jets(jets: tuple) -> tuple:
    return jets[0], sym_pairs(jets[1], (1, 2)), sym_pairs(jets[2], (0, 1))


def extrinsic_with_reason(
    pm: PullbackMetric, theta: jax.Array, kind: str, rtol: float = DEFAULT_RTOL, max_cond: float = DEFAULT_MAX_COND, plane: Any = None,
    estimate: str = "auto",
) -> tuple[jax.Array, ...]:
    r"""``(value or NaN, reason code, error estimate, tolerance)`` of output ``kind`` (``"riemann"``, ``"ricci"``, ``"scalar"``,
    ``"gaussian"``, ``"sectional"`` with ``plane=(u, v)``, ``"second_form"``) by the Gauss equation; ``estimate`` as in
    :func:`~geometry._accuracy.accurate_or_nan`."""
    j, h, y = _mean_jets(pm, theta)
    # work on mu / 2^k with 2^k ~ max|J| (exact): the algebra and c_0 (||J||^4) stay in range at any scale
    k = binary_scale(j)
    j, h, y = (exact_scale(x, -k) for x in (j, h, y))
    nj, nh, ny = jnp.linalg.norm(j), jnp.linalg.norm(h.ravel()), jnp.linalg.norm(y)
    nj_eff = jnp.maximum(nj, JET_ERROR * EPS * ny)  # a Jacobian below its rounding floor sets no curvature scale
    m = theta.shape[0]
    if kind == "second_form":
        algebra, floor = (lambda x: _second_form(x[0], x[1])), nh
    else:
        if kind == "sectional":
            output, units = (lambda g, r, gi=None: sectional_from_riemann(g, r, *plane)), (lambda m_, ng: jnp.ones_like(ng))
        else:
            output, units = OUTPUTS[kind]
        # c_0 with ||H||^2 floored at c_eps eps ||mu||^2 where the Jacobian is resolved to half the working
        # digits (||J|| >= sqrt(c_eps eps) ||mu||): an exactly flat chart (H = 0) then has the absolute floor
        # rtol * c_eps eps ||mu||^2 / ||J||^4, above the O(eps^2) curvature of its jets' rounding
        nh_eff2 = jnp.where(nj >= math.sqrt(JET_ERROR * EPS) * ny, jnp.maximum(nh**2, JET_ERROR * EPS * ny**2), nh**2)
        algebra, floor = (lambda x: output(*_gauss_equation(*x))), units(m, nj**2) * nh_eff2 / nj_eff**4
    e = jnp.zeros((m, m), j.dtype)
    noise = (ny, ny, nj**2)
    if kind not in OUTPUTS:
        out = accurate_or_nan(algebra, (j, h, e), j.T @ j, floor, rtol, _symmetric_mean_jets, max_cond, noise, None, estimate)
        return rescaled(out, SCALE_POWER[kind] * k)

    def parts(x: tuple) -> tuple:  # one Cholesky of g for the contractions and the certificate
        g, r, ii = _gauss_parts(*x)
        _, chol_inv, ginv = cholesky_inverse(g)
        return output(g, r, ginv), (g, r, ii, chol_inv, ginv)

    bound = functools.partial(_gauss_bound, kind, (j, h, e), noise)
    out = accurate_or_nan(algebra, (j, h, e), j.T @ j, floor, rtol, _symmetric_mean_jets, max_cond, noise, bound, estimate, parts)
    return rescaled(out, SCALE_POWER[kind] * k)


# output(mu) = s^p output(mu / s): II ~ s, R_ijkl ~ s^2 (g ~ s^2), Ric ~ 1, S, K ~ s^-2
SCALE_POWER = {"second_form": 1, "riemann": 2, "ricci": 0, "scalar": -2, "gaussian": -2, "sectional": -2}


def _gauss_bound(kind: str, jets: tuple, noise: tuple, value: jax.Array, aux: tuple) -> jax.Array:
    r"""A-priori error bound of output ``kind`` by the Gauss equation (the certificate of :mod:`geometry._accuracy`).

    With $g_i\ge\|g^{-1}\|_F\ge\sigma_{\min}(\tilde J)^{-2}$ (:func:`~geometry._accuracy.inverse_norm_bound`) and the rounding model's errors
    $\delta\tilde J,\delta H$: the range projector moves by $\|\delta P\|_2\le2\sqrt{g_i}\,\delta\tilde J$, so
    $\delta\mathrm{II}\le\delta H+2\sqrt{g_i}\,\delta\tilde J\|H\|$, $\delta R\le4\|\mathrm{II}\|\delta\mathrm{II}+2\delta\mathrm{II}^2$,
    $\|R\|\le\|\hat R\|+\delta R$ and $\delta g\le2\|\tilde J\|\delta\tilde J+\delta e$ (Frobenius norms; $g$, $\hat R$,
    $\hat{\mathrm{II}}$ the computed ones, ``aux``)."""
    j, h, e = jets
    g, r, ii, chol_inv, ginv = aux
    e_j, e_h, e_e = (jet_error(x, f) for x, f in zip(jets, noise))
    gi = inverse_norm_bound(g, chol_inv)
    nh, nj = jnp.linalg.norm(h.ravel()), jnp.linalg.norm(j)
    d_ii = e_h + 2.0 * jnp.sqrt(gi) * e_j * nh
    dr = 4.0 * (jnp.linalg.norm(ii.ravel()) + d_ii) * d_ii + 2.0 * d_ii**2
    raised = raised_ricci_norm(g, r, ginv) if kind == "scalar" else None
    return output_bound(kind, jnp.linalg.norm(r.ravel()) + dr, dr, gi, 2.0 * nj * e_j + e_e, jnp.linalg.norm(g), value, raised)


def second_fundamental_form(mu_fn: MeanFn, theta: ArrayLike, sigma: ArrayLike | None = None, max_cond: float = DEFAULT_MAX_COND, rtol: float = DEFAULT_RTOL) -> jax.Array:
    r"""$\mathrm{II}_{ij}=P_N\,\partial_i\partial_j\tilde\mu$ in whitened coordinates, shape ``(d, m, m)``.

    $\langle\mathrm{II}_{ij},\mathrm{II}_{kl}\rangle$ (Euclidean) equals $\langle\cdot,\cdot\rangle_\Sigma$ of the unwhitened form.
    Accurate to ``rtol`` relative to $\max(\max|\mathrm{II}|,\|\partial^2\tilde\mu\|_F)$, or NaN.
    """
    pm, theta = _prepare(mu_fn, theta, sigma)
    return extrinsic_with_reason(pm, theta, "second_form", rtol, max_cond)[0]


def riemann_tensor_extrinsic(mu_fn: MeanFn, theta: ArrayLike, sigma: ArrayLike | None = None, max_cond: float = DEFAULT_MAX_COND, rtol: float = DEFAULT_RTOL) -> jax.Array:
    r"""$R_{ijkl}$ from the Gauss equation (same convention as :func:`~geometry.riemann_tensor`). Accurate or NaN."""
    pm, theta = _prepare(mu_fn, theta, sigma)
    return extrinsic_with_reason(pm, theta, "riemann", rtol, max_cond)[0]


def ricci_tensor_extrinsic(mu_fn: MeanFn, theta: ArrayLike, sigma: ArrayLike | None = None, max_cond: float = DEFAULT_MAX_COND, rtol: float = DEFAULT_RTOL) -> jax.Array:
    r"""$\mathrm{Ric}_{jl}=g^{ik}R_{ijkl}$ from the Gauss equation, shape ``(m, m)``. Accurate or NaN."""
    pm, theta = _prepare(mu_fn, theta, sigma)
    return extrinsic_with_reason(pm, theta, "ricci", rtol, max_cond)[0]


def scalar_curvature_extrinsic(mu_fn: MeanFn, theta: ArrayLike, sigma: ArrayLike | None = None, max_cond: float = DEFAULT_MAX_COND, rtol: float = DEFAULT_RTOL) -> jax.Array:
    r"""Scalar curvature $S$ from the Gauss equation (float64 scalar).

    Finite only when $|\hat S-S|\le\mathrm{rtol}\max(|\hat S|,m(m-1)c_0)$ by the error estimate of
    :mod:`geometry._accuracy`; otherwise NaN (reason via :func:`~geometry.curvature_diagnostics`).
    """
    pm, theta = _prepare(mu_fn, theta, sigma)
    return extrinsic_with_reason(pm, theta, "scalar", rtol, max_cond)[0]


def sectional_curvature_extrinsic(
    mu_fn: MeanFn, theta: ArrayLike, u: ArrayLike, v: ArrayLike, sigma: ArrayLike | None = None, max_cond: float = DEFAULT_MAX_COND, rtol: float = DEFAULT_RTOL
) -> jax.Array:
    r"""Sectional curvature $K(u,v)$ from the Gauss equation. Accurate or NaN."""
    pm, theta = _prepare(mu_fn, theta, sigma)
    u, v = check_tangent_pair(u, v, theta.shape[0])
    return extrinsic_with_reason(pm, theta, "sectional", rtol, max_cond, plane=(u, v))[0]


def gaussian_curvature_extrinsic(mu_fn: MeanFn, theta: ArrayLike, sigma: ArrayLike | None = None, max_cond: float = DEFAULT_MAX_COND, rtol: float = DEFAULT_RTOL) -> jax.Array:
    r"""Gaussian curvature of a surface ($m=2$) from the Gauss equation, $K=R_{1212}/\det g$.

    Finite only when $|\hat K-K|\le\mathrm{rtol}\max(|\hat K|,c_0)$ by the error estimate, else NaN.

    Example (saddle $z=xy$, spec §3 table)::

        gaussian_curvature_extrinsic(lambda t: jnp.array([t[0], t[1], t[0] * t[1]]), jnp.array([0.5, 0.2]))
        # -0.600925425154738
    """
    pm, theta = _prepare(mu_fn, theta, sigma)
    if theta.shape[0] != 2:
        raise ValueError(f"gaussian_curvature_extrinsic needs m=2 coordinates, got m={theta.shape[0]}")
    return extrinsic_with_reason(pm, theta, "gaussian", rtol, max_cond)[0]
