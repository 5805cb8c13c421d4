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
