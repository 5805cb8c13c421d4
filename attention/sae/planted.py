r"""Planted-feature recovery (``sae_steering.md`` C5) and its closed form.

Setup (spec C5): English activations $x\sim\mathcal N(0,I_d)$, target activations
$x+4d_{j^\star}$, an aligned SAE ($W_{\rm enc}=W_{\rm dec}^\top$ with unit rows, $b=0$, thresholds
$\theta$). Then $\pi_{j^\star}\sim\mathcal N(0,1)$ in English and $\mathcal N(4,1)$ in the target, and
with $\mathbb E[u\,\mathbb 1(u>\theta)]=\mu(1-\Phi(\theta-\mu))+\varphi(\theta-\mu)$ for $u\sim\mathcal N(\mu,1)$,

$$\mathbb E\Delta_{j^\star}=4\big(1-\Phi(\theta-4)\big)+\varphi(\theta-4)-\varphi(\theta)\qquad(\approx3.757\ \text{at}\ \theta=1).$$
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from attnverify.proofs_numeric import Context, Evidence, claim, require_x64
from attnverify.proofs_numeric.precision import check_real

from .jumprelu import JumpReLUSAE, feature_scores, sae_encode

__all__ = ["planted_mean_difference"]

_D, _M, _N, _SHIFT = 64, 256, 500, 4.0


def planted_mean_difference(theta: float, shift: float = _SHIFT) -> float:
    r"""$\mathbb E\Delta_{j^\star}$ of the planted setup (closed form above) for threshold ``theta``."""
    theta, shift = check_real(theta, "theta"), check_real(shift, "shift")
    Phi = lambda z: 0.5 * math.erfc(-z / math.sqrt(2))
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return shift * (1 - Phi(theta - shift)) + phi(theta - shift) - phi(theta)


def _sym_truncated_mean() -> bool:
    r"""$G(\theta)=\mu(1-\Phi(\theta-\mu))+\varphi(\theta-\mu)$ has $G'=-\theta\,p(\theta)$ and
    $G(\infty)=0$, so $G(\theta)=\int_\theta^\infty u\,p(u)\,du$ for the $\mathcal N(\mu,1)$ density $p$."""
    th, mu = sp.symbols("theta mu", real=True)
    G = mu * (1 - (1 + sp.erf((th - mu) / sp.sqrt(2))) / 2) + sp.exp(-(th - mu) ** 2 / 2) / sp.sqrt(2 * sp.pi)
    p = sp.exp(-(th - mu) ** 2 / 2) / sp.sqrt(2 * sp.pi)
    return sp.simplify(sp.diff(G, th) + th * p) == 0 and sp.limit(G.subs(mu, 4), th, sp.oo) == 0


@jax.jit
def _scores(w_dec, theta, x_en, x_tg):
    def one(w_dec, theta, x_en, x_tg):
        sae = JumpReLUSAE(w_dec.T, jnp.zeros(_M), w_dec, jnp.zeros(_D), theta)
        f_en, f_tg = sae_encode(sae, x_en), sae_encode(sae, x_tg)
        se = jnp.sqrt(f_tg.var(0, ddof=1) / x_tg.shape[0] + f_en.var(0, ddof=1) / x_en.shape[0])
        return feature_scores(f_tg, f_en, "meandiff"), feature_scores(f_tg, f_en, "welch"), se

    return jax.vmap(one)(w_dec, theta, x_en, x_tg)


def _trials(rng: np.random.Generator, count: int, adversarial: bool) -> dict:
    w = rng.standard_normal((count, _M, _D))
    j = rng.integers(0, _M, count)
    theta = rng.uniform(0.5, 1.5, count)
    mean = np.zeros((count, 1, _D))
    if adversarial:  # a near-duplicate decoder row (cos 0.7), j* at the ends, theta near 0 and large, shifted English mean
        j = np.array([(0, _M - 1, 17)[i % 3] for i in range(count)])
        other, idx = (j + 1) % _M, np.arange(count)
        unit = w / np.linalg.norm(w, axis=-1, keepdims=True)
        w[idx, other] = 0.7 * unit[idx, j] + np.sqrt(1 - 0.49) * unit[idx, other]
        theta = np.array([(1e-6, 2.0, 1.0, 0.5)[i % 4] for i in range(count)])
        mean[1::2] = rng.normal(0, 0.3, (count // 2, 1, _D))
    w /= np.linalg.norm(w, axis=-1, keepdims=True)
    x_en = rng.standard_normal((count, _N, _D)) + mean
    x_tg = rng.standard_normal((count, _N, _D)) + mean + _SHIFT * w[np.arange(count), j][:, None, :]
    return dict(w=w, j=j, theta=theta, x_en=x_en, x_tg=x_tg)


@claim("sae.planted_recovery", paper="sae_steering", equation="C5",
       statement=r"x_L=x_{\rm En}+4d_{j^\star},\ W_{\rm enc}=W_{\rm dec}^\top:\ \operatorname{rank}_{\rm meandiff}(j^\star)=\operatorname{rank}_{\rm welch}(j^\star)=1,\ "
                 r"\mathbb E\Delta_{j^\star}=4(1-\Phi(\theta-4))+\varphi(\theta-4)-\varphi(\theta)",
       provenance="derived", tolerance=0.0, error="count", symbolic=_sym_truncated_mean, symbolic_kind="derivation")
def _c5(ctx: Context) -> Evidence:
    """A planted language feature is ranked first by both meandiff and welch, and its Delta matches the closed form within 5 standard errors.

    Error = number of trials in which j* is not rank 1 under either statistic or Delta_j* is more
    than 5 standard errors from the closed form. d = 64, m = 256, 500 samples per language.
    """
    require_x64("planted recovery")
    rng = ctx.rng
    chunk = 16
    failures: dict[bool, list[float]] = {False: [], True: []}
    stats = {"delta_star": [], "next_best": [], "closed_form": []}
    for adversarial in (False, True):
        for _ in range(-(-ctx.count(64, minimum=chunk) // chunk) if not adversarial else 1):
            t = _trials(rng, chunk, adversarial)
            md, wl, se = (np.asarray(a) for a in _scores(*(jnp.asarray(t[k]) for k in ("w", "theta", "x_en", "x_tg"))))
            for i, j in enumerate(t["j"]):
                closed = planted_mean_difference(float(t["theta"][i]))
                ok = np.argmax(md[i]) == j and np.argmax(wl[i]) == j
                if not adversarial:  # the closed form assumes English ~ N(0, I)
                    ok = ok and abs(md[i, j] - closed) <= 5 * se[i, j]
                    stats["closed_form"].append(closed)
                stats["delta_star"].append(float(md[i, j]))
                stats["next_best"].append(float(np.max(np.delete(md[i], j))))
                failures[adversarial].append(0.0 if ok else 1.0)
    details = {k: float(np.mean(v)) for k, v in stats.items()}
    details["min_margin"] = float(np.min(np.subtract(stats["delta_star"], stats["next_best"])))
    return Evidence.from_errors(failures[False], failures[True], details=details)
