"""Shared pieces of the property-test modules (issue 11): the two allowed outcomes and the coverage count.

A malformed input must end in exactly one of two ways:

* ``ValueError`` or ``TypeError`` whose message names the offending argument (:func:`rejects`), or
* the documented NaN plus flag (:func:`nan_and_flag`), for the degenerate charts of ``geometry``.

:func:`covers` records which public functions a test exercises; :func:`coverage` walks a package's
``__all__`` and returns ``(covered, total)`` public functions (classes, constants and types excluded).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

COVERED: dict[str, set[str]] = {}

FAST = settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def qualify(package: str) -> str:
    """``"bounds"`` -> ``"attnverify.bounds"`` (names already under ``attnverify`` are kept)."""
    return package if package.split(".")[0] == "attnverify" else f"attnverify.{package}"


def covers(package: str, *names: str) -> Callable:
    """Decorator: the test exercises ``package.name`` for every ``name`` (checked to exist)."""
    package = qualify(package)
    mod = importlib.import_module(package)
    for n in names:
        if not hasattr(mod, n):
            raise AttributeError(f"{package} has no public name {n!r}")
    COVERED.setdefault(package, set()).update(names)
    return lambda fn: fn


def rejects(call: Callable[[], Any], *names: str) -> BaseException:
    """``call()`` raises ``ValueError``/``TypeError`` and the message names one of ``names`` (a word match)."""
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    msg = str(info.value)
    assert any(re.search(rf"(?<![A-Za-z_]){re.escape(n)}(?![A-Za-z_])", msg) for n in names), (
        f"error does not name any of {names}: {type(info.value).__name__}: {msg}")
    return info.value


def nan_and_flag(value: Any, flag: Any) -> None:
    """The documented degenerate outcome: every entry NaN and the flag ``True``."""
    assert np.all(np.isnan(np.asarray(value))), f"expected NaN, got {value}"
    assert bool(np.asarray(flag).all()), "expected the degeneracy flag to be True"


def public_functions(package: str) -> list[str]:
    """Public functions of ``package``: its ``__all__`` (or every non-underscore name when it has none),
    keeping plain and ``jit``-wrapped functions (not classes, constants or type aliases)."""
    package = qualify(package)
    mod = importlib.import_module(package)
    names = getattr(mod, "__all__", None) or [n for n in dir(mod) if not n.startswith("_")]
    out = []
    for n in names:
        obj = getattr(mod, n)
        if inspect.ismodule(obj) or inspect.isclass(obj):
            continue
        if inspect.isfunction(inspect.unwrap(obj)) or (callable(obj) and hasattr(obj, "__wrapped__")):
            out.append(n)
    return sorted(out)


def coverage(package: str) -> tuple[int, int]:
    """``(covered, total)`` public functions of ``package`` recorded by :func:`covers`."""
    package = qualify(package)
    funcs = set(public_functions(package))
    return len(funcs & COVERED.get(package, set())), len(funcs)
