r"""JumpReLU sparse autoencoders and single-feature steering.

Chou et al., *Causal Language Control in Multilingual Transformers via Sparse Feature Steering*,
arXiv 2507.13410 (spec ``sae_steering.md`` §2); JumpReLU SAE: Rajamanoharan et al., arXiv 2407.14435.

$$\pi(x)=xW_{\rm enc}+b_{\rm enc},\quad f(x)=\pi(x)\odot H(\pi(x)-\theta),\quad
\hat x(f)=fW_{\rm dec}+b_{\rm dec},\quad e(x)=x-\hat x(f(x)),$$

with the strict step $H(0)=0$ (the code's ``pre > threshold``). Clamping feature $j$ to $c$ while
keeping the error term is additive steering along $d_j=W_{\rm dec}[j,:]$:

$$\hat x(f')+e(x)=x+(c-f_j(x))\,d_j .$$

Activations ``x`` are ``[..., d]`` (any leading axes = positions); everything is computed in the
input dtype and is ``jit``/``vmap``-friendly. Example::

    sae = JumpReLUSAE(w_enc, b_enc, w_dec, b_dec, theta)
    x_steered = clamp_feature(sae, x, j=17, c=4.0)
"""

from __future__ import annotations

import weakref
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from attnverify.proofs_numeric.precision import check_bool

from .._finite import check_finite, is_traced
from ._args import check_feature, check_matrix

__all__ = ["JumpReLUSAE", "validate_sae", "jumprelu", "gate", "sae_encode", "sae_decode", "sae_error",
           "clamp_feature", "steer_additive", "feature_scores"]


class JumpReLUSAE(NamedTuple):
    r"""Parameters: ``w_enc`` $[d,m]$, ``b_enc`` $[m]$, ``w_dec`` $[m,d]$, ``b_dec`` $[d]$,
    ``theta`` $[m]$ ($>0$). A pytree, so it passes through ``jit``/``vmap``."""

    w_enc: jax.Array
    b_enc: jax.Array
    w_dec: jax.Array
    b_dec: jax.Array
    theta: jax.Array


_VALIDATED: dict[tuple[int, ...], tuple[weakref.ref, ...]] = {}  # ids of the five arrays -> weak references


def _seen(sae: tuple) -> bool:
    """True when these very five (immutable) ``jax.Array`` objects passed :func:`validate_sae` before."""
    refs = _VALIDATED.get(tuple(id(p) for p in sae))
    return refs is not None and all(r() is p for r, p in zip(refs, sae))


def _remember(sae: tuple) -> None:
    if all(isinstance(p, jax.Array) for p in sae):  # NumPy arrays can change in place: never cached
        if len(_VALIDATED) >= 32:
            _VALIDATED.clear()
        _VALIDATED[tuple(id(p) for p in sae)] = tuple(weakref.ref(p) for p in sae)


def validate_sae(sae: JumpReLUSAE) -> None:
    """Raise ``ValueError`` for inconsistent shapes, non-finite entries or thresholds ``<= 0``
    (``TypeError`` when ``sae`` is not a :class:`JumpReLUSAE`).

    An SAE of ``jax.Array`` weights (immutable) is checked once: the identities of its five arrays are
    remembered (weakly), so later calls on the same SAE (``sae_encode`` per batch) cost nothing and do
    not copy the weights to the host again. Traced weights are not checked."""
    if not isinstance(sae, tuple) or len(sae) != len(JumpReLUSAE._fields):
        raise TypeError(f"sae must be a JumpReLUSAE(w_enc, b_enc, w_dec, b_dec, theta), got {type(sae).__name__}")
    if any(is_traced(p) for p in sae) or _seen(sae):
        return
    _check_weights(sae)
    _remember(sae)


