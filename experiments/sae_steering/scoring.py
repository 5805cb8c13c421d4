r"""Judging a Gemma run (``format: cells-v2``) with the pre-registered success rule (:mod:`attnverify.attention.sae.success`).

Order, fixed before any steered text is read: (1) :func:`success_rule` calibrates $r^\ast,u^\ast$ on the
**unsteered** cell (all seeds and prompts; :func:`attention.sae.success.calibrate_degeneracy`);
(2) every cell is judged with it (:func:`judged`): per continuation ``success`` (label, not degenerate,
valid words, >= 32 characters), ``label_success`` (the paper's metric), and the parts; (3) the gate
texts are judged with the same rule (:func:`gate_table`). Nothing here runs the model.

A cell's ``wrong_target`` is the same texts judged for the *other* target's language: the
shuffled-label negative control (a zh steer should not make Spanish, and vice versa).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from attnverify.attention.sae.meaning import chrf
from attnverify.attention.sae.success import SuccessRule, calibrate_degeneracy, judge, language_label

__all__ = ["success_rule", "judged", "gate_table", "best_cell", "unsteered", "find", "per_prompt"]

_MEMO: dict[str, Any] = {}


def _key(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def unsteered(cells: list[dict]) -> dict:
    """The unsteered cell (target ``None``)."""
    return next(c for c in cells if c["target"] is None)


def success_rule(cells: list[dict]) -> SuccessRule:
    """$r^\\ast,u^\\ast$ from the unsteered cell's continuations (every seed and prompt)."""
    u = unsteered(cells)
    return calibrate_degeneracy([t for row in u["texts"] for t in row], [k for row in u["tokens"] for k in row])


def _judge_cell(c: dict, target: str, rule: SuccessRule, labels) -> dict[str, np.ndarray]:
    flat_t = [t for row in c["texts"] for t in row]
    flat_k = [k for row in c["tokens"] for k in row]
    j = judge(flat_t, flat_k, target, rule, labels=labels)
    shape = (len(c["texts"]), len(c["texts"][0]))
    return {k: np.asarray(v).reshape(shape) for k, v in j.items()}


def judged(res: dict[str, Any]) -> tuple[SuccessRule, list[dict]]:
    """``(rule, cells)``: each cell with ``judged[target]`` for its own target (the unsteered cell: for
    every target) and ``wrong[target]`` for the other targets (shuffled-label control); memoised by content."""
    key = _key([res.get("model_sha256"), res.get("settings"), [c.get("texts") for c in res["cells"]]])
    if key in _MEMO:
        return _MEMO[key]
    cells = [dict(c) for c in res["cells"]]
    rule = success_rule(cells)
    targets = list(res["targets"])
    for c in cells:
        labels = language_label([t for row in c["texts"] for t in row])
        own = targets if c["target"] is None else [c["target"]]
        c["judged"] = {t: _judge_cell(c, t, rule, labels) for t in own}
        c["wrong"] = {t: _judge_cell(c, t, rule, labels) for t in targets if t not in own}
        refs = res.get("references")
        if refs:
            c["chrf"] = {t: np.asarray([[chrf(x, refs[p][t]) for p, x in enumerate(row)] for row in c["texts"]]) for t in own}
    _MEMO[key] = (rule, cells)
    return rule, cells


def find(cells: list[dict], **kw) -> dict | None:
    """The first cell whose keys equal ``kw`` (``mask`` defaults to None), or None."""
    kw.setdefault("mask", None)
    return next((c for c in cells if all(c.get(k) == v for k, v in kw.items())), None)


def per_prompt(c: dict, target: str, what: str = "success", wrong: bool = False) -> np.ndarray:
    """Per-prompt mean over seeds of ``what`` (``success``, ``label_success``...) for ``target``."""
    return np.asarray((c["wrong"] if wrong else c["judged"])[target][what], np.float64).mean(0)


def best_cell(cells: list[dict], target: str, need_random: bool = False) -> dict:
    """The j* cell (no head mask, kappa > 0) of ``target`` with the highest success rate (ties: the
    first); ``need_random``: only among configurations whose rate-matched random cell was run. Cells
    not yet judged are judged with the rule calibrated on their unsteered cell."""
    if "judged" not in cells[0]:
        rule = success_rule(cells)
        for c in cells:
            if c["target"] == target and c["feature"] == "j*":
                c["judged"] = {target: _judge_cell(c, target, rule, None)}
    pool = [c for c in cells if c["target"] == target and c["feature"] == "j*" and c.get("mask") is None and c["kappa"] > 0
            and (not need_random or find(cells, target=target, layer=c["layer"], feature="random", kappa=c["kappa"]) is not None)]
    if not pool:
        raise ValueError(f"no j* cell with kappa > 0 for target {target!r}")
    return max(pool, key=lambda c: float(np.mean(c["judged"][target]["success"])))


def gate_table(res: dict[str, Any], rule: SuccessRule) -> dict[str, dict[str, dict]]:
    """Per target and gate set: ``k`` (recall: judged success; else judged *not* a success), ``n``, the
    plain-label figure ``plain_k`` and three examples with their labels."""
    out: dict[str, dict[str, dict]] = {}
    for t, sets in res["gate_sets"].items():
        out[t] = {}
        for name, s in sets.items():
            j = judge(s["texts"], s["tokens"], t, rule)
            hit = j["success"] if name in ("recall", "shuffled_label") else 1.0 - j["success"]
            plain = j["label_success"] if name in ("recall", "shuffled_label") else 1.0 - j["label_success"]
            out[t][name] = {"k": int(hit.sum()), "n": len(hit), "plain_k": int(plain.sum()),
                            "examples": [(x[:40], str(lab)) for x, lab in zip(s["texts"][:3], j["label"][:3])]}
    return out
