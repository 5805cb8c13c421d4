r"""The motivating analyses of spec ``fal.md`` C10 on a trained GPT: CKA, gradient norms, primacy.

* (a) **Linear CKA** between the MLP inputs $U_i,U_j$ (and between the attention outputs
  $A_i,A_j$) of blocks $i\ne j$, rows = token positions, columns centred:
  $$\mathrm{CKA}(X,Y)=\frac{\|X^\top Y\|_F^2}{\|X^\top X\|_F\,\|Y^\top Y\|_F}\in[0,1].$$
* (b) **Gradient norms** $\|\partial\mathcal L/\partial A_i\|_F$, taken as the gradient of the
  loss with respect to a shift $\Delta_i$ added to $A_i$, at $\Delta=0$.
* (c) **Primacy ablation**: $\Delta\mathrm{NLL}_i=\mathrm{NLL}(A_i\equiv0)-\mathrm{NLL}$; block $i$'s
  attention is zeroed exactly by the shift $\Delta_i=-A_i$ of the clean run (earlier blocks, hence
  $A_i$, are unchanged by a shift at block $i$).

All functions take the parameters of one model (no seed axis) and character windows
``[n, T+1]``; they run unsharded.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from attnverify.attention._finite import check_finite

from .gpt import GPTConfig, _check_tokens, gpt_logits, gpt_nll
from .model import check_params

__all__ = ["linear_cka", "cka_matrices", "attention_grad_norms", "primacy_ablation"]


def linear_cka(x: jax.Array, y: jax.Array) -> jax.Array:
    r"""Linear CKA of ``x`` ``[n, p]`` and ``y`` ``[n, q]`` (rows are samples; columns are centred here),
    $\|X^\top Y\|_F^2 / (\|X^\top X\|_F\,\|Y^\top Y\|_F)$ with $n\ge2$ finite rows.

    NaN (documented) when ``x`` or ``y`` is constant over the rows: after centring it is 0 and the
    similarity 0/0 is undefined. ``ValueError`` naming ``x``/``y`` for shapes, $n<2$ or a NaN/inf entry."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must be [n, p] and [n, q] with the same n, got {x.shape} and {y.shape}")
    if x.shape[0] < 2:
        raise ValueError(f"x and y need n >= 2 rows (CKA centres each column), got n = {x.shape[0]}")
    check_finite("x", x)
    check_finite("y", y)
    x = x - x.mean(0, keepdims=True)
    y = y - y.mean(0, keepdims=True)
    fro = lambda m: jnp.sqrt(jnp.sum(m * m))
    return jnp.sum((x.T @ y) ** 2) / (fro(x.T @ x) * fro(y.T @ y))


def _check_windows(params: Any, windows: Any, cfg: GPTConfig) -> np.ndarray:
    """``windows`` ``[n >= 1, T + 1]`` integer ids in the vocabulary (``ValueError``/``TypeError`` naming it)."""
    w = np.asarray(windows)
    _check_tokens(jnp.asarray(w), cfg, "windows", extra=1)
    check_params(params, "params", "wte", "wpe", "stack")
    return w


def _matrix(acts: list[jax.Array]) -> np.ndarray:
    flat = [a.reshape(-1, a.shape[-1]) for a in acts]
    return np.array([[float(linear_cka(a, b)) for b in flat] for a in flat])


@functools.partial(jax.jit, static_argnames=("cfg",))
def _captured(params: Any, tokens: jax.Array, cfg: GPTConfig):
    return gpt_logits(params, tokens, cfg, capture=True)[1]


def _nll_of_shifts(params: Any, batch: jax.Array, shifts: list, cfg: GPTConfig) -> jax.Array:
    return gpt_nll(params, batch, cfg, attn_shift=shifts)


_shifted_nll = jax.jit(_nll_of_shifts, static_argnames=("cfg",))
_shift_grad = jax.jit(jax.grad(_nll_of_shifts, argnums=2), static_argnames=("cfg",))


def cka_matrices(params: Any, windows: np.ndarray, cfg: GPTConfig) -> dict[str, np.ndarray]:
    """``{"mlp_inputs": [N, N], "attn": [N, N]}`` linear CKA between blocks over all positions of ``windows``."""
    windows = _check_windows(params, windows, cfg)
    aux = _captured(params, jnp.asarray(windows[:, :-1]), cfg)
    return {"mlp_inputs": _matrix(aux["mlp_inputs"]), "attn": _matrix(aux["attn"])}


def _zero_shifts(cfg: GPTConfig, windows: np.ndarray, dtype) -> list[jax.Array]:
    shape = (windows.shape[0], windows.shape[1] - 1, cfg.blocks.d_model)
    return [jnp.zeros(shape, dtype) for _ in range(cfg.blocks.n_blocks)]


def attention_grad_norms(params: Any, windows: np.ndarray, cfg: GPTConfig) -> np.ndarray:
    r"""$\|\partial\mathcal L/\partial A_i\|_F$ for $i=1..N$ (``[N]``), $\mathcal L$ the mean NLL of ``windows``."""
    windows = _check_windows(params, windows, cfg)
    grads = _shift_grad(params, jnp.asarray(windows), _zero_shifts(cfg, windows, params["wte"].dtype), cfg=cfg)
    return np.array([float(jnp.sqrt(jnp.sum(g * g))) for g in grads])


def primacy_ablation(params: Any, windows: np.ndarray, cfg: GPTConfig) -> dict[str, Any]:
    r"""NLL of ``windows`` clean and with $A_i\equiv0$ for each block: ``{"clean": float, "delta": [N]}``
    ($\Delta\mathrm{NLL}_i$, nats/char)."""
    windows = _check_windows(params, windows, cfg)
    batch = jnp.asarray(windows)
    attn = _captured(params, batch[:, :-1], cfg)["attn"]
    zeros = _zero_shifts(cfg, windows, params["wte"].dtype)
    clean = float(_shifted_nll(params, batch, zeros, cfg=cfg))
    delta = [float(_shifted_nll(params, batch, [-attn[j] if j == i else z for j, z in enumerate(zeros)], cfg=cfg)) - clean
             for i in range(len(zeros))]
    return {"clean": clean, "delta": np.array(delta)}
