"""Instance plumbing shared by the ``topk.*`` claim checks (not public).

Random rows come from :func:`proofs_numeric.instances.logit_row_batches` (``n ~ U[2, 300]``, logit
sd ``~ U[0.1, 4]``, masks anywhere) and are pre-sorted with numpy (XLA's CPU sort is ~10x slower),
so the library functions run with ``assume_sorted=True``; adversarial rows (ties, ``n = 1, 2``,
``+-1e4``, masked ``-inf``) go through the unsorted path for every admissible ``k``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np

from attnverify.proofs_numeric import Context
from attnverify.proofs_numeric.instances import adversarial_logit_rows, logit_row_batches, sort_rows_desc

FULL = 100_000  # random instances per claim at scale 1


@functools.lru_cache(maxsize=2)
def _shared_rows(seed: int, count: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The random sorted rows shared by the ``topk.*`` logit claims (seeded by ``seed`` only, so a
    claim's instances never depend on which other claims ran; generated and sorted once)."""
    rng = Context(seed=seed, claim_id="topk.shared_rows").rng
    buckets = 2 if count >= 20_000 else 1  # small runs (tests): one shape, one compilation per function
    return tuple((sort_rows_desc(x), n) for x, n in logit_row_batches(rng, count, n_buckets=buckets, max_rows=50_000))


def sorted_batches(ctx: Context, full: int = FULL, n_range: tuple[int, int] = (2, 300),
                   k_max_offset: int = 1, rng: np.random.Generator | None = None
                   ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(x_sorted, n, k)`` with ``k ~ U[1, n - k_max_offset]`` (at least 1), ``k`` drawn from
    the claim's own generator; rows are the shared ones for the default ``full`` and ``n_range``."""
    rng = ctx.rng if rng is None else rng
    if full == FULL and n_range == (2, 300):
        batches = _shared_rows(ctx.seed, ctx.count(full))
    else:
        batches = tuple((sort_rows_desc(x), n) for x, n in logit_row_batches(rng, ctx.count(full), n_range))
    for x, n in batches:
        hi = np.maximum(n - k_max_offset, 1)
        k = 1 + np.floor(rng.random(len(n)) * hi).astype(np.int64)
        yield x, n, k


def adversarial_all_k(ctx: Context, k_max_offset: int = 1, n_max: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Adversarial rows (unsorted) repeated once per ``k`` in ``[1, n - k_max_offset]`` (at least ``k = 1``)."""
    x, _ = adversarial_logit_rows(ctx.rng, n_max)
    n = np.isfinite(x).sum(1)
    rows, ks = [], []
    for i in range(len(n)):
        for k in range(1, max(int(n[i]) - k_max_offset, 1) + 1):
            rows.append(i)
            ks.append(k)
    return x[np.array(rows)], np.array(ks, dtype=np.int64)


def rel_above_one(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a - b| / max(|b|, 1)``: absolute below 1, relative above (for quantities from 0 to ~1e4)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b) / np.maximum(np.abs(b), 1.0)


def rel(a: np.ndarray, b: np.ndarray, floor: float = 1e-300) -> np.ndarray:
    """``|a - b| / max(|b|, floor)`` elementwise."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b) / np.maximum(np.abs(b), floor)


def violation(lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Relative violation of ``lhs <= rhs``: ``max(0, lhs - rhs) / max(|rhs|, 1e-300)``."""
    lhs, rhs = np.asarray(lhs, np.float64), np.asarray(rhs, np.float64)
    return np.maximum(lhs - rhs, 0.0) / np.maximum(np.abs(rhs), 1e-300)
