r"""Training the C9 character-level GPTs with optax AdamW: protocol, data order, step, loop.

One step minimises the next-character NLL $\mathcal L(\theta)$ (:func:`~attention.fal.gpt.gpt_nll`)
with decoupled weight decay (AdamW, Loshchilov & Hutter),

$$m\leftarrow\beta_1m+(1-\beta_1)g,\quad v\leftarrow\beta_2v+(1-\beta_2)g^2,\quad
\theta\leftarrow\theta-\eta_t\big(\hat m/(\sqrt{\hat v}+\epsilon)+\lambda\,\theta\,[\theta\text{ is a matrix}]\big),$$

$\eta_t$ linear warm-up then cosine decay to $\eta/10$; no gradient clipping (a global norm would
add a collective under tensor parallelism). :func:`make_train_step` builds the *whole* step
(forward, backward, optimiser) once; :mod:`attention.fal.tp_step` runs the same function inside
``shard_map``.

Pairing (C9): every variant sees the same batches and the same initialisation key per seed;
batch $s$ of seed $r$ draws its window starts from ``numpy.random.default_rng([data_seed, r, s])``.
Validation: ``n_val`` fixed windows of the validation split (the same for every run).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from attnverify.proofs_numeric.precision import check_int, check_real

from .corpus import CharCorpus
from .gpt import GPTConfig, _check_tokens, gpt_config, gpt_init, gpt_nll
from .model import check_config

__all__ = ["TrainProtocol", "FULL_PROTOCOL", "DECIDE_PROTOCOL", "QUICK_PROTOCOL", "make_optimizer", "make_train_step",
           "train_batch", "val_windows", "evaluate_nll", "train_seeds", "REDUCED_PROTOCOL", "CPU_DECIDE_PROTOCOL"]


@dataclasses.dataclass(frozen=True)
class TrainProtocol:
    """Model shape (the C9 GPT), steps, batch per seed (sequences of ``seq_len + 1`` characters),
    AdamW settings, seeds, evaluation. The defaults are the spec's C9 configuration."""

    n_blocks: int = 6
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512
    seq_len: int = 128
    steps: int = 600
    batch: int = 16
    lr: float = 2e-3
    warmup: int = 30
    weight_decay: float = 0.1
    b1: float = 0.9
    b2: float = 0.95
    seeds: tuple[int, ...] = (0, 1, 2)
    n_val: int = 128
    eval_every: int = 100
    data_seed: int = 14

    def __post_init__(self) -> None:
        for name in ("n_blocks", "d_model", "n_heads", "d_mlp", "seq_len", "steps", "batch", "warmup", "n_val",
                     "eval_every", "data_seed"):
            check_int(getattr(self, name), name)
        for name in ("lr", "weight_decay", "b1", "b2"):
            check_real(getattr(self, name), name)
        if not isinstance(self.seeds, tuple):
            raise TypeError(f"seeds must be a tuple of integers >= 0, got {self.seeds!r}")
        for s in self.seeds:
            check_int(s, "seeds", minimum=0)
        if min(self.n_blocks, self.d_model, self.n_heads, self.d_mlp, self.seq_len) < 1:
            raise ValueError(f"model sizes must be positive, got {self}")
        if min(self.steps, self.batch, self.n_val, self.eval_every) < 1 or self.warmup < 0 or not self.seeds:
            raise ValueError(f"protocol needs positive steps/batch/n_val/eval_every, warmup >= 0 and seeds, got {self}")
        if not (self.lr > 0 and self.weight_decay >= 0 and 0 <= self.b1 < 1 and 0 <= self.b2 < 1):
            raise ValueError(f"need lr > 0, weight_decay >= 0, 0 <= b1, b2 < 1, got {self}")


    def gpt(self, variant: str) -> GPTConfig:
        """The :class:`GPTConfig` of ``variant`` at this protocol's shape."""
        return gpt_config(variant, n_blocks=self.n_blocks, d_model=self.d_model, n_heads=self.n_heads,
                          d_mlp=self.d_mlp, seq_len=self.seq_len)


