"""Δ attention operators: spec worked examples (§3), identities, invariances, sharding, bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnverify.attention.delta.sparse import (
    delta_anchor_rows,
    delta_attention,
    delta_attention_strides,
    dense_causal_attention,
    recompute_attention,
    sink_window_attention,
    sink_window_mask,
)
from attnverify.attention.delta.claims import reference_causal_attention
from attnverify.attention.delta.theory import delta_cost, delta_tail_split, lemma1_decomposition, neighbour_cosine, row_cosine
from tests.helpers import assert_close, rng


@pytest.fixture(scope="module")
def t_iid():
    """The spec's T-iid fixture: default_rng(0), Q, K, V ~ N(0, 1) [512, 32] in that order."""
    r = np.random.default_rng(0)
    return tuple(r.normal(size=(512, 32)) for _ in range(3))


def test_t_iid_spec_values(t_iid):
    q, k, v = t_iid
    y = dense_causal_attention(q, k, v)
    ys = sink_window_attention(q, k, v, window=64, n_sink=4)
    assert_close(y, reference_causal_attention(q, k, v), rtol=0, atol=1e-13, what="dense vs numpy")
    # C3: the first row where sparse differs from full is 68 = w + n_sink
    assert int(np.argmax(np.abs(np.asarray(ys - y)).max(-1) > 0)) == 68
    # C1: gamma = 1 is full attention (spec: max error 5.6e-17)
    assert float(jnp.abs(delta_attention(q, k, v, gamma=1, window=64, n_sink=4) - y).max()) < 1e-15
    cos = lambda a: float(row_cosine(a, y)[-128:].mean())  # noqa: E731
    assert abs(cos(ys) - 0.4440) < 1e-4
    # C9 table, T-iid row (paper version, last 128 rows)
    for g, d_exp, r_exp in ((8, 0.4635, 0.5165), (64, 0.3410, 0.4517)):
        yh = delta_attention(q, k, v, gamma=g, window=64, n_sink=4)
        assert abs(cos(yh) - d_exp) < 1e-4 and abs(cos(recompute_attention(q, k, v, gamma=g, window=64, n_sink=4)) - r_exp) < 1e-4
        assert float(jnp.abs(yh[::g] - y[::g]).max()) < 1e-15  # C2 (spec: <= 6e-17)
    # C9 bullet: on non-anchor rows Delta is worse than sparse (0.387 vs 0.447 at gamma 8)
    rows = np.arange(384, 512)
    na = rows % 8 != 0
    c_d = np.asarray(row_cosine(delta_attention(q, k, v, gamma=8, window=64, n_sink=4), y))[rows][na].mean()
    c_s = np.asarray(row_cosine(ys, y))[rows][na].mean()
    assert abs(c_d - 0.387) < 1e-3 and abs(c_s - 0.447) < 1e-3


def test_code_variant_spec_c2(t_iid):
    q, k, v = t_iid
    y = np.asarray(dense_causal_attention(q, k, v))
    for g in (8, 64):
        paper = np.asarray(delta_attention(q, k, v, gamma=g, window=64, n_sink=4))
        code = np.asarray(delta_attention(q, k, v, gamma=g, window=64, n_sink=4, variant="code"))
        s_p = delta_tail_split(512, g).s_p
        assert s_p == 384 and np.array_equal(code[:s_p], paper[:s_p])  # bit for bit
        assert_close(code[s_p:], y[s_p:], rtol=0, atol=1e-15, what="dense tail")
        # pitfall 2: on the last 128 queries the code variant is trivially exact
        assert float(row_cosine(code, y)[-128:].min()) > 1 - 1e-12


def test_lemma1_spec_table():
    r = np.random.default_rng(2)
    q, k, v = r.normal(size=32), r.normal(size=(512, 32)), r.normal(size=512)
    z = k @ q / np.sqrt(32)
    top = np.zeros(512, bool)
    top[np.argsort(-z)[:32]] = True
    edges = np.zeros(512, bool)
    edges[:4] = edges[448:] = True
    for kept, row in ((top, (0.200416, 0.235717, 0.680616, 0.935506)), (edges, (-0.363112, -0.191067, 0.879690, 2.513934))):
        t = lemma1_decomposition(z, v, kept)
        assert_close([t.difference, t.remainder, t.ratio, t.bound], row, rtol=0, atol=6e-7, what="C6 table")
        assert abs(float(t.difference - t.dropped - t.remainder)) < 1e-15
        assert abs(float(t.remainder)) <= float(t.bound)


