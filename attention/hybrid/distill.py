r"""Training for the collapse toy (spec ``hybrid_linear.md`` §2 stages 1-2, SSD, C9, C10).

- :func:`train_teacher` -- the softmax teacher, next-token cross-entropy at the query positions.
- :func:`attention_transfer` -- stage 1: teacher frozen, only $\phi_q,\phi_k$ and $\omega$ train (AdamW,
  lr $10^{-2}$, no weight decay), on the teacher's own per-layer $q,k,v$ (its activations):
  ``"mse"`` $\mathcal L=1000\cdot\overline{\mathrm{MSE}}(y^{\rm hyb}_{\rm head},y^{\rm soft}_{\rm head})$ (LoLCATs)
  or ``"xent"`` $\mathcal L=-\frac1R\sum_{\rm rows}\sum_i a^{\rm soft}_{ni}\log\tilde a_{ni}$ with
  $\tilde a_{ni}=\kappa_{ni}/\sum_{i'\le n}\kappa_{ni'}$ (HedgeCATs weight transfer, ``la_full``).
- :func:`finetune_lora` -- stage 2: LoRA on $W_q,W_k,W_v,W_o$ only, next-token loss, in mode
  ``hybrid``, ``ssd`` (per (layer, step) $\xi\sim\mathrm{Bernoulli}(p(t))$, LA-only where $\xi=1$, no
  rescaling) or ``la_full`` (a linear-only student); optional early stopping on validation NLL
  (patience in evaluations).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from attnverify.proofs_numeric import progress

from .features import hedgehog_features, ssd_draws
from .recall_task import RecallConfig, recall_batch
from .toy_model import (COMPONENTS, ToyConfig, causal_mask, init_student, init_teacher, softmax_heads, student_heads,
                         student_outputs, toy_forward)

__all__ = ["TrainConfig", "train_teacher", "attention_transfer", "finetune_lora", "query_nll", "weight_transfer_loss"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Budgets and learning rates (stage 1: spec's AdamW 1e-2; stage 2 lr is a toy choice, see docs)."""

    batch: int = 64
    teacher_steps: int = 3000
    teacher_lr: float = 2e-3
    stage1_steps: int = 300
    stage1_lr: float = 1e-2
    stage2_steps: int = 300
    stage2_lr: float = 1e-3
    eval_every: int = 25
    patience: int = 3
    ssd_probabilities: tuple[float, ...] = (0.9, 0.75, 0.5)