#: the spec's C9 shape (N = 6, d = 128, 4 heads, MLP 512, T = 128, AdamW, GPT-2 init, 3 seeds) at the
#: steps and batch that fit the issue's 25 min on 2 CPU cores for all five variants: 120 steps x 8
#: sequences per seed (the spec fixes no step count; measured about 2.2e3 tokens per CPU-second at
#: this shape, see benchmarks/bench_fal.py)
FULL_PROTOCOL = TrainProtocol(steps=120, batch=8, warmup=12, eval_every=40)
#: A C9 protocol that can decide (stated before any run). Target: every seed's baseline below the
#: add-one bigram count model on the same validation windows (2.455 nats/char; 2.506 on the whole validation
#: split), 10 seeds so that a paired sd of 0.05 nats/char gives a minimal detectable effect (80 % power) of
#: 0.05. 2000 steps x 16 sequences per seed (4.1 M characters), warm-up 100: about 205 M tokens for five
#: variants, some 26 CPU-hours at 2.2e3 tokens per CPU-second, so it runs on an accelerator
#: (experiments/fal/run_c9_on_device.sh)
DECIDE_PROTOCOL = TrainProtocol(steps=2000, batch=16, warmup=100, eval_every=250, seeds=tuple(range(10)))
#: A C9 protocol that can decide on 2 shared CPU cores (stated before its run; experiments/fal/c9.py, docs/fal.md).
#: The spec's depth and heads (N = 6, 4 heads) at a quarter of its width (d = 32, MLP 128) and half its context
#: (T = 64): the spec fixes the shape of its toy, not a budget, and the full shape cannot be trained past the
#: bigram on this machine. 8 seeds x 500 AdamW steps x 16 sequences of 65 characters (512 k characters per
#: seed), lr 3e-3 (warm-up 25, cosine to lr/10), validation on 256 fixed windows. Pilot (seeds 0-4, 64 windows,
#: baseline and FAL): every baseline seed below the bigram on the same windows from step 300 (mean 2.312 at step
#: 500 vs 2.409); paired sd of FAL - baseline 0.013 nats/char, so 8 seeds detect 0.015 with 80 % power (0.05 needs
#: a paired sd below 0.043); about 130 CPU s per variant for 5 seeds. Target: every compared variant's mean
#: validation NLL below the add-one bigram on the same windows.
CPU_DECIDE_PROTOCOL = TrainProtocol(d_model=32, d_mlp=128, seq_len=64, steps=500, batch=16, lr=3e-3, warmup=25,
                                    eval_every=100, n_val=256, seeds=tuple(range(8)))
#: what a heavily loaded 2-core machine finishes in minutes: the C9 depth and heads, a quarter of the width and context
REDUCED_PROTOCOL = TrainProtocol(d_model=32, d_mlp=128, seq_len=32, steps=300, batch=8, warmup=20, eval_every=50, n_val=96)
#: test-suite / notebook size
QUICK_PROTOCOL = TrainProtocol(n_blocks=2, d_model=32, n_heads=2, d_mlp=64, seq_len=32, steps=20, batch=4, warmup=4,
                               n_val=16, eval_every=10)


def make_optimizer(protocol: TrainProtocol) -> optax.GradientTransformation:
    """AdamW with warm-up + cosine schedule; weight decay on matrices (``ndim >= 2``) only."""
    if not isinstance(protocol, TrainProtocol):
        raise TypeError(f"protocol must be a TrainProtocol, got {type(protocol).__name__}")
    sched = optax.warmup_cosine_decay_schedule(0.0, protocol.lr, max(protocol.warmup, 1), max(protocol.steps, protocol.warmup + 2),
                                               end_value=protocol.lr / 10)
    return optax.adamw(sched, b1=protocol.b1, b2=protocol.b2, weight_decay=protocol.weight_decay,
                       mask=lambda p: jax.tree.map(lambda a: a.ndim >= 2, p))


