r"""Multi-query associative recall (MQAR) with a short and a long set (spec ``hybrid_linear.md`` C9, O9).

A sequence of length $T$ holds $K$ key→value pairs (key tokens $[0,n_k)$, value tokens $[n_k,n_k+n_v)$,
filler tokens after that), then, after a gap of $G$ filler tokens, $K$ queries: each query is a key,
and the target at its position is that key's value. With $P$ leading filler tokens the pairs sit at
$P+2i,\,P+2i+1$ and the queries at $Q_0+j$, $Q_0=P+2K+G$. The *distance* of a query is
$\delta=\text{query position}-\text{value position}$ (spec: value token → query).

- **short set**: $G=0$, queries in pair order, so $\delta_j=2K-1-j\in[K,2K-1]$; with $K\le w/2$ every
  $\delta<w$ (inside one sliding window).
- **long set**: queries in random order and $G\ge L(w-1)$, so $\delta\ge G+1>L(w-1)$: beyond the reach
  of $L$ layers of sliding-window attention alone, whose output at $n$ depends on positions
  $\ge n-L(w-1)$ only [derived]; SWA-only is then at chance $1/n_v$ by construction.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, NamedTuple

import numpy as np

__all__ = ["RecallConfig", "RecallBatch", "recall_batch", "query_accuracy"]

RecallSet = Literal["short", "long", "mixed"]


@dataclasses.dataclass(frozen=True)
class RecallConfig:
    """The MQAR task and the window it is built around (defaults: spec O9 and the C9 toy)."""

    n_pairs: int = 8  #: K
    n_keys: int = 64
    n_values: int = 64
    n_filler: int = 16
    length: int = 128  #: T
    window: int = 16  #: w of the student's sliding window
    layers: int = 2  #: L; the long set needs delta > L (w - 1)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            x = getattr(self, f.name)
            if isinstance(x, bool) or not isinstance(x, int) or x < 1:
                raise ValueError(f"RecallConfig.{f.name} must be an integer >= 1, got {x!r}")
        if 2 * self.n_pairs > self.window:
            raise ValueError(f"short-set distances 2K-1 must stay below the window: n_pairs={self.n_pairs}, window={self.window}")
        if self.n_pairs > self.n_keys:
            raise ValueError(f"n_pairs={self.n_pairs} needs at least as many key tokens (n_keys={self.n_keys})")
        if 3 * self.n_pairs + self.reach > self.length:
            raise ValueError(f"length={self.length} cannot hold a long-set sequence (needs >= {3 * self.n_pairs + self.reach})")

    @property
    def reach(self) -> int:
        r"""$L(w-1)$: how far back $L$ layers of window attention can see; the long set's minimum gap."""
        return self.layers * (self.window - 1)

    @property
    def vocab(self) -> int:
        return self.n_keys + self.n_values + self.n_filler

    @property
    def chance(self) -> float:
        return 1.0 / self.n_values


class RecallBatch(NamedTuple):
    """``tokens`` ``[B, T]`` int32; ``targets`` ``[B, T]`` (the value at query positions, -1 elsewhere);
    ``distance`` ``[B, T]`` ($\\delta$ at query positions, -1 elsewhere)."""

    tokens: np.ndarray
    targets: np.ndarray
    distance: np.ndarray


def recall_batch(rng: np.random.Generator, batch: int, cfg: RecallConfig, kind: RecallSet = "mixed") -> RecallBatch:
    """``batch`` sequences of the ``short`` or ``long`` set, or a 50/50 ``mixed`` draw of both."""
    if kind not in ("short", "long", "mixed"):
        raise ValueError(f"kind must be 'short', 'long' or 'mixed', got {kind!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    if isinstance(batch, bool) or int(batch) != batch or batch < 1:
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    K, T = cfg.n_pairs, cfg.length
    tokens = rng.integers(cfg.n_keys + cfg.n_values, cfg.vocab, (batch, T))
    targets = np.full((batch, T), -1)
    distance = np.full((batch, T), -1)
    long = np.full(batch, kind == "long") if kind != "mixed" else rng.random(batch) < 0.5
    rows = np.arange(batch)[:, None]
    gap = np.zeros(batch, int)
    free = T - 3 * K
    lead = np.zeros(batch, int)
    for b in range(batch):
        if long[b]:
            gap[b] = rng.integers(cfg.reach, free + 1)
        lead[b] = rng.integers(0, free - gap[b] + 1)
    keys = np.stack([rng.choice(cfg.n_keys, K, replace=False) for _ in range(batch)])
    values = cfg.n_keys + rng.integers(0, cfg.n_values, (batch, K))
    pair = lead[:, None] + 2 * np.arange(K)[None, :]
    tokens[rows, pair], tokens[rows, pair + 1] = keys, values
    order = np.where(long[:, None], np.argsort(rng.random((batch, K)), axis=1), np.arange(K)[None, :])
    qpos = (lead + 2 * K + gap)[:, None] + np.arange(K)[None, :]
    tokens[rows, qpos] = np.take_along_axis(keys, order, 1)
    targets[rows, qpos] = np.take_along_axis(values, order, 1)
    distance[rows, qpos] = qpos - np.take_along_axis(pair + 1, order, 1)
    return RecallBatch(tokens.astype(np.int32), targets.astype(np.int32), distance.astype(np.int32))


def query_accuracy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of query positions (``targets >= 0``) whose arg-max prediction is the target."""
    logits, targets = np.asarray(logits), np.asarray(targets)
    if logits.ndim < 1 or logits.shape[:-1] != targets.shape:
        raise ValueError(f"targets must have shape logits.shape[:-1] = {logits.shape[:-1]}, got {targets.shape}")
    mask = targets >= 0
    if not mask.any():
        raise ValueError("targets has no query position (all entries < 0)")
    return float((np.argmax(logits, -1) == targets)[mask].mean())
