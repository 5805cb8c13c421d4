"""Float64 handling.

Verification runs in float64. JAX defaults to float32, and flipping ``jax_enable_x64`` is a
global switch, so **no library module flips it on import**. The entry points that verify
(``attnverify`` and the test suite's ``conftest.py``) call :func:`enable_x64` explicitly, and
notebooks do so in their first cell. Functions whose guarantees need float64 (certificates,
curvature) call :func:`require_x64`, which raises a clear error instead of silently computing
in float32.
"""

from __future__ import annotations

__all__ = ["enable_x64", "require_x64", "x64_enabled", "is_concrete"]


def enable_x64() -> None:
    """Turn on ``jax_enable_x64`` (global, process-wide). Call this before creating arrays."""
    import jax

    jax.config.update("jax_enable_x64", True)


def x64_enabled() -> bool:
    import jax

    return bool(jax.config.jax_enable_x64)


def require_x64(what: str) -> None:
    """Raise ``RuntimeError`` unless float64 is enabled in JAX."""
    if not x64_enabled():
        raise RuntimeError(
            f"{what} needs float64, but jax_enable_x64 is off. Call "
            "`proofs_numeric.enable_x64()` (or `jax.config.update('jax_enable_x64', True)`) "
            "at program start."
        )


def is_concrete(*xs: object) -> bool:
    """True when none of ``xs`` is a JAX tracer. Boundary validation (NaN checks, shape checks on
    values) runs only on concrete inputs, so jit/vmap/grad-compiled cores stay pure."""
    import jax

    return not any(isinstance(x, jax.core.Tracer) for x in xs)
