r"""The miniature's character LM (``sae_steering.md`` §5): a pre-LN decoder in JAX, trained with optax.

Block $\ell$ maps the residual stream $x^{(\ell-1)}\mapsto x^{(\ell)}$ (``resid_post`` of block $\ell$):

$$u=x+\sum_h z_h W_O^h,\quad z_h=\mathrm{softmax}\Big(\tfrac{q_hk_h^\top}{\sqrt{d_h}}+M\Big)v_h,\quad
x^{(\ell)}=u+W_2\,\mathrm{gelu}(W_1\,\mathrm{LN}(u)),$$

with $q_h,k_h,v_h$ from $\mathrm{LN}(x)$ and a causal mask $M$. A :class:`~attention.sae.steering.Steer`
edits $x^{(\ell)}$ of its layer at every position (``steer_residual``), and a head mask
``[layers, heads]`` multiplies each $z_h$ (0 ablates the head, C8). :func:`head_contributions`
returns $z_{h,t}W_O^h$ for the attribution of C8.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .steering import Steer, no_steer, steer_residual

__all__ = ["CharLMConfig", "init_charlm", "charlm_forward", "train_charlm", "charlm_generate", "charlm_generate_many",
           "head_contributions"]


class CharLMConfig(NamedTuple):
    """Sizes: ``vocab``, ``d`` model width, ``layers``, ``heads``, ``mlp`` hidden width, ``context``."""

    vocab: int
    d: int = 64
    layers: int = 3
    heads: int = 4
    mlp: int = 256
    context: int = 64


def init_charlm(cfg: CharLMConfig, seed: int = 0) -> dict:
    """Gaussian initialisation (std 0.02, output projections scaled by $1/\\sqrt{2L}$)."""
    k = iter(jax.random.split(jax.random.PRNGKey(seed), 8))
    n = lambda key, shape, s=0.02: s * jax.random.normal(key, shape, jnp.float32)  # noqa: E731
    L, d = cfg.layers, cfg.d
    out = 0.02 / np.sqrt(2 * L)
    return dict(emb=n(next(k), (cfg.vocab, d)), pos=n(next(k), (cfg.context, d)),
                wqkv=n(next(k), (L, d, 3 * d)), wo=n(next(k), (L, d, d), out), w1=n(next(k), (L, d, cfg.mlp)),
                w2=n(next(k), (L, cfg.mlp, d), out), ln=jnp.ones((L, 2, d), jnp.float32), ln_f=jnp.ones(d, jnp.float32))


def _ln(x, g):
    x = x - x.mean(-1, keepdims=True)
    return x * jax.lax.rsqrt((x * x).mean(-1, keepdims=True) + 1e-5) * jnp.broadcast_to(g, x.shape)


def _heads(p, cfg: CharLMConfig, layer: int, x, head_mask):
    """Per-head contributions $z_hW_O^h$, ``[B, T, H, d]``, of block ``layer`` on input ``x``."""
    B, T, d = x.shape
    H, dh = cfg.heads, d // cfg.heads
    q, k, v = jnp.split(_ln(x, p["ln"][layer, 0]) @ p["wqkv"][layer], 3, axis=-1)
    q, k, v = (a.reshape(B, T, H, dh) for a in (q, k, v))
    s = jnp.einsum("bthe,bshe->bhts", q, k) / np.sqrt(dh)
    s = jnp.where(jnp.tril(jnp.ones((T, T), bool))[None, None], s, -1e9)
    z = jnp.einsum("bhts,bshe->bthe", jax.nn.softmax(s, -1), v) * head_mask[layer][None, None, :, None]
    return jnp.einsum("bthe,hed->bthd", z, p["wo"][layer].reshape(H, dh, d))


def charlm_forward(p: dict, cfg: CharLMConfig, ids, steer: Steer | None = None, head_mask=None,
                   return_hidden: bool = False):
    """Logits ``[B, T, vocab]`` (and the ``resid_post`` stack ``[layers, B, T, d]`` if ``return_hidden``)."""
    ids = jnp.asarray(ids)
    steer = no_steer(cfg.d) if steer is None else steer
    head_mask = jnp.ones((cfg.layers, cfg.heads), jnp.float32) if head_mask is None else jnp.asarray(head_mask, jnp.float32)
    x = p["emb"][ids] + p["pos"][None, : ids.shape[1]]
    hidden = []
    for layer in range(cfg.layers):
        u = x + _heads(p, cfg, layer, x, head_mask).sum(2)
        x = u + jax.nn.gelu(_ln(u, p["ln"][layer, 1]) @ p["w1"][layer]) @ p["w2"][layer]
        x = steer_residual(steer, layer, x)
        hidden.append(x)
    logits = _ln(x, p["ln_f"]) @ p["emb"].T
    return (logits, jnp.stack(hidden)) if return_hidden else logits


def head_contributions(p: dict, cfg: CharLMConfig, ids) -> jax.Array:
    r"""$z_{h,t}W_O^h$ for every layer and head, ``[layers, B, T, heads, d]`` (unsteered forward)."""
    ids = jnp.asarray(ids)
    mask = jnp.ones((cfg.layers, cfg.heads), jnp.float32)
    x = p["emb"][ids] + p["pos"][None, : ids.shape[1]]
    out = []
    for layer in range(cfg.layers):
        c = _heads(p, cfg, layer, x, mask)
        out.append(c)
        u = x + c.sum(2)
        x = u + jax.nn.gelu(_ln(u, p["ln"][layer, 1]) @ p["w1"][layer]) @ p["w2"][layer]
    return jnp.stack(out)


def train_charlm(cfg: CharLMConfig, batches, steps: int, lr: float = 3e-3, seed: int = 0) -> tuple[dict, list[float]]:
    """AdamW with cosine decay on next-character NLL; ``batches(step) -> ids [B, context]`` (BOS first).
    Returns the parameters and the loss trace."""
    import optax

    p = init_charlm(cfg, seed)
    opt = optax.adamw(optax.warmup_cosine_decay_schedule(0.0, lr, min(100, steps // 10 + 1), steps, lr / 10), weight_decay=0.01)
    state = opt.init(p)

    @jax.jit
    def step(p, state, ids):
        def loss(p):
            lp = jax.nn.log_softmax(charlm_forward(p, cfg, ids[:, :-1]), -1)
            return -jnp.take_along_axis(lp, ids[:, 1:, None], -1).mean()

        val, g = jax.value_and_grad(loss)(p)
        upd, state = opt.update(g, state, p)
        return optax.apply_updates(p, upd), state, val

    losses = []
    for i in range(steps):
        p, state, val = step(p, state, jnp.asarray(batches(i)))
        losses.append(val)
    return p, np.asarray(losses, np.float64).tolist()


def _generate(p: dict, cfg: CharLMConfig, prompt, new: int, key, temperature, steer: Steer, head_mask) -> jax.Array:
    """Sample ``new`` characters after ``prompt [B, P]`` (full recomputation each step, so every
    position, prompt and generated, is steered consistently; spec O4). Returns ``[B, new]``."""
    B, P = prompt.shape
    buf = jnp.concatenate([prompt, jnp.ones((B, new), prompt.dtype)], 1)

    def body(i, carry):
        buf, key = carry
        key, sub = jax.random.split(key)
        logits = charlm_forward(p, cfg, buf, steer, head_mask)[:, P + i - 1]
        logits = logits.at[:, :2].set(-1e9)  # never sample BOS / PAD
        nxt = jax.random.categorical(sub, logits / temperature, -1)
        return buf.at[:, P + i].set(nxt.astype(buf.dtype)), key

    buf, _ = jax.lax.fori_loop(0, new, body, (buf, key))
    return buf[:, P:]


charlm_generate = jax.jit(_generate, static_argnames=("cfg", "new"))


@functools.partial(jax.jit, static_argnames=("cfg", "new"))
def charlm_generate_many(p: dict, cfg: CharLMConfig, prompt, new: int, keys, temperature, steers: Steer, head_masks) -> jax.Array:
    """:func:`charlm_generate` for a stack of configurations (``steers``, ``keys [n]``, ``head_masks
    [n, layers, heads]``), compiled once per ``n``: returns ``[n, B, new]``."""
    return jax.vmap(lambda st, k, hm: _generate(p, cfg, prompt, new, k, temperature, st, hm))(steers, keys, head_masks)