def _check_weights(sae: tuple) -> None:
    d, m = np.shape(sae.w_enc)[-2:] if np.ndim(sae.w_enc) >= 2 else (None, None)
    want = {"w_enc": (d, m), "b_enc": (m,), "w_dec": (m, d), "b_dec": (d,), "theta": (m,)}
    for name, p in zip(JumpReLUSAE._fields, sae):
        if d is None or np.shape(p) != want[name]:
            raise ValueError(f"SAE {name} must have shape {want[name]} (d={d}, m={m}), got {np.shape(p)}")
        check_finite(f"SAE {name}", p)
    theta = np.asarray(sae.theta)
    if (theta <= 0).any():
        j = int(np.argmax(theta <= 0))
        raise ValueError(f"SAE thresholds must be > 0; theta[{j}] = {theta[j]}")


def _b(vec, like: jax.Array) -> jax.Array:
    """Explicit broadcast of a trailing-axis vector (works under ``jax_numpy_rank_promotion='raise'``)."""
    return jnp.broadcast_to(jnp.asarray(vec), jnp.shape(like))


def _check_positions(name: str, v: Any, x: jax.Array) -> None:
    """``v`` a scalar or one value per position of ``x`` ``[..., d]`` (broadcasts to ``x.shape[:-1]``)."""
    try:
        ok = np.broadcast_shapes(np.shape(v), x.shape[:-1]) == x.shape[:-1]
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a scalar or broadcast to the positions {x.shape[:-1]} of x, got shape {np.shape(v)}")


def jumprelu(pre: jax.Array, theta: jax.Array) -> jax.Array:
    r"""$\pi\odot H(\pi-\theta)$ with strict $H$: exactly 0 when $\pi\le\theta$, $\pi$ otherwise.
    ``theta`` broadcasts to ``pre`` (``[m]`` for ``pre`` ``[..., m]``, or a scalar); concrete NaN/inf in either
    raises ``ValueError`` (``NaN > theta`` is False, so a NaN would encode as an exact 0)."""
    pre = jnp.asarray(pre)
    try:
        ok = np.broadcast_shapes(np.shape(theta), pre.shape) == pre.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"theta must broadcast to pre's shape {pre.shape} (e.g. [m]), got shape {np.shape(theta)}")
    check_finite("pre", pre)
    check_finite("theta", theta)
    return gate(pre, _b(theta, pre))


def gate(pre: jax.Array, theta: jax.Array) -> jax.Array:
    r"""The unchecked JumpReLU core: ``pre`` where $\pi>\theta$, 0 where $\pi\le\theta$, and NaN where
    either is NaN (under ``jit`` a NaN passes through; it never becomes an exact 0)."""
    return jnp.where(pre > theta, pre, jnp.where(pre <= theta, jnp.zeros_like(pre), jnp.nan))


def sae_encode(sae: JumpReLUSAE, x: jax.Array) -> jax.Array:
    r"""Feature activations $f(x)$, ``[..., m]`` (no $b_{\rm dec}$ subtraction before encoding).
    Concrete inputs are validated: a bad SAE (NaN threshold included) or a non-finite ``x`` raises
    ``ValueError`` (a NaN pre-activation would otherwise encode as 0: ``NaN > theta`` is False)."""
    validate_sae(sae)
    check_finite("x", x)
    if not is_traced(x) and np.shape(x)[-1:] != np.shape(sae.w_enc)[-2:-1]:
        raise ValueError(f"x must have shape [..., d={np.shape(sae.w_enc)[-2]}], got {np.shape(x)}")
    pre = jnp.asarray(x) @ sae.w_enc
    return jumprelu(pre + _b(sae.b_enc, pre), sae.theta)


def sae_decode(sae: JumpReLUSAE, f: jax.Array) -> jax.Array:
    r"""Reconstruction $\hat x(f)=fW_{\rm dec}+b_{\rm dec}$, ``[..., d]`` from ``f`` ``[..., m]`` (finite when concrete)."""
    validate_sae(sae)
    check_finite("f", f)
    if not is_traced(f) and np.shape(f)[-1:] != np.shape(sae.w_dec)[:1]:
        raise ValueError(f"f must have shape [..., m={np.shape(sae.w_dec)[0]}], got {np.shape(f)}")
    out = jnp.asarray(f) @ sae.w_dec
    return out + _b(sae.b_dec, out)


