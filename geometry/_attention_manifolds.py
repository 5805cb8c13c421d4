r"""Attention outputs as Gaussian mean maps (spec ``gating_curvature`` §1), small pure functions.

* Ungated, coefficient (affine) chart: $\mu(t)=\sum_i\alpha_i(t)U_i$ with
  $\alpha(t)=(t_1,\dots,t_{n-1},1-\sum_jt_j)$, i.e. $\mu=U_n+At$, $A=[U_j-U_n]_j$.
* Ungated, softmax-logit chart: $\alpha(z)=\mathrm{softmax}(z_1,\dots,z_{n-1},0)$, a diffeomorphism
  of $\mathbb R^{n-1}$ onto $\mathrm{relint}\,\Delta^{n-1}$ -- the same manifold as the affine chart.
* Ungated, input chart: $\alpha(x)=\mathrm{softmax}(Wx+c)$, $x\in\mathbb R^m$ with $m$ small.
* Gated: $\mu_g=g\odot\mu$, elementwise gate $g=\sigma(W_gx+b_g)\in(0,1)^d$ or the per-head
  (headwise, scalar) gate $g=\sigma(w_g^\top x+b_g)\mathbf 1$.

Values ``U`` have shape ``(n, d)`` (one value per row). All maps return ``(d,)`` float arrays.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

__all__ = [
    "coefficient_chart_mean", "softmax_chart_mean", "input_chart_mean", "elementwise_sigmoid_gate",
    "headwise_sigmoid_gate", "gated_attention_mean", "gated_coefficient_chart_mean", "sigmoid",
]


def sigmoid(s: jax.Array) -> jax.Array:
    r"""$\sigma(s)=1/(1+e^{-s})$."""
    return jax.nn.sigmoid(s)


def coefficient_chart_mean(values: ArrayLike, t: ArrayLike) -> jax.Array:
    r"""$\mu(t)=\sum_i\alpha_iU_i$, $\alpha=(t,1-\sum t)$; ``t`` of shape ``(n-1,)``."""
    alpha = jnp.concatenate([t, (1.0 - jnp.sum(t))[None]])
    return alpha @ values


def softmax_chart_mean(values: ArrayLike, z: ArrayLike) -> jax.Array:
    r"""$\mu(z)=\sum_i\mathrm{softmax}(z,0)_iU_i$; ``z`` of shape ``(n-1,)``."""
    return jax.nn.softmax(jnp.concatenate([z, jnp.zeros(1, z.dtype)])) @ values


def input_chart_mean(w: ArrayLike, c: ArrayLike, values: ArrayLike, x: ArrayLike) -> jax.Array:
    r"""$\mu(x)=\sum_i\mathrm{softmax}(Wx+c)_iU_i$ with ``W`` ``(n, m)``, ``c`` ``(n,)``, ``x`` ``(m,)``."""
    return jax.nn.softmax(w @ x + c) @ values


def elementwise_sigmoid_gate(wg: ArrayLike, bg: ArrayLike, x: ArrayLike) -> jax.Array:
    r"""$g(x)=\sigma(W_gx+b_g)\in(0,1)^d$, ``wg`` ``(d, m)``, ``bg`` ``(d,)``."""
    return sigmoid(wg @ x + bg)


def headwise_sigmoid_gate(wg: ArrayLike, bg: ArrayLike, x: ArrayLike, d: int) -> jax.Array:
    r"""Per-head scalar gate $g(x)=\sigma(w_g^\top x+b_g)\mathbf 1_d$, ``wg`` ``(m,)``, ``bg`` scalar."""
    return jnp.broadcast_to(sigmoid(wg @ x + bg), (d,))


def gated_attention_mean(params: dict, x: ArrayLike, per_head: bool = False) -> jax.Array:
    r"""$\mu_g(x)=g(x)\odot\sum_i\mathrm{softmax}(Wx+c)_iU_i$ (input chart).

    ``params``: ``w`` ``(n, m)``, ``c`` ``(n,)``, ``values`` ``(n, d)``, ``wg`` (``(d, m)``, or ``(m,)``
    when ``per_head``), ``bg`` (``(d,)`` or scalar).
    """
    base = input_chart_mean(params["w"], params["c"], params["values"], x)
    return _gate(params, x, base, per_head) * base


def gated_coefficient_chart_mean(params: dict, t: ArrayLike, per_head: bool = False) -> jax.Array:
    r"""$\mu_g(t)=g(t)\odot(U_n+At)$: a gate on the (flat) full mixture manifold, ``t`` ``(n-1,)``."""
    base = coefficient_chart_mean(params["values"], t)
    return _gate(params, t, base, per_head) * base


def _gate(params: dict, x: jax.Array, base: jax.Array, per_head: bool) -> jax.Array:
    if per_head:
        return headwise_sigmoid_gate(params["wg"], params["bg"], x, base.shape[0])
    return elementwise_sigmoid_gate(params["wg"], params["bg"], x)
