r"""Gating study, training half: the protocol (:class:`StudyConfig` and its presets) and paired training.

Spec ``gating_curvature`` §4; the protocol is documented in :mod:`.gating_study` (our choice, not the
paper's). All runs of one program are trained at once by ``jit(vmap(...))`` of Adam on cross-entropy
(float32); runs are *paired*: initial weights and minibatches depend on (depth, task, seed), never on
the gate.

Example::

    fit = fit_classifiers(quick_config(), depths=(1, 2), seed=0)
    fit["accuracy"]                     # [R] test accuracy per run
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from attnverify.attention.models.gated_classifier import GATES, ClassifierConfig, _logits, init_classifier

from .tasks import TASKS, make_task, stack_tasks

__all__ = ["StudyConfig", "quick_config", "full_config", "train_runs", "fit_classifiers", "hash_key"]


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """Protocol of one study (see :mod:`.gating_study`); ``quick_config``/``full_config`` are the presets."""

    tasks: tuple[str, ...] = TASKS
    gates: tuple[str, ...] = GATES
    depths: tuple[int, ...] = (1, 2, 3, 4)
    n_seeds: int = 5
    n_train: int = 256
    n_test: int = 1024
    steps: int = 300
    batch: int = 32
    lr: float = 3e-3
    n_probe: int = 24
    proxy_h: float = 1e-2
    proxy_dirs: int = 16
    width: int = 64
    seq_len: int = 8
    n_heads: int = 1
    fuse_depths: bool = False

    def __post_init__(self) -> None:
        if self.n_seeds < 2:
            raise ValueError(f"n_seeds must be >= 2 for paired statistics, got {self.n_seeds}")
        if not 0 < self.proxy_h < 1:
            raise ValueError(f"proxy_h must be in (0, 1), got {self.proxy_h}")
        if any(g not in GATES for g in self.gates) or "none" not in self.gates:
            raise ValueError(f"gates must be a subset of {GATES} containing 'none', got {self.gates}")

    def classifier(self, depth: int, gate: str = "switch") -> ClassifierConfig:
        return ClassifierConfig(gate=gate, depth=depth, width=self.width, seq_len=self.seq_len, n_heads=self.n_heads)


def quick_config() -> StudyConfig:
    """The reduced protocol of ``--quick``, of the test suite and of the claims in ``verify``."""
    return StudyConfig(
        tasks=("halfplane", "circles", "xor", "moons"), gates=("none", "elementwise"), depths=(1, 2),
        n_train=192, n_test=512, steps=80, batch=32, n_probe=6, proxy_dirs=8, fuse_depths=True,
    )


def full_config() -> StudyConfig:
    """The full protocol of ``attnverify experiment gating``."""
    return StudyConfig(steps=300, batch=32, n_probe=24)


def train_runs(params, batches, x_train, y_train, *, config: ClassifierConfig, lr: float):
    r"""Train ``R`` classifiers at once: ``vmap`` over runs of Adam on cross-entropy (``jit``-compiled).

    ``params`` (leading axis ``R``, e.g. from ``vmap(init_classifier)``), minibatch indices
    ``batches [R, steps, batch]``, ``x_train [R, N, 2]``, ``y_train [R, N]``. The program contains
    no random-number generation (indices are drawn outside), which keeps compilation short.
    Returns ``(params, losses [R, steps])``.
    """
    return _train_runs(params, batches, x_train, y_train, config=config, lr=lr)


@functools.partial(jax.jit, static_argnames=("config", "lr"))
def _train_runs(params, batches, x_train, y_train, *, config: ClassifierConfig, lr: float):
    opt = optax.adam(lr)

    def one(p0, idx_all, xtr, ytr):
        def loss(p, xb, yb):
            return optax.softmax_cross_entropy_with_integer_labels(_logits(p, xb, config), yb).mean()

        def step(carry, idx):
            p, s = carry
            val, grad = jax.value_and_grad(loss)(p, xtr[idx], ytr[idx])
            upd, s = opt.update(grad, s, p)
            return (optax.apply_updates(p, upd), s), val

        (p, _), losses = jax.lax.scan(step, (p0, opt.init(p0)), idx_all)
        return p, losses

    return jax.vmap(one)(params, batches, x_train, y_train)


@functools.partial(jax.jit, static_argnames=("config",))
def _accuracy(params, x, y, config):
    return jax.vmap(lambda p, a, b: jnp.mean(jnp.argmax(_logits(p, a, config), -1) == b))(params, x, y)


def fit_classifiers(cfg: StudyConfig, depths: tuple[int, ...], seed: int = 0, tasks: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Train every (depth, task, gate, seed) run for ``depths`` in one compiled program.

    The program is a ``"switch"`` model of depth ``max(depths)``; shallower runs switch their
    trailing layers off (:mod:`attention.models.gated_classifier`), so each run *is* the model of its own
    depth. Output dict: ``params`` (float32, leading axis ``R``), ``depth``, ``task``, ``gate``,
    ``seed`` (lists of length ``R``), ``data`` (:class:`TaskData` per run), ``accuracy [R]``,
    ``final_loss [R]`` (mean of the last 10 % of steps), ``classifier``.
    """
    tasks = cfg.tasks if tasks is None else tasks
    runs = [(D, t, g, s) for D in depths for t in tasks for g in cfg.gates for s in range(cfg.n_seeds)]
    data_by = {(t, s): make_task(t, 1000 * seed + s, cfg.n_train, cfg.n_test) for t in tasks for s in range(cfg.n_seeds)}
    data = [data_by[(t, s)] for _, t, _, s in runs]
    xtr, ytr, xte, yte = stack_tasks(data)
    # paired design: init and minibatches depend on (depth, task, seed), never on the gate
    pair = [hash_key(seed, D, TASKS.index(t), s) for D, t, _, s in runs]
    batches = np.stack([np.random.default_rng(k).integers(0, cfg.n_train, (cfg.steps, cfg.batch)) for k in pair]).astype(np.int32)
    ccfg = cfg.classifier(max(depths))
    inits = [init_classifier(k, ccfg, np.float32, GATES.index(g), D) for k, (D, _, g, _) in zip(pair, runs)]
    params0 = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *inits)
    params, losses = train_runs(params0, jnp.asarray(batches), jnp.asarray(xtr), jnp.asarray(ytr), config=ccfg, lr=cfg.lr)
    acc = _accuracy(params, jnp.asarray(xte), jnp.asarray(yte), ccfg)
    tail = max(1, cfg.steps // 10)
    return {
        "params": params, "depth": [r[0] for r in runs], "task": [r[1] for r in runs], "gate": [r[2] for r in runs],
        "seed": [r[3] for r in runs], "data": data, "accuracy": np.asarray(acc, np.float64),
        "final_loss": np.asarray(losses[:, -tail:].mean(1), np.float64), "classifier": ccfg,
    }


def hash_key(*ints: int) -> int:
    """A 31-bit integer seed from a tuple of integers (deterministic across processes)."""
    return int(np.random.SeedSequence([int(i) for i in ints]).generate_state(1)[0] & 0x7FFFFFFF)
