r"""All-reduces that a program *executes*: counted through its call graph, loops multiplied out.

A textual count of ``stablehlo.all_reduce`` ops sees each function body once, so an all-reduce
inside a function called twice counts 1 and one inside a loop of $K$ trips counts 1 (issue 22). Two
counts that follow execution instead:

* :func:`jaxpr_allreduces` (primary): walk the jaxpr; a nested jaxpr (``jit``, ``shard_map``,
  custom rules) counts once per equation that calls it, a ``scan`` body $\times$ its ``length``, a
  ``cond`` the largest branch (flagged), a ``while`` body once (flagged: trip count unknown);
* :func:`hlo_executed_allreduces` (cross-check): the lowered StableHLO's call graph from ``@main``,

$$n(f)=\sum_{\text{ops in }f}m_{\rm op}+\sum_{\text{calls }f\to g}m_{\rm call}\,n(g),$$

  with $m$ the product of the trip counts of the enclosing ``stablehlo.while`` loops (JAX's counted
  loops: ``iterArg < K`` from 0); an unparsed trip count is flagged and counted once.

Both count each reduced *tensor* (one op may reduce a tuple), split into activation-sized ($\ge$
``activation_size`` elements) and smaller ($d$-sized); :func:`hlo_allreduces` is the old flat text count.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

import numpy as np
from jax.extend.core import ClosedJaxpr, Jaxpr

__all__ = ["jaxpr_allreduces", "hlo_allreduces", "hlo_executed_allreduces"]

_OP = re.compile(r'"?stablehlo\.all_reduce"?\((?P<args>[^)]*)\)')
_TENSOR = re.compile(r"tensor<(?P<shape>[^>]*)>")
_SYMBOL = r'@(?:"(?P<quoted>[^"]+)"|(?P<name>[\w.$-]+))'  # MLIR symbols may be quoted: @"<lambda>"
_FUNC = re.compile(r"^\s*func\.func\s+(?:public\s+|private\s+)?" + _SYMBOL + r"\(")
_CALL = re.compile(r"\b(?:func\.)?call\s+" + _SYMBOL + r"\(")
_CONST = re.compile(r"(?P<var>%[\w#]+)\s*=\s*stablehlo\.constant\s+dense<(?P<k>-?\d+)>\s*:\s*tensor<i\d+>")
_LT = re.compile(r"stablehlo\.compare\s+LT,\s*%iterArg\w*,\s*(?P<var>%[\w#]+)")


def _empty() -> dict[str, int]:
    return {"ops": 0, "act": 0, "vec": 0, "flagged": 0}


def _add(acc: dict[str, int], other: dict[str, int], times: int = 1) -> None:
    for k in acc:
        acc[k] += times * other[k]


def _sizes_of_op(text: str, start: int, n_args: int) -> list[int]:
    sig = text[text.index("}) : (", start) + 6:]
    types = _TENSOR.findall(sig[: sig.index("->")])[:n_args]
    return [int(np.prod([int(s) for s in t.split("x")[:-1]])) if "x" in t else 1 for t in types]


def hlo_allreduces(text: str, activation_size: int) -> dict[str, int]:
    """Flat text count of ``stablehlo.all_reduce`` ops in ``text`` and of the tensors they reduce
    (``ops``, ``act``, ``vec``): every op once, however often it runs (the cross-check's baseline)."""
    out = {"ops": 0, "act": 0, "vec": 0}
    for m in _OP.finditer(text):
        out["ops"] += 1
        for size in _sizes_of_op(text, m.end(), len([a for a in m.group("args").split(",") if a.strip()])):
            out["act" if size >= activation_size else "vec"] += 1
    return out


def hlo_executed_allreduces(text: str, activation_size: int, entry: str = "main") -> dict[str, int]:
    """All-reduces executed by the StableHLO module ``text`` from ``@entry``, through calls and counted
    loops (module docstring). Keys ``ops``, ``act``, ``vec`` and ``flagged`` (ops or calls in a loop
    whose trip count was not parsed, counted once)."""
    direct: dict[str, dict[str, int]] = {}
    calls: dict[str, list[tuple[str, int, bool]]] = {}
    offset, cur, depth = 0, None, 0
    loops: list[dict[str, Any]] = []  # enclosing while loops: open depth, trip, state
    consts: dict[str, int] = {}
    for line in text.splitlines(keepends=True):
        m = _FUNC.match(line)
        if m is None and line.lstrip().startswith("func.func"):
            raise ValueError(f"StableHLO text: unparsed function header {line.strip()[:120]!r}")
        if m:
            cur, loops, consts = m.group("quoted") or m.group("name"), [], {}
            direct[cur], calls[cur] = _empty(), []
        if cur is not None:
            if "stablehlo.while" in line:
                loops.append({"depth": depth, "trip": None, "state": "cond"})
            c = _CONST.search(line)
            if c:
                consts[c.group("var")] = int(c.group("k"))
            lt = _LT.search(line)
            if lt and loops and loops[-1]["state"] == "cond":
                loops[-1]["trip"] = consts.get(lt.group("var"))
            if re.search(r"\}\s*do\s*\{", line) and loops:
                loops[-1]["state"] = "do"
            active = [lp for lp in loops if lp["state"] == "do"]
            mult = math.prod(lp["trip"] or 1 for lp in active)
            unknown = any(lp["trip"] is None for lp in active)
            for op in _OP.finditer(line):
                n_args = len([a for a in op.group("args").split(",") if a.strip()])
                direct[cur]["ops"] += mult
                direct[cur]["flagged"] += int(unknown)
                for size in _sizes_of_op(text, offset + op.end(), n_args):
                    direct[cur]["act" if size >= activation_size else "vec"] += mult
            for call in _CALL.finditer(line):
                calls[cur].append((call.group("quoted") or call.group("name"), mult, unknown))
            depth += line.count("{") - line.count("}")
            while loops and depth <= loops[-1]["depth"] and loops[-1]["state"] == "do":
                loops.pop()
        elif _OP.search(line):
            raise ValueError("StableHLO text: an all_reduce outside any parsed func.func")
        offset += len(line)

    @functools.lru_cache(maxsize=None)
    def executed(name: str, stack: tuple[str, ...] = ()) -> tuple[int, ...]:
        if name in stack or name not in direct:
            raise ValueError(f"StableHLO call graph: {'recursive call to' if name in stack else 'unknown function'} @{name}")
        acc = dict(direct[name])
        for callee, mult, unknown in calls[name]:
            sub = dict(zip(("ops", "act", "vec", "flagged"), executed(callee, stack + (name,))))
            _add(acc, sub, mult)
            acc["flagged"] += int(unknown)
        return tuple(acc[k] for k in ("ops", "act", "vec", "flagged"))

    return dict(zip(("ops", "act", "vec", "flagged"), executed(entry)))


def jaxpr_allreduces(jaxpr: Jaxpr | ClosedJaxpr, activation_size: int) -> dict[str, int]:
    """All-reduces (``psum*`` equations) executed by ``jaxpr``, nested calls and loops multiplied out
    (module docstring). Keys ``ops``, ``act``, ``vec`` and ``flagged`` (a ``while`` body or a
    ``cond``: counted once / as the largest branch)."""
    jaxpr = jaxpr.jaxpr if isinstance(jaxpr, ClosedJaxpr) else jaxpr
    out = _empty()
    for e in jaxpr.eqns:
        name = e.primitive.name
        if name.startswith("psum") and not name.endswith(("_start", "_done")):
            out["ops"] += 1
            for v in e.invars:
                out["act" if math.prod(v.aval.shape) >= activation_size else "vec"] += 1
        if name == "cond":
            branches = [jaxpr_allreduces(b, activation_size) for b in e.params["branches"]]
            worst = max(branches, key=lambda c: (c["ops"], c["act"], c["vec"]))
            _add(out, worst)
            out["flagged"] += int(any(b != worst for b in branches))
            continue
        times = int(e.params["length"]) if name == "scan" else 1
        for key, v in e.params.items():
            for sub in v if isinstance(v, (list, tuple)) else (v,):
                if isinstance(sub, (Jaxpr, ClosedJaxpr)):
                    got = jaxpr_allreduces(sub, activation_size)
                    _add(out, got, times)
                    if name == "while" and key == "body_jaxpr" and got["ops"]:
                        out["flagged"] += got["ops"]
    return out
