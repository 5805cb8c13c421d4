r"""The schema of a ``verify --json`` report: every field the verdict page and the forest plot read.

A saved report is user input (``attnverify verify --from-json PATH``, ``plot verdicts --from-json PATH``),
so it is checked field by field before anything is drawn or any directory is made. The schema is a walk
over nested specifications: each field of the report, of a claim record, of its decision, and of each of
the decision's parts and controls has a *kind*:

- ``str``, ``int``, ``bool``: that JSON type (``true`` is not an integer);
- ``num``: a JSON number that is a float64 (an integer $|x| \le$ ``sys.float_info.max``; ``1e309`` written
  as an integer is not), or NaN/$\pm\infty$: the literals ``NaN``/``Infinity`` or the strings ``"nan"``,
  ``"inf"``, ``"-inf"`` that ``verify --json`` writes (strict JSON has no non-finite number);
- ``level``: a finite ``num`` in $(0, 1)$;
- ``ci``: a pair ``[lo, hi]`` of ``num``;
- ``strs``: a list of strings; ``json``: any JSON value (shown verbatim);
- a nested specification (a decision, an effect record) or a mapping of them (``parts``).

:func:`report_json_problem` returns the first malformed field by its path (``claims[3].decision.ci[1]``),
or ``None``. A new field the page reads is added here, so that it cannot slip past the check.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any

from .report import VERDICT_ORDER

__all__ = ["NON_FINITE", "REPORT", "CLAIM", "DECISION", "EFFECT", "VERDICTS", "report_json_problem", "is_effect"]

#: how ``verify --json`` writes a non-finite number (strict JSON has none)
NON_FINITE = ("nan", "inf", "-inf")
#: the verdicts a report may hold
VERDICTS = VERDICT_ORDER

#: field -> (kind, presence); presence ``"req"``: required, not null; ``"opt"``: may be absent, never null;
#: ``"null"``: may be absent or null (what ``verify --json`` writes as null, and the page reads with a fallback)
Spec = dict[str, tuple[Any, str]]

#: a decision-like record: a part of a decision, or a negative control
EFFECT: Spec = {"effect": ("str", "req"), "estimate": ("num", "req"), "ci": ("ci", "req"), "outcome": ("str", "null"),
                "n_units": ("int", "null"), "units": ("str", "null"), "passes": ("bool", "null"),
                "can_pass": ("bool", "null"), "boundary": ("num", "null"), "rule": ("str", "null")}
#: a claim's empirical decision (:class:`~proofs_numeric.Decision` ``to_dict()``)
DECISION: Spec = {"effect": ("str", "req"), "estimate": ("num", "req"), "ci": ("ci", "req"), "rule": ("str", "req"),
                  "boundary": ("num", "req"), "method": ("str", "req"), "units": ("str", "req"), "n_units": ("int", "req"),
                  "level": ("level", "opt"), "p_value": ("num", "null"), "test": ("str", "opt"),
                  "parts": (("map", EFFECT), "null"), "paper_figure": ("str", "null"), "paper_setting": ("str", "null"),
                  "our_setting": ("str", "null"), "measure": ("str", "null"), "outcome": ("str", "opt"),
                  "direction": ("json", "null"), "mde": ("json", "null"),
                  "detectable_effect": ("json", "null"), "minimal_detectable_effect": ("json", "null"),
                  "controls": ("controls", "null"), "control": ("controls", "null"),
                  "negative_control": ("controls", "null"), "placebo": ("controls", "null")}
#: one claim record
CLAIM: Spec = {"id": ("str", "req"), "verdict": ("verdict", "req"), "paper": ("str", "req"), "equation": ("str", "req"),
               "statement": ("str", "req"), "provenance": ("str", "req"), "decision": (DECISION, "null"),
               "details": ("dict", "null"), "worst_error": ("num", "null"), "tolerance": ("num", "opt"),
               "n_random": ("int", "opt"), "n_adversarial": ("int", "opt"), "depends_on": ("strs", "null"),
               "corrected_by": ("str", "null"), "notes": ("str", "null"), "message": ("str", "null"),
               "symbolic": ("str", "opt"), "error_kind": ("str", "opt"), "empirical": ("bool", "null"),
               "evidence": ("json", "null"), "counterexample": ("json", "null")}
#: the report itself
REPORT: Spec = {"claims": (("list", CLAIM), "req"), "environment": ("dict", "null"), "seconds": ("num", "null"),
                "seed": ("int", "null"), "scale": ("num", "null"), "started": ("str", "null"), "only": ("str", "null")}


def _is_num(x: Any) -> bool:
    if isinstance(x, bool):
        return False
    if isinstance(x, int):
        return abs(x) <= sys.float_info.max
    return isinstance(x, float) or (isinstance(x, str) and x in NON_FINITE)


def is_effect(x: Any) -> bool:
    """``x`` is an effect record (:data:`EFFECT`: effect, estimate and interval, each of its kind)."""
    return isinstance(x, Mapping) and _spec_problem("", x, EFFECT) is None


def _controls_problem(where: str, x: Any) -> str | None:
    """A control is any JSON value (shown verbatim), or a mapping of effect records, which are then checked."""
    if isinstance(x, Mapping) and x and all(isinstance(v, Mapping) and "effect" in v for v in x.values()):
        return _kind_problem(where, x, ("map", EFFECT))
    return None


def _kind_problem(where: str, x: Any, kind: Any) -> str | None:
    if isinstance(kind, dict):
        return _spec_problem(where, x, kind)
    if isinstance(kind, tuple):  # ("list", spec) or ("map", spec)
        container, spec = kind
        if container == "list":
            if not isinstance(x, list):
                return f"{where} must be a list, got {type(x).__name__}"
            return next((p for i, v in enumerate(x) if (p := _kind_problem(f"{where}[{i}]", v, spec))), None)
        if not isinstance(x, Mapping):
            return f"{where} must be an object, got {type(x).__name__}"
        return next((p for k, v in x.items() if (p := _kind_problem(f"{where}[{k!r}]", v, spec))), None)
    simple = {"str": str, "int": int, "bool": bool, "dict": Mapping}
    if kind in simple:
        ok = isinstance(x, simple[kind]) and not (kind == "int" and isinstance(x, bool))
        return None if ok else f"{where} must be {'an object' if kind == 'dict' else kind}, got {type(x).__name__}"
    if kind == "num":
        return None if _is_num(x) else (f"{where} must be a number (or \"nan\", \"inf\", \"-inf\") within the float "
                                        f"range, got {_show(x)}")
    if kind == "level":
        ok = _is_num(x) and math.isfinite(float(x)) and 0 < float(x) < 1
        return None if ok else f"{where} must be a finite number in (0, 1), got {_show(x)}"
    if kind == "ci":
        if not isinstance(x, list) or len(x) != 2:
            return f"{where} must be a pair of numbers [lo, hi], got {_show(x)}"
        return next((p for i, v in enumerate(x) if (p := _kind_problem(f"{where}[{i}]", v, "num"))), None)
    if kind == "strs":
        if not isinstance(x, list):
            return f"{where} must be a list of strings, got {type(x).__name__}"
        return next((f"{where}[{i}] must be str, got {type(v).__name__}" for i, v in enumerate(x) if not isinstance(v, str)), None)
    if kind == "verdict":
        return None if x in VERDICTS else f"{where} must be one of {', '.join(VERDICTS)}, got {_show(x)}"
    if kind == "controls":
        return _controls_problem(where, x)
    return None  # "json": any value


def _show(x: Any) -> str:
    text = repr(x) if not isinstance(x, int) or abs(x) < 10**20 else f"an integer of {len(str(abs(x)))} digits"
    return text if len(text) <= 60 else text[:57] + "..."


def _spec_problem(where: str, x: Any, spec: Spec) -> str | None:
    if not isinstance(x, Mapping):
        return f"{where or 'the report'} must be an object, got {type(x).__name__}"
    dot = f"{where}." if where else ""
    for key, (kind, presence) in spec.items():
        if key not in x and presence != "req" or x.get(key) is None and presence == "null":
            continue
        if key not in x:
            return f"{dot}{key} is missing"
        if x[key] is None:
            return f"{dot}{key} must not be null"
        if p := _kind_problem(f"{dot}{key}", x[key], kind):
            return p
    return None


def report_json_problem(data: Any) -> str | None:
    """The first malformed field of a ``verify --json`` dictionary, named by its path
    (``claims[3].decision.ci[1]``), or ``None`` when every field the page and the plot read has its kind.
    Beyond the types: claim ids are unique, and a claim with ``worst_error`` and no decision records its
    ``tolerance``, ``n_random`` and ``n_adversarial``."""
    if p := _spec_problem("", data, REPORT):
        return p
    seen: dict[str, int] = {}
    for i, c in enumerate(data["claims"]):
        if c["id"] in seen:
            return f"claims[{i}].id {c['id']!r} repeats claims[{seen[c['id']]}].id"
        seen[c["id"]] = i
        if not c.get("decision") and c.get("worst_error") is not None:
            for key in ("tolerance", "n_random", "n_adversarial"):
                if c.get(key) is None:
                    return f"claims[{i}].{key} is missing (the claim records a worst_error)"
    return None
