r"""Argument checks shared by the hybrid forms (parallel, chunked, recurrent, decode).

Spec ``hybrid_linear.md`` §2: window $w\ge1$ (an integer), window weight $\gamma>0$ and linear weight
$\lambda\ge0$ (finite reals), arrays ``[T, dim]`` with $T\ge1$, finite, features non-negative.
Concrete values only: a JAX tracer (``jit``/``vmap``/``grad``) passes unchecked, so a traced
``window``, ``gamma`` or ``lam`` compiles. Python lists are accepted and converted to arrays.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._finite import check_int, check_ndim, check_nonempty, check_real, is_traced
from .linear_forms import as_array, check_features

__all__ = ["check_window", "check_weights", "hybrid_inputs"]


def check_window(window: Any) -> Any:
    """``window`` as an ``int`` >= 1 (``True``, ``1.5``, ``'2'``, ``None`` refused naming it); a tracer as is."""
    if is_traced(window):
        return window
    if isinstance(window, (np.ndarray, jax.Array)) and np.ndim(window) == 0 and np.issubdtype(np.asarray(window).dtype, np.integer):
        window = int(window)
    return check_int(window, "window", minimum=1)


def check_weights(gamma: Any, lam: Any) -> None:
    r"""$\gamma$ a finite real $>0$, $\lambda$ a finite real $\ge0$ (bools refused); tracers pass."""
    if not is_traced(gamma):
        check_real(gamma, "gamma (the window weight)", positive=True)
    if not is_traced(lam):
        check_real(lam, "lam (the linear weight)", nonnegative=True)


def hybrid_inputs(q: Any, k: Any, v: Any, fq: Any, fk: Any, gamma: Any = 1.0,
                  lam: Any = 1.0) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """Checked ``q, k [T, d_h]``, ``v [T, d_v]``, ``phi_q, phi_k [T, D]`` in one float dtype."""
    q, k, v, fq, fk = (as_array(n, x) for n, x in (("q", q), ("k", k), ("v", v), ("phi_q", fq), ("phi_k", fk)))
    for name, x in (("q", q), ("k", k), ("v", v), ("phi_q", fq), ("phi_k", fk)):
        check_ndim(name, x, 2, "[T, dim]")
        check_features(name, x)
    if any(x.ndim != 2 for x in (q, k, v, fq, fk)):
        raise ValueError(f"q, k, v, phi_q, phi_k must be 2-D [T, dim], got shapes {q.shape}, {k.shape}, {v.shape}, "
                         f"{fq.shape}, {fk.shape}")
    dtype = jnp.result_type(float, q, k, v, fq, fk)
    q, k, v, fq, fk = (jnp.asarray(x, dtype) for x in (q, k, v, fq, fk))
    T = q.shape[0]
    if k.shape != q.shape or v.shape[0] != T or fq.shape != fk.shape or fq.shape[0] != T:
        raise ValueError(f"shapes disagree: q {q.shape}, k {k.shape}, v {v.shape}, phi_q {fq.shape}, phi_k {fk.shape}")
    check_nonempty("q", q, 0, "tokens (T = 0)")
    check_weights(gamma, lam)
    return q, k, v, fq, fk
