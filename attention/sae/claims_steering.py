r"""Registered mathematical claims behind the steering study (``sae_steering.md`` §2; C6-C10 themselves
are empirical and live in :mod:`experiments.sae_steering.claims`).

* ``sae.ste_pseudo_gradient``: the ``custom_vjp`` of :func:`~attention.sae.training.jumprelu_ste` and
  :func:`~attention.sae.training.step_ste` returns exactly the spec's pseudo-derivatives, and the
  rectangle-kernel estimator is unbiased for the threshold derivative of the expected loss when the
  density of $\pi$ is linear on the window (sympy).
* ``sae.steer_hook_is_clamp``: the residual hook used in generation, $x+(c-gf_j(x))d_j$ at layer
  $\ell$ only, equals :func:`~attention.sae.clamp_feature` (with the error term, $g=1$) and
  :func:`~attention.sae.steer_additive` ($g=0$), and is the identity at every other layer.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from attnverify.proofs_numeric import Context, Evidence, claim, require_x64

from .jumprelu import JumpReLUSAE, clamp_feature, steer_additive
from .steering import Steer, steer_residual
from .training import jumprelu_ste, step_ste

_EPS = 1e-3


def pseudo_gradients(pre: np.ndarray, theta: np.ndarray, eps: float) -> tuple[np.ndarray, ...]:
    r"""The spec's formulas in numpy: $(\partial_\pi f,\partial_\theta f,\partial_\pi H,\partial_\theta H)$ with
    $K(u)=\mathbb 1[|u|\le\frac12]$."""
    k = (np.abs((pre - theta) / eps) <= 0.5) / eps
    return (pre > theta).astype(np.float64), -theta * k, np.zeros_like(pre), -k


def _ste_errors(pre, theta, eps=_EPS) -> float:
    pre, theta = jnp.asarray(pre), jnp.asarray(theta)
    ones = jnp.ones_like(pre)
    got = jax.vjp(lambda a, b: jumprelu_ste(a, b, eps), pre, theta)[1](ones) + jax.vjp(lambda a, b: step_ste(a, b, eps), pre, theta)[1](ones)
    want = pseudo_gradients(np.asarray(pre), np.asarray(theta), eps)
    return max(float(np.max(np.abs(np.asarray(g) - w))) for g, w in zip(got, want))


def _sym_kernel() -> bool:
    r"""For a density $a+b\pi$ on the window, $\mathbb E[\tfrac1\varepsilon K(\tfrac{\pi-\theta}\varepsilon)]=p(\theta)$, and
    $\partial_\theta\int_\theta^\infty\pi p(\pi)\,d\pi=-\theta p(\theta)$: so $\mathbb E[-\tfrac\theta\varepsilon K]$ is the true derivative."""
    a, b, x, th, eps, top = sp.symbols("a b x theta epsilon T", real=True)
    p = a + b * x
    kde = sp.integrate(p / eps, (x, th - eps / 2, th + eps / 2))
    truth = sp.diff(sp.integrate(x * p, (x, th, top)), th)
    return sp.simplify(kde - p.subs(x, th)) == 0 and sp.simplify(truth + th * p.subs(x, th)) == 0


@claim("sae.ste_pseudo_gradient", paper="sae_steering", equation="§2 (JumpReLU training, arXiv 2407.14435 Eq. 11-12)",
       statement=r"\partial_\theta f\approx-\tfrac{\theta}{\varepsilon}K\big(\tfrac{\pi-\theta}{\varepsilon}\big),\ \partial_\theta H\approx-\tfrac1\varepsilon K,\ "
                 r"\partial_\pi f=H(\pi-\theta),\ \partial_\pi H=0",
       provenance="paper", tolerance=0.0, error="abs", symbolic=_sym_kernel, symbolic_kind="derivation")
def _ste(ctx: Context) -> Evidence:
    """The custom_vjp of the training JumpReLU and step returns exactly the spec's straight-through pseudo-derivatives.

    Adversarial inputs sit on the kernel's edges pi = theta +- eps/2 (+- 1 ulp), at ties pi = theta and far outside the window.
    """
    require_x64("STE pseudo-gradient claim")
    rng = ctx.rng
    n = ctx.count(100_000, minimum=1000)
    theta = rng.uniform(1e-3, 2.0, n)
    rand = [_ste_errors(theta + rng.normal(0, 2e-3, n), theta)]
    edge = theta + rng.choice([-0.5, 0.5, 0.0, -10.0, 10.0], n) * _EPS
    edge = np.where(rng.random(n) < 0.3, np.nextafter(edge, np.inf), edge)
    return Evidence.from_errors(rand, [_ste_errors(edge, theta)], details={"n_values": 2 * n})


def _random_batch(rng: np.random.Generator, count: int, d: int = 16, m: int = 48, p: int = 8) -> dict:
    return dict(w_enc=rng.normal(0, d ** -0.5, (count, d, m)), b_enc=rng.normal(0, 0.1, (count, m)),
                w_dec=rng.normal(0, d ** -0.5, (count, m, d)), b_dec=rng.normal(0, 0.1, (count, d)),
                theta=rng.uniform(0.01, 1, (count, m)), x=rng.normal(0, 1, (count, p, d)), j=rng.integers(0, m, count),
                c=rng.uniform(0, 10, count), layer=rng.integers(0, 6, count))


@jax.jit
def _hook_errors(b: dict) -> jax.Array:
    def one(w_enc, b_enc, w_dec, b_dec, theta, x, j, c, layer):
        sae = JumpReLUSAE(w_enc, b_enc, w_dec, b_dec, theta)
        scale = jnp.maximum(jnp.maximum(1.0, jnp.max(jnp.abs(x))), jnp.abs(c) * jnp.max(jnp.abs(w_dec[j])))
        errs = []
        for g, ref in ((1.0, clamp_feature(sae, x, j, c)), (0.0, steer_additive(x, w_dec[j], c))):
            st = Steer(layer, w_dec[j], w_enc[:, j], b_enc[j], theta[j], c, jnp.asarray(g, x.dtype))
            errs += [jnp.max(jnp.abs(steer_residual(st, layer, x) - ref)) / scale, jnp.max(jnp.abs(steer_residual(st, layer + 1, x) - x))]
        return jnp.max(jnp.stack(errs))

    return jax.vmap(one)(*(jnp.asarray(b[k]) for k in ("w_enc", "b_enc", "w_dec", "b_dec", "theta", "x", "j", "c", "layer")))


@claim("sae.steer_hook_is_clamp", paper="sae_steering", equation="§2 intervention (C2 as a residual hook)",
       statement=r"\mathrm{hook}_\ell(x)=x+(c-g\,f_j(x))d_j=\begin{cases}\hat x(f')+e(x)&g=1\\x+c\,d_j&g=0\end{cases},\ \ \mathrm{hook}_{\ell'\ne\ell}=\mathrm{id}",
       provenance="derived", tolerance=1e-12, error="rel", depends_on=("sae.clamp_is_additive",))
def _hook(ctx: Context) -> Evidence:
    """The generation hook applies clamp-with-error (or additive steering) at its layer and nothing elsewhere.

    Adversarial cases: c = 0 (kappa = 0), c equal to the feature's own value at the first position, a feature that never fires, activations of size 1e4.
    """
    require_x64("steering-hook claim")
    rng = ctx.rng
    rand = _hook_errors(_random_batch(rng, ctx.count(10_000, minimum=256)))
    b = _random_batch(rng, 64)
    idx = np.arange(64)
    b["x"][3::4] *= 1e4
    b["theta"][idx[2::4], b["j"][2::4]] = 1e9  # the feature never fires
    pre = np.einsum("bd,bd->b", b["x"][:, 0], b["w_enc"][idx, :, b["j"]]) + b["b_enc"][idx, b["j"]]
    own = np.where(pre > b["theta"][idx, b["j"]], pre, 0.0)
    b["c"] = np.select([idx % 4 == 0, idx % 4 == 1], [0.0, own], b["c"])
    return Evidence.from_errors(np.asarray(rand), np.asarray(_hook_errors(b)))
