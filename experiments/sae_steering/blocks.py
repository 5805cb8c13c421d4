"""Helpers shared by both tracks: fixed-size blocks of steering configurations and head-ablation masks."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from attnverify.attention.sae.steering import Steer, no_steer

__all__ = ["padded_blocks", "ablation_masks"]


def padded_blocks(steers: list[Steer], masks, d: int, shape: tuple[int, int], block: int):
    """Yield ``(stacked steers, masks)`` blocks of exactly ``block`` configurations, the last padded with
    identity edits and all-ones masks (so that one compiled program serves the whole sweep)."""
    n = len(steers)
    masks = np.ones((n,) + shape, np.float32) if masks is None else np.asarray(masks, np.float32)
    pad = -n % block
    steers = list(steers) + [no_steer(d)] * pad
    masks = np.concatenate([masks, np.ones((pad,) + shape, np.float32)])
    for i in range(0, len(steers), block):
        yield Steer(*(jnp.stack(xs) for xs in zip(*steers[i:i + block]))), jnp.asarray(masks[i:i + block])


def ablation_masks(attribution, k: int, draws: int, shape: tuple[int, int], rng: np.random.Generator) -> tuple[list, np.ndarray]:
    """Head masks ``[layers, heads]``: the top-``k`` heads of ``attribution [l, heads]`` (layers ``<= l``)
    switched off, then ``draws`` random ``k``-subsets of the same eligible heads. Returns (masks, top)."""
    attr = np.asarray(attribution)
    top = np.argsort(-attr.ravel())[:k]
    masks = []
    for chosen in [top] + [rng.choice(attr.size, k, replace=False) for _ in range(draws)]:
        m = np.ones(shape, np.float32)
        m.reshape(-1)[chosen] = 0.0
        masks.append(m)
    return masks, top
