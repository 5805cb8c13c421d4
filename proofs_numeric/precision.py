"""Float64 handling.

Verification runs in float64. JAX defaults to float32, and flipping ``jax_enable_x64`` is a
global switch, so **no library module flips it on import**. The entry points that verify
(``attnverify`` and the test suite's ``conftest.py``) call :func:`enable_x64` explicitly, and
notebooks do so in their first cell. Functions whose guarantees need float64 (certificates,
curvature) call :func:`require_x64`, which raises a clear error instead of silently computing
in float32.

Two ways to turn float64 on:

* **scoped**: :func:`x64`, a context manager and a decorator (JAX's thread-local ``jax.enable_x64``
  switch). Only the code inside runs in float64; the rest of the process, including the caller's own
  ``jnp.ones(3)``, stays float32::

      from attnverify.proofs_numeric import x64
      from attnverify.bounds import certified_topk

      with x64():
          res = certified_topk(logits, 0.01)

      @x64()
      def certify(logits):
          return certified_topk(logits, 0.01)

  Arrays made inside keep their float64 dtype afterwards, but JAX operations run outside the scope
  compute in float32 again. The switch is per thread: threads started inside do not inherit it.
* **global**: :func:`enable_x64` (process-wide, what ``attnverify`` and the test suite use).

It also holds the scalar argument validators every package shares (:func:`check_choice`,
:func:`check_int`, :func:`check_real`): one rule, one message format, ``TypeError`` for a value of
the wrong type and ``ValueError`` for a value out of range, both naming the argument.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["enable_x64", "x64", "require_x64", "x64_enabled", "is_concrete", "check_choice", "check_int", "check_real", "check_bool", "ArgumentTypeError"]


def enable_x64() -> None:
    """Turn on ``jax_enable_x64`` (global, process-wide). Call this before creating arrays."""
    import jax

    jax.config.update("jax_enable_x64", True)


class x64(contextlib.ContextDecorator):
    """Float64 inside a ``with`` block or a decorated function only (``with x64(): ...``, ``@x64()``).

    Wraps JAX's thread-local ``jax.enable_x64(True)``; on exit the previous setting returns, so nesting
    and a process that already called :func:`enable_x64` are unaffected. Jitted functions are traced
    separately for each precision.

    Decorating a generator (or ``async``) function raises ``TypeError``: the decorator's scope ends when
    the call returns the generator object, before the body runs, so the body would run in the caller's
    precision. Enter ``with x64():`` inside the generator's body instead."""

    def __init__(self) -> None:
        self._scopes: list[Any] = []

    def __enter__(self) -> None:
        import jax

        scope = jax.enable_x64(True)
        scope.__enter__()
        self._scopes.append(scope)

    def __exit__(self, *exc: Any) -> None:
        self._scopes.pop().__exit__(*exc)

    def _recreate_cm(self) -> "x64":
        return x64()  # a fresh scope per call: a decorated function may be re-entered or recursive

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn) or inspect.iscoroutinefunction(fn):
            raise TypeError(f"x64() cannot decorate {getattr(fn, '__qualname__', fn)!r}: it is a generator or async "
                            "function, whose body runs after the decorated call returns (outside the float64 scope); "
                            "use `with x64():` inside its body")
        return super().__call__(fn)


def x64_enabled() -> bool:
    """True when float64 is on here (globally, or inside :func:`x64` on this thread)."""
    import jax

    return bool(jax.config.jax_enable_x64)


def require_x64(what: str) -> None:
    """Raise ``RuntimeError`` unless float64 is enabled in JAX (globally or in a scoped :func:`x64`)."""
    if not x64_enabled():
        raise RuntimeError(
            f"{what} needs float64, but jax_enable_x64 is off. Run it inside "
            "`with attnverify.proofs_numeric.x64(): ...` (scoped: the rest of the process stays float32; "
            "also a decorator, `@x64()`), or call `attnverify.proofs_numeric.enable_x64()` once at program "
            "start (process-wide)."
        )


def is_concrete(*xs: object) -> bool:
    """True when none of ``xs`` is a JAX tracer. Boundary validation (NaN checks, shape checks on
    values) runs only on concrete inputs, so jit/vmap/grad-compiled cores stay pure."""
    import jax

    return not any(isinstance(x, jax.core.Tracer) for x in xs)


class ArgumentTypeError(TypeError, ValueError):
    """A value of the wrong type (``2.0`` where an integer is needed). Both a ``TypeError`` and, for callers
    that catch bad input as ``ValueError`` (the CLI, older code), a ``ValueError``."""


def check_choice(value: Any, choices: Sequence[str], name: str) -> str:
    """``value`` must be one of ``choices`` (strings); ``ValueError`` naming ``name`` and the choices."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def check_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A Python or NumPy integer (not ``bool``, not a float such as ``2.0``) in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        rng = "" if minimum is None and maximum is None else (f" >= {minimum}" if maximum is None else f" in [{minimum}, {maximum}]")
        raise ArgumentTypeError(f"{name} must be an integer{rng}, got {value!r} ({type(value).__name__})")
    v = int(value)
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        if maximum is None:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {v}")
        lo = "-inf" if minimum is None else minimum
        raise ValueError(f"{name} must be an integer in [{lo}, {maximum}], got {v}")
    return v


def check_bool(value: Any, name: str) -> bool:
    """A Python or NumPy ``bool`` (a string such as ``"no"`` or a number is truthy or falsy by accident)."""
    import numpy as np

    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def check_real(value: Any, name: str, *, positive: bool = False, nonnegative: bool = False, allow_inf: bool = False) -> float:
    """A finite real scalar (``inf`` too with ``allow_inf``); ``positive``: ``> 0``; ``nonnegative``: ``>= 0``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        try:
            import numpy as np

            arr = np.asarray(value)
            if arr.ndim != 0 or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
                raise TypeError
            value = float(arr)
        except TypeError:
            raise ArgumentTypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})") from None
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be finite, got {v}")
    if positive and not v > 0:
        raise ValueError(f"{name} must be > 0, got {v}")
    if nonnegative and not v >= 0:
        raise ValueError(f"{name} must be >= 0, got {v}")
    return v
