r"""Training JumpReLU SAEs with straight-through pseudo-derivatives (``sae_steering.md`` §2).

Loss (Rajamanoharan et al., arXiv 2407.14435, Eq. 8-11), on activations normalised to
$\mathbb E\|x\|^2=d$:

$$\mathcal L=\|x-\hat x(f(x))\|_2^2+\lambda\sum_j H(\pi_j-\theta_j),\qquad\theta=e^{\log\theta}.$$

$H$ has zero derivative almost everywhere, so the threshold gets the pseudo-derivatives of the
rectangle kernel $K(u)=\mathbb 1[|u|\le\tfrac12]$ with bandwidth $\varepsilon$ (``jax.custom_vjp``):

$$\partial_{\theta}\big[\pi H(\pi-\theta)\big]\approx-\tfrac{\theta}{\varepsilon}K\big(\tfrac{\pi-\theta}{\varepsilon}\big),\qquad
\partial_{\theta}H(\pi-\theta)\approx-\tfrac1\varepsilon K\big(\tfrac{\pi-\theta}{\varepsilon}\big),$$

while $\partial_\pi[\pi H(\pi-\theta)]=H(\pi-\theta)$ and $\partial_\pi H=0$. The forward values are
exact (:func:`attention.sae.jumprelu`, strict step).

The normalisation $x\mapsto s\,x$, $s=\sqrt{d/\mathbb E\|x\|^2}$, is folded back into the returned
SAE (:func:`unscale_sae`): $W_{\rm enc}\to sW_{\rm enc}$, $W_{\rm dec}\to W_{\rm dec}/s$,
$b_{\rm dec}\to b_{\rm dec}/s$, so that $f$ is unchanged and steering happens in raw units (spec §6,
second pitfall).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from attnverify.proofs_numeric.precision import check_int, check_real, is_concrete

from ._args import check_matrix
from .jumprelu import JumpReLUSAE, sae_decode, sae_encode, validate_sae

__all__ = ["jumprelu_ste", "step_ste", "SAEStats", "sae_stats", "train_sae", "unscale_sae", "init_sae"]


def _kernel(pre, theta, eps):
    return (jnp.abs((pre - theta) / eps) <= 0.5).astype(pre.dtype) / eps


def _check_eps(eps: Any) -> None:
    """The kernel bandwidth: a finite number > 0 (``eps = 0`` divides by zero in the pseudo-derivative)."""
    if is_concrete(eps):
        check_real(eps, "eps", positive=True)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def jumprelu_ste(pre: jax.Array, theta: jax.Array, eps: float) -> jax.Array:
    r"""$\pi\,H(\pi-\theta)$ with the pseudo-derivative $-\tfrac\theta\varepsilon K$ for $\theta$ (bandwidth ``eps`` > 0)."""
    _check_eps(eps)
    return jnp.where(pre > theta, pre, jnp.zeros_like(pre))


def _jr_fwd(pre, theta, eps):
    return jumprelu_ste(pre, theta, eps), (pre, theta)


def _jr_bwd(eps, res, g):
    pre, theta = res
    d_pre = g * (pre > theta).astype(pre.dtype)
    d_theta = -(theta * _kernel(pre, theta, eps) * g)
    return d_pre, jnp.sum(d_theta.reshape((-1,) + theta.shape[-1:]), 0) if d_theta.ndim > theta.ndim else d_theta


jumprelu_ste.defvjp(_jr_fwd, _jr_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def step_ste(pre: jax.Array, theta: jax.Array, eps: float) -> jax.Array:
    r"""$H(\pi-\theta)$ (strict) with the pseudo-derivative $-\tfrac1\varepsilon K$ for $\theta$ and 0 for $\pi$ (``eps`` > 0)."""
    _check_eps(eps)
    return (pre > theta).astype(pre.dtype)


def _st_fwd(pre, theta, eps):
    return step_ste(pre, theta, eps), (pre, theta)


def _st_bwd(eps, res, g):
    pre, theta = res
    d_theta = -_kernel(pre, theta, eps) * g
    return jnp.zeros_like(pre), jnp.sum(d_theta.reshape((-1,) + theta.shape[-1:]), 0) if d_theta.ndim > theta.ndim else d_theta


step_ste.defvjp(_st_fwd, _st_bwd)


class SAEStats(NamedTuple):
    """Per-layer report: ``width`` $m$, mean ``l0`` $\\mathbb E\\,\\#\\{j:f_j>0\\}$, ``fvu``
    $=\\sum\\|x-\\hat x\\|^2/\\sum\\|x-\\bar x\\|^2$, ``dead`` (features that never fire), ``n`` rows."""

    width: int
    l0: float
    fvu: float
    dead: int
    n: int


def sae_stats(sae: JumpReLUSAE, x) -> SAEStats:
    """:class:`SAEStats` of ``sae`` on activations ``x [n, d]`` (raw units)."""
    validate_sae(sae)
    x = np.asarray(x, np.float64)
    check_matrix("x", x, min_rows=1, width=np.shape(sae.b_dec)[0])
    f = np.asarray(sae_encode(sae, jnp.asarray(x, sae.w_enc.dtype)), np.float64)
    xh = np.asarray(sae_decode(sae, jnp.asarray(f, sae.w_dec.dtype)), np.float64)
    fvu = float(((x - xh) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())
    return SAEStats(int(f.shape[1]), float((f > 0).sum(1).mean()), fvu, int(((f > 0).sum(0) == 0).sum()), int(x.shape[0]))


def init_sae(key: jax.Array, d: int, m: int, theta0: float = 1e-3, dtype=jnp.float32) -> dict:
    """Unit-norm random decoder rows, encoder its transpose, zero biases, $\\log\\theta=\\log\\theta_0$."""
    w = jax.random.normal(key, (m, d), dtype)
    w = w / jnp.linalg.norm(w, axis=1, keepdims=True)
    return dict(w_enc=w.T, b_enc=jnp.zeros(m, dtype), w_dec=w, b_dec=jnp.zeros(d, dtype),
                log_theta=jnp.full(m, np.log(theta0), dtype))


def _loss(p: dict, x: jax.Array, lam: float, eps: float):
    pre = x @ p["w_enc"] + p["b_enc"][None, :]
    theta = jnp.broadcast_to(jnp.exp(p["log_theta"])[None, :], pre.shape)
    f = jumprelu_ste(pre, theta, eps)
    rec = ((x - f @ p["w_dec"] - p["b_dec"][None, :]) ** 2).sum(1).mean()
    l0 = step_ste(pre, theta, eps).sum(1).mean()
    return rec + lam * l0, (rec, l0)


def unscale_sae(p: dict, scale: float) -> JumpReLUSAE:
    """The SAE in raw units from parameters trained on ``scale * x`` (see the module docstring)."""
    return JumpReLUSAE(p["w_enc"] * scale, p["b_enc"], p["w_dec"] / scale, p["b_dec"] / scale, jnp.exp(p["log_theta"]))


def train_sae(x, *, width: int, lam: float = 3e-3, eps: float = 1e-3, steps: int = 2000, batch: int = 1024,
              lr: float = 1e-3, seed: int = 0, theta0: float = 1e-3) -> tuple[JumpReLUSAE, dict]:
    r"""Train a JumpReLU SAE of ``width`` $m$ on activations ``x [n, d]`` with optax Adam.

    Returns the SAE in raw units (the normalisation folded in) and ``{"scale", "loss", "l0"}``
    (per-step traces). ``ValueError`` for a bad shape, width or non-positive hyper-parameter."""
    import optax

    x = np.asarray(x, np.float32)
    check_matrix("x", x, min_rows=2)
    if not (x ** 2).sum(1).mean() > 0:
        raise ValueError("x is all zeros: the activations cannot be normalised to unit mean squared norm")
    width = check_int(width, "width", minimum=1)
    steps, batch = check_int(steps, "steps", minimum=1), check_int(batch, "batch", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    for name, v in (("lam", lam), ("eps", eps), ("lr", lr), ("theta0", theta0)):
        check_real(v, name, positive=True)
    scale = float(np.sqrt(x.shape[1] / np.mean((x ** 2).sum(1))))
    xs = jnp.asarray(x * scale)
    p = init_sae(jax.random.PRNGKey(seed), x.shape[1], width, theta0)
    p["b_dec"] = jnp.asarray(np.median(x * scale, axis=0))  # geometric-median-like start for b_dec
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(optax.cosine_decay_schedule(lr, steps, 0.1)))
    state = opt.init(p)

    @jax.jit
    def step(p, state, idx):
        (loss, (rec, l0)), g = jax.value_and_grad(_loss, has_aux=True)(p, xs[idx], lam, eps)
        upd, state = opt.update(g, state, p)
        return optax.apply_updates(p, upd), state, loss, l0

    rng = np.random.default_rng(seed)
    losses, l0s = [], []
    for _ in range(steps):
        p, state, loss, l0 = step(p, state, jnp.asarray(rng.integers(0, xs.shape[0], min(batch, xs.shape[0]))))
        losses.append(loss)
        l0s.append(l0)
    return unscale_sae(p, scale), {"scale": scale, "loss": np.asarray(losses).tolist(), "l0": np.asarray(l0s).tolist()}
