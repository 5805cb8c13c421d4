"""Shared timing helpers for the benchmark scripts (run as ``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np


def best_of(fn: Callable[[], Any], repeats: int, warmup: bool = True) -> float:
    """Best wall time in seconds of ``repeats`` calls of ``fn`` (results blocked on).

    With ``warmup`` one untimed call runs first, so JIT compilation is not timed. Best-of-N is
    the least noisy estimator on a shared machine.
    """
    if warmup:
        jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return min(times)


def alternating(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, Any]]:
    """Time every method once per repeat, the methods interleaved (the order rotates from repeat to
    repeat), after one untimed warm-up call each. Per method: wall and process-CPU seconds of every
    repeat, their medians, the spread ``(max - min) / median`` of the wall times, and
    ``cpu_over_wall`` (median CPU / median wall: the threads the method kept busy)."""
    for fn in fns.values():
        jax.block_until_ready(fn())
    names = list(fns)
    wall: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            c0, t0 = time.process_time(), time.perf_counter()
            jax.block_until_ready(fns[name]())
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    out = {}
    for k in names:
        w, c = np.array(wall[k]), np.array(cpu[k])
        med = float(np.median(w))
        out[k] = {"wall_s": w.tolist(), "cpu_s": c.tolist(), "median_s": med, "min_s": float(w.min()),
                  "spread": float((w.max() - w.min()) / med), "median_cpu_s": float(np.median(c)),
                  "cpu_over_wall": float(np.median(c) / med)}
    return out