def test_cost_and_tail_split_spec_values():
    c = delta_cost(2048, 64)
    assert (c.anchor_entries, c.causal_entries) == (31_776, 2_098_176)
    assert abs(100 * delta_cost(2**17, 64).anchor_fraction - 1.5617) < 5e-5
    assert delta_cost(2**17, 64, 2048).window_eff == 3072
    table = {(2048, 64): (128, 1920, 30, True), (5000, 64): (136, 4864, 76, True), (2048, 48): (160, 1888, None, False), (100, 64): (164, -64, None, False)}
    for (s, g), (cut, s_p, anchors, valid) in table.items():
        t = delta_tail_split(s, g, released=True)
        assert (t.cut_n, t.s_p, t.valid) == (cut, s_p, valid)
        if anchors is not None:
            assert t.n_anchors == anchors
    fixed = delta_tail_split(2048, 48)
    assert fixed.s_p % 48 == 0 and fixed.cut_n >= 128 and fixed.valid


def test_all_dense_when_tail_covers_everything():
    q, k, v = (rng(3).normal(size=(2, 100, 4)) for _ in range(3))
    out = delta_attention(q, k, v, gamma=64, window=8, n_sink=2, variant="code")
    assert_close(out, reference_causal_attention(q, k, v), rtol=0, atol=1e-14)
    assert np.array_equal(delta_anchor_rows(100, 64, variant="code"), np.arange(100))


def test_float32_in_float32_out_and_c1_tolerance(t_iid):
    q, k, v = (jnp.asarray(x, jnp.float32) for x in t_iid)
    out = delta_attention(q, k, v, gamma=1, window=64, n_sink=4)
    assert out.dtype == jnp.float32
    assert float(jnp.abs(out - dense_causal_attention(q, k, v)).max()) < 1e-5  # spec: < 1e-5 in fp32


def test_sharded_heads_match_unsharded():
    devices = np.array(jax.devices())
    assert devices.size == 8
    mesh = jax.sharding.Mesh(devices, ("heads",))
    spec = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("heads"))
    q, k, v = (rng(4).normal(size=(8, 96, 16)) + i for i in range(3))
    ref = delta_attention(q, k, v, gamma=8, window=16, n_sink=2)
    out = delta_attention(*(jax.device_put(x, spec) for x in (q, k, v)), gamma=8, window=16, n_sink=2)
    assert len(out.sharding.device_set) == 8
    assert_close(out, ref, rtol=0, atol=1e-14)


def test_strides_equal_single_stride_calls():
    q, k, v = (rng(7).normal(size=(2, 70, 4)) for _ in range(3))
    out = delta_attention_strides(q, k, v, gammas=(4, 6, 1), window=9, n_sink=2)
    for g, o in zip((4, 6, 1), out):
        assert_close(o, delta_attention(q, k, v, gamma=g, window=9, n_sink=2), rtol=0, atol=1e-14, what=f"gamma {g}")
    with pytest.raises(ValueError, match="gamma must be an integer >= 1"):
        delta_attention_strides(q, k, v, gammas=(4, 0), window=9)
    with pytest.raises(ValueError, match="at least one stride"):
        delta_attention_strides(q, k, v, gammas=(), window=9)


def test_works_under_jit_and_vmap():
    q, k, v = (rng(5).normal(size=(3, 40, 4)) for _ in range(3))
    f = jax.jit(lambda a, b, c: delta_attention(a, b, c, gamma=4, window=6, n_sink=1))
    g = jax.vmap(lambda a, b, c: delta_attention(a, b, c, gamma=4, window=6, n_sink=1))
    ref = delta_attention(q, k, v, gamma=4, window=6, n_sink=1)
    assert_close(f(q, k, v), ref, atol=1e-15, rtol=0)
    assert_close(g(q, k, v), ref, atol=1e-15, rtol=0)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), gamma=st.sampled_from([1, 3, 8]), window=st.integers(1, 24), n_sink=st.integers(0, 4))
