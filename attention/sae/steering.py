r"""Single-feature, single-layer steering as a residual-stream hook (``sae_steering.md`` §2, O3-O4).

By C2 (``sae.clamp_is_additive``), clamping feature $j$ to $c$ with the error term kept is the
additive edit $x'=x+(c-f_j(x))\,d_j$, and additive steering is $x'=x+\alpha d_j$. Both are

$$x'=x+\big(c-g\,f_j(x)\big)\,d_j,\qquad f_j(x)=\pi_j\,H(\pi_j-\theta_j),\ \pi_j=x\cdot W_{\rm enc}[:,j]+b_{{\rm enc},j},$$

with the gate $g=1$ (clamp-with-error, the default) or $g=0$ (additive, $c=\alpha$). A
:class:`Steer` holds only arrays, so one compiled generation serves every feature, layer, value and
mode; $c=0,g=0$ is the unsteered model and $c=0,g=1$ the $\kappa=0$ control (the feature removed).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .jumprelu import JumpReLUSAE

__all__ = ["Steer", "make_steer", "no_steer", "steer_residual", "residual_hook"]


class Steer(NamedTuple):
    """``layer`` (int array), decoder ``direction`` $d_j$ ``[d]``, encoder column ``enc`` ``[d]``,
    ``b_enc`` and ``theta`` of feature $j$, value ``c`` and gate ``g`` (1 clamp, 0 additive)."""

    layer: jax.Array
    direction: jax.Array
    enc: jax.Array
    b_enc: jax.Array
    theta: jax.Array
    c: jax.Array
    g: jax.Array


def make_steer(sae: JumpReLUSAE, layer: int, j: int, c: float, mode: Literal["clamp", "additive"] = "clamp") -> Steer:
    """The :class:`Steer` of feature ``j`` of ``sae`` at ``layer``: clamp to ``c`` (default) or add ``c``
    times $d_j$ (``mode="additive"``), in the SAE's dtype. ``ValueError`` for a bad mode, feature or
    non-finite value."""
    if mode not in ("clamp", "additive"):
        raise ValueError(f"mode must be 'clamp' or 'additive', got {mode!r}")
    m = np.shape(sae.theta)[-1]
    if not 0 <= int(j) < m:
        raise ValueError(f"feature index j={j} is outside [0, {m})")
    if not np.isfinite(c):
        raise ValueError(f"c must be finite, got {c}")
    dt = jnp.asarray(sae.w_dec).dtype
    arr = lambda a: jnp.asarray(a, dt)  # noqa: E731
    return Steer(jnp.asarray(int(layer), jnp.int32), arr(sae.w_dec[j]), arr(sae.w_enc[:, j]), arr(sae.b_enc[j]),
                 arr(sae.theta[j]), arr(c), arr(1.0 if mode == "clamp" else 0.0))


def no_steer(d: int) -> Steer:
    """The identity edit ($c=0$, $g=0$) for a residual width ``d``."""
    z = jnp.zeros(d, jnp.float32)
    one = jnp.float32(1.0)
    return Steer(jnp.asarray(-1, jnp.int32), z, z, jnp.float32(0.0), one, jnp.float32(0.0), jnp.float32(0.0))


def steer_residual(steer: Steer, layer, x: jax.Array) -> jax.Array:
    r"""$x+(c-g f_j(x))d_j$ at every position of ``x [..., d]`` when ``layer == steer.layer``; else ``x``."""
    pre = x @ steer.enc.astype(x.dtype) + steer.b_enc.astype(x.dtype)
    f = jnp.where(pre > steer.theta.astype(x.dtype), pre, jnp.zeros_like(pre))
    alpha = steer.c.astype(x.dtype) - steer.g.astype(x.dtype) * f
    edit = alpha[..., None] * jnp.broadcast_to(steer.direction.astype(x.dtype), x.shape)
    return jnp.where(jnp.asarray(layer) == steer.layer, x + edit, x)


def residual_hook(steer: Steer):
    """``hook(layer, h) -> h`` for a model's ``residual_hook=`` argument (e.g. ``generate`` of Gemma 3)."""
    return lambda layer, h: steer_residual(steer, layer, h)
