r"""The miniature's character LM (``sae_steering.md`` §5): a pre-LN decoder in JAX, trained with optax.

Block $\ell$ maps the residual stream $x^{(\ell-1)}\mapsto x^{(\ell)}$ (``resid_post`` of block $\ell$):

$$u=x+\sum_h z_h W_O^h,\quad z_h=\mathrm{softmax}\Big(\tfrac{q_hk_h^\top}{\sqrt{d_h}}+M\Big)v_h,\quad
x^{(\ell)}=u+W_2\,\mathrm{gelu}(W_1\,\mathrm{LN}(u)),$$

with $q_h,k_h,v_h$ from $\mathrm{LN}(x)$ and a causal mask $M$. A :class:`~attention.sae.steering.Steer`
edits $x^{(\ell)}$ of its layer at every position (``steer_residual``), and a head mask
``[layers, heads]`` multiplies each $z_h$ (0 ablates the head, C8). :func:`head_contributions`
returns $z_{h,t}W_O^h$ for the attribution of C8. Sampling (:func:`charlm_generate`) decodes with a
key/value cache by default, the same function as recomputing the whole buffer at every step (the
derivation is in :func:`_generate`; ``cache=False`` keeps the recomputation).
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


def _qkv(p, cfg: CharLMConfig, layer: int, x):
    r"""Queries, keys and values ``[B, T, H, d_h]`` of block ``layer`` from $\mathrm{LN}(x)$ (position-wise)."""
    B, T, d = x.shape
    q, k, v = jnp.split(_ln(x, p["ln"][layer, 0]) @ p["wqkv"][layer], 3, axis=-1)
    return tuple(a.reshape(B, T, cfg.heads, d // cfg.heads) for a in (q, k, v))


def _mix(p, cfg: CharLMConfig, layer: int, q, k, v, allowed, head_mask):
    """$z_hW_O^h$ ``[B, T_q, H, d]`` for queries ``q [B, T_q, H, d_h]`` over keys/values ``[B, T_k, H, d_h]``;
    ``allowed [T_q, T_k]`` (bool) is the causal mask $M$ (``False`` -> score $-10^9$, weight exactly 0)."""
    H, dh = q.shape[2], q.shape[3]
    s = jnp.einsum("bthe,bshe->bhts", q, k) / np.sqrt(dh)
    s = jnp.where(allowed[None, None], s, -1e9)
    z = jnp.einsum("bhts,bshe->bthe", jax.nn.softmax(s, -1), v) * head_mask[layer][None, None, :, None]
    return jnp.einsum("bthe,hed->bthd", z, p["wo"][layer].reshape(H, dh, H * dh))


def _heads(p, cfg: CharLMConfig, layer: int, x, head_mask):
    """Per-head contributions $z_hW_O^h$, ``[B, T, H, d]``, of block ``layer`` on input ``x``."""
    T = x.shape[1]
    return _mix(p, cfg, layer, *_qkv(p, cfg, layer, x), jnp.tril(jnp.ones((T, T), bool)), head_mask)


def _mlp(p, layer: int, u):
    return u + jax.nn.gelu(_ln(u, p["ln"][layer, 1]) @ p["w1"][layer]) @ p["w2"][layer]


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
        x = steer_residual(steer, layer, _mlp(p, layer, u))
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
        x = _mlp(p, layer, x + c.sum(2))
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


def _check_length(cfg: CharLMConfig, P: int, new: int) -> None:
    if P < 1 or new < 1 or P + new > cfg.context:
        raise ValueError(f"need prompt length P >= 1, new >= 1 and P + new <= context = {cfg.context}, got P = {P}, new = {new}")


def _sample(key, logits, temperature):
    logits = logits.at[:, :2].set(-1e9)  # never sample BOS / PAD
    return jax.random.categorical(key, logits / temperature, -1)


def _generate_full(p, cfg, prompt, new, key, temperature, steer, head_mask):
    """Reference path: every step recomputes :func:`charlm_forward` over the whole buffer ``[B, P + new]``."""
    P = prompt.shape[1]
    buf = jnp.concatenate([prompt, jnp.ones((prompt.shape[0], new), prompt.dtype)], 1)

    def body(i, carry):
        buf, key = carry
        key, sub = jax.random.split(key)
        nxt = _sample(sub, charlm_forward(p, cfg, buf, steer, head_mask)[:, P + i - 1], temperature)
        return buf.at[:, P + i].set(nxt.astype(buf.dtype)), key

    return jax.lax.fori_loop(0, new, body, (buf, key))[0][:, P:]


def _prefill(p, cfg, prompt, T: int, steer, head_mask):
    """:func:`charlm_forward` on ``prompt [B, P]``, keeping every layer's keys and values in caches of
    ``T`` slots (zeros after ``P``). Returns the logits at position ``P - 1`` and the caches (lists per layer)."""
    P = prompt.shape[1]
    x = p["emb"][prompt] + p["pos"][None, :P]
    ks, vs = [], []
    for layer in range(cfg.layers):
        q, k, v = _qkv(p, cfg, layer, x)
        ks.append(jnp.pad(k, ((0, 0), (0, T - P), (0, 0), (0, 0))))
        vs.append(jnp.pad(v, ((0, 0), (0, T - P), (0, 0), (0, 0))))
        u = x + _mix(p, cfg, layer, q, k, v, jnp.tril(jnp.ones((P, P), bool)), head_mask).sum(2)
        x = steer_residual(steer, layer, _mlp(p, layer, u))
    return (_ln(x, p["ln_f"]) @ p["emb"].T)[:, -1], ks, vs


def _step(p, cfg, tok, t, ks, vs, steer, head_mask):
    r"""Feed characters ``tok [B]`` at position ``t`` (traced): write $k_t,v_t$ into the caches, attend over
    slots $s\le t$. Returns the logits at ``t`` ``[B, vocab]`` and the updated caches."""
    x = p["emb"][tok][:, None] + jax.lax.dynamic_slice_in_dim(p["pos"], t, 1)[None]
    allowed = (jnp.arange(ks[0].shape[1]) <= t)[None]
    ks, vs = list(ks), list(vs)
    for layer in range(cfg.layers):
        q, k, v = _qkv(p, cfg, layer, x)
        ks[layer] = jax.lax.dynamic_update_slice_in_dim(ks[layer], k, t, 1)
        vs[layer] = jax.lax.dynamic_update_slice_in_dim(vs[layer], v, t, 1)
        u = x + _mix(p, cfg, layer, q, ks[layer], vs[layer], allowed, head_mask).sum(2)
        x = steer_residual(steer, layer, _mlp(p, layer, u))
    return (_ln(x, p["ln_f"]) @ p["emb"].T)[:, 0], ks, vs


def _generate_cached(p, cfg, prompt, new, key, temperature, steer, head_mask):
    """Key/value cache: :func:`_prefill` the prompt, then one :func:`_step` per character (see :func:`_generate`)."""
    B, P = prompt.shape
    logits, ks, vs = _prefill(p, cfg, prompt, P + new - 1, steer, head_mask)  # positions ever fed: P + new - 1
    key, sub = jax.random.split(key)
    out = jnp.zeros((B, new), prompt.dtype).at[:, 0].set(_sample(sub, logits, temperature).astype(prompt.dtype))

    def body(i, carry):  # feed the character at position P + i - 1, sample the one at P + i
        out, ks, vs, key = carry
        logits, ks, vs = _step(p, cfg, out[:, i - 1], P + i - 1, ks, vs, steer, head_mask)
        key, sub = jax.random.split(key)
        return out.at[:, i].set(_sample(sub, logits, temperature).astype(out.dtype)), ks, vs, key

    return jax.lax.fori_loop(1, new, body, (out, ks, vs, key))[0]


def _generate(p: dict, cfg: CharLMConfig, prompt, new: int, key, temperature, steer: Steer, head_mask,
              cache: bool = True) -> jax.Array:
    r"""Sample ``new`` characters after ``prompt [B, P]`` at ``temperature``; returns ``[B, new]``.

    Character $i$ is drawn from $\mathrm{softmax}(\ell_{P+i-1}/\tau)$ (BOS and PAD excluded) with the
    $i$-th split of ``key``, where $\ell_t$ are the logits of :func:`charlm_forward` at position $t$, every
    position (prompt and generated) steered by ``steer`` and head-masked by ``head_mask`` (spec O4).

    ``cache=False`` recomputes the forward over the whole buffer at each step. ``cache=True`` (default)
    computes the same function incrementally: every operation of a block is position-wise except the
    attention, and the causal mask makes position $t$ read only $k_s,v_s$ with $s\le t$. Those are
    functions of the (steered, head-masked) stream at positions $s\le t$ alone, so by induction over
    layers and positions they do not change when later characters are appended, and the edit
    $x+(c-g f_j(x))d_j$ of :func:`~attention.sae.steering.steer_residual` is applied per position. The
    prompt is therefore run once (prefill, storing $k,v$ of every layer), then each step feeds only the
    newest position $t$, writes its $k_t,v_t$ into the cache and attends over $s\le t$ (cache slots
    $s>t$ get weight exactly 0, as the $-10^9$ mask gives in the full path). Cost per character: one
    position instead of $P+{\rm new}$ positions with a $(P+{\rm new})^2$ attention. The logits agree
    to rounding (float64: within 6e-14 on logits spanning ~20, ``tests/test_charlm_cache.py``); in float32 a draw that sits on a boundary of the categorical can
    rarely flip. ``ValueError`` unless $P\ge1$, ``new`` $\ge1$ and $P+{\rm new}\le$ ``cfg.context``."""
    prompt = jnp.asarray(prompt)
    _check_length(cfg, prompt.shape[1], new)
    steer = no_steer(cfg.d) if steer is None else steer
    head_mask = jnp.ones((cfg.layers, cfg.heads), jnp.float32) if head_mask is None else jnp.asarray(head_mask, jnp.float32)
    return (_generate_cached if cache else _generate_full)(p, cfg, prompt, new, key, temperature, steer, head_mask)


charlm_generate = jax.jit(_generate, static_argnames=("cfg", "new", "cache"))


@functools.partial(jax.jit, static_argnames=("cfg", "new", "cache"))
def charlm_generate_many(p: dict, cfg: CharLMConfig, prompt, new: int, keys, temperature, steers: Steer, head_masks,
                         cache: bool = True) -> jax.Array:
    """:func:`charlm_generate` for a stack of configurations (``steers``, ``keys [n]``, ``head_masks
    [n, layers, heads]``), compiled once per ``n``: returns ``[n, B, new]``."""
    return jax.vmap(lambda st, k, hm: _generate(p, cfg, prompt, new, k, temperature, st, hm, cache))(steers, keys, head_masks)