def test_invariances(seed, gamma, window, n_sink):
    """Key shifts change each row's logits by a constant (softmax invariant); a value shift b moves
    every output by b (all weights sum to one, and the correction cancels it); heads are independent."""
    r = rng(seed)
    q, k, v = (r.normal(size=(3, 24, 5)) for _ in range(3))
    kw = {"gamma": gamma, "window": window, "n_sink": n_sink}
    base = np.asarray(delta_attention(q, k, v, **kw))
    c, b = r.normal(size=(1, 1, 5)), r.normal(size=(1, 1, 5))
    assert_close(delta_attention(q, k + c, v, **kw), base, rtol=0, atol=1e-12, what="key shift")
    assert_close(delta_attention(q, k, v + b, **kw), base + b, rtol=0, atol=1e-12, what="value shift")
    perm = r.permutation(3)
    assert_close(delta_attention(q[perm], k[perm], v[perm], **kw), base[perm], rtol=0, atol=0, what="head permutation")


def test_metrics():
    a = rng(6).normal(size=(2, 10, 3))
    assert_close(row_cosine(a, 2 * a), np.ones((2, 10)), rtol=1e-15)
    assert_close(row_cosine(a, -a), -np.ones((2, 10)), rtol=1e-15)
    assert_close(neighbour_cosine(np.ones((4, 3))), 1.0, rtol=1e-15)
    assert sink_window_mask(5, 2, 1).sum() == 1 + 2 + 3 + 3 + 3


@pytest.mark.parametrize(
    ("kwargs", "shapes", "match"),
    [
        ({"gamma": 0}, None, "gamma must be an integer >= 1"),
        ({"gamma": -3}, None, "gamma must be an integer >= 1"),
        ({"gamma": 2.5}, None, "gamma must be an integer >= 1"),
        ({"window": 17}, None, "window 17 is larger than the sequence length n = 16"),
        ({"window": 0}, None, "window must be an integer >= 1"),
        ({"n_sink": -1}, None, "n_sink"),
        ({"variant": "hip"}, None, "variant"),
        ({}, ((2, 16, 4), (2, 16, 5), (2, 16, 4)), "mismatched shapes"),
        ({}, ((2, 16, 4), (3, 16, 4), (3, 16, 4)), "mismatched shapes"),
        ({}, ((2, 16, 4), (2, 15, 4), (2, 16, 4)), "mismatched shapes"),
        ({}, ((2, 8, 4), (2, 16, 4), (2, 16, 4)), "as many queries as keys"),
        ({}, ((16,), (16,), (16,)), r"shape \[\.\.\., n, d\]"),
    ],
)
def test_bad_input(kwargs, shapes, match):
    shapes = shapes or ((2, 16, 4),) * 3
    q, k, v = (np.ones(s) for s in shapes)
    args = {"gamma": 4, "window": 4, "n_sink": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        delta_attention(q, k, v, **args)


def test_bad_input_nan_and_helpers():
    q = np.ones((2, 16, 4))
    bad = q.copy()
    bad[1, 3, 2] = np.nan
    with pytest.raises(ValueError, match=r"k contains NaN or inf \(first at index \(1, 3, 2\)\)"):
        delta_attention(q, bad, q, gamma=4, window=4)
    with pytest.raises(ValueError, match="window 20 is larger"):
        sink_window_attention(q, q, q, window=20)
    with pytest.raises(ValueError, match="gamma"):
        recompute_attention(q, q, q, gamma=0, window=4)
    with pytest.raises(ValueError, match="gamma"):
        delta_tail_split(100, 0)
    with pytest.raises(ValueError, match="gamma"):
        delta_anchor_rows(100, 0)
    with pytest.raises(ValueError, match="window"):
        delta_cost(10, 2, window=11)


def test_neighbour_cosine_skips_zero_rows():
    d = np.ones((5, 3))
    d[2] = 0.0  # a row without dropped mass
    assert_close(neighbour_cosine(d), 1.0, rtol=1e-15)
    assert np.isnan(float(row_cosine(np.zeros((1, 3)), np.ones((1, 3)))[0]))
