r"""FAL's first block with the cotangent of $\bar A_1$ folded into block 1's two backward all-reduces.

Under Megatron tensor parallelism the FAL blocks $i\ge2$ each hold a *partial* cotangent $P_r$ of
$\bar A_1=\mathrm{LN}_A(A_1)$ (device $r$'s MLP shard), and the default schedule all-reduces
$\sum_rP_r$ by itself: $N+2$ backward all-reduces (spec C5). Every backward map below is linear in
its cotangent, so the sum can ride on block 1's own two all-reduces. With $G=\partial\mathcal L/\partial X_2$
(replicated), $Q_r$ device $r$'s partial cotangent of $U^{(2)}_1=\mathrm{LN}_2(X_1')$ and $D_r$ its
partial cotangent of $U^{(1)}_1=\mathrm{LN}_1(X_1)$:

$$S_r=\mathrm{LN}_2^\top Q_r+\mathrm{LN}_A^\top P_r,\qquad \partial A_1=G+\textstyle\sum_rS_r\quad\text{(all-reduce 1)},$$
$$T_r=\mathrm{LN}_1^\top D_r-\mathrm{LN}_A^\top P_r,\qquad \partial X_1=\partial A_1+\textstyle\sum_rT_r\quad\text{(all-reduce 2)},$$

since $\partial X_1=\partial X_1'+\mathrm{LN}_1^\top\sum_rD_r$ and $\partial X_1'=\partial A_1-\mathrm{LN}_A^\top\sum_rP_r$. The
LN parameters' gradients ($\gamma,\beta$ of $\mathrm{LN}_1,\mathrm{LN}_2,\mathrm{LN}_A$) are sums of partial
$d$-vectors; they are packed into the same two buffers ($BTd+4d$ and $BTd+2d$ elements), so each
reduction is one all-reduce of one tensor. Backward: $(N-1)+2=N+1$ activation all-reduces and no
other, and the step's forward+backward ceiling rises from
$\frac{2N-3}{4N}$ to $\frac{N-1}{2N}$ (:mod:`~attention.fal.comm_model`). With ``axis_name=None`` every
sum is over one device and the function is the plain block.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from .blocks import _mha, _mlp, layer_norm

__all__ = ["first_block_folded"]


def _vec(v: jax.Array, like: jax.Array) -> jax.Array:
    return jnp.reshape(v, (1,) * (like.ndim - 1) + (-1,))


def _varying(axis_name: str | None):
    """Cast to device-varying (JAX's ``pcast``) unless already varying; identity when unsharded."""
    if not axis_name:
        return lambda z: z
    return lambda z: z if axis_name in jax.typeof(z).manual_axis_type.varying else jax.lax.pcast(z, axis_name, to="varying")


def _local_vjp(fn, cotangent, *primals, vary):
    """``jax.vjp`` of a device-local map at ``primals``, all cast to varying (partial cotangents out)."""
    _, vjp = jax.vjp(fn, *(jax.tree.map(vary, x) for x in primals))
    return vjp(vary(cotangent))


def _packed_sum(red, *arrays: jax.Array) -> list[jax.Array]:
    """``red`` (one all-reduce) of ``arrays`` packed into one flat buffer, unpacked again: the $d$-sized
    partial sums ride with the activation-sized one in a single collective of one tensor."""
    flat = red(jnp.concatenate([a.ravel() for a in arrays]))
    out, at = [], 0
    for a in arrays:
        out.append(flat[at:at + a.size].reshape(a.shape))
        at += a.size
    return out


def _forward(p: dict, lnA: tuple, x: jax.Array, axis_name: str | None):
    """Block 1 (a baseline block) and $\\bar A_1$, with the residuals the backward needs."""
    ln = layer_norm
    red = (lambda z: jax.lax.psum(z, axis_name)) if axis_name else (lambda z: z)
    u1 = ln(x, p["ln1_g"], p["ln1_b"])
    a = red(_mha(p, u1))
    xp = x + a
    u2 = ln(xp, p["ln2_g"], p["ln2_b"])
    x2 = xp + red(_mlp(p, u2)) + _vec(p["b2"], xp)
    abar = ln(a, *lnA)
    abar_v = jax.lax.pcast(abar, axis_name, to="varying") if axis_name else abar
    return (x2, abar_v), (p, lnA, x, u1, a, xp, u2)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def first_block_folded(p: dict, lnA: tuple, x: jax.Array, axis_name: str | None = None) -> tuple[jax.Array, jax.Array]:
    """``(X_2, \\bar A_1)`` of block 1; ``\\bar A_1`` is device-varying under ``axis_name`` (each FAL
    block's MLP shard uses it locally), and its partial cotangents are folded as in the module docstring."""
    return _forward(p, lnA, x, axis_name)[0]


def _fwd(p, lnA, x, axis_name):
    return _forward(p, lnA, x, axis_name)


def _bwd(axis_name, res, cts):
    ln = layer_norm
    p, lnA, x, u1, a, xp, u2 = res
    G, P = cts
    red = (lambda z: jax.lax.psum(z, axis_name)) if axis_name else (lambda z: z)
    vary = _varying(axis_name)
    w_mlp = {k: p[k] for k in ("w1", "b1", "w2")}
    w_mha = {k: p[k] for k in ("wqkv", "wo")}
    # device-local pieces: MLP shard, LN2, LN_A (partial cotangents Q_r, S_r)
    g_mlp, Q = _local_vjp(_mlp, G, w_mlp, u2, vary=vary)
    S2, g2, b2 = _local_vjp(ln, Q, xp, p["ln2_g"], p["ln2_b"], vary=vary)
    SA, gA, bA = _local_vjp(ln, P, a, *lnA, vary=vary)
    S, g2, b2, gA, bA = _packed_sum(red, S2 + SA, g2, b2, gA, bA)  # all-reduce 1: S_r and the LN partials in one buffer
    dA = G + S
    g_mha, D = _local_vjp(_mha, dA, w_mha, u1, vary=vary)
    T1, g1, b1 = _local_vjp(ln, D, x, p["ln1_g"], p["ln1_b"], vary=vary)
    T, g1, b1 = _packed_sum(red, T1 - SA, g1, b1)  # all-reduce 2
    dx = dA + T
    grads = {**g_mlp, **g_mha, "ln1_g": g1, "ln1_b": b1, "ln2_g": g2, "ln2_b": b2,
             "b2": jnp.sum(G, axis=tuple(range(G.ndim - 1)))}
    return {k: grads[k] for k in p}, (gA, bA), dx


first_block_folded.defvjp(_fwd, _bwd)


