r"""Synthetic 2-D binary classification tasks, generated deterministically from a seed.

For the paper's experiments (``docs/papers/gating_curvature.md``); task names and sizes are **not** from the
paper, they are our documented choice. Every task draws points in roughly $[-1,1]^2$ (input scale 1).

Linear boundaries (controls):

* ``halfplane``: $x\sim U[-1,1]^2$, $y=[w^\top x+b>0]$ with $w$ a seeded random unit vector and
  $b\sim U[-0.2,0.2]$;
* ``halfplane_noisy``: the same with 10 % of the labels (train *and* test) flipped, so the Bayes
  accuracy is 0.9.

Nonlinear boundaries:

* ``circles``: $x$ uniform in the unit disk, $y=[\|x\|<1/\sqrt2]$ (balanced classes);
* ``xor``: $x\sim U[-1,1]^2$, $y=[x_1x_2>0]$;
* ``moons``: the two interleaved half circles (as ``sklearn.datasets.make_moons``), Gaussian
  noise 0.1, centred and divided by 1.25;
* ``spirals``: two interleaved Archimedean spirals of 1.25 turns, radius $\le1$, noise 0.03.

Example::

    data = make_task("xor", seed=0, n_train=256, n_test=512)
    data.x_train.shape, data.y_train.shape      # (256, 2), (256,)
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["TASKS", "LINEAR_TASKS", "NONLINEAR_TASKS", "TaskData", "make_task", "stack_tasks"]

LINEAR_TASKS = ("halfplane", "halfplane_noisy")
NONLINEAR_TASKS = ("circles", "xor", "moons", "spirals")
TASKS = LINEAR_TASKS + NONLINEAR_TASKS


@dataclasses.dataclass(frozen=True)
class TaskData:
    """Train/test split of one task: float32 points ``[N, 2]`` and int32 labels ``[N]`` in {0, 1}."""

    name: str
    seed: int
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def linear(self) -> bool:
        return self.name in LINEAR_TASKS


def _halfplane(rng: np.random.Generator, n: int, noise: float, w: np.ndarray, b: float) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-1, 1, (n, 2))
    y = (x @ w + b > 0).astype(np.int32)
    flip = rng.random(n) < noise
    return x, np.where(flip, 1 - y, y)


def _circles(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    r, t = np.sqrt(rng.random(n)), rng.uniform(0, 2 * np.pi, n)
    x = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    return x, (r < 1 / np.sqrt(2)).astype(np.int32)


def _xor(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-1, 1, (n, 2))
    return x, (x[:, 0] * x[:, 1] > 0).astype(np.int32)


def _moons(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 2, n).astype(np.int32)
    t = rng.uniform(0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    x = np.where(y[:, None] == 0, upper, lower) + 0.1 * rng.standard_normal((n, 2))
    return (x - np.array([0.5, 0.25])) / 1.25, y


def _spirals(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 2, n).astype(np.int32)
    s = np.sqrt(rng.random(n))  # uniform density along the radius
    t = 2 * np.pi * 1.25 * s + np.pi * y
    x = np.stack([s * np.cos(t), s * np.sin(t)], axis=1) + 0.03 * rng.standard_normal((n, 2))
    return x, y


def make_task(name: str, seed: int, n_train: int = 256, n_test: int = 1024) -> TaskData:
    """Draw task ``name`` (one of :data:`TASKS`) from ``seed``: the same seed gives the same data.

    Train and test points are independent draws from the same distribution (one generator, the
    test set drawn after the training set).
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {TASKS}")
    if n_train < 1 or n_test < 1:
        raise ValueError(f"n_train and n_test must be >= 1, got {n_train}, {n_test}")
    rng = np.random.default_rng([int(seed), TASKS.index(name)])
    if name.startswith("halfplane"):
        angle = rng.uniform(0, 2 * np.pi)  # one boundary for train and test
        w, b = np.array([np.cos(angle), np.sin(angle)]), float(rng.uniform(-0.2, 0.2))
        noise = 0.1 if name == "halfplane_noisy" else 0.0
        xa, ya = _halfplane(rng, n_train, noise, w, b)
        xb, yb = _halfplane(rng, n_test, noise, w, b)
    else:
        gen = {"circles": _circles, "xor": _xor, "moons": _moons, "spirals": _spirals}[name]
        xa, ya = gen(rng, n_train)
        xb, yb = gen(rng, n_test)
    f32 = np.float32
    return TaskData(name, int(seed), xa.astype(f32), ya, xb.astype(f32), yb)


def stack_tasks(data: list[TaskData]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stack runs for ``vmap``: ``(x_train [R,N,2], y_train [R,N], x_test [R,M,2], y_test [R,M])``."""
    return tuple(np.stack([getattr(d, f) for d in data]) for f in ("x_train", "y_train", "x_test", "y_test"))
