r"""Depth amplification (spec C8): curvature of $L$ composed gated layers, $L=1..6$, in two regimes.

* **Homothety** (``regime="homothety"``): layer $\ell$ multiplies the output of a curved gated
  surface by a uniform (headwise, constant) gate $\gamma_\ell\in(0,1)$; then
  $K_L=K_0\prod_{\ell\le L}\gamma_\ell^{-2}$ (curvature of $cS$ is $K_S/c^2$).
* **Aligned Hessians** (``regime="aligned_hessian"``): a residual stream of graph layers
  $\mu_L=(x_1,x_2,\sum_{\ell\le L}f_\ell(x))$, $f_\ell=A_\ell\,h(w_{\ell1}^\top(x-x^*))\,h(w_{\ell2}^\top(x-x^*))$
  with the gate product $h(s)=\sigma(s)\sigma(-s)$. At the common critical point $x^*$,
  $\nabla f_\ell=0$ and $H_\ell=-\tfrac{A_\ell}{32}(w_{\ell1}w_{\ell1}^\top+w_{\ell2}w_{\ell2}^\top)$, so
  $K_L=\det\sum_\ell H_\ell\ge\sum_\ell\det H_\ell=\sum_\ell K_\ell$ (Minkowski, same-sign semidefinite).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

from ._attention_manifolds import sigmoid
from ._gated_constructions import gated_sphere_mean

__all__ = ["MAX_DEPTH", "homothety_mean", "stacked_graph_mean", "gate_bump", "layer_hessians", "depth_mask"]

MAX_DEPTH = 6


def depth_mask(depth: int, count: int | None = None) -> np.ndarray:
    """``(MAX_DEPTH,)`` 0/1 mask selecting the first ``depth`` layers (one compiled function for all L)."""
    m = (np.arange(MAX_DEPTH) < depth).astype(float)
    return m if count is None else np.tile(m, (count, 1))


def homothety_mean(p: dict, x: ArrayLike) -> jax.Array:
    r"""$\big(\prod_{\ell}\gamma_\ell^{\,\mathrm{mask}_\ell}\big)\,\mu_{\text{sphere}}(x)$ with $\gamma_\ell=\sigma(\mathrm{logit}_\ell)$."""
    scale = jnp.prod(sigmoid(p["logits"]) ** p["mask"])
    return scale * gated_sphere_mean({"r": p["r"]}, x)


def gate_bump(s: jax.Array) -> jax.Array:
    r"""$h(s)=\sigma(s)\sigma(-s)$: a gate times its complement; $h(0)=\tfrac14$, $h'(0)=0$, $h''(0)=-\tfrac18$."""
    return sigmoid(s) * sigmoid(-s)


def stacked_graph_mean(p: dict, x: ArrayLike) -> jax.Array:
    r"""$(x_1,x_2,\sum_\ell\mathrm{mask}_\ell A_\ell h(w_{\ell1}^\top(x-x^*))h(w_{\ell2}^\top(x-x^*)))$; ``w1``, ``w2``: ``(MAX_DEPTH, 2)``."""
    y = x - p["x0"]
    f = jnp.sum(p["mask"] * p["A"] * gate_bump(p["w1"] @ y) * gate_bump(p["w2"] @ y))
    return jnp.concatenate([x, f[None]])


def layer_hessians(amp: np.ndarray, w1: np.ndarray, w2: np.ndarray) -> np.ndarray:
    r"""$H_\ell=-\tfrac{A_\ell}{32}(w_{\ell1}w_{\ell1}^\top+w_{\ell2}w_{\ell2}^\top)$ at $x^*$, shape ``(L, 2, 2)``."""
    outer = w1[:, :, None] * w1[:, None, :] + w2[:, :, None] * w2[:, None, :]
    return -amp[:, None, None] / 32.0 * outer
