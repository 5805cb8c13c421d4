"""Curvature engine: spec values, conventions, sharding, bad input, degenerate charts, invariances."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from attnverify.geometry import (
    gaussian_curvature, gaussian_curvature_extrinsic, metric_is_degenerate, pullback_metric, ricci_tensor,
    riemann_tensor, scalar_curvature, sectional_curvature_matrix_free,
)
from attnverify.geometry._claims_gating import curvatures
from attnverify.geometry._claims_truths import _DEGENERATE, _case_fn, _degenerate_fn
from attnverify.geometry._gated_constructions import bernoulli_saddle_mean, gate_times_affine_mean, gated_sphere_mean, two_gates_mean
from attnverify.geometry._symbolic import sym_gaussian_curvature, sym_pullback_metric
from tests.helpers import assert_close, random_spd


def _sphere(t):
    return jnp.diag(jnp.stack([1.0, jnp.sin(t[0]) ** 2]))


@jax.jit
def _sphere_all(t):
    return gaussian_curvature(_sphere, t), ricci_tensor(_sphere, t), scalar_curvature(_sphere, t)


def test_unit_sphere_pins_the_sign_convention():
    t = jnp.array([0.7, 0.3])
    k, ric, s = _sphere_all(t)
    assert_close(k, 1.0, rtol=1e-12, what="K")  # a flipped convention would give -1
    assert_close(ric, np.asarray(_sphere(t)), rtol=1e-12, atol=1e-15, what="Ric = g")
    assert_close(s, 2.0, rtol=1e-12, what="S")


def _k_from_case(name, pts):
    outs = _case_fn(name)(jnp.asarray(np.repeat(np.asarray(pts, float), 16 // len(pts), axis=0)))
    return [np.asarray(r)[:, 0, 1, 0, 1] / np.linalg.det(np.asarray(g)) for r, g in outs]


def test_spec_table_values():
    # spec §3 table: saddle z = xy at (0.5, 0.2) and torus R = 3, a = 1 at u = 0.5, both methods
    for k in _k_from_case("saddle_xy", [[0.5, 0.2]]):
        assert_close(k[0], -0.600925425154738, rtol=1e-13)
    for k in _k_from_case("torus_of_revolution", [[0.5, 1.1]]):
        assert_close(k[0], 0.226322082865604, rtol=1e-13)


def test_univariate_normal_ricci():
    sig = 0.7
    r_out = _case_fn("univariate_normal_fisher_rao")(jnp.asarray(np.tile([0.3, sig], (16, 1))))
    (r, g), = r_out
    ginv = np.linalg.inv(np.asarray(g[0]))
    ric = np.einsum("ki,ijkl->jl", ginv, np.asarray(r[0]))
    assert_close(ric, np.diag([-1 / (2 * sig**2), -1 / sig**2]), rtol=1e-12, atol=1e-14, what="Ric")
    assert_close(np.einsum("jl,jl->", ginv, ric), -1.0, rtol=1e-12, what="S")


def test_gated_sphere_spec_values():
    # spec C4: r = 2 gives K = 0.25 at (0.3, 0.4); Sigma = 0.25 I gives 0.0625 (both methods)
    x = np.array([[0.3, 0.4], [0.3, 0.4]])
    k = curvatures(gated_sphere_mean, {"r": np.array([2.0, 2.0])}, x, np.stack([np.eye(3), 0.25 * np.eye(3)]), method="both")
    assert_close(k, np.array([[0.25, 0.25], [0.0625, 0.0625]]), rtol=1e-12)


def test_c3_and_c7_spec_values():
    k = curvatures(bernoulli_saddle_mean, {"z": np.zeros(2)}, np.array([[0.0, 0.0], [1.0, -0.5]]), np.stack([np.eye(3)] * 2), method="both")
    assert_close(k, np.array([[-4.0, -4.0], [-2.10786224202637, -2.10786224202637]]), rtol=1e-13)
    kb = curvatures(gate_times_affine_mean, {"w": np.array([[1.3, -0.7]]), "b": np.array([0.2]), "d": np.array([[0.4, 0.9]]), "c": np.array([1.0])}, np.array([[0.1, 0.5]]))
    assert_close(kb, [-0.0584268240872376], rtol=1e-13)
    kc = curvatures(two_gates_mean, {"w1": np.array([[1.0, 0.2]]), "w2": np.array([[-0.3, 1.1]]), "b1": np.array([1.5]), "b2": np.array([1.5]), "A": np.array([2.0])}, np.zeros((1, 2)))
    assert_close(kc, [0.0232125759630369], rtol=1e-13)


def test_sympy_pipeline_matches_closed_form():
    x, y = sp.symbols("x y", real=True)
    k = sym_gaussian_curvature(sym_pullback_metric([x, y, x * y], (x, y)), (x, y))
    assert sp.simplify(k + 1 / (1 + x**2 + y**2) ** 2) == 0


def test_sharded_batch_matches_unsharded():
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = jax.devices()
    assert len(devices) == 8
    rng = np.random.default_rng(3)
    n = 16
    p = {"w": rng.normal(size=(n, 2)), "b": rng.normal(size=n), "d": rng.normal(size=(n, 2)), "c": rng.normal(size=n)}
    x = rng.normal(size=(n, 2))
    plain = curvatures(gate_times_affine_mean, p, x)
    shard = NamedSharding(Mesh(np.array(devices), ("batch",)), PartitionSpec("batch"))
    from attnverify.geometry._batched import gaussian_curvature_batch

    ps = jax.tree_util.tree_map(lambda a: jax.device_put(a, shard), p)
    out = gaussian_curvature_batch(gate_times_affine_mean, "extrinsic")(ps, jax.device_put(x, shard), jax.device_put(np.stack([np.eye(3)] * n), shard))
    assert len(out.sharding.device_set) == 8
    assert_close(np.asarray(out), plain, rtol=1e-14, atol=1e-17)


def _saddle(t):
    return jnp.stack([t[0], t[1], t[0] * t[1]])


def test_bad_input_raises_clear_errors():
    t = np.array([0.5, 0.2])
    with pytest.raises(ValueError, match="not positive definite"):
        pullback_metric(_saddle, np.diag([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="not symmetric"):
        pullback_metric(_saddle, np.array([[1.0, 0.5, 0], [0, 1, 0], [0, 0, 1]]))
    with pytest.raises(ValueError, match="non-finite"):
        pullback_metric(_saddle, np.diag([1.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match=r"indices \[1\]"):
        gaussian_curvature_extrinsic(_saddle, np.array([0.1, np.inf]))
    with pytest.raises(ValueError, match="d=3"):
        gaussian_curvature_extrinsic(_saddle, t, np.eye(4))
    with pytest.raises(ValueError, match="must return an"):
        riemann_tensor(lambda th: jnp.eye(3), t)
    with pytest.raises(ValueError, match="m=2"):
        gaussian_curvature(lambda th: jnp.eye(3), np.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        sectional_curvature_matrix_free(_saddle, t, np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="not an immersion"):
        gaussian_curvature_extrinsic(lambda th: th[:1], t)
    with pytest.raises(ValueError, match="1-D"):
        riemann_tensor(_sphere, np.zeros((2, 2)))


def test_degenerate_chart_is_nan_and_flagged_never_finite():
    name, mu, th = _DEGENERATE[0]  # a curve in R^3 parametrised by two coordinates: rank J = 1
    k_a, k_b, k_mf, flag = _degenerate_fn(mu)(jnp.asarray(th))
    assert np.isnan(k_a) and np.isnan(k_b) and np.isnan(k_mf) and bool(flag)


def test_metric_is_degenerate_flags_indefinite_metric():
    assert bool(metric_is_degenerate(lambda t: jnp.diag(jnp.array([1.0, -1.0])), np.zeros(2)))
    assert not bool(metric_is_degenerate(_sphere, np.array([0.7, 0.1])))


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_invariances_property(seed):
    """C9: affine/orthogonal invariance, reparametrisation invariance, Sigma scaling (hypothesis seeds)."""
    from attnverify.geometry._claims_invariance import invariance_batch, invariance_instances

    rng = np.random.default_rng(seed)
    for kind in ("affine", "orthogonal", "scaling"):
        args, s = invariance_instances(rng, kind)
        k = np.asarray(invariance_batch(*args))
        assert_close(k[:, 1], k[:, 0], rtol=1e-9, atol=1e-11, what="intrinsic vs extrinsic")
        assert_close(k[:, 2], k[:, 1], rtol=1e-9, atol=1e-11, what="affine invariance")
        assert_close(k[:, 3], k[:, 0], rtol=1e-9, atol=1e-11, what="reparametrisation")
        if kind == "scaling":
            assert_close(k[:, 0], s**2 * k[:, 4], rtol=1e-9, atol=1e-11, what="Sigma = s^2 I")


def test_random_spd_helper_is_spd():
    a = random_spd(np.random.default_rng(0), 4, 100.0)
    assert np.linalg.eigvalsh(a).min() > 0


@pytest.mark.slow
def test_matrix_free_agrees_with_full_tensor_at_m64():
    import functools

    from attnverify.geometry._random_maps import mlp_mean, random_mlp_params

    rng = np.random.default_rng(0)
    m = 64
    p = random_mlp_params(rng, m, m + 1, hidden=16)
    mu = functools.partial(mlp_mean, p)
    th, u, v = (rng.standard_normal(m) * s for s in (0.3, 1.0, 1.0))
    r = jax.jit(lambda t: riemann_tensor(pullback_metric(mu), t))(th)
    g = np.asarray(pullback_metric(mu)(th))
    k_full = np.einsum("ijkl,i,j,k,l->", np.asarray(r), u, v, u, v) / ((u @ g @ u) * (v @ g @ v) - (u @ g @ v) ** 2)
    k_mf = jax.jit(lambda t: sectional_curvature_matrix_free(mu, t, u, v))(th)
    assert_close(k_mf, k_full, rtol=1e-9, atol=1e-12)


def test_plot_curvature_quick(tmp_path):
    from attnverify.proofs_numeric.cli import main

    assert main(["plot", "curvature", "--quick", "--out", str(tmp_path)]) == 0
    for stem in ("curvature_heatmaps", "curvature_vs_depth"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 0 and (tmp_path / f"{stem}.svg").exists()
        assert (tmp_path / f"{stem}.svg").stat().st_size < 1_000_000  # dense images are rasterised


# ---------------------------------------------------------------- curvature_field (issue 11: the XLA:CPU wedge)
_HANG_SCRIPT = r"""
import sys, time
sys.path.insert(0, {root!r})
from attnverify.proofs_numeric import enable_x64
enable_x64()
import jax, jax.numpy as jnp, numpy as np
from attnverify.geometry import curvature_field
m, n = 4, 10_000
rng = np.random.default_rng(0)
A, B = jnp.asarray(rng.standard_normal((3 * m, m))), jnp.asarray(rng.standard_normal((3 * m, m)))
mu = lambda x: jax.nn.sigmoid(B @ x) * (A @ x)
k = np.asarray(curvature_field(mu, rng.standard_normal((n, m))))
print(k.shape[0], float(np.isfinite(k).mean()))
"""


def test_curvature_field_large_batch_does_not_hang():
    # the case: jit(vmap(scalar_curvature_extrinsic)) over 1e4 points at m = 4 wedged XLA:CPU
    # (0 % CPU) in about half the runs on 2 cores; a hang fails here by the timeout, not by blocking
    import pathlib
    import subprocess
    import sys

    root = str(pathlib.Path(__file__).resolve().parent.parent)
    try:
        p = subprocess.run([sys.executable, "-c", _HANG_SCRIPT.format(root=root)], capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail("curvature_field over 1e4 points did not finish in 240 s (XLA:CPU wedge, docs/errors.md)")
    assert p.returncode == 0, p.stderr[-2000:]
    n, finite = p.stdout.split()
    assert int(n) == 10_000 and float(finite) > 0.9


def test_curvature_field_matches_closed_form_and_handles_groups():
    from attnverify.geometry import curvature_field

    mu = lambda t: jnp.array([t[0], t[1], t[0] * t[1]])  # noqa: E731
    pts = np.random.default_rng(1).standard_normal((7, 2))
    want = -1.0 / (1.0 + pts[:, 0] ** 2 + pts[:, 1] ** 2) ** 2  # saddle z = xy (spec §3 table)
    assert_close(curvature_field(mu, pts, kind="gaussian", batch_size=3), want, rtol=1e-10, what="extrinsic, 3 chunks")
    assert_close(curvature_field(pullback_metric(mu), pts, route="metric"), 2 * want, rtol=1e-10, what="S = 2K")
    # grouped parameters: one scale c per group; mu_c = c * mu has K / c^2
    scaled = lambda c, t: c * mu(t)  # noqa: E731
    k = curvature_field(scaled, np.stack([pts, pts]), params=jnp.array([1.0, 2.0]), kind="gaussian", route="intrinsic")
    assert_close(k, np.stack([want, want / 4]), rtol=1e-10, what="grouped")
    assert curvature_field(mu, np.zeros((0, 2))).shape == (0,)
    assert_close(jax.jit(lambda x: curvature_field(mu, x, kind="gaussian"))(pts), want, rtol=1e-10, what="traced")


def test_safe_batch_size_keeps_lapack_calls_below_the_split():
    from attnverify.geometry import safe_batch_size
    from attnverify.geometry._field import QR_WORK_LIMIT, SVD_WORK_LIMIT

    for m in range(1, 70):
        b = safe_batch_size(m, 3 * m)
        assert b >= 1 and (b == 1 or (b * m**3 <= SVD_WORK_LIMIT and b * 3 * m**3 <= QR_WORK_LIMIT))
