r"""Validation of pinned evidence before it decides: required keys, ranges and internal consistency.

Each study registers a **schema** (a function of :class:`Fields`) under the name its manifest entries
carry (:mod:`proofs_numeric.evidence`). A violation raises :class:`~proofs_numeric.evidence.EvidenceError`
naming the file and the field, so every claim that reads the file is ``failed``:

* ranges: rates and accuracies in :math:`[0, 1]`; counts non-negative integers; losses finite and
  :math:`> 0`;
* consistency: a rate equals its count over its total (:math:`|r - c/n| \le 10^{-9}`), per-seed arrays
  are as long as the seed list.

Fields are addressed by dotted paths; ``*`` runs over every key of a mapping or item of a list, and the
message names the concrete path (``arms.mse.2.eval.accuracy.long.0``)::

    @schema("gating.results")
    def _(f: Fields) -> None:
        f.require("config", "seed", "runs.accuracy")
        f.rate("runs.accuracy.*")
        f.length("runs.accuracy", f.get("config.n_seeds") * ...)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["EvidenceError", "Fields", "schema", "validate", "schemas"]


class EvidenceError(ValueError):
    """A pinned file is missing, changed (hash mismatch), unlisted for the reading claim, or invalid
    (re-exported by :mod:`proofs_numeric.evidence`)."""


_SCHEMAS: dict[str, Callable[["Fields"], None]] = {}
_MISSING = object()


def schema(name: str) -> Callable[[Callable[["Fields"], None]], Callable[["Fields"], None]]:
    """Register a validator for the manifest entries whose ``schema`` is ``name``."""
    def deco(fn: Callable[["Fields"], None]) -> Callable[["Fields"], None]:
        _SCHEMAS[name] = fn
        return fn
    return deco


def schemas() -> dict[str, Callable[["Fields"], None]]:
    return dict(_SCHEMAS)


def validate(name: str, data: Any, file: str) -> None:
    """Run schema ``name`` on ``data`` (nothing when ``name`` is empty)."""
    if not name:
        return
    if name not in _SCHEMAS:
        from ._registry import discover

        discover()
    fn = _SCHEMAS.get(name)
    if fn is None:
        raise EvidenceError(f"evidence file {file}: no validator registered for its schema {name!r}")
    fn(Fields(file, data))


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


class Fields:
    """The parsed content of one evidence file, with checks that name the file and field on failure."""

    def __init__(self, file: str, data: Any):
        self.file, self.data = file, data

    def fail(self, field: str, why: str) -> None:
        raise EvidenceError(f"evidence file {self.file}: field {field} {why}")

    def items(self, path: str) -> Iterator[tuple[str, Any]]:
        """``(concrete path, value)`` for every match of ``path`` (``*``: every key or item)."""
        level = [("", self.data)]
        for part in path.split(".") if path else []:
            nxt = []
            for where, node in level:
                if part == "*":
                    kids = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else None
                    if kids is None:
                        self.fail(where or "(top level)", "is not a mapping or list")
                    nxt += [(f"{where}.{k}" if where else str(k), v) for k, v in kids]
                    continue
                key: Any = part
                if isinstance(node, list) and part.lstrip("-").isdigit():
                    key = int(part)
                    v = node[key] if -len(node) <= key < len(node) else _MISSING
                else:
                    v = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
                name = f"{where}.{part}" if where else part
                if v is _MISSING:
                    self.fail(name, "is missing")
                nxt.append((name, v))
            level = nxt
        return iter(level)

    def get(self, path: str) -> Any:
        found = list(self.items(path))
        if len(found) != 1:
            self.fail(path, f"matches {len(found)} values, expected one")
        return found[0][1]

    def require(self, *paths: str) -> None:
        for p in paths:
            list(self.items(p))

    def _leaves(self, path: str) -> Iterator[tuple[str, Any]]:
        def walk(where: str, v: Any) -> Iterator[tuple[str, Any]]:
            if isinstance(v, list):
                for i, x in enumerate(v):
                    yield from walk(f"{where}.{i}", x)
            else:
                yield where, v
        for where, v in self.items(path):
            yield from walk(where, v)

    def numbers(self, path: str, lo: float = -math.inf, hi: float = math.inf, *, allow_none: bool = False,
                lo_open: bool = False, what: str = "a finite number") -> None:
        """Every number under ``path`` (lists flattened) finite and in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``);
        ``allow_none``: a missing value (``None``, NaN) is accepted."""
        for where, v in self._leaves(path):
            if allow_none and (v is None or v == "nan" or (isinstance(v, float) and math.isnan(v))):
                continue  # the documented missing value (None, or NaN written as "nan")
            if not _is_num(v) or not math.isfinite(v) or v > hi or v < lo or (lo_open and v == lo):
                self.fail(where, f"= {v!r} is not {what}")

    def rate(self, path: str, *, allow_none: bool = False) -> None:
        """Rates, accuracies, proportions: in [0, 1]."""
        self.numbers(path, 0.0, 1.0, allow_none=allow_none, what="a rate in [0, 1]")

    def count(self, path: str) -> None:
        """Counts: non-negative integers."""
        for where, v in self._leaves(path):
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
                self.fail(where, f"= {v!r} is not a non-negative integer count")

    def loss(self, path: str, *, allow_none: bool = False) -> None:
        """Losses (NLL, MSE, cross-entropy): finite and > 0."""
        self.numbers(path, 0.0, allow_none=allow_none, lo_open=True, what="a finite positive loss")

    def length(self, path: str, n: int) -> None:
        """Every list matched by ``path`` has ``n`` items (per-seed arrays as long as the seed list)."""
        for where, v in self.items(path):
            if not isinstance(v, list) or len(v) != n:
                self.fail(where, f"has {len(v) if isinstance(v, list) else 'no'} items, expected {n} (one per seed/unit)")

    def equals(self, path: str, expected: Any) -> None:
        for where, v in self.items(path):
            if v != expected:
                self.fail(where, f"= {v!r}, expected {expected!r}")

    def ratio(self, rate: str, count: str, total: str, tol: float = 1e-9) -> None:
        """``rate == count / total`` (same path shape; ``*`` matched in order)."""
        for (wr, r), (_, c), (_, n) in zip(self.items(rate), self.items(count), self.items(total)):
            if not (_is_num(r) and _is_num(c) and _is_num(n)) or n <= 0 or abs(r - c / n) > tol:
                self.fail(wr, f"= {r!r} does not equal its count over its total ({c!r}/{n!r})")
