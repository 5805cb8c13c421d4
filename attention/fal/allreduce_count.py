r"""All-reduces that a program *executes*: counted through its call graph, loops multiplied out.

A textual count of ``stablehlo.all_reduce`` ops sees each function body once, so an all-reduce
inside a function called twice counts 1 and one inside a loop of $K$ trips counts 1. Two
counts that follow execution instead:

* :func:`jaxpr_allreduces` (primary): walk the jaxpr; a nested jaxpr (``jit``, ``shard_map``,
  custom rules) counts once per equation that calls it, a ``scan`` body $\times$ its ``length``, a
  ``cond`` the largest branch (flagged), a ``while`` condition and body once (flagged: trip count
  not static; a traced ``fori_loop`` bound is such a ``while``);
* :func:`hlo_executed_allreduces` (cross-check): the lowered StableHLO's call graph from ``@main``,

$$n(f)=\sum_{\text{ops in }f}m_{\rm op}+\sum_{\text{calls }f\to g}m_{\rm call}\,n(g),$$

  with $m$ the product of the trip counts of the enclosing ``stablehlo.while`` loops
  ($\lceil (K-i_0)/s\rceil$ for a condition ``i < K`` alone, $i$ from the constant $i_0$ by the constant
  $s>0$; the condition's own ops run trips $+1$ times); any other loop is flagged and counted once,
  as is every op in a ``case``/``if`` branch (all branches counted, flagged).

An all-reduce is any primitive of :func:`is_allreduce` (``psum``, ``pmean`` = ``psum``, ``pmax``,
``pmin``: all lower to ``stablehlo.all_reduce``). The jaxpr counts equations as traced, the StableHLO
after lowering's dead-code removal: a ``checkpoint``'s unused forward ``psum`` under ``grad`` counts in
the first only, and the two then disagree (``mismatch``, which fails the count claims). Both count each
reduced *tensor* (one op may reduce a tuple), split into activation-sized ($\ge$
``activation_size`` elements) and smaller ($d$-sized); :func:`hlo_allreduces` is the old flat text count.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

import numpy as np
from jax.extend.core import ClosedJaxpr, Jaxpr

__all__ = ["jaxpr_allreduces", "hlo_allreduces", "hlo_executed_allreduces", "is_allreduce"]

_OP = re.compile(r'"?stablehlo\.all_reduce"?\((?P<args>[^)]*)\)')
_TENSOR = re.compile(r"tensor<(?P<shape>[^>]*)>")
_SYMBOL = r'@(?:"(?P<quoted>[^"]+)"|(?P<name>[\w.$-]+))'  # MLIR symbols may be quoted: @"<lambda>"
_FUNC = re.compile(r"^\s*func\.func\s+(?:public\s+|private\s+)?" + _SYMBOL + r"\(")
_CALL = re.compile(r"\b(?:func\.)?call\s+" + _SYMBOL + r"\(")
_CONST = re.compile(r"(?P<var>%[\w#]+)\s*=\s*stablehlo\.constant\s+dense<(?P<k>-?\d+)>\s*:\s*tensor<i\d+>")
_CMP = re.compile(r"stablehlo\.compare\s+(?P<dir>\w+),\s*(?P<a>%[\w#]+),\s*(?P<b>%[\w#]+)")
_ADD = re.compile(r"(?P<var>%[\w#]+)\s*=\s*stablehlo\.add\s+(?P<a>%[\w#]+),\s*(?P<b>%[\w#]+)")
_HEADER = re.compile(r"(?P<arg>%iterArg\w*)\s*=\s*(?P<init>%[\w#]+)")
_RETURN = re.compile(r"^\s*stablehlo\.return\s+(?P<vals>[^:]*):")
_REGION_OP = re.compile(r"stablehlo\.(?:case|if)\b")


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


def _trip(loop: dict[str, Any]) -> int | None:
    r"""Trip count of a counted ``stablehlo.while``: the condition is exactly ``i < K`` ($K$ a constant
    or a loop-invariant carry), $i$ starts at a constant $i_0$ and the body returns $i+s$, $s>0$ a
    constant: $\max(0,\lceil (K-i_0)/s\rceil)$. Anything else (another comparison, extra condition
    ops, a traced bound or step) is ``None``: not guessed."""
    cmp, ret = loop["cmp"], loop["ret"]
    if cmp is None or loop["cond_ops"] != 1 or ret is None or cmp[0] != "LT":
        return None
    args = loop["args"]
    i, bound = cmp[1], cmp[2]
    if i not in args or len(ret) != len(args):
        return None
    if bound in args:  # a carry the body passes through unchanged
        bound = loop["init"].get(bound) if ret[args.index(bound)] == bound else None
    else:
        bound = loop["cond_consts"].get(bound)
    counter, step = loop["steps"].get(ret[args.index(i)], (None, None))
    start = loop["init"].get(i)
    if counter != i or bound is None or step is None or start is None or step <= 0:
        return None
    return max(0, -(-(bound - start) // step))


def hlo_executed_allreduces(text: str, activation_size: int, entry: str = "main") -> dict[str, int]:
    """All-reduces executed by the StableHLO module ``text`` from ``@entry``, through calls and counted
    loops (module docstring). Keys ``ops``, ``act``, ``vec`` and ``flagged``: ops or calls whose
    count is not exact: in a loop whose trip count is not derived (counted once), or in a branch of a
    ``case``/``if`` (every branch counted once)."""
    direct: dict[str, list[tuple[list, list[int]]]] = {}
    calls: dict[str, list[tuple[str, list]]] = {}
    offset, cur, depth = 0, None, 0
    frames: list[dict[str, Any]] = []  # enclosing while loops and case/if ops
    consts: dict[str, int] = {}
    for line in text.splitlines(keepends=True):
        m = _FUNC.match(line)
        if m is None and line.lstrip().startswith("func.func"):
            raise ValueError(f"StableHLO text: unparsed function header {line.strip()[:120]!r}")
        if m:
            cur, frames, consts = m.group("quoted") or m.group("name"), [], {}
            direct[cur], calls[cur] = [], []
        if cur is not None:
            loop = frames[-1] if frames and frames[-1]["kind"] == "while" else None
            c = _CONST.search(line)
            if c:
                consts[c.group("var")] = int(c.group("k"))
                if loop is not None and loop["region"] == "cond" and depth == loop["depth"] + 1:
                    loop["cond_consts"][c.group("var")] = int(c.group("k"))
            if loop is not None and depth == loop["depth"] + 1:
                if loop["region"] == "cond" and not c and "stablehlo.return" not in line and re.search(r"=\s*\"?stablehlo\.", line):
                    loop["cond_ops"] += 1
                    cm = _CMP.search(line)
                    loop["cmp"] = (cm.group("dir"), cm.group("a"), cm.group("b")) if cm else None
                a = _ADD.search(line)
                if loop["region"] == "do" and a:
                    for x, y in ((a.group("a"), a.group("b")), (a.group("b"), a.group("a"))):
                        if y in consts and x in loop["args"]:
                            loop["steps"][a.group("var")] = (x, consts[y])
                r = _RETURN.match(line)
                if loop["region"] == "do" and r:
                    loop["ret"] = [v.strip() for v in r.group("vals").split(",")]
            if "stablehlo.while" in line:
                pairs = _HEADER.findall(line)
                frames.append({"kind": "while", "depth": depth, "region": "cond", "args": [p[0] for p in pairs],
                               "init": {p[0]: consts[p[1]] for p in pairs if p[1] in consts}, "cond_consts": {},
                               "cond_ops": 0, "cmp": None, "ret": None, "steps": {}, "trip": None})
            elif _REGION_OP.search(line):
                frames.append({"kind": "case", "depth": depth, "region": "branch"})
            if re.search(r"\}\s*do\s*\{", line) and frames and frames[-1]["kind"] == "while" and depth == frames[-1]["depth"] + 1:
                frames[-1]["region"] = "do"
            here = [(f, f["region"]) for f in frames]
            for op in _OP.finditer(line):
                n_args = len([a for a in op.group("args").split(",") if a.strip()])
                direct[cur].append((here, _sizes_of_op(text, offset + op.end(), n_args)))
            for call in _CALL.finditer(line):
                calls[cur].append((call.group("quoted") or call.group("name"), here))
            depth += line.count("{") - line.count("}")
            while frames and depth <= frames[-1]["depth"] and (frames[-1]["kind"] == "case" or frames[-1]["region"] == "do"):
                done = frames.pop()
                if done["kind"] == "while":
                    done["trip"] = _trip(done)
        elif _OP.search(line):
            raise ValueError("StableHLO text: an all_reduce outside any parsed func.func")
        offset += len(line)

    def weight(here: list) -> tuple[int, bool]:
        mult, unknown = 1, False
        for f, region in here:
            if f["kind"] == "case" or f["trip"] is None:
                unknown = True
            else:
                mult *= f["trip"] + (region == "cond")  # the condition runs once more than the body
        return mult, unknown

    @functools.lru_cache(maxsize=None)
    def executed(name: str, stack: tuple[str, ...] = ()) -> tuple[int, ...]:
        if name in stack or name not in direct:
            raise ValueError(f"StableHLO call graph: {'recursive call to' if name in stack else 'unknown function'} @{name}")
        acc = _empty()
        for here, sizes in direct[name]:
            mult, unknown = weight(here)
            acc["ops"] += mult
            acc["flagged"] += int(unknown)
            for size in sizes:
                acc["act" if size >= activation_size else "vec"] += mult
        for callee, here in calls[name]:
            mult, unknown = weight(here)
            sub = dict(zip(("ops", "act", "vec", "flagged"), executed(callee, stack + (name,))))
            _add(acc, sub, mult)
            acc["flagged"] += sub["ops"] if unknown else 0
        return tuple(acc[k] for k in ("ops", "act", "vec", "flagged"))

    return dict(zip(("ops", "act", "vec", "flagged"), executed(entry)))


def is_allreduce(name: str) -> bool:
    """Whether the jaxpr primitive ``name`` lowers to ``stablehlo.all_reduce``: ``psum`` (and its
    ``psum_invariant`` form; ``pmean`` is a ``psum`` then a division), ``pmax`` and ``pmin``. Not
    ``reduce_scatter`` (``psum_scatter``), ``all_gather``, ``ppermute`` or ``all_to_all``."""
    return (name.startswith("psum") and not name.endswith(("_start", "_done", "_scatter"))) or name in ("pmax", "pmin")


def jaxpr_allreduces(jaxpr: Jaxpr | ClosedJaxpr, activation_size: int) -> dict[str, int]:
    """All-reduces (:func:`is_allreduce` equations) executed by ``jaxpr``, nested calls and loops
    multiplied out (module docstring). Keys ``ops``, ``act``, ``vec`` and ``flagged``: all-reduces in
    a ``while`` condition or body (trip count not static: counted once) and ``cond``s whose branches
    differ (counted as the largest branch). Equations are counted as traced: one that lowering later
    removes as dead code (e.g. a ``checkpoint``'s unused forward ``psum`` under ``grad``) still counts
    here and not in :func:`hlo_executed_allreduces`, so the two disagree (``mismatch``) there."""
    jaxpr = jaxpr.jaxpr if isinstance(jaxpr, ClosedJaxpr) else jaxpr
    out = _empty()
    for e in jaxpr.eqns:
        name = e.primitive.name
        if is_allreduce(name):
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
                    if name == "while":  # condition (trips + 1 runs) or body (trips): never static here
                        out["flagged"] += max(0, got["ops"] - got["flagged"])
    return out
