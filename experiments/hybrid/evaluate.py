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

from attnverify.attention.hybrid import RecallBatch, RecallConfig, ToyConfig, query_accuracy, toy_forward
from attnverify.attention.hybrid.toy_model import COMPONENTS, student_outputs

__all__ = ["evaluate_student", "evaluate_teacher", "distance_buckets"]


def distance_buckets(task: RecallConfig) -> list[tuple[int, int]]:
    """Half-open distance buckets ``[lo, hi)`` around the window and the SWA reach $L(w-1)$."""
    w, reach, T = task.window, task.reach, task.length
    edges = sorted({0, w, reach + 1, min(2 * reach + 1, T), T})
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


@functools.partial(jax.jit, static_argnames=("cfg",))
def _teacher_logits(teacher, tokens, cfg):
    return toy_forward(teacher, tokens, cfg)


def evaluate_teacher(teacher: dict, cfg: ToyConfig, sets: dict[str, RecallBatch]) -> dict[str, float]:
    """The teacher's query accuracy on each set."""
    return {name: query_accuracy(np.asarray(_teacher_logits(teacher, jnp.asarray(b.tokens), cfg)), b.targets)
            for name, b in sets.items()}


def evaluate_student(teacher: dict, student: dict, task: RecallConfig, cfg: ToyConfig, sets: dict[str, RecallBatch], *,
                     gamma: float | None = None) -> dict[str, Any]:
    r"""``{"accuracy": {set: {component: acc}}, "r_buckets": {set: {layer: {bucket: mean r}}},
    "gamma": [L][H]}`` (with ``gamma`` fixed: inference-time hybridisation, spec O8). Every ablation and
    $\gamma$ runs the same compiled program (:func:`attention.hybrid.toy_model.student_outputs`)."""
    acc: dict[str, dict[str, float]] = {}
    r_out: dict[str, dict[str, dict[str, float | None]]] = {}
    g = jax.nn.sigmoid(student["omega"]) if gamma is None else jnp.full((cfg.layers, cfg.heads), gamma, jnp.float32)
    run = lambda tok, c: student_outputs(teacher, student, tok, jnp.full((cfg.layers,), COMPONENTS.index(c), jnp.int32), g, cfg=cfg)  # noqa: E731
    for name, b in sets.items():
        tok = jnp.asarray(b.tokens)
        outs = {c: run(tok, c) for c in COMPONENTS}
        acc[name] = {c: query_accuracy(np.asarray(outs[c][0]), b.targets) for c in COMPONENTS}
        r_out[name] = {}
        for l, r_l in enumerate(np.asarray(outs["hybrid"][1])):
            r = r_l.mean(axis=1)  # [B, T], mean over heads
            r_out[name][str(l)] = {f"[{lo},{hi})": (float(r[(b.distance >= lo) & (b.distance < hi)].mean())
                                                     if ((b.distance >= lo) & (b.distance < hi)).any() else None)
                                   for lo, hi in distance_buckets(task)}
    gam = np.full((cfg.layers, cfg.heads), gamma) if gamma is not None else np.asarray(jax.nn.sigmoid(student["omega"]))
    return {"accuracy": acc, "r_buckets": r_out, "gamma": gam.tolist()}
