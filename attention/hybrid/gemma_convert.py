r"""Converting attention layers of a real Gemma 3 decoder into the hybrid by attention transfer.

Spec ``hybrid_linear.md`` §2 (stage 1 only): the teacher is frozen; per converted layer $\ell$ only the
Hedgehog weights $\phi_q$ (one per query head), $\phi_k$ (one per key/value head, shared by its group,
so that the linear state is shared as the keys are) and $\omega_h$ train, with AdamW (lr $10^{-2}$, no
weight decay), on **cached activations**: the model runs once over real text, and each converted layer's
$q,k,v$ (after norms and RoPE) and the teacher's per-head outputs $o_h$ are stored. Every layer learns
from the teacher's own inputs (LoLCATs trains the layers in parallel), with

- ``"mse"`` $\mathcal L=1000\cdot\overline{\mathrm{MSE}}(y^{\rm hyb}_{h},o_h)$ (LoLCATs output transfer), or
- ``"xent"`` Hedgehog weight transfer to the full causal softmax rows (:func:`.distill.weight_transfer_loss`),

averaged over the converted layers. :func:`run_blocks` runs a contiguous range of Gemma's decoder
blocks (:func:`attention.models.gemma.gemma_block`) from a residual stream, with per-layer components
(``hybrid``, ``swa``, ``la_full``, ...; :func:`.convert.hybrid_heads`) and captures $q,k,v,o$;
:func:`next_token_argmax` reads the tied unembedding at chosen positions only (the vocabulary is 262k).

Example::

    conv = ConvertConfig(layers=(11, 14, 17))
    acts = collect_activations(model, ids, conv.layers)
    params, hist = convert_layers(acts, model.config, conv, objective="mse")
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from attnverify.proofs_numeric import progress

from ..models.gemma import gemma_attention, output_logits, rms_norm
from ..models.gemma import gemma_block
from .convert import HybridSettings, hybrid_heads
from .distill import _fit, _optimizer, weight_transfer_loss
from .features import hedgehog_init

__all__ = ["ConvertConfig", "embed", "run_blocks", "next_token_argmax", "collect_activations", "init_converted",
           "convert_layers", "layer_r"]


@dataclasses.dataclass(frozen=True)
class ConvertConfig:
    """Converted ``layers``; window $w$, $d'$, $\\lambda$, $\\omega_0$; stage-1 ``steps``, ``batch`` (sequences), ``lr``."""

    layers: tuple[int, ...] = (11, 14, 17)
    window: int = 64
    d_prime: int = 64
    lam: float = 1.0
    omega0: float = -2.1972
    steps: int = 150
    batch: int = 4
    lr: float = 1e-2

    @property
    def settings(self) -> HybridSettings:
        return HybridSettings(window=self.window, lam=self.lam)


def embed(model: Any, ids: Any) -> jax.Array:
    r"""$h_0=\sqrt D\,E[t]$ for ``ids`` ``[B, T]`` (as :func:`attention.models.gemma.run_layers`)."""
    e = model.params["embed"]
    return e[jnp.asarray(ids)] * jnp.asarray(math.sqrt(model.config.hidden_size), e.dtype)


@functools.partial(jax.jit, static_argnames=("cfg", "start", "stop", "components", "settings", "capture"))
def run_blocks(params: Any, h: jax.Array, converted: dict, *, cfg: Any, start: int, stop: int,
               components: tuple = (), settings: HybridSettings = HybridSettings(), capture: tuple = (),
               which: jax.Array | None = None):
    r"""Blocks ``start..stop-1`` on the residual ``h`` ``[B, T, D]`` (positions $0..T-1$, no cache).

    ``components``: ``((layer, component), ...)`` runs :func:`.convert.hybrid_heads` with
    ``converted[str(layer)]`` (``feat_q``, ``feat_k``, ``omega``) on those layers, softmax elsewhere; a
    component may be a tuple of names, and then the traced int ``which`` picks one of them
    (``lax.switch``: one compiled program for every ablation). Returns ``(h, {layer: (q, k, v, o)})`` for
    the layers in ``capture``."""
    comps, store = dict(components), {}
    for layer in range(start, stop):
        def attend(a, layer=layer):
            if layer in comps:
                p, c = converted[str(layer)], comps[layer]
                heads = lambda c: lambda a: hybrid_heads(a.q, a.k, a.v, a.scale, p["feat_q"], p["feat_k"], p["omega"],  # noqa: E731
                                                         settings, c)[0]
                y = heads(c)(a) if isinstance(c, str) else jax.lax.switch(which, [heads(x) for x in c], a)
            else:
                y = gemma_attention(a)
            if layer in capture:
                store[layer] = (a.q, a.k, a.v, y)
            return y

        h, _, _ = gemma_block(cfg, params["layers"][layer], layer, h, 0, None, attend)
    return h, store


@functools.partial(jax.jit, static_argnames=("cfg",))
def next_token_argmax(params: Any, h: jax.Array, positions: jax.Array, *, cfg: Any) -> jax.Array:
    """Arg-max next token at ``positions`` ``[P]`` from the last residual ``h`` ``[B, T, D]``: ``[B, P]``."""
    x = rms_norm(h[:, positions], params["final_norm"], cfg.rms_eps)
    return jnp.argmax(output_logits(cfg, params, x), -1).astype(jnp.int32)


