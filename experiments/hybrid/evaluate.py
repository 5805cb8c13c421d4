r"""Component ablations, linear-mass fractions $r_n$ by distance bucket and $\gamma_h$ of a student.

Accuracy is the arg-max accuracy at the query positions of the short and the long set, with every layer
running one component (hybrid, SWA-only, LA-only, sinks-only, none; spec "component ablations").
$r_n$ is read at the query positions of the hybrid forward and averaged within fixed buckets of the
distance $\delta$ (spec pitfall "length effect": $r_n$ drifts with $n$, so it is compared within a
bucket, never pooled): $[0,w)$, $[w,L(w-1)]$, $(L(w-1),2L(w-1)]$, $(2L(w-1),T)$.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from attention.hybrid import RecallBatch, RecallConfig, ToyConfig, query_accuracy, toy_forward
from attention.hybrid.toy_model import COMPONENTS

__all__ = ["evaluate_student", "evaluate_teacher", "distance_buckets"]


def distance_buckets(task: RecallConfig) -> list[tuple[int, int]]:
    """Half-open distance buckets ``[lo, hi)`` around the window and the SWA reach $L(w-1)$."""
    w, reach, T = task.window, task.reach, task.length
    edges = sorted({0, w, reach + 1, min(2 * reach + 1, T), T})
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


@functools.partial(jax.jit, static_argnames=("cfg", "components", "collect"))
def _forward(teacher, student, tokens, cfg, components, gamma, collect):
    return toy_forward(teacher, tokens, cfg, student=student, components=components, gamma=gamma, collect=collect)


def evaluate_teacher(teacher: dict, cfg: ToyConfig, sets: dict[str, RecallBatch]) -> dict[str, float]:
    """The teacher's query accuracy on each set."""
    return {name: query_accuracy(np.asarray(_forward(teacher, None, jnp.asarray(b.tokens), cfg, None, None, False)), b.targets)
            for name, b in sets.items()}


def evaluate_student(teacher: dict, student: dict, task: RecallConfig, cfg: ToyConfig, sets: dict[str, RecallBatch], *,
                     gamma: float | None = None) -> dict[str, Any]:
    r"""``{"accuracy": {set: {component: acc}}, "r_buckets": {set: {layer: {bucket: mean r}}},
    "gamma": [L][H]}`` (with ``gamma`` fixed: inference-time hybridisation, spec O8)."""
    acc: dict[str, dict[str, float]] = {}
    r_out: dict[str, dict[str, dict[str, float | None]]] = {}
    g = None if gamma is None else jnp.asarray(gamma, jnp.float32)
    for name, b in sets.items():
        tok = jnp.asarray(b.tokens)
        acc[name] = {c: query_accuracy(np.asarray(_forward(teacher, student, tok, cfg, (c,) * cfg.layers, g, False)), b.targets)
                     for c in COMPONENTS}
        _, aux = _forward(teacher, student, tok, cfg, ("hybrid",) * cfg.layers, g, True)
        r_out[name] = {}
        for l, a in enumerate(aux):
            r = np.asarray(a["r"]).mean(axis=1)  # [B, T], mean over heads
            r_out[name][str(l)] = {f"[{lo},{hi})": (float(r[(b.distance >= lo) & (b.distance < hi)].mean())
                                                     if ((b.distance >= lo) & (b.distance < hi)).any() else None)
                                   for lo, hi in distance_buckets(task)}
    gam = np.full((cfg.layers, cfg.heads), gamma) if gamma is not None else np.asarray(jax.nn.sigmoid(student["omega"]))
    return {"accuracy": acc, "r_buckets": r_out, "gamma": gam.tolist()}
