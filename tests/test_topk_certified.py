"""Certified Top-k: exact agreement with the sort-based reference (ties, masks), guarantees,
fully masked rows, jit, sharding on 8 emulated devices, and bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import adversarial_logit_rows, random_logit_rows, rng
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from bounds import certified_topk, certified_topk_reference, tail_mass

EPS = [0.0, 1e-300, 1e-15, 1e-6, 0.01, 0.1, 0.5, 0.9]


def _same(a, b):
    assert np.array_equal(np.asarray(a.k), b.k), "k differs"
    assert np.array_equal(np.asarray(a.kept), b.kept), "kept set differs"
    assert np.array_equal(np.asarray(a.n_kept), b.n_kept)
    np.testing.assert_allclose(np.asarray(a.tau), b.tau, rtol=1e-13, atol=1e-300)


def _rows() -> np.ndarray:
    """Random rows (masks anywhere), adversarial rows and many-tie rows, all padded to width 64 (one
    shape, so the jitted core compiles once)."""
    g = rng(1)
    x, _ = random_logit_rows(g, 600, n_range=(2, 64))
    xa, _ = adversarial_logit_rows(g, 64)
    ties = np.round(g.normal(0, 1.5, (200, 64)))
    ties[:, 40:] = -np.inf
    return np.concatenate([x, xa, ties])


@pytest.mark.parametrize("tie", ["index", "group"])
def test_matches_reference_on_random_and_adversarial_rows(tie):
    g = rng(1)
    for rows in (_rows(),):
        for eps in EPS:
            _same(certified_topk(rows, eps, tie=tie), certified_topk_reference(rows, eps, tie=tie))
        e = g.uniform(0, 0.9, len(rows))  # per-row eps
        _same(certified_topk(rows, e, tie=tie), certified_topk_reference(rows, e, tie=tie))


def test_kept_set_is_certified_and_minimal_where_flagged():
    x = _rows()
    for eps in (1e-9, 0.05, 0.3):
        r = certified_topk(x, eps)
        tau_true = np.asarray(tail_mass(x, kept=np.asarray(r.kept)))
        assert (np.asarray(r.tau_upper) <= eps).all() and (tau_true <= eps * (1 + 1e-12)).all()
        k = np.asarray(r.k)
        prev = np.asarray(tail_mass(x, np.maximum(k - 1, 1)))
        certified = np.asarray(r.minimal_certified) & (k > 1)
        assert (prev[certified] > eps).all()
        np.testing.assert_allclose(np.asarray(r.kl), -np.log1p(-np.asarray(r.tau)), rtol=1e-14)


def test_fully_masked_rows_defined_behaviour():
    x = np.array([[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0]])
    r = certified_topk(x, 0.1)
    assert np.asarray(r.k).tolist() == [0, 2]  # p = (0.27, 0.73): dropping either exceeds 0.1
    assert not np.asarray(r.kept)[0].any()
    assert float(r.tau[0]) == 0.0 and float(r.tau_upper[0]) == 0.0 and float(r.kl[0]) == 0.0
    assert bool(r.minimal_certified[0])
    ref = certified_topk_reference(x, 0.1)
    assert ref.k.tolist() == [0, 2] and not ref.kept[0].any()


def test_single_entry_and_jit():
    assert int(certified_topk(np.array([5.0]), 0.5).k) == 1
    f = jax.jit(lambda x, e: certified_topk(x, e).k)
    x, _ = random_logit_rows(rng(3), 64)
    assert np.array_equal(np.asarray(f(jnp.asarray(x), 0.05)), certified_topk_reference(x, 0.05).k)


def test_sharded_batch_on_eight_devices():
    devs = jax.devices()
    assert len(devs) == 8
    x, _ = random_logit_rows(rng(4), 64, n_range=(2, 100))
    xs = jax.device_put(jnp.asarray(x), NamedSharding(Mesh(np.array(devs), ("d",)), PartitionSpec("d", None)))
    r = certified_topk(xs, 0.02)
    _same(r, certified_topk_reference(x, 0.02))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-30, 30), min_size=1, max_size=24), st.floats(0.0, 0.95), st.floats(-50, 50))
def test_shift_and_permutation_invariance(vals, eps, shift):
    x = np.full(24, -np.inf)  # fixed width: masked padding, one compiled shape
    x[: len(vals)] = vals
    r = certified_topk(x, eps)
    assert int(certified_topk(x + np.round(shift), eps).k) == int(r.k)  # integer shifts are exact in float64
    perm = np.random.default_rng(len(vals)).permutation(24)
    rp = certified_topk(x[perm], eps)
    assert int(rp.k) == int(r.k)
    if len(np.unique(vals)) == len(vals):  # without ties the kept set is permutation-equivariant
        assert np.array_equal(np.asarray(rp.kept), np.asarray(r.kept)[perm])


@pytest.mark.parametrize("bad,msg", [
    (np.array([[0.0, 1.0], [np.nan, 0.0]]), r"NaN at row \(1,\), index 0"),
    (np.array([[0.0, np.inf]]), r"\+inf at row \(0,\), index 1"),
])
def test_bad_logits(bad, msg):
    with pytest.raises(ValueError, match=msg):
        certified_topk(bad, 0.1)
    with pytest.raises(ValueError, match=msg):
        certified_topk_reference(bad, 0.1)


@pytest.mark.parametrize("eps", [-0.1, 1.0, 2.0, float("nan")])
def test_bad_eps(eps):
    with pytest.raises(ValueError, match="eps must lie in"):
        certified_topk(np.zeros(3), eps)
    with pytest.raises(ValueError, match="tie must be"):
        certified_topk(np.zeros(3), 0.1, tie="nope")
