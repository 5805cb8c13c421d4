r"""A small pre-norm decoder (the C9 teacher) and its hybrid student (spec ``hybrid_linear.md`` C9, §2).

**Teacher**: token embeddings with rotary $q,k$ (or learned absolute positions), $L$ blocks of causal softmax attention ($H$ heads,
$d_h=d/H$) and a GELU MLP, final RMS norm, untied read-out. **Student**: the teacher's weights with each
head's attention replaced by the hybrid of :mod:`.operators` (window $w$, Hedgehog $\phi_q,\phi_k$ with
$d'$, $\gamma_h=\sigma(\omega_h)$, $\lambda$), and LoRA adapters $W+\frac\alpha rA B$ ($B_0=0$, spec §2
stage 2) on $W_q,W_k,W_v,W_o$. A layer runs one ``component`` (``hybrid``, ``swa``, ``la_full``,
``sinks``, ``none``; spec "component ablations") or, with an SSD draw $\xi_\ell$, LA-only where
$\xi_\ell=1$ and the hybrid elsewhere.

Parameters are plain dicts of arrays (pytrees), so ``optax`` trains any subset.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from .features import hedgehog_features, hedgehog_init
from ..models.gemma import rope
from .operators import _component

__all__ = ["ToyConfig", "init_teacher", "init_student", "toy_forward", "softmax_heads", "student_heads", "causal_mask", "COMPONENTS",
           "student_outputs"]

COMPONENTS = ("hybrid", "swa", "la_full", "sinks", "none")


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    """Teacher shape (C9: $d=64$, 4 heads, $T=128$, 2 layers) and student hybrid settings."""

    vocab: int = 144
    length: int = 128
    d: int = 64
    heads: int = 4
    layers: int = 2
    d_ff: int = 256
    window: int = 16
    d_prime: int = 16
    lam: float = 1.0
    sinks: int = 4
    omega0: float = -2.1972  #: gamma = 0.1
    lora_rank: int = 8
    lora_alpha: float = 16.0
    rope: bool = True  #: rotary q/k (base 10 000) instead of learned absolute positions

    @property
    def d_h(self) -> int:
        return self.d // self.heads


def _dense(key, n_in, n_out):
    return jax.random.normal(key, (n_in, n_out), jnp.float32) / jnp.sqrt(n_in)


def init_teacher(key: jax.Array, cfg: ToyConfig) -> dict:
    """Teacher parameters (float32). Eager on purpose: compiling the random draws as one program costs
    more (about 10 s of XLA time) than running them op by op."""
    ks = iter(jax.random.split(key, 3 + 6 * cfg.layers))
    blocks = [{"wq": _dense(next(ks), cfg.d, cfg.d), "wk": _dense(next(ks), cfg.d, cfg.d), "wv": _dense(next(ks), cfg.d, cfg.d),
               "wo": _dense(next(ks), cfg.d, cfg.d) / jnp.sqrt(2.0 * cfg.layers), "w1": _dense(next(ks), cfg.d, cfg.d_ff),
               "w2": _dense(next(ks), cfg.d_ff, cfg.d) / jnp.sqrt(2.0 * cfg.layers),
               "n1": jnp.ones(cfg.d, jnp.float32), "n2": jnp.ones(cfg.d, jnp.float32)} for _ in range(cfg.layers)]
    return {"embed": 0.5 * jax.random.normal(next(ks), (cfg.vocab, cfg.d), jnp.float32),
            "pos": 0.5 * jax.random.normal(next(ks), (cfg.length, cfg.d), jnp.float32),
            "out": _dense(next(ks), cfg.d, cfg.vocab), "norm": jnp.ones(cfg.d, jnp.float32), "blocks": blocks}


def init_student(key: jax.Array, cfg: ToyConfig) -> dict:
    """Student parameters: Hedgehog weights ``feat_q, feat_k`` ``[L, H, d_h, d']`` (Kaiming-uniform),
    ``omega`` ``[L, H]`` ($\\omega_0$), and LoRA ``A`` (Kaiming-uniform) / ``B`` (zeros) per projection."""
    kq, kk, kl = jax.random.split(key, 3)
    L, H, r = cfg.layers, cfg.heads, cfg.lora_rank
    feat = lambda k: jax.vmap(lambda kk: hedgehog_init(kk, cfg.d_h, cfg.d_prime, jnp.float32))(jax.random.split(k, L * H)).reshape(L, H, cfg.d_h, cfg.d_prime)  # noqa: E731
    lora = {p: {"A": jax.random.uniform(k, (L, cfg.d, r), jnp.float32, -1, 1) / jnp.sqrt(cfg.d), "B": jnp.zeros((L, r, cfg.d), jnp.float32)}
            for p, k in zip("qkvo", jax.random.split(kl, 4))}
    return {"feat_q": feat(kq), "feat_k": feat(kk), "omega": jnp.full((L, H), cfg.omega0, jnp.float32), "lora": lora}


def _rms(x, g):
    return x * jax.lax.rsqrt(jnp.mean(x * x, -1, keepdims=True) + 1e-6) * g.reshape((1,) * (x.ndim - 1) + (-1,))


def _weight(block, student, cfg, l, p):
    w = block["w" + p]
    if student is None:
        return w
    ab = student["lora"][p]
    return w + (cfg.lora_alpha / cfg.lora_rank) * (ab["A"][l] @ ab["B"][l])


def causal_mask(T: int, ndim: int = 2) -> jax.Array:
    """The causal mask ``[1, .., 1, T, T]`` (``ndim`` axes, explicit ranks)."""
    return jnp.tril(jnp.ones((T, T), bool)).reshape((1,) * (ndim - 2) + (T, T))


def softmax_heads(q: jax.Array, k: jax.Array, v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Causal softmax per head: ``(y [..., T, d_h], a [..., T, T])`` for ``q, k, v`` ``[..., T, d_h]``."""
    T = q.shape[-2]
    s = (q @ jnp.swapaxes(k, -1, -2)) / jnp.sqrt(jnp.asarray(q.shape[-1], q.dtype))
    a = jax.nn.softmax(jnp.where(causal_mask(T, s.ndim), s, -jnp.inf), -1)
    return a @ v, a


def student_heads(q, k, v, fq_w, fk_w, gamma, cfg: ToyConfig, component: str = "hybrid"):
    """Hybrid (or one ablation) per head for ``q, k, v`` ``[B, H, T, d_h]``, feature weights
    ``[H, d_h, d']`` and ``gamma`` ``[H]``: ``(y [B, H, T, d_h], r [B, H, T])``. ``cfg`` is any object
    with ``window``, ``lam`` and ``sinks`` (a :class:`ToyConfig` or :class:`.convert.HybridSettings`)."""
    if component not in COMPONENTS:
        raise ValueError(f"component must be one of {COMPONENTS}, got {component!r}")
    fq = jax.vmap(hedgehog_features, (1, 0), 1)(q, fq_w)
    fk = jax.vmap(hedgehog_features, (1, 0), 1)(k, fk_w)
    scale = jnp.sqrt(jnp.asarray(q.shape[-1], q.dtype))

    def one(q, k, v, fq, fk, g):
        return _component((q @ k.T) / scale, fq @ fk.T, v, fq, fk, cfg.window, g, cfg.lam, component, cfg.sinks)

    return jax.vmap(jax.vmap(one, (0, 0, 0, 0, 0, 0)), (0, 0, 0, 0, 0, None))(q, k, v, fq, fk, gamma)


def _student_layer(q, k, v, student, l, g, cfg: ToyConfig, comp, la):
    """One student layer's heads: ``comp`` a component name (static) or an index into :data:`COMPONENTS`
    (traced; ``lax.switch``, so one compiled program serves every component); ``la`` (traced bool, SSD)
    runs LA-only instead (``lax.cond``: only the taken branch runs)."""
    fq_w, fk_w = student["feat_q"][l], student["feat_k"][l]
    branch = lambda c: lambda q, k, v: student_heads(q, k, v, fq_w, fk_w, g, cfg, c)  # noqa: E731
    if isinstance(comp, str):
        run = branch(comp)
    else:
        run = lambda q, k, v: jax.lax.switch(comp, [branch(c) for c in COMPONENTS], q, k, v)  # noqa: E731
    if la is None:
        return run(q, k, v)
    return jax.lax.cond(la, branch("la_full"), run, q, k, v)


def toy_forward(teacher: dict, tokens: jax.Array, cfg: ToyConfig, *, student: dict | None = None,
                components: Sequence[str] | jax.Array | None = None, ssd: jax.Array | None = None,
                gamma: float | jax.Array | None = None, collect: bool = False):
    r"""Logits ``[B, T, V]`` of the teacher (``student=None``) or of the student.

    ``components``: one per layer (default all ``hybrid``), names or an int array ``[L]`` of indices
    into :data:`COMPONENTS` (then traced: one compiled program for every ablation); ``ssd``: bool ``[L]``
    draws (LA-only where true; all false is the hybrid, all true LA-only); ``gamma``: a fixed $\gamma$
    instead of $\sigma(\omega)$, a scalar for every head (inference-time hybridisation, spec O8) or an
    array ``[L, H]``. With ``collect`` also returns per layer ``{"q","k","v","y","r"}``.
    """
    B, T = tokens.shape
    x = teacher["embed"][tokens] + (0.0 if cfg.rope else teacher["pos"][:T][None])
    comps = components if components is not None else ("hybrid",) * cfg.layers
    comps = tuple(comps) if not isinstance(comps, jax.Array) else comps
    aux = []
    for l, blk in enumerate(teacher["blocks"]):
        h = _rms(x, blk["n1"])
        split = lambda z: z.reshape(B, T, cfg.heads, cfg.d_h).transpose(0, 2, 1, 3)  # noqa: E731
        q, k, v = (split(h @ _weight(blk, student, cfg, l, p)) for p in "qkv")
        if cfg.rope:
            q, k = (rope(z.transpose(0, 2, 1, 3), jnp.arange(T), 10_000.0).transpose(0, 2, 1, 3) for z in (q, k))
        if student is None:
            y, r = softmax_heads(q, k, v)[0], jnp.zeros((B, cfg.heads, T), q.dtype)
        else:
            g = (jax.nn.sigmoid(student["omega"][l]) if gamma is None
                 else jnp.broadcast_to(jnp.asarray(gamma, q.dtype), (cfg.layers, cfg.heads))[l])
            y, r = _student_layer(q, k, v, student, l, g, cfg, comps[l], None if ssd is None else ssd[l])
        if collect:
            aux.append({"q": q, "k": k, "v": v, "y": y, "r": r})
        x = x + y.transpose(0, 2, 1, 3).reshape(B, T, cfg.d) @ _weight(blk, student, cfg, l, "o")
        x = x + jax.nn.gelu(_rms(x, blk["n2"]) @ blk["w1"]) @ blk["w2"]
    logits = _rms(x, teacher["norm"]) @ teacher["out"]
    return (logits, aux) if collect else logits


@functools.partial(jax.jit, static_argnames=("cfg",))
def student_outputs(teacher: dict, student: dict, tokens: jax.Array, components: jax.Array, gamma: jax.Array, *,
                    cfg: ToyConfig) -> tuple[jax.Array, jax.Array]:
    r"""``(logits [B, T, V], r [L, B, H, T])`` of the student with int ``components`` ``[L]`` (indices into
    :data:`COMPONENTS`) and ``gamma`` ``[L, H]`` (pass $\sigma(\omega)$ for the trained student): one
    compiled program for every ablation, fixed $\gamma$ and validation pass of a given shape."""
    logits, aux = toy_forward(teacher, tokens, cfg, student=student, components=components, gamma=gamma, collect=True)
    return logits, jnp.stack([a["r"] for a in aux])