def collect_activations(model: Any, ids: np.ndarray, layers: Sequence[int], batch: int = 4,
                        desc: str = "collect q, k, v") -> dict[int, dict[str, np.ndarray]]:
    """Run the model once over ``ids`` ``[N, T]`` up to the last of ``layers``; per layer
    ``{"q", "k", "v", "o"}`` float32 numpy ``[N, T, heads, d_h]`` (teacher's inputs and outputs)."""
    out: dict[int, dict[str, list]] = {l: {x: [] for x in "qkvo"} for l in layers}
    for i in progress(range(0, len(ids), batch), desc=desc):
        _, store = run_blocks(model.params, embed(model, ids[i:i + batch]), {}, cfg=model.config, start=0,
                              stop=max(layers) + 1, capture=tuple(sorted(layers)))
        for l in layers:
            for name, a in zip("qkvo", store[l]):
                out[l][name].append(np.asarray(a, np.float32))
    return {l: {x: np.concatenate(v) for x, v in d.items()} for l, d in out.items()}


def init_converted(key: jax.Array, cfg: Any, conv: ConvertConfig) -> dict[str, dict[str, jax.Array]]:
    """Kaiming-uniform Hedgehog weights and $\\omega_0$ for every converted layer (float32)."""
    out = {}
    for layer, k in zip(conv.layers, jax.random.split(key, len(conv.layers))):
        kq, kk = jax.random.split(k)
        init = lambda kk_, n: jnp.stack([hedgehog_init(x, cfg.head_dim, conv.d_prime, jnp.float32)  # noqa: E731
                                         for x in jax.random.split(kk_, n)])
        out[str(layer)] = {"feat_q": init(kq, cfg.num_heads), "feat_k": init(kk, cfg.num_kv_heads),
                           "omega": jnp.full((cfg.num_heads,), conv.omega0, jnp.float32)}
    return out


@functools.lru_cache(maxsize=None)
def _loss(settings: HybridSettings, scale: float, keys: tuple[str, ...]):
    """``loss(params, xent, *acts)``: the objective is the traced bool ``xent`` (``lax.cond``), so the
    ``mse`` and ``xent`` arms share one compiled step."""

    def mse(q, k, v, o, pl):
        y = hybrid_heads(q, k, v, scale, pl["feat_q"], pl["feat_k"], pl["omega"], settings)[0]
        return 1000.0 * jnp.mean((y - o) ** 2)

    def wt(q, k, v, o, pl):
        G, dh = q.shape[2] // k.shape[2], q.shape[-1]
        qh = (q * (scale * math.sqrt(dh))).transpose(0, 2, 1, 3)
        kh = jnp.repeat(k, G, axis=2).transpose(0, 2, 1, 3)
        return weight_transfer_loss(qh, kh, pl["feat_q"], jnp.repeat(pl["feat_k"], G, axis=0))

    def loss(p, xent, *acts):
        total = 0.0
        for pl, (q, k, v, o) in zip((p[key] for key in keys), acts):
            total = total + jax.lax.cond(xent, wt, mse, q, k, v, o, pl)
        return total / len(p)

    return loss


def convert_layers(acts: dict[int, dict[str, np.ndarray]], cfg: Any, conv: ConvertConfig, *, objective: str,
                   seed: int = 0) -> tuple[dict, dict]:
    """Stage-1 attention transfer of every converted layer on cached activations (batches of
    ``conv.batch`` sequences drawn with ``seed``). Returns ``(params, history)`` with the loss trace and
    $\\gamma_h$ per layer at the end."""
    if objective not in ("mse", "xent"):
        raise ValueError(f"objective must be 'mse' or 'xent', got {objective!r}")
    if sorted(acts) != sorted(conv.layers):
        raise ValueError(f"acts holds layers {sorted(acts)}, conv.layers is {conv.layers}")
    n = len(acts[conv.layers[0]]["q"])
    rng = np.random.default_rng(60_000 + seed)
    order = [rng.permutation(n) for _ in range(conv.steps * conv.batch // n + 2)]
    flat = np.concatenate(order)

    def batch(t):
        idx = np.sort(flat[t * conv.batch:(t + 1) * conv.batch])
        return tuple(tuple(jnp.asarray(acts[l][x][idx]) for x in "qkvo") for l in conv.layers)

    params = init_converted(jax.random.PRNGKey(70_000 + seed), cfg, conv)
    trained, hist = _fit(params, np.bool_(objective == "xent"), _loss(conv.settings, float(cfg.query_scale), tuple(str(l) for l in conv.layers)), _optimizer(conv.lr, 0.0, 0),
                         conv.steps, batch, f"convert ({objective})")
    hist["gamma"] = {l: np.asarray(jax.nn.sigmoid(p["omega"])).tolist() for l, p in trained.items()}
    return trained, hist


@functools.partial(jax.jit, static_argnames=("settings", "scale"))
def _layer_r(q, k, v, p, *, settings, scale):
    return hybrid_heads(q, k, v, scale, p["feat_q"], p["feat_k"], p["omega"], settings)[1]


def layer_r(acts: dict[str, np.ndarray], p: dict, cfg: Any, settings: HybridSettings, batch: int = 4) -> np.ndarray:
    """$r_n$ of one converted layer on its teacher inputs ``acts``: ``[N, H, T]`` (numpy)."""
    return np.concatenate([np.asarray(_layer_r(*(jnp.asarray(acts[x][i:i + batch]) for x in "qkv"), p, settings=settings,
                                               scale=float(cfg.query_scale)))
                           for i in range(0, len(acts["q"]), batch)])
