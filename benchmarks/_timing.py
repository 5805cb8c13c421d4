"""Shared timing helper for the benchmark scripts (run as ``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax


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