def query_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean next-token cross-entropy over query positions (``targets >= 0``)."""
    mask = targets >= 0
    lp = jax.nn.log_softmax(logits.astype(jnp.float32), -1)
    nll = -jnp.take_along_axis(lp, jnp.maximum(targets, 0)[..., None], -1)[..., 0]
    return jnp.sum(jnp.where(mask, nll, 0.0)) / jnp.maximum(mask.sum(), 1)


@functools.lru_cache(maxsize=None)
def _optimizer(lr: float, weight_decay: float, schedule_steps: int) -> optax.GradientTransformation:
    """AdamW, cached so that compiled steps are reused across students (warm-up + cosine if ``schedule_steps``)."""
    if schedule_steps:
        lr = optax.warmup_cosine_decay_schedule(0.0, lr, min(200, schedule_steps // 10 + 1), schedule_steps)
    return optax.adamw(lr, weight_decay=weight_decay)


@functools.partial(jax.jit, static_argnames=("loss", "opt"))
def _step(params, state, consts, batch, *, loss, opt):
    val, g = jax.value_and_grad(loss)(params, consts, *batch)
    u, state = opt.update(g, state, params)
    return optax.apply_updates(params, u), state, val


def _fit(params: Any, consts: Any, loss: Callable, opt: optax.GradientTransformation, steps: int,
         batches: Callable[[int], tuple], desc: str, validate: Callable | None = None, every: int = 0,
         patience: int = 0, trace: Callable | None = None) -> tuple[Any, dict]:
    """Optimiser loop (``loss(params, consts, *batch)``) with optional early stopping (best validation
    value, ``patience`` evaluations without improvement)."""
    state = opt.init(params)
    hist: dict = {"loss": [], "trace": [], "validation": [], "stopped_at": steps}
    best, best_p, bad = np.inf, params, 0
    for t in progress(range(steps), desc=desc):
        params, state, val = _step(params, state, consts, batches(t), loss=loss, opt=opt)
        if t % max(1, steps // 50) == 0:
            hist["loss"].append((t, float(val)))
            if trace is not None:
                hist["trace"].append((t, trace(params)))
        if validate is not None and every and (t + 1) % every == 0:
            v = float(validate(params))
            hist["validation"].append((t + 1, v))
            if v < best:
                best, best_p, bad = v, params, 0
            else:
                bad += 1
                if patience and bad >= patience:
                    hist["stopped_at"] = t + 1
                    return best_p, hist
    if validate is not None and patience:
        return best_p, hist
    return params, hist


def _data(task: RecallConfig, batch: int, seed: int) -> Callable[[int], tuple]:
    rng = np.random.default_rng(seed)
    return lambda t: tuple(jnp.asarray(x) for x in recall_batch(rng, batch, task, "mixed")[:2])


def train_teacher(task: RecallConfig, cfg: ToyConfig, train: TrainConfig, seed: int = 0,
                  init: dict | None = None) -> tuple[dict, dict]:
    """The softmax teacher (AdamW, warm-up then cosine decay, weight decay 0.01), from ``init`` if given."""
    params = init if init is not None else init_teacher(jax.random.PRNGKey(seed), cfg)
    opt = _optimizer(train.teacher_lr, 0.01, train.teacher_steps)
    return _fit(params, (), _teacher_loss(cfg), opt, train.teacher_steps, _data(task, train.batch, seed), "teacher")


@functools.lru_cache(maxsize=None)
def _teacher_loss(cfg: ToyConfig) -> Callable:
    return lambda p, _consts, tok, tgt: query_nll(toy_forward(p, tok, cfg), tgt)


@functools.lru_cache(maxsize=None)
def _stage1_loss(cfg: ToyConfig) -> Callable:
    """Stage-1 loss ``(trainable, (teacher, xent), tokens, targets)`` on the teacher's own per-layer q, k, v;
    the objective is the traced bool ``xent`` (``lax.cond``), so both arms share one compiled step."""

    def loss(p, consts, tok, _tgt):
        teacher, xent = consts
        _, acts = toy_forward(teacher, tok, cfg, collect=True)
        total = 0.0
        for l, a in enumerate(acts):
            q, k, v, y_t = (jax.lax.stop_gradient(a[x]) for x in "qkvy")
            fq, fk, om = p["feat_q"][l], p["feat_k"][l], p["omega"][l]

            def mse(q, k, v, y_t, fq, fk, om):
                y, _ = student_heads(q, k, v, fq, fk, jax.nn.sigmoid(om), cfg)
                return 1000.0 * jnp.mean((y - y_t) ** 2)

            def wt(q, k, v, y_t, fq, fk, om):
                return weight_transfer_loss(q, k, fq, fk)

            total = total + jax.lax.cond(xent, wt, mse, q, k, v, y_t, fq, fk, om)
        return total / len(acts)

    return loss


def weight_transfer_loss(q: jax.Array, k: jax.Array, fq_w: jax.Array, fk_w: jax.Array) -> jax.Array:
    r"""Hedgehog weight transfer (``xent_target="la_full"``): $-\frac1R\sum_{\rm rows}\sum_i a^{\rm soft}_{ni}
    \log\tilde a_{ni}$, $\tilde a_{ni}=\kappa_{ni}/\sum_{i'\le n}\kappa_{ni'}$, for ``q, k`` ``[B, H, T, d_h]``
    (scores $q^\top k/\sqrt{d_h}$) and feature weights ``[H, d_h, d']``; the teacher rows carry no gradient."""
    att = jax.lax.stop_gradient(softmax_heads(q, k, k)[1])
    fq = jax.vmap(hedgehog_features, (1, 0), 1)(q, fq_w)
    fk = jax.vmap(hedgehog_features, (1, 0), 1)(k, fk_w)
    m = causal_mask(q.shape[-2], 4)
    kap = jnp.where(m, fq @ jnp.swapaxes(fk, -1, -2), 1.0)
    log_a = jnp.log(kap) - jnp.log(jnp.sum(jnp.where(m, kap, 0.0), -1, keepdims=True))
    return -jnp.mean(jnp.sum(att * log_a, -1))


def attention_transfer(teacher: dict, task: RecallConfig, cfg: ToyConfig, train: TrainConfig, *,
                       objective: Literal["mse", "xent"], seed: int) -> tuple[dict, dict]:
    """Stage 1. Returns ``(student, history)``; the history traces $\\gamma_h$ over training."""
    if objective not in ("mse", "xent"):
        raise ValueError(f"objective must be 'mse' or 'xent', got {objective!r}")
    student = init_student(jax.random.PRNGKey(10_000 + seed), cfg)
    trainable = {k: student[k] for k in ("feat_q", "feat_k", "omega")}
    trace = lambda p: np.asarray(jax.nn.sigmoid(p["omega"])).tolist()  # noqa: E731
    trained, hist = _fit(trainable, (teacher, np.bool_(objective == "xent")), _stage1_loss(cfg), _optimizer(train.stage1_lr, 0.0, 0),
                         train.stage1_steps, _data(task, train.batch, 20_000 + seed), f"stage 1 ({objective})", trace=trace)
    return {**student, **trained}, hist


@functools.lru_cache(maxsize=None)
def _stage2_loss(cfg: ToyConfig) -> Callable:
    """Stage-2 next-token loss ``(lora, (teacher, frozen student), tokens, targets, xi)``; LA-only in the
    layers where ``xi`` is true, the hybrid elsewhere, so one compiled step serves every mode (``hybrid``:
    ``xi`` all false, ``la_full``: all true, ``ssd``: the draws)."""

    def loss(lora, consts, tok, tgt, xi):
        teacher, frozen = consts
        return query_nll(toy_forward(teacher, tok, cfg, student={**frozen, "lora": lora}, ssd=xi), tgt)

    return loss


_nll = jax.jit(query_nll)


def finetune_lora(teacher: dict, student: dict, task: RecallConfig, cfg: ToyConfig, train: TrainConfig, *,
                  mode: Literal["hybrid", "ssd", "la_full"], seed: int, early_stopping: bool = False) -> tuple[dict, dict]:
    """Stage 2: LoRA only (features and $\\omega$ frozen), ``train.stage2_steps`` at most; validation NLL
    (the hybrid, or LA-only for ``la_full``) every ``train.eval_every`` steps."""
    if mode not in ("hybrid", "ssd", "la_full"):
        raise ValueError(f"mode must be 'hybrid', 'ssd' or 'la_full', got {mode!r}")
    frozen = {k: v for k, v in student.items() if k != "lora"}
    draws = ssd_draws(jax.random.PRNGKey(30_000 + seed), train.stage2_steps, cfg.layers, train.ssd_probabilities)
    xi = np.asarray(draws) if mode == "ssd" else np.full(draws.shape, mode == "la_full")
    data = _data(task, train.batch, 40_000 + seed)
    val_tok, val_tgt = (jnp.asarray(x) for x in recall_batch(np.random.default_rng(50_000 + seed), 4 * train.batch, task, "mixed")[:2])
    comps = jnp.full((cfg.layers,), COMPONENTS.index("la_full" if mode == "la_full" else "hybrid"), jnp.int32)
    gamma = jax.nn.sigmoid(frozen["omega"])
    validate = lambda lora: _nll(student_outputs(teacher, {**frozen, "lora": lora}, val_tok, comps, gamma, cfg=cfg)[0], val_tgt)  # noqa: E731
    lora, hist = _fit(student["lora"], (teacher, frozen), _stage2_loss(cfg), _optimizer(train.stage2_lr, 0.0, 0),
                      train.stage2_steps, lambda t: (*data(t), xi[t]), f"stage 2 ({mode})", validate=validate,
                      every=train.eval_every, patience=train.patience if early_stopping else 0)
    hist["ssd_draw_rate"] = float(np.asarray(draws).mean()) if mode == "ssd" else None
    return {**frozen, "lora": lora}, hist
