"""Seeded generators of random and adversarial instances, shared by claims and tests.

Logit instances of varying length are returned as one padded float64 matrix ``[count, n_max]``
whose padding is ``-inf`` (a masked key: probability 0, never kept, not counted in ``n``), plus
the per-row lengths. This keeps every check a single vectorised JAX call.
"""

from __future__ import annotations

import numpy as np

__all__ = ["random_logit_rows", "logit_row_batches", "sort_rows_desc", "adversarial_logit_rows", "pad_rows", "random_spd"]


def pad_rows(rows: list[np.ndarray], n_max: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stack 1-D rows into ``[len(rows), n_max]`` float64 padded with ``-inf``; returns ``(matrix, lengths)``."""
    n_max = n_max or max(len(r) for r in rows)
    out = np.full((len(rows), n_max), -np.inf)
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out, lengths


def random_logit_rows(
    rng: np.random.Generator,
    count: int,
    n_range: tuple[int, int] = (2, 300),
    sd_range: tuple[float, float] = (0.1, 4.0),
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` Gaussian logit rows, ``n ~ U[n_range]``, sd ``~ U[sd_range]``, random mean; ``-inf`` padded.

    Rows are in random (unsorted) order, as real attention logits are.
    """
    lo, hi = n_range
    n = rng.integers(lo, hi + 1, size=count)
    sd = rng.uniform(*sd_range, size=count)
    mu = rng.normal(0.0, 3.0, size=count)
    x = rng.standard_normal((count, hi)) * sd[:, None] + mu[:, None]
    x[np.arange(hi)[None, :] >= n[:, None]] = -np.inf
    # shuffle the -inf padding into random positions for a fraction of rows (masks anywhere)
    mix = rng.random(count) < 0.25
    if mix.any():
        x[mix] = rng.permuted(x[mix], axis=1)
    return x, n


def logit_row_batches(
    rng: np.random.Generator,
    count: int,
    n_range: tuple[int, int] = (2, 300),
    sd_range: tuple[float, float] = (0.1, 4.0),
    n_buckets: int = 4,
    max_rows: int = 25000,
):
    """Yield ``(x, n)`` chunks of :func:`random_logit_rows` totalling ``count`` rows, ``n ~ U[n_range]``.

    The length range is cut into ``n_buckets`` sub-ranges (rows in proportion to their width,
    deterministic counts), each padded only to its own maximum, and chunks hold at most ``max_rows``
    rows: large vectorised checks waste little work on ``-inf`` padding, stay within memory, and
    reuse the same few array shapes (so JAX compiles each operation once).
    """
    lo, hi = n_range
    edges = np.unique(np.linspace(lo, hi + 1, n_buckets + 1).astype(int))
    widths = np.diff(edges)
    counts = np.full(len(widths), -(-count // len(widths)))  # equal-width buckets, equal counts
    for (a, b), c in zip(zip(edges[:-1], edges[1:] - 1), counts):
        for start in range(0, int(c), max_rows):
            yield random_logit_rows(rng, min(max_rows, int(c) - start), (int(a), int(b)), sd_range)


def sort_rows_desc(x: np.ndarray) -> np.ndarray:
    """Rows sorted descending with ``-inf`` padding last (numpy; stable, lower index first among ties)."""
    order = np.argsort(-x, axis=-1, kind="stable")
    return np.take_along_axis(x, order, axis=-1)


def adversarial_logit_rows(rng: np.random.Generator, n_max: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Hand-built hard cases: ties, ``n = 1, 2``, logits of ``+-1e4``, masked ``-inf``, two-level
    rows (where gap bounds are tight), cancellation (``(0, -40, -40)``), underflow (gaps > 745),
    and constant rows. Returned padded with ``-inf`` like :func:`random_logit_rows`.
    """
    rows: list[np.ndarray] = [
        np.zeros(1),
        np.array([5.0]),
        np.zeros(2),
        np.array([1.0, -1.0]),
        np.array([1e4, -1e4]),
        np.array([-1e4, -1e4 + 1e-3]),
        np.array([1e4, 1e4, 1e4 - 1.0]),
        np.zeros(10),
        np.array([3.0, 3.0, 1.0, 1.0, 1.0]),
        np.array([2.0, 1.0, 0.0, -1.0]),
        np.array([2.0, 2.0, 0.0, 0.0, 0.0]),
        np.array([0.0, -40.0, -40.0]),
        np.array([0.0, -800.0, -800.0, -1e4]),
        np.array([0.0, -np.inf, 1.0, -np.inf, 1.0]),
        np.array([-np.inf, 7.0]),
        np.full(n_max, 0.5),
        np.concatenate([np.full(n_max // 2, 2.0), np.full(n_max // 2, -2.0)]),
        np.linspace(1e4, -1e4, n_max),
        np.round(rng.normal(0, 2, n_max)),  # many ties
        np.repeat(rng.normal(0, 3, n_max // 4), 4),  # every value four times
    ]
    for _ in range(12):  # random two-level rows: equality cases of the gap bounds
        n = int(rng.integers(2, n_max + 1))
        k = int(rng.integers(1, n))
        hi, lo = rng.normal(0, 3), None
        lo = hi - rng.exponential(3)
        rows.append(rng.permutation(np.concatenate([np.full(k, hi), np.full(n - k, lo)])))
    for _ in range(12):  # huge ranges with masks
        n = int(rng.integers(2, n_max + 1))
        r = rng.uniform(-1e4, 1e4, n)
        r[rng.random(n) < 0.2] = -np.inf
        r[int(rng.integers(n))] = rng.uniform(-1e4, 1e4)  # at least one finite entry
        rows.append(r)
    return pad_rows(rows, n_max)


def random_spd(rng: np.random.Generator, d: int, cond: float = 10.0) -> np.ndarray:
    """A random symmetric positive-definite ``d x d`` matrix with condition number ``cond``."""
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    eig = np.geomspace(1.0, cond, d)
    return (q * eig) @ q.T
