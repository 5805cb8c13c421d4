r"""Claims C9: covariance scaling and invariances of the Fisher–Rao curvature.

$K_{s^2I}=s^2K_I$; $K$ is unchanged under $(\mu,\Sigma)\mapsto(B\mu+c,B\Sigma B^\top)$ ($B$ invertible,
in particular orthogonal $B$ with $\Sigma=I$) and under reparametrisation $\theta=\phi(\xi)$,
$\phi(\xi)=(\xi_1+0.3\xi_2^2,\xi_2)$.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from attnverify.proofs_numeric import Context, Evidence, claim

from ._flagged import flagged_evidence
from attnverify.proofs_numeric.instances import random_spd

from ._extrinsic import gaussian_curvature_extrinsic
from ._intrinsic import gaussian_curvature
from ._metrics import pullback_metric
from ._random_maps import mlp_mean, random_mlp_params

PAPER = "gating_curvature"
CHUNK = 16
D = 4


def reparametrise(xi: jax.Array) -> jax.Array:
    r"""$\phi(\xi)=(\xi_1+0.3\xi_2^2,\xi_2)$ (spec C9)."""
    return jnp.stack([xi[0] + 0.3 * xi[1] ** 2, xi[1]])


def _one(params, theta, sigma, b, c, xi):
    mu = functools.partial(mlp_mean, params)
    k_int = gaussian_curvature(pullback_metric(mu, sigma), theta)
    k_ext = gaussian_curvature_extrinsic(mu, theta, sigma)
    k_aff = gaussian_curvature_extrinsic(lambda t: b @ mu(t) + c, theta, b @ sigma @ b.T)
    k_rep = gaussian_curvature(pullback_metric(lambda s: mu(reparametrise(s)), sigma), xi)
    k_id = gaussian_curvature_extrinsic(mu, theta)  # Sigma = I
    return jnp.stack([k_int, k_ext, k_aff, k_rep, k_id])


invariance_batch = jax.jit(jax.vmap(_one))
"""``[K_a, K_b, K(B mu + c, B Sigma B^T), K(mu o phi)(xi), K(mu, I)]`` per instance, ``theta = phi(xi)``."""


def invariance_instances(rng: np.random.Generator, kind: str, sigma_cond: float = 10.0, b_cond: float = 10.0) -> tuple:
    """One chunk of instances; ``kind`` is ``"affine"``, ``"orthogonal"`` or ``"scaling"`` (Sigma = s^2 I)."""
    params = random_mlp_params(rng, 2, D, count=CHUNK)
    xi = 0.5 * rng.standard_normal((CHUNK, 2))
    theta = np.stack([xi[:, 0] + 0.3 * xi[:, 1] ** 2, xi[:, 1]], 1)
    if kind == "scaling":
        s = rng.uniform(0.1, 3.0, CHUNK)
        sigma = s[:, None, None] ** 2 * np.eye(D)
    else:
        sigma = np.stack([np.eye(D) if kind == "orthogonal" else random_spd(rng, D, sigma_cond) for _ in range(CHUNK)])
        s = np.ones(CHUNK)
    b = np.stack([np.linalg.qr(rng.standard_normal((D, D)))[0] if kind == "orthogonal" else random_spd(rng, D, b_cond) @ np.linalg.qr(rng.standard_normal((D, D)))[0] for _ in range(CHUNK)])
    c = rng.standard_normal((CHUNK, D))
    return (params, theta, sigma, b, c, xi), s


def _invariance_claim(cid: str, statement: str, doc: str, kinds: tuple[str, ...], err_fn) -> None:
    def check(ctx: Context) -> Evidence:
        rng = ctx.rng
        rand, adv = [], []
        for _ in range(max(1, ctx.count(128) // CHUNK)):
            for kind in kinds:
                args, s = invariance_instances(rng, kind)
                rand.append(err_fn(np.asarray(invariance_batch(*args)), s, kind))
        for kind in kinds:
            args, s = invariance_instances(rng, kind, sigma_cond=1e4, b_cond=1e2)
            adv.append(err_fn(np.asarray(invariance_batch(*args)), s, kind))
        return flagged_evidence(np.concatenate(rand), np.concatenate(adv), details={"kinds": list(kinds)})

    check.__doc__ = doc
    claim(cid, paper=PAPER, equation="C9", statement=statement, provenance="derived", tolerance=1e-9, error="|dK|/max(1,|K|)")(check)


def _rel(a, b):
    return np.abs(a - b) / np.maximum(1.0, np.abs(b))


_invariance_claim(
    "geometry.sigma_scaling", r"K_{\Sigma=s^2I}=s^2K_{\Sigma=I}",
    "Scaling the covariance to s^2 I multiplies the curvature by s^2 (the metric scales by 1/s^2).",
    ("scaling",), lambda k, s, _: np.maximum(_rel(k[:, 0], s**2 * k[:, 4]), _rel(k[:, 1], s**2 * k[:, 4])),
)
_invariance_claim(
    "geometry.affine_invariance", r"K[B\mu+c,\,B\Sigma B^\top]=K[\mu,\Sigma],\ B\in GL(d)",
    "Curvature is invariant under invertible affine maps of the mean space with the covariance transformed alike (whitening invariance).",
    ("affine", "orthogonal"), lambda k, s, _: _rel(k[:, 2], k[:, 1]),
)
_invariance_claim(
    "geometry.reparametrisation_invariance", r"K[\mu\circ\phi](\xi)=K[\mu](\phi(\xi)),\ \phi(\xi)=(\xi_1+0.3\xi_2^2,\xi_2)",
    "Curvature is intrinsic: a reparametrisation of the chart leaves K unchanged at corresponding points (both methods agree too).",
    ("affine",), lambda k, s, _: np.maximum(_rel(k[:, 3], k[:, 0]), _rel(k[:, 0], k[:, 1])),
)
