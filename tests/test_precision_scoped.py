"""Scoped float64: ``proofs_numeric.x64`` as a context manager and a decorator, without switching the process.

The test session turns float64 on globally (conftest), so each test first switches it off for its own
thread with ``jax.enable_x64(False)``, the situation of a user who never called ``enable_x64()``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from attnverify.bounds import certified_topk
from attnverify.proofs_numeric import enable_x64, x64
from attnverify.proofs_numeric.precision import x64_enabled

LOGITS = [3.0, 3.0, 1.0, 1.0, 1.0]


def test_float64_function_outside_x64_names_the_scoped_switch():
    with jax.enable_x64(False):
        with pytest.raises(RuntimeError) as info:
            certified_topk(jnp.array(LOGITS), 0.1)
    msg = str(info.value)
    assert "certified_topk needs float64" in msg and "attnverify.proofs_numeric.x64()" in msg and "enable_x64()" in msg


def test_context_manager_is_scoped():
    with jax.enable_x64(False):
        assert not x64_enabled() and jnp.ones(3).dtype == jnp.float32
        with x64():
            assert x64_enabled()
            res = certified_topk(jnp.array(LOGITS), 0.1)
            assert res.tau_upper.dtype == jnp.float64
        assert int(res.k) == 4
        assert not x64_enabled() and jnp.ones(3).dtype == jnp.float32  # the user's own arrays stay float32


def test_decorator_and_nesting():
    @x64()
    def certify(row):
        return certified_topk(jnp.asarray(row), 0.1)

    with jax.enable_x64(False):
        assert int(certify(LOGITS).k) == 4 and int(certify(LOGITS).k) == 4  # reusable
        assert not x64_enabled()
        with x64():
            with x64():
                pass
            assert x64_enabled()  # leaving an inner scope keeps the outer one
        assert not x64_enabled()


def test_global_switch_still_available():
    enable_x64()  # what the conftest already did: idempotent, process-wide
    assert x64_enabled() and jnp.ones(3).dtype == jnp.float64
    with x64():
        assert x64_enabled()
    assert x64_enabled()  # leaving a scope never turns a global setting off


def test_decorating_a_generator_function_is_refused():
    """``@x64()`` on a generator would end its scope before the body runs (the body would compute in float32)."""
    def rows():
        yield jnp.ones(2)

    async def coro():
        return jnp.ones(2)

    for fn in (rows, coro):
        with pytest.raises(TypeError, match="generator or async") as info:
            x64()(fn)
        assert fn.__name__ in str(info.value)

    def plain():
        return jnp.ones(2).dtype

    with jax.enable_x64(False):
        assert x64()(plain)() == jnp.float64 and x64_enabled() is False


def test_recursive_decorated_function_restores_the_outer_precision():
    @x64()
    def depth(n):
        return x64_enabled() if n == 0 else depth(n - 1)

    with jax.enable_x64(False):
        assert depth(3) and not x64_enabled()
