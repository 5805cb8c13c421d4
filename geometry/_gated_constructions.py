r"""Explicit gated (and ungated) attention surfaces with known curvature (spec C3, C4, C7).

Every map is written as attention: an ungated part $a(x)=\sum_i\alpha_i(x)U_i$ times an
elementwise gate in $(0,1)^3$. With $\Sigma=I$ and graph surfaces $(x_1,x_2,f(x))$,
$K=\det\nabla^2f/(1+\|\nabla f\|^2)^2$ (spec C7). Parameters are dicts of arrays so that one
compiled function serves all instances.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

from ._attention_manifolds import sigmoid

__all__ = [
    "sphere_values", "gated_sphere_mean", "gate_times_affine_mean", "two_gates_mean", "ridge_gate_mean",
    "headwise_single_coordinate_mean", "bernoulli_saddle_mean", "c7b_curvature", "c7c_curvature", "c3_curvature",
]

_HALF = jnp.array([0.5, 0.5])


def sphere_values(r: float) -> np.ndarray:
    r"""Values $U_j=(4r\cos\frac{2\pi j}3,4r\sin\frac{2\pi j}3,2r)$, $j=1,2,3$ (rows), spec C4."""
    ang = 2 * np.pi * np.arange(1, 4) / 3
    return np.stack([4 * r * np.cos(ang), 4 * r * np.sin(ang), np.full(3, 2 * r)], axis=1)


def gated_sphere_mean(p: dict, x: ArrayLike) -> jax.Array:
    r"""C4: barycentric attention $a(u,v)=(2u,2v,2r)$ over :func:`sphere_values`, gate $(\tfrac12,\tfrac12,\sqrt{r^2-u^2-v^2}/(2r))$.

    $\mu_g=(u,v,\sqrt{r^2-u^2-v^2})$: a sphere patch, $K=1/r^2$ ($s^2/r^2$ for $\Sigma=s^2I$).
    """
    r = p["r"]
    ang = 2 * jnp.pi * jnp.arange(1, 4) / 3
    vals = jnp.stack([4 * r * jnp.cos(ang), 4 * r * jnp.sin(ang), jnp.full(3, 2 * r)], axis=1)
    # barycentric (affine) coefficients of (2u, 2v): alpha_j = 1/3 + (u cos a_j + v sin a_j)/(3r) > 0 on the disk
    alpha = 1.0 / 3.0 + (x[0] * jnp.cos(ang) + x[1] * jnp.sin(ang)) / (3 * r)
    base = alpha @ vals
    gate = jnp.concatenate([_HALF, (jnp.sqrt(r**2 - x @ x) / (2 * r))[None]])
    return gate * base


def gate_times_affine_mean(p: dict, x: ArrayLike) -> jax.Array:
    r"""C7b: gate $(\tfrac12,\tfrac12,\sigma(w^\top x+b))$ on the affine output $(2x_1,2x_2,c+d^\top x)$; $K<0$."""
    base = jnp.concatenate([2 * x, (p["c"] + p["d"] @ x)[None]])
    return jnp.concatenate([_HALF, sigmoid(p["w"] @ x + p["b"])[None]]) * base


def two_gates_mean(p: dict, x: ArrayLike) -> jax.Array:
    r"""C7c: two stacked elementwise gates $(\tfrac12,\tfrac12,\sigma(s_1))\odot(\tfrac12,\tfrac12,\sigma(s_2))\odot(4x_1,4x_2,A)$."""
    base = jnp.concatenate([4 * x, p["A"][None]])
    g1 = jnp.concatenate([_HALF, sigmoid(p["w1"] @ x + p["b1"])[None]])
    g2 = jnp.concatenate([_HALF, sigmoid(p["w2"] @ x + p["b2"])[None]])
    return g1 * (g2 * base)


def ridge_gate_mean(p: dict, x: jax.Array) -> jax.Array:
    r"""C7a: gate $(\tfrac12,\tfrac12,\sigma(w^\top x+b))$ on $(2x_1,2x_2,c)$ (constant last output): developable, $K=0$."""
    return jnp.concatenate([x, (p["c"] * sigmoid(p["w"] @ x + p["b"]))[None]])


def headwise_single_coordinate_mean(p: dict, x: jax.Array) -> jax.Array:
    r"""C7d: per-head scalar gate $\sigma(w^\top x+b)$ times $P+x_1Q$ (affine in one coordinate): in a 2-plane, $K=0$."""
    return sigmoid(p["w"] @ x + p["b"]) * (p["P"] + x[0] * p["Q"])


def bernoulli_saddle_mean(p: dict, x: jax.Array) -> jax.Array:
    r"""C3: ungated softmax attention, $n=4$, $U=(0,e_1,e_2,e_3)$, logits $(0,x_1,x_2,x_1+x_2)$: $\mu=(a(1-b),(1-a)b,ab)$."""
    alpha = jax.nn.softmax(jnp.stack([0.0 * x[0], x[0], x[1], x[0] + x[1]]))
    return alpha @ jnp.concatenate([jnp.zeros((1, 3)), jnp.eye(3)])


def _sig(s):
    sg = 1 / (1 + np.exp(-s))
    return sg, sg * (1 - sg), sg * (1 - sg) * (1 - 2 * sg)


def c7b_curvature(w, b, d, c, x) -> float:
    r"""Closed form $K=-\sigma'(s)^2\det[w\,d]^2/(1+\|\nabla f\|^2)^2$, $\nabla f=\sigma'(s)(c+d^\top x)w+\sigma(s)d$."""
    s0, s1, _ = _sig(w @ x + b)
    grad = s1 * (c + d @ x) * w + s0 * d
    return float(-(s1**2) * np.linalg.det(np.stack([w, d], 1)) ** 2 / (1 + grad @ grad) ** 2)


def c7c_curvature(w1, w2, b1, b2, amp, x) -> float:
    r"""Closed form $K=\det[w_1w_2]^2\det C/(1+\|\nabla f\|^2)^2$ with $C=A\begin{pmatrix}\sigma_1''\sigma_2&\sigma_1'\sigma_2'\\\sigma_1'\sigma_2'&\sigma_1\sigma_2''\end{pmatrix}$."""
    a0, a1, a2 = _sig(w1 @ x + b1)
    c0, c1, c2 = _sig(w2 @ x + b2)
    cmat = amp * np.array([[a2 * c0, a1 * c1], [a1 * c1, a0 * c2]])
    grad = amp * (a1 * c0 * w1 + a0 * c1 * w2)
    return float(np.linalg.det(np.stack([w1, w2], 1)) ** 2 * np.linalg.det(cmat) / (1 + grad @ grad) ** 2)


def c3_curvature(x) -> float:
    r"""$K=-(1-2a-2b+2a^2+2ab+2b^2)^{-2}$ with $a=\sigma(x_1)$, $b=\sigma(x_2)$ (spec C3)."""
    a, b = 1 / (1 + np.exp(-x[0])), 1 / (1 + np.exp(-x[1]))
    return float(-1.0 / (1 - 2 * a - 2 * b + 2 * a * a + 2 * a * b + 2 * b * b) ** 2)