def make_train_step(cfg: GPTConfig, opt: optax.GradientTransformation, axis_name: str | None = None) -> Callable:
    """``step(params, opt_state, batch) -> (params, opt_state, loss)``: forward, backward, AdamW.

    With ``axis_name`` the step is the per-device body of a tensor-parallel ``shard_map``."""
    check_config(cfg, GPTConfig, "cfg")
    if not hasattr(opt, "update") or not hasattr(opt, "init"):
        raise TypeError(f"opt must be an optax GradientTransformation (make_optimizer(protocol)), got {type(opt).__name__}")

    def step(params, opt_state, batch):
        loss, grads = jax.value_and_grad(gpt_nll)(params, batch, cfg, axis_name=axis_name)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def _windows(data: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    return data[starts[:, None] + np.arange(length)[None]].astype(np.int32)


def _check_seq_len(seq_len: Any, size: int, split: str) -> int:
    """A window length that leaves at least one start in the ``split`` of ``size`` characters."""
    if size < 3:
        raise ValueError(f"seq_len: the {split} split has only {size} characters, too few for a window")
    return check_int(seq_len, "seq_len", minimum=1, maximum=size - 2)


def train_batch(corpus: CharCorpus, protocol: TrainProtocol, seq_len: int, seed: int, step: int) -> np.ndarray:
    """Batch ``step`` of seed ``seed``: ``[batch, seq_len + 1]`` character ids (identical for every variant)."""
    seq_len = _check_seq_len(seq_len, corpus.train.size, "train")
    seed, step = check_int(seed, "seed", minimum=0), check_int(step, "step", minimum=0)
    rng = np.random.default_rng([protocol.data_seed, seed, step])
    return _windows(corpus.train, rng.integers(0, corpus.train.size - seq_len - 1, protocol.batch), seq_len + 1)


def val_windows(corpus: CharCorpus, protocol: TrainProtocol, seq_len: int) -> np.ndarray:
    """The ``n_val`` fixed validation windows ``[n_val, seq_len + 1]``."""
    seq_len = _check_seq_len(seq_len, corpus.val.size, "validation")
    rng = np.random.default_rng([protocol.data_seed, 2**31 - 1])
    return _windows(corpus.val, rng.integers(0, corpus.val.size - seq_len - 1, protocol.n_val), seq_len + 1)


_nll = jax.jit(jax.vmap(gpt_nll, in_axes=(0, None, None)), static_argnames=("cfg",))


def evaluate_nll(params: Any, windows: np.ndarray, cfg: GPTConfig, chunk: int = 32) -> np.ndarray:
    """Mean NLL (nats/char) over ``windows`` per seed: ``params`` carry a leading seed axis; returns ``[S]``."""
    chunk = check_int(chunk, "chunk", minimum=1)
    _check_tokens(jnp.asarray(np.asarray(windows)), cfg, "windows", extra=1)
    starts = range(0, len(windows), chunk)
    sizes = [min(chunk, len(windows) - i) for i in starts]
    losses = [np.asarray(_nll(params, jnp.asarray(windows[i:i + n]), cfg)) for i, n in zip(starts, sizes)]
    return np.average(np.stack(losses), axis=0, weights=sizes)


@functools.lru_cache(maxsize=8)
def _jitted_init(cfg: GPTConfig, dtype) -> Callable:
    return jax.jit(jax.vmap(lambda k: gpt_init(k, cfg, dtype)))


def init_seeds(cfg: GPTConfig, seeds: tuple[int, ...], dtype=jnp.float32) -> Any:
    r""":func:`gpt_init` for every seed (leading seed axis), bit-identical to calling it per variant.

    Compiling the random initialisation costs seconds, so it is compiled once per shape: the
    parameters of a FAL GPT (the superset: it has $\mathrm{LN}_A$) are drawn and pruned to
    ``cfg``'s structure. The draws do not depend on the variant (same key splits; LN parameters
    are constants), so e.g. the baseline gets exactly ``gpt_init(key, baseline cfg)``."""
    blocks = cfg.blocks
    superset = dataclasses.replace(cfg, blocks=dataclasses.replace(blocks, variant="fal", falplus="mlp_input", f_placement="auto",
                                                                   zero_first_attention=False))
    full = _jitted_init(superset, jnp.dtype(dtype))(jnp.stack([jax.random.PRNGKey(r) for r in seeds]))
    want = jax.eval_shape(lambda: gpt_init(jax.random.PRNGKey(0), cfg, dtype))
    stack = {k: v for k, v in full["stack"].items() if k in want["stack"]}
    if jax.tree.structure(want["stack"]) != jax.tree.structure(jax.tree.map(lambda a: a[0], stack)):
        return jax.jit(jax.vmap(lambda k: gpt_init(k, cfg, dtype)))(jnp.stack([jax.random.PRNGKey(r) for r in seeds]))
    return {**full, "stack": stack}


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def train_seeds(variant: str, protocol: TrainProtocol, corpus: CharCorpus, dtype=jnp.float32) -> dict[str, Any]:
    """Train ``variant`` for every seed of ``protocol`` at once (``vmap`` over seeds: one compilation).

    Returns ``params`` (leading seed axis), ``train_loss`` ``[steps, S]``, ``val_curve``
    (step, ``[S]`` NLL) every ``eval_every`` steps and at the end, ``val_nll`` ``[S]``,
    ``tokens_per_s`` (all seeds, steps after the first, i.e. without compilation, evaluation
    excluded), ``compile_s`` (the first step), and ``cpu_s`` / ``wall_s`` (process CPU and wall
    seconds of the whole call, compilation and evaluation included)."""
    cfg = protocol.gpt(variant)
    opt = make_optimizer(protocol)
    seeds = protocol.seeds
    params = init_seeds(cfg, seeds, dtype)
    opt_state = jax.jit(jax.vmap(opt.init))(params)
    step = jax.jit(jax.vmap(make_train_step(cfg, opt)), donate_argnums=(0, 1))
    val = val_windows(corpus, protocol, cfg.seq_len)
    losses, curve = [], []
    t_first = t0 = time.perf_counter()
    cpu0 = _cpu_s()
    compile_s = 0.0
    for s in range(protocol.steps):
        batch = np.stack([train_batch(corpus, protocol, cfg.seq_len, r, s) for r in seeds])
        params, opt_state, loss = step(params, opt_state, jnp.asarray(batch))
        losses.append(np.asarray(loss))
        if s == 0:
            t0 = time.perf_counter()
            compile_s = t0 - t_first
        if (s + 1) % protocol.eval_every == 0 or s + 1 == protocol.steps:
            t_eval = time.perf_counter()
            curve.append((s + 1, evaluate_nll(params, val, cfg)))
            t0 += time.perf_counter() - t_eval  # evaluation time does not count as training
    elapsed = time.perf_counter() - t0
    cpu_s = _cpu_s() - cpu0
    tokens = (protocol.steps - 1) * protocol.batch * cfg.seq_len * len(seeds)
    return {"params": params, "train_loss": np.stack(losses), "val_curve": curve, "val_nll": curve[-1][1],
            "tokens_per_s": tokens / elapsed if protocol.steps > 1 and elapsed > 0 else float("nan"), "compile_s": compile_s,
            "cpu_s": cpu_s, "wall_s": time.perf_counter() - t_first}
