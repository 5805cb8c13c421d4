r"""Feature maps of the hybrid (Hedgehog) and Scheduled Sliding-window Dropout (SSD).

Benfeghoul et al., arXiv 2510.05901 (spec ``hybrid_linear.md`` §2); Hedgehog is Zhang et al.,
arXiv 2402.04347. The default map (`softmax_dim`, LoLCATs code) is, with $W_h\in\mathbb R^{d_h\times d'}$,

$$\phi(x)=\max\big([\mathrm{softmax}(xW_h),\ \mathrm{softmax}(-xW_h)],\,10^{-12}\big)\in\mathbb R^{2d'} .$$

Each half is a probability vector, except that entries below $10^{-12}$ are raised to $10^{-12}$:
a half then sums to $1+\delta$ with $0\le\delta<d'\cdot10^{-12}$, and
$\kappa=\phi_q^\top\phi_k\in(0,\,2(1+d'\cdot10^{-12})]$.

SSD draws, per (layer, step), $\xi\sim\mathrm{Bernoulli}(p(t))$ with $p$ piecewise constant over
equal phases of training (default $0.9\to0.75\to0.5$); $\xi=1$ runs the layer LA-only. Example::

    W = hedgehog_init(jax.random.PRNGKey(0), 16, 16)
    fq = hedgehog_features(q, W)            # [T, 32]
    xi = ssd_draws(jax.random.PRNGKey(1), 3000, n_layers=2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from .._finite import check_choice, check_finite, check_int, check_ndim
from .linear_forms import as_array

__all__ = ["hedgehog_features", "hedgehog_init", "ssd_schedule", "ssd_draws", "FLOOR"]

FLOOR = 1e-12  #: the clamp of the LoLCATs `softmax_dim` map

FeatureMap = Literal["softmax_dim", "exp_dim", "pos_elu", "relu"]


def hedgehog_init(key: jax.Array, d_h: int, d_prime: int = 64, dtype=jnp.float64) -> jax.Array:
    r"""$W_h\in\mathbb R^{d_h\times d'}$, Kaiming-uniform as PyTorch's ``nn.Linear`` default
    (bound $1/\sqrt{d_h}$), no bias. ``d_h, d_prime`` integers >= 1."""
    d_h, d_prime = check_int(d_h, "d_h", minimum=1), check_int(d_prime, "d_prime", minimum=1)
    b = 1.0 / np.sqrt(d_h)
    return jax.random.uniform(key, (d_h, d_prime), dtype, -b, b)


def hedgehog_features(x: jax.Array, weight: jax.Array, kind: FeatureMap = "softmax_dim") -> jax.Array:
    r"""Feature map $\phi$ of ``x`` ``[..., d_h]`` with ``weight`` ``[d_h, d']``.

    ``kind``: ``softmax_dim`` (default, output ``[..., 2d']``, see module docstring), ``exp_dim``
    $[e^{z-\max z},e^{-z+\min z}]$ (``[..., 2d']``), ``pos_elu`` $1+\mathrm{ELU}(z)$, ``relu``
    (``[..., d']``), with $z=xW_h$. Computed in the input dtype. Concrete ``x`` and ``weight`` must
    be finite, ``weight`` 2-D with ``d_h`` rows (``ValueError`` naming the argument).
    """
    check_choice(kind, ("softmax_dim", "exp_dim", "pos_elu", "relu"), "kind (the feature map)")
    x, weight = as_array("x", x), as_array("weight", weight)
    check_ndim("x", x, 1, "[..., d_h]")
    if np.ndim(weight) != 2 or np.shape(weight)[0] != np.shape(x)[-1]:
        raise ValueError(f"weight must have shape [d_h, d'] with d_h = {np.shape(x)[-1]} (the last axis of x), "
                         f"got {np.shape(weight)}")
    check_finite("x", x)
    check_finite("weight", weight)
    z = x @ weight
    if kind == "softmax_dim":
        return jnp.maximum(jnp.concatenate([jax.nn.softmax(z, -1), jax.nn.softmax(-z, -1)], -1), FLOOR)
    if kind == "exp_dim":
        return jnp.concatenate([jnp.exp(z - z.max(-1, keepdims=True)), jnp.exp(-z + z.min(-1, keepdims=True))], -1)
    if kind == "pos_elu":
        return 1.0 + jax.nn.elu(z)
    if kind == "relu":
        return jax.nn.relu(z)
    raise ValueError(f"unknown feature map {kind!r}; use softmax_dim, exp_dim, pos_elu or relu")


def ssd_schedule(total_steps: int, probabilities: Sequence[float] = (0.9, 0.75, 0.5)) -> np.ndarray:
    r"""$p(t)$ for $t=0..\text{total\_steps}-1$: phase $\lfloor tK/\text{total}\rfloor$ of $K$
    equal phases gets ``probabilities[phase]``. Returns float64 ``[total_steps]``."""
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.ndim != 1 or probs.size == 0 or not np.all((probs >= 0) & (probs <= 1)):
        raise ValueError(f"probabilities must be a non-empty list in [0, 1], got {list(probabilities)}")
    if int(total_steps) != total_steps or total_steps < probs.size:
        raise ValueError(f"total_steps must be an integer >= the number of phases ({probs.size}), got {total_steps}")
    t = np.arange(int(total_steps))
    return probs[(t * probs.size) // int(total_steps)]


def ssd_draws(key: jax.Array, total_steps: int, n_layers: int, probabilities: Sequence[float] = (0.9, 0.75, 0.5)) -> jax.Array:
    r"""SSD draws $\xi_{t,\ell}\sim\mathrm{Bernoulli}(p(t))$, i.i.d. per (step, layer); bool
    ``[total_steps, n_layers]``. No $1/(1-p)$ rescaling: under the shared normaliser it would only
    map $\gamma\mapsto\gamma/(1-p)$."""
    if int(n_layers) != n_layers or n_layers < 1:
        raise ValueError(f"n_layers must be an integer >= 1, got {n_layers}")
    p = jnp.asarray(ssd_schedule(total_steps, probabilities))
    return jax.random.bernoulli(key, p[:, None], (int(total_steps), int(n_layers)))
