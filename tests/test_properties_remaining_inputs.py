"""Property tests (issue 23): the input cases left by the earlier campaign now name their argument.

``tail_mass`` with a ``k`` that does not broadcast to the batch; ``budget_count`` with a string;
``obcache_scores`` with values of another length; ``delta_cost``/``delta_tail_split`` at length 0;
``tokenize`` with a non-string text. (``certified_topk``'s ``eps`` broadcast is issue 26; the sectional
curvature at m = 1 is in ``tests/test_properties_geometry.py``.)
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from attnverify import bounds as B
from attnverify.attention.delta.theory import delta_cost, delta_tail_split
from attnverify.attention.kv.eviction import budget_count
from attnverify.attention.kv.obcache import obcache_scores
from attnverify.attention.kv.window import window_attention
from tests._properties import FAST, covers, rejects


@covers("bounds", "tail_mass")
@FAST
@given(st.sampled_from([np.array([1, 2, 3]), np.array([[1, 2]]), np.ones((2, 2), int)]))
def test_tail_mass_k_of_the_wrong_shape(k):
    rejects(lambda: B.tail_mass(np.zeros((2, 5)), k), "k")


@FAST
@given(st.sampled_from(["abc", None, [0.5], "0.5"]))
def test_budget_count_needs_a_number(budget):
    rejects(lambda: budget_count(budget, 10), "budget")
    assert budget_count(0.5, 10) == 5 and budget_count(3, 10) == 3


@FAST
@given(st.sampled_from([(0, 4), (-1, 4)]))
def test_delta_counts_at_length_zero(args):
    rejects(lambda: delta_cost(*args), "n")
    rejects(lambda: delta_tail_split(*args), "s")


def test_obcache_scores_values_of_another_length():
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(3, 4)), rng.normal(size=(6, 4)), rng.normal(size=(6, 2))
    att = window_attention(jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), None)
    for bad in (v[:5], v[:, :1], v[0]):
        rejects(lambda: obcache_scores(att, jnp.asarray(bad)), "v")
    assert obcache_scores(att, jnp.asarray(v)).value.shape == (6,)


def test_tokenize_names_a_non_string_text():
    from attnverify.attention import load_bert, tokenize

    try:
        model = load_bert()
    except Exception as e:  # noqa: BLE001  (the MiniLM package is optional on a bare checkout)
        pytest.skip(f"MiniLM not installed: {e}")
    rejects(lambda: tokenize(model, ["ok", None]), "texts")
    rejects(lambda: tokenize(model, ["ok", 3]), "texts")


@covers("bounds", "tail_mass", "certified_topk")
def test_tail_mass_kept_is_a_mask_and_certified_topk_takes_a_traced_eps():
    import jax

    x = jnp.asarray(np.random.default_rng(5).normal(size=(3, 16)))
    for bad in (0.5, 2):
        rejects(lambda bad=bad: B.tail_mass(x, kept=jnp.full(x.shape, bad)), "kept")
    np.testing.assert_allclose(B.tail_mass(x, kept=np.ones(x.shape, int)), 0.0, atol=1e-15)
    traced = jax.jit(lambda e: B.certified_topk(x, e).k)(0.05)
    np.testing.assert_array_equal(np.asarray(traced), np.asarray(B.certified_topk(x, 0.05).k))


SHARD_SCRIPT = """
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, PartitionSpec as P
from attnverify.proofs_numeric import enable_x64
enable_x64()
from attnverify import bounds as B
mesh = Mesh(np.array(jax.devices()), ("x",))
L = jnp.asarray(np.random.default_rng(0).normal(size=(8, 64)) * 2)
f = jax.jit(jax.shard_map(lambda l: B.certified_topk(l, 0.05).k, mesh=mesh, in_specs=P("x"), out_specs=P("x")))
assert len(jax.devices()) == 2
assert (np.asarray(f(L)) == np.asarray(B.certified_topk(L, 0.05).k)).all()
print("SHARD_MAP_OK")
"""


@covers("bounds", "certified_topk")
def test_certified_topk_inside_a_user_shard_map():
    import os
    import subprocess
    import sys

    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SHARD_SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert "SHARD_MAP_OK" in out.stdout, out.stderr[-2000:]


@covers("bounds", "certified_topk")
def test_certified_topk_names_a_non_numeric_eps_and_a_non_bool_switch():
    x = jnp.zeros((2, 8))
    for bad in ("a", None, True):
        rejects(lambda bad=bad: B.certified_topk(x, bad), "eps")
    rejects(lambda: B.certified_topk(x, 0.1, exact_fallback=2), "exact_fallback")


def test_allreduce_counts_names_a_dtype_that_is_not_a_float():
    from attnverify.attention.fal import FALConfig
    from attnverify.attention.fal.counts import allreduce_counts

    cfg = FALConfig(2, 8, 2, 16)
    for bad in ("float7", "int32", None, 3):
        rejects(lambda bad=bad: allreduce_counts(cfg, 2, dtype=bad), "dtype")
    half, full = allreduce_counts(cfg, 2, dtype="bfloat16"), allreduce_counts(cfg, 2)
    assert all(half[c] == full[c] for c in ("fwd", "fwd_vec", "bwd_act", "bwd_vec"))
    assert 2 * half["fwd_bytes"] == full["fwd_bytes"] > 0


@covers("bounds", "mc_search_attention")
def test_mc_search_attention_refuses_a_scale_that_is_not_positive():
    rng = np.random.default_rng(1)
    q, k = rng.normal(size=(2, 3)), rng.normal(size=(8, 3))
    for bad in (0, 0.0, -0.5, np.nan, np.inf, True, "1"):
        rejects(lambda bad=bad: B.mc_search_attention(q, k, 0.1, scale=bad), "scale")
    assert B.mc_search_attention(q, k, 0.1, scale=0.5).k.shape == (2,)


@covers("geometry", "metric_condition_number")
def test_metric_condition_number_scaled_must_be_a_bool():
    from attnverify import geometry as G

    metric = lambda t: jnp.diag(jnp.stack([1.0 + t[0] ** 2, 4.0 + 0 * t[1]]))  # noqa: E731
    at = jnp.array([1.0, 0.0])
    for bad in (2, 0, "yes", None):
        rejects(lambda bad=bad: G.metric_condition_number(metric, at, scaled=bad), "scaled")
    np.testing.assert_allclose(G.metric_condition_number(metric, at), 2.0, rtol=1e-14)
    np.testing.assert_allclose(G.metric_condition_number(metric, at, scaled=True), 1.0, rtol=1e-14)


def test_forward_names_input_ids_longer_than_the_position_table():
    from attnverify.attention import forward, load_bert

    try:
        model = load_bert()
    except Exception as e:  # noqa: BLE001  (the MiniLM package is optional on a bare checkout)
        pytest.skip(f"MiniLM not installed: {e}")
    n = model.config.max_positions
    err = rejects(lambda: forward(model, np.zeros((1, n + 1), np.int32)), "input_ids")
    assert str(n) in str(err) and "max_positions" in str(err)


@covers("attention.models", "mean_pool")
def test_mean_pool_names_an_empty_mask_row_and_is_nan_under_jit():
    import jax

    from attnverify.attention import mean_pool

    h = jnp.asarray(np.random.default_rng(2).normal(size=(2, 3, 4)))
    m = np.array([[1, 1, 0], [0, 0, 0]])
    err = rejects(lambda: mean_pool(h, m), "mask")
    assert "row 1" in str(err)
    out = np.asarray(jax.jit(mean_pool)(h, m))
    assert np.isnan(out[1]).all() and np.isfinite(out[0]).all()
    np.testing.assert_allclose(out[0], np.asarray(mean_pool(h[:1], m[:1])[0]), rtol=1e-14)
