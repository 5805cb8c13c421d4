"""Property tests (issue 11): malformed input to ``geometry`` gives a ValueError/TypeError naming the
argument, or the documented NaN plus ``metric_is_degenerate`` flag; badly scaled charts give the right
value or NaN with the flag (issue 23), nearly parallel tangent planes the right value; sectional
curvature at m = 1 names the dimension.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from attnverify import geometry as G
from tests._properties import FAST, covers, nan_and_flag, rejects
from tests.helpers import assert_close


def saddle(t):
    return jnp.array([t[0], t[1], t[0] * t[1]])


SADDLE_METRIC = G.pullback_metric(saddle)
coord = st.floats(-1.5, 1.5, allow_nan=False)
point = st.tuples(coord, coord).map(np.array)


@jax.jit
def _sectionals(t, u, v):
    return jnp.stack([G.sectional_curvature(SADDLE_METRIC, t, u, v), G.sectional_curvature_extrinsic(saddle, t, u, v),
                      G.sectional_curvature_matrix_free(saddle, t, u, v)])


def _skewed(x, skew):
    return jnp.array([[1.0 + x[0] ** 2, skew], [0.0, 1.0]])


@jax.jit
def _skewed_outputs(t, skew):
    metric = lambda x: _skewed(x, skew)  # noqa: E731
    return G.scalar_curvature(metric, t), G.gaussian_curvature(metric, t), G.metric_is_degenerate(metric, t)


def _gamma_metric(x):  # Fisher-Rao metric of the gamma family in (mean, shape); K depends on the shape only
    from jax.scipy.special import polygamma

    return jnp.diag(jnp.stack([x[1] / x[0] ** 2, polygamma(1, x[1]) - 1.0 / x[1]]))


@jax.jit
def _gamma_outputs(at):
    return G.gaussian_curvature(_gamma_metric, at), G.metric_is_degenerate(_gamma_metric, at), G.metric_condition_number(_gamma_metric, at, scaled=True)


def _flat(x):  # depends on x0 + x1 only: rank J = 1
    s = x[0] + x[1]
    return jnp.array([s, s**2, jnp.sin(s)])


@jax.jit
def _flat_outputs(t):
    return G.scalar_curvature_extrinsic(_flat, t), G.metric_is_degenerate(G.pullback_metric(_flat), t)


def _k_saddle(t):  # closed form of the saddle z = xy (spec §3 table): K = -1 / (1 + x^2 + y^2)^2
    return -1.0 / (1.0 + t[0] ** 2 + t[1] ** 2) ** 2


@covers("geometry", "gaussian_curvature", "scalar_curvature", "ricci_tensor", "riemann_tensor", "christoffel_symbols",
        "gaussian_curvature_extrinsic", "scalar_curvature_extrinsic", "ricci_tensor_extrinsic", "riemann_tensor_extrinsic",
        "second_fundamental_form", "metric_condition_number", "metric_is_degenerate")
@FAST
@given(st.sampled_from([np.nan, np.inf, -np.inf]), st.sampled_from([(0,), (2, 1), ()]))
def test_points_are_validated(bad, shape):
    for f in (G.gaussian_curvature, G.scalar_curvature, G.ricci_tensor, G.riemann_tensor, G.christoffel_symbols,
              G.metric_condition_number, G.metric_is_degenerate):
        rejects(lambda: f(SADDLE_METRIC, jnp.array([0.1, bad])), "theta")
        rejects(lambda: f(SADDLE_METRIC, np.zeros(shape)), "theta")
    for f in (G.gaussian_curvature_extrinsic, G.scalar_curvature_extrinsic, G.ricci_tensor_extrinsic,
              G.riemann_tensor_extrinsic, G.second_fundamental_form):
        rejects(lambda: f(saddle, jnp.array([bad, 0.2])), "theta")
        rejects(lambda: f(saddle, jnp.array([0.1, 0.2]), sigma=np.diag([1.0, -1.0, 1.0])), "Sigma")
        rejects(lambda: f(saddle, jnp.array([0.1, 0.2]), sigma=np.array([[1.0, 0.5, 0], [0, 1, 0], [0, 0, 1]])), "Sigma")


@covers("geometry", "sectional_curvature", "sectional_curvature_extrinsic", "sectional_curvature_matrix_free")
@FAST
@given(point, st.floats(-3, 3, allow_nan=False), st.sampled_from([1e-9, 1e-7, 1e-4]))
def test_nearly_parallel_planes_are_exact_and_parallel_ones_rejected(t, angle, gap):
    u = np.array([np.cos(angle), np.sin(angle)])
    v = u + gap * np.array([-np.sin(angle), np.cos(angle)])  # a plane 'gap' radians wide: still R^2, K = K(saddle)
    assert_close(_sectionals(t, u, v), np.full(3, _k_saddle(t)), rtol=1e-8, what="K of a nearly parallel pair")
    for w in (2.0 * u, 0 * u):
        rejects(lambda: G.sectional_curvature(SADDLE_METRIC, t, u, w), "u", "v")
        rejects(lambda: G.sectional_curvature_matrix_free(saddle, t, u, w), "u", "v")
    rejects(lambda: G.sectional_curvature_extrinsic(saddle, t, u, np.ones(3)), "v")
    line = lambda x: jnp.stack([x[0], x[0] ** 2])  # noqa: E731  (m = 1: no plane at all)
    for f in (lambda: G.sectional_curvature(G.pullback_metric(line), [0.1], [1.0], [2.0]),
              lambda: G.sectional_curvature_extrinsic(line, [0.1], [1.0], [2.0]),
              lambda: G.sectional_curvature_matrix_free(line, [0.1], [1.0], [1.0])):
        rejects(f, "m")


@covers("geometry", "scalar_curvature", "gaussian_curvature", "metric_is_degenerate")
@FAST
@given(point, st.floats(0.05, 5.0))
def test_non_symmetric_metric_is_nan_and_flagged(t, skew):
    s, k, flag = _skewed_outputs(t, skew)
    nan_and_flag(s, flag)
    nan_and_flag(k, flag)


@covers("geometry", "gaussian_curvature", "metric_is_degenerate", "metric_condition_number")
@FAST
@given(st.floats(-7, 2), st.floats(0.3, 4.0))
def test_badly_scaled_chart_is_accurate_or_flagged(log_mean, shape):
    # g = diag(a / m^2, psi'(a) - 1/a): at a mean of 1e-7 cond(g) ~ 1e14. The normwise error model
    # (issue 23) cannot tell a small entry computed to full relative accuracy from rounding noise, so
    # there the value is either the right one or NaN with the flag -- never a wrong number.
    k, flag, cond = _gamma_outputs(jnp.array([10.0**log_mean, shape]))
    k_ref, flag_ref, _ = _gamma_outputs(jnp.array([1.0, shape]))
    assert not bool(flag_ref)
    if bool(flag):
        nan_and_flag(k, flag)
    else:
        assert_close(k, k_ref, rtol=1e-6, what="K independent of the mean")
    if log_mean > -1.0:
        assert not bool(flag), "a mean of 0.1 or more is resolved"
    assert_close(cond, 1.0, rtol=1e-12, what="scaled cond of a diagonal g")


@covers("geometry", "scalar_curvature_extrinsic", "metric_is_degenerate", "pullback_metric")
@FAST
@given(point)
def test_rank_deficient_chart_is_nan_and_flagged(t):
    nan_and_flag(*_flat_outputs(t))
    rejects(lambda: G.scalar_curvature_extrinsic(_flat, t, sigma=np.eye(2)), "Sigma")


@covers("geometry", "metric_is_degenerate", "metric_condition_number", "scalar_curvature")
def test_float32_is_refused():
    jax.config.update("jax_enable_x64", False)
    try:
        for f in (G.metric_is_degenerate, G.metric_condition_number, G.scalar_curvature):
            with pytest.raises(RuntimeError, match="float64"):
                f(SADDLE_METRIC, np.array([0.1, 0.2]))
    finally:
        jax.config.update("jax_enable_x64", True)


@covers("geometry", "curvature_field", "safe_batch_size")
@FAST
@given(st.sampled_from(["kind", "route", "batch_size", "points", "params", "fn", "sigma"]))
def test_curvature_field_arguments(which):
    pts = np.zeros((3, 2))
    call = {"kind": lambda: G.curvature_field(saddle, pts, kind="mean"),
            "route": lambda: G.curvature_field(saddle, pts, route="fast"),
            "batch_size": lambda: G.curvature_field(saddle, pts, batch_size=0),
            "points": lambda: G.curvature_field(saddle, np.full((3, 2), np.nan)),
            "params": lambda: G.curvature_field(lambda p, x: p * saddle(x), pts, params=np.ones(2)),
            "fn": lambda: G.curvature_field(3.0, pts),
            "sigma": lambda: G.curvature_field(SADDLE_METRIC, pts, route="metric", sigma=np.eye(3))}[which]
    rejects(call, which)
    rejects(lambda: G.safe_batch_size(0), "m")
    assert G.curvature_field(saddle, np.zeros((0, 2))).shape == (0,)


def test_constructed_mean_maps_reach_the_validated_engine():
    # the attention-manifold constructors are pure maps without checks of their own (not counted as
    # covered); bad points reach the engine, which names theta
    mu = lambda t: G.softmax_chart_mean(jnp.eye(3), t)  # noqa: E731
    rejects(lambda: G.scalar_curvature_extrinsic(mu, jnp.array([np.nan, 0.0])), "theta")


@covers("geometry", "curvature_field", "curvature_diagnostics")
@FAST
@given(st.sampled_from([0.0, -1e-3, np.nan, "tight"]))
def test_accuracy_arguments_are_named(bad_rtol):
    pts = np.array([[0.1, 0.2]])
    rejects(lambda: G.curvature_field(saddle, pts, rtol=bad_rtol), "rtol")
    rejects(lambda: G.curvature_diagnostics(saddle, pts[0], rtol=bad_rtol), "rtol")
    rejects(lambda: G.curvature_field(saddle, pts, return_reasons="yes"), "return_reasons")
    rejects(lambda: G.curvature_diagnostics(saddle, np.zeros((2, 2))), "theta")
    rejects(lambda: G.curvature_diagnostics(saddle, [0.1, 0.2], kind="mean"), "kind")
    rejects(lambda: G.curvature_diagnostics(saddle, [0.1, 0.2, 0.3], kind="gaussian"), "m")
    rejects(lambda: G.curvature_diagnostics(SADDLE_METRIC, [0.1, 0.2], route="metric", sigma=np.eye(3)), "sigma")
    d = G.curvature_diagnostics(saddle, [0.1, 0.2], kind="gaussian")
    assert d["reason"] == 0 and abs(d["value"] - _k_saddle([0.1, 0.2])) <= d["tolerance"]
