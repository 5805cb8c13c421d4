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


def ablation_masks(attribution, k: int, draws: int, shape: tuple[int, int], rng: np.random.Generator,
                   eligible=None) -> tuple[list, np.ndarray]:
    """Head masks ``[layers, heads]``: the top-``k`` eligible heads of ``attribution`` switched off, then
    ``draws`` distinct random ``k``-subsets of the *other* eligible heads (never a top head, so a random
    draw can never equal the top mask). ``eligible`` (bool, the shape of ``attribution``; default all)
    restricts both, e.g. to the layers above the steered one. Returns (masks, top flat indices).
    ``ValueError`` when fewer than ``draws`` distinct subsets exist."""
    from math import comb

    attr = np.asarray(attribution, np.float64)
    ok = np.ones(attr.shape, bool) if eligible is None else np.asarray(eligible, bool)
    if ok.shape != attr.shape:
        raise ValueError(f"eligible must have the shape of attribution {attr.shape}, got {ok.shape}")
    flat = np.flatnonzero(ok.ravel())
    if flat.size < 2 * k:
        raise ValueError(f"need at least 2k = {2 * k} eligible heads, got {flat.size}")
    top = flat[np.argsort(-attr.ravel()[flat], kind="stable")[:k]]
    rest = np.setdiff1d(flat, top)
    if comb(rest.size, k) < draws:
        raise ValueError(f"only {comb(rest.size, k)} distinct {k}-subsets of the {rest.size} non-top heads, need draws={draws}")
    seen, chosen = set(), []
    while len(chosen) < draws:
        pick = tuple(sorted(rng.choice(rest, k, replace=False).tolist()))
        if pick not in seen:
            seen.add(pick)
            chosen.append(np.asarray(pick))
    masks = []
    for heads in [top] + chosen:
        m = np.ones(shape, np.float32)
        m.reshape(-1)[heads] = 0.0
        masks.append(m)
    return masks, top
