"""``curvature_field`` on concrete points runs two compiled passes (the a-priori certificate everywhere, then the
perturbation estimate over only the uncertified points, gathered and padded); under ``jit`` it runs one pass that
reruns a chunk by ``lax.cond``. Both give the same values and reason codes, on a chart that mixes certified points,
points only the estimate resolves, and unresolved points."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnverify import geometry as G
from attnverify.geometry import _field

CURVED = lambda t: jnp.stack([t[0], t[1] ** 2, t[0] * t[1] ** 3])  # noqa: E731  (degenerate at t1 = 0)
T1 = np.concatenate([np.logspace(-0.5, -7, 24), -np.logspace(-1, -5, 9)])
POINTS = np.stack([np.linspace(0.1, 0.9, T1.size), T1], -1)


def _codes(route: str, estimate: str) -> np.ndarray:
    return np.asarray(_field._compile(CURVED, "scalar", route, np.inf, G.DEFAULT_RTOL, 8, False, estimate)(None, jnp.asarray(POINTS), None)[1])


@pytest.mark.parametrize("route", ["extrinsic", "intrinsic"])
def test_the_chart_mixes_certified_estimated_and_unresolved_points(route):
    cheap, full = _codes(route, "cheap"), _codes(route, "full")
    assert (cheap == 0).any() and ((cheap == 4) & (full == 0)).any(), (cheap, full)
    if route == "intrinsic":
        assert ((cheap == 4) & (full == 4)).any(), full


@pytest.mark.parametrize("route", ["extrinsic", "intrinsic"])
@pytest.mark.parametrize("batch_size", [None, 1, 7])
def test_two_pass_equals_the_pass_under_jit(route, batch_size):
    run = lambda x: G.curvature_field(CURVED, x, route=route, batch_size=batch_size, return_reasons=True)  # noqa: E731
    values, codes = (np.asarray(a) for a in run(jnp.asarray(POINTS)))
    values_jit, codes_jit = (np.asarray(a) for a in jax.jit(run)(jnp.asarray(POINTS)))
    np.testing.assert_array_equal(codes, codes_jit)
    np.testing.assert_array_equal(values, values_jit)  # bitwise, NaN where the code is set
    assert np.array_equal(np.isnan(values), codes != 0) and np.isfinite(values).any()


def test_two_pass_grouped_params_equals_jit():
    """``params`` per group (``[R, N, m]`` points): the uncertified points are gathered with their group's parameters."""
    chart = lambda a, t: jnp.stack([t[0], a * t[1] ** 2, t[0] * t[1] ** 3])  # noqa: E731
    params, pts = jnp.asarray([1.0, 2.0]), jnp.asarray(np.stack([POINTS, POINTS[::-1]]))
    run = lambda p, x: G.curvature_field(chart, x, params=p, route="intrinsic", return_reasons=True)  # noqa: E731
    values, codes = (np.asarray(a) for a in run(params, pts))
    values_jit, codes_jit = (np.asarray(a) for a in jax.jit(run)(params, pts))
    np.testing.assert_array_equal(codes, codes_jit)
    np.testing.assert_allclose(values, values_jit, rtol=1e-12)  # the gathered pass batches the parameters
