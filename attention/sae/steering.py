r"""Single-feature, single-layer steering as a residual-stream hook (``sae_steering.md`` §2, O3-O4).

By C2 (``sae.clamp_is_additive``), clamping feature $j$ to $c$ with the error term kept is the
additive edit $x'=x+(c-f_j(x))\,d_j$, and additive steering is $x'=x+\alpha d_j$. Both are

$$x'=x+\big(c-g\,f_j(x)\big)\,d_j,\qquad f_j(x)=\pi_j\,H(\pi_j-\theta_j),\ \pi_j=x\cdot W_{\rm enc}[:,j]+b_{{\rm enc},j},$$

with the gate $g=1$ (clamp-with-error, the default) or $g=0$ (additive, $c=\alpha$). A
:class:`Steer` holds only arrays, so one compiled generation serves every feature, layer, value and
mode; $c=0,g=0$ is the unsteered model and $c=0,g=1$ the $\kappa=0$ control (the feature removed).
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from attnverify.proofs_numeric.precision import check_choice, check_int, check_real

from .._finite import check_finite
from ._args import check_feature
from .jumprelu import JumpReLUSAE, gate, validate_sae

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
    check_choice(mode, ("clamp", "additive"), "mode")
    validate_sae(sae)
    j = check_feature(j, np.shape(sae.theta)[-1])
    layer = check_int(layer, "layer", minimum=0)
    c = check_real(c, "c")
    dt = jnp.asarray(sae.w_dec).dtype
    arr = lambda a: jnp.asarray(a, dt)  # noqa: E731
    return Steer(jnp.asarray(int(layer), jnp.int32), arr(sae.w_dec[j]), arr(sae.w_enc[:, j]), arr(sae.b_enc[j]),
                 arr(sae.theta[j]), arr(c), arr(1.0 if mode == "clamp" else 0.0))


def no_steer(d: int) -> Steer:
    """The identity edit ($c=0$, $g=0$) for a residual width ``d``."""
    d = check_int(d, "d", minimum=1)
    z = jnp.zeros(d, jnp.float32)
    one = jnp.float32(1.0)
    return Steer(jnp.asarray(-1, jnp.int32), z, z, jnp.float32(0.0), one, jnp.float32(0.0), jnp.float32(0.0))


def _check_steer(steer: Any) -> None:
    if not isinstance(steer, Steer):
        raise TypeError(f"steer must be a Steer (from make_steer or no_steer), got {type(steer).__name__}")


def steer_residual(steer: Steer, layer, x: jax.Array) -> jax.Array:
    r"""$x+(c-g f_j(x))d_j$ at every position of ``x [..., d]`` when ``layer == steer.layer``; else ``x``.
    Concrete ``x`` is validated (``ValueError``: width other than the steer's, NaN/inf)."""
    _check_steer(steer)
    layer = _check_layer(layer)
    x = jnp.asarray(x)
    if x.shape[-1:] != tuple(np.shape(steer.direction)):
        raise ValueError(f"x must be [..., d={np.shape(steer.direction)[0]}] (the steer's width), got shape {x.shape}")
    check_finite("x", x)
    pre = x @ steer.enc.astype(x.dtype) + steer.b_enc.astype(x.dtype)
    f = gate(pre, steer.theta.astype(x.dtype))
    alpha = steer.c.astype(x.dtype) - steer.g.astype(x.dtype) * f
    edit = alpha[..., None] * jnp.broadcast_to(steer.direction.astype(x.dtype), x.shape)
    return jnp.where(jnp.asarray(layer) == steer.layer, x + edit, x)


def _check_layer(layer: Any) -> Any:
    """A layer index: a Python/NumPy integer >= 0 (``1.5``, ``'2'``, ``True`` refused), or a traced integer."""
    if isinstance(layer, jax.core.Tracer):
        if not jnp.issubdtype(layer.dtype, jnp.integer):
            raise TypeError(f"layer must be an integer layer index, got a traced {layer.dtype}")
        return layer
    if isinstance(layer, (np.ndarray, jax.Array)) and np.ndim(layer) == 0 and np.issubdtype(np.asarray(layer).dtype, np.integer):
        layer = int(layer)
    return check_int(layer, "layer", minimum=0)


def residual_hook(steer: Steer):
    """``hook(layer, h) -> h`` for a model's ``residual_hook=`` argument (e.g. ``generate`` of Gemma 3)."""
    _check_steer(steer)
    return lambda layer, h: steer_residual(steer, layer, h)