def sae_error(sae: JumpReLUSAE, x: jax.Array) -> jax.Array:
    r"""Error term $e(x)=x-\hat x(f(x))$, ``[..., d]``."""
    x = jnp.asarray(x)
    return x - sae_decode(sae, sae_encode(sae, x))


def clamp_feature(sae: JumpReLUSAE, x: jax.Array, j: int, c, keep_error: bool = True) -> jax.Array:
    r"""Clamp feature ``j`` to ``c`` at every position of ``x`` ``[..., d]``:
    $x'=\hat x(f')+e(x)$ (``keep_error=True``, the default) or $x'=\hat x(f')$, where
    $f'_j=c$ and $f'_k=f_k$. ``c`` may be a scalar or broadcast over positions. Concrete inputs are
    validated (``ValueError`` for a bad SAE, non-finite ``x``/``c``, ``j`` out of range)."""
    validate_sae(sae)
    check_finite("x", x)
    check_finite("c", c)
    j = check_feature(j, np.shape(sae.theta)[-1])
    keep_error = check_bool(keep_error, "keep_error")
    if not is_traced(x) and np.shape(x)[-1:] != np.shape(sae.b_dec)[-1:]:
        raise ValueError(f"x must be [..., d] with d={np.shape(sae.b_dec)[-1]}, got shape {np.shape(x)}")
    x = jnp.asarray(x)
    _check_positions("c", c, x)
    f = sae_encode(sae, x)
    f_new = f.at[..., j].set(jnp.broadcast_to(jnp.asarray(c, f.dtype), f.shape[:-1]))
    out = sae_decode(sae, f_new)
    return out + (x - sae_decode(sae, f)) if keep_error else out


def steer_additive(x: jax.Array, direction: jax.Array, alpha) -> jax.Array:
    r"""Additive steering $x'=x+\alpha\,d$; ``alpha`` a scalar or ``[...]`` per position, ``direction`` ``[d]``.
    Concrete inputs are validated (``ValueError`` naming ``x``, ``direction`` or ``alpha``: shape, NaN/inf)."""
    x = jnp.asarray(x)
    for name, v in (("x", x), ("direction", direction), ("alpha", alpha)):
        check_finite(name, v)
    if np.shape(direction) != x.shape[-1:]:
        raise ValueError(f"direction must have shape [d={x.shape[-1] if x.ndim else '?'}], got {np.shape(direction)}")
    _check_positions("alpha", alpha, x)
    return x + _b(jnp.asarray(alpha)[..., None], x) * _b(direction, x)


def feature_scores(f_target: jax.Array, f_english: jax.Array, stat: Literal["meandiff", "welch", "rate"] = "meandiff",
                   eps: float = 1e-8) -> jax.Array:
    r"""Per-feature selection statistic from activations ``[n_L, m]`` and ``[n_En, m]``:
    ``meandiff`` $\Delta_j=\bar f_j^{L}-\bar f_j^{\rm En}$ (default), ``welch``
    $\Delta_j/\sqrt{s^2_{L,j}/n_L+s^2_{{\rm En},j}/n_{\rm En}+\epsilon}$ (unbiased variances),
    ``rate`` $\Pr_L(f_j>0)-\Pr_{\rm En}(f_j>0)$. The chosen feature is the ``argmax``."""
    if stat not in ("meandiff", "welch", "rate"):
        raise ValueError(f"unknown statistic {stat!r}: stat must be one of meandiff, welch or rate")
    check_matrix("f_target", f_target)
    check_matrix("f_english", f_english, width=np.shape(f_target)[1])
    f_target, f_english = jnp.asarray(f_target), jnp.asarray(f_english)
    if stat == "rate":
        return (f_target > 0).mean(0) - (f_english > 0).mean(0)
    delta = f_target.mean(0) - f_english.mean(0)
    if stat == "meandiff":
        return delta
    nl, ne = f_target.shape[0], f_english.shape[0]
    if not is_traced(f_target) and min(nl, ne) < 2:
        raise ValueError(f"welch needs >= 2 samples per language, got n_L={nl}, n_En={ne}")
    return delta / jnp.sqrt(f_target.var(0, ddof=1) / nl + f_english.var(0, ddof=1) / ne + eps)
