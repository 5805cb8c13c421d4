r"""Gaussian score model: closed-form tail mass (C12), the asymptotic :math:`k_\varepsilon` rule (C13)
and the Monte Carlo oracle of :math:`k_\varepsilon` (C14).

Spec ``topk_tv`` §2. For :math:`s_i\stackrel{iid}\sim\mathcal N(\mu,\sigma^2)` and a threshold
:math:`t`, :math:`u=(t-\mu)/\sigma`:

.. math:: \frac{E\sum_ie^{s_i}\mathbf 1\{s_i<t\}}{E\sum_ie^{s_i}}=\Phi(u-\sigma),\qquad
          E[\text{kept fraction}]=\Phi_c(u),\qquad
          \frac{k_\varepsilon}{n}\xrightarrow{n\to\infty}\Phi_c(\sigma+z_\varepsilon),\ z_\varepsilon=\Phi^{-1}(\varepsilon).

The rule under-predicts :math:`k_\varepsilon` unless :math:`e^{\sigma^2}\ll n`; see
:func:`bounds.keps_finite_n` for a finite-:math:`n` predictor. Functions broadcast numpy-style
over their arguments and return float64.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np
from jax.scipy.special import ndtr, ndtri

from ._validate import check_eps, check_finite_values, check_int, check_logits, check_sigma

__all__ = ["gaussian_tail_mass", "gaussian_kept_fraction", "delta_method_tail_mass", "keps_rule", "keps_rule_sensitivities",
           "KepsMC", "keps_oracle", "keps_monte_carlo"]


def gaussian_tail_mass(t: ArrayLike, mu: ArrayLike = 0.0, sigma: ArrayLike = 1.0) -> jax.Array:
    r"""C12: :math:`\Phi\big(\tfrac{t-\mu}\sigma-\sigma\big)`, the expected share of softmax mass below ``t``.

    Example: ``gaussian_tail_mass(2, 0.3, 1.7)`` is ``0.241964...`` (spec C12)."""
    check_sigma(sigma)
    check_finite_values(t, "t")
    check_finite_values(mu, "mu")
    return ndtr((jnp.asarray(t, jnp.float64) - mu) / sigma - sigma)


def gaussian_kept_fraction(t: ArrayLike, mu: ArrayLike = 0.0, sigma: ArrayLike = 1.0) -> jax.Array:
    r"""C12: :math:`\Phi_c\big(\tfrac{t-\mu}\sigma\big)`, the expected fraction of keys at or above ``t``."""
    check_sigma(sigma)
    check_finite_values(t, "t")
    check_finite_values(mu, "mu")
    return ndtr(-(jnp.asarray(t, jnp.float64) - mu) / sigma)


def delta_method_tail_mass(n: ArrayLike, sigma: ArrayLike, u: ArrayLike) -> jax.Array:
    r"""C14 diagnostic: :math:`E[\tau_n]\approx\Phi(u-\sigma)+\frac{e^{\sigma^2}}n[\Phi(u-\sigma)-\Phi(u-2\sigma)]`
    at the fixed threshold :math:`t=\mu+u\sigma`; overshoots once :math:`e^{\sigma^2}/n\gtrsim0.1` (diagnostic only)."""
    check_sigma(sigma)
    check_finite_values(n, "n", positive=True)
    check_finite_values(u, "u")
    s, u = jnp.asarray(sigma, jnp.float64), jnp.asarray(u, jnp.float64)
    return ndtr(u - s) + jnp.exp(s * s) / n * (ndtr(u - s) - ndtr(u - 2 * s))


def keps_rule(sigma: ArrayLike, eps: ArrayLike) -> jax.Array:
    r"""C13 asymptotic rule :math:`k_\varepsilon/n\approx\Phi_c(\sigma+\Phi^{-1}(\varepsilon))`
    (:math:`n\to\infty`; independent of :math:`\mu`). Vectorised; speed-up is ``1 / keps_rule``.

    Example: ``keps_rule(3.0, 0.01)`` is ``0.2503`` (4.00x, spec C13 table)."""
    check_sigma(sigma)
    check_eps(eps)
    return _rule(jnp.asarray(sigma, jnp.float64), jnp.asarray(eps, jnp.float64))


@jax.jit
def _rule(sigma: jax.Array, eps: jax.Array) -> jax.Array:
    return ndtr(-(sigma + ndtri(eps)))


def keps_rule_sensitivities(sigma: ArrayLike, eps: ArrayLike) -> tuple[jax.Array, jax.Array]:
    r"""C13 closed forms :math:`(\partial_\sigma,\partial_\varepsilon)(k_\varepsilon/n)=
    (-\varphi(\sigma+z_\varepsilon),\,-e^{-\sigma z_\varepsilon-\sigma^2/2})`."""
    check_sigma(sigma)
    check_eps(eps)
    s, z = jnp.asarray(sigma, jnp.float64), ndtri(jnp.asarray(eps, jnp.float64))
    return -jnp.exp(-0.5 * (s + z) ** 2) / jnp.sqrt(2 * jnp.pi), -jnp.exp(-s * z - s * s / 2)


def keps_oracle(logits: np.ndarray, eps: float) -> np.ndarray:
    r"""Oracle :math:`k_\varepsilon=\min\{k\ge1:\tau_k\le\varepsilon\}` per row of finite ``logits [..., n]``
    (numpy float64, sort-based, tails by suffix sums from the smallest term)."""
    check_logits(logits)
    check_finite_values(logits, "logits")
    check_eps(eps)
    a = np.sort(np.asarray(logits, dtype=np.float64), axis=-1)  # ascending
    e = np.exp(a - a[..., -1:])
    c = np.cumsum(e, axis=-1)  # c_j = sum of the j+1 smallest = T_{n-j-1}
    return 1 + np.sum(c[..., :-1] > eps * c[..., -1:], axis=-1)


class KepsMC(NamedTuple):
    """Monte Carlo estimate of :math:`E[k_\\varepsilon/n]`: mean, per-replicate sd, standard error."""

    mean: float
    sd: float
    se: float
    n_rep: int


def keps_monte_carlo(n: int, sigma: float, eps: float, n_rep: int = 1000, seed: int = 0) -> KepsMC:
    r"""Monte Carlo of the oracle :math:`k_\varepsilon/n` for :math:`s\sim\mathcal N(0,\sigma^2)^n`
    (``n_rep`` replicates, numpy ``default_rng(seed)``; rows drawn in chunks of about 4M numbers)."""
    check_sigma(sigma)
    check_eps(eps)
    check_int(n, "n", minimum=1)
    check_int(n_rep, "n_rep", minimum=2)
    check_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    chunk = max(1, (1 << 22) // int(n))
    ks = []
    for start in range(0, int(n_rep), chunk):
        r = min(chunk, int(n_rep) - start)
        ks.append(keps_oracle(sigma * rng.standard_normal((r, int(n))), eps) / n)
    k = np.concatenate(ks)
    sd = float(np.std(k, ddof=1))
    return KepsMC(float(np.mean(k)), sd, sd / np.sqrt(len(k)), int(n_rep))
