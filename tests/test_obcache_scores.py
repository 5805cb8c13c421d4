"""OBCache scores and exact perturbation errors: spec fixture T1 (C1-C10), properties, bad input, sharding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import linregress, spearmanr

from attnverify.attention.kv.perturbation import (
    causal_mask,
    exact_errors,
    obcache_scores,
    perturbation_errors_bruteforce,
    second_order_autodiff,
    window_attention,
)
from helpers import assert_close
from attnverify.experiments.kv_eviction.study import t1_fixture


@pytest.fixture(scope="module")
def t1():
    q, k, v = (jnp.asarray(x) for x in t1_fixture())
    att = window_attention(q, k, v)
    return q, k, v, att, obcache_scores(att, v), exact_errors(att, v)


def _loss(q, k, v, o, p, theta):
    d = v.shape[-1]
    out = window_attention(q, k.at[p].set(theta[d:]), v.at[p].set(theta[:d])).out
    return jnp.sum((out - o) ** 2)


def test_t1_closed_form_scores_match_spec(t1):  # C2, C3, C4 (spec numbers)
    *_, s, _ = t1
    assert_close(s.value[7], 0.27645673310603747, rtol=1e-14, what="S^V_7")
    assert_close(s.key[7], 0.9478691785830093, rtol=1e-14, what="S^K_7")
    assert_close(s.joint[7], 2.2226165429030402, rtol=1e-14, what="S^VK_7")
    assert_close(s.cross[7], 0.9982906312139934, rtol=1e-14, what="S^x_7")
    assert int(jnp.sum(s.cross < 0)) == 2
    assert_close(jnp.min(s.cross), -0.0014122, rtol=1e-4)
    assert_close(jnp.min(s.joint), 0.0013619, rtol=1e-4)


def test_t1_exact_errors_match_spec_and_brute_force(t1):  # C2, C5
    q, k, v, _, s, e = t1
    assert_close(e.key[7], 0.2168671555600025, rtol=1e-13)
    assert_close(e.joint[7], 0.2920921653205634, rtol=1e-13)
    assert_close(e.removal[7], 0.2962951761230514, rtol=1e-13)
    for kind in ("value", "key", "joint", "removal"):
        assert_close(getattr(e, kind), perturbation_errors_bruteforce(q, k, v, None, kind), rtol=1e-12, what=kind)
    assert_close(e.value, s.value, rtol=1e-14)


def test_t1_gradient_zero_and_gauss_newton(t1):  # C1
    q, k, v, att, _, _ = t1
    theta = jnp.concatenate([v[7], k[7]])
    f = lambda th: _loss(q, k, v, att.out, 7, th)  # noqa: E731
    assert float(jnp.max(jnp.abs(jax.jit(jax.grad(f))(theta)))) == 0.0
    jac = jax.jit(jax.jacfwd(lambda th: window_attention(q, k.at[7].set(th[16:]), v.at[7].set(th[:16])).out.ravel()))(theta)
    h = jax.jit(jax.hessian(f))(theta)
    assert float(jnp.linalg.norm(h - 2 * jac.T @ jac) / jnp.linalg.norm(h)) < 1e-14


def test_t1_autodiff_second_order_terms(t1):  # C3, C4
    q, k, v, _, s, _ = t1
    h = second_order_autodiff(q, k, v, None, 7)
    assert_close(h["key"], 0.9478691785830093, rtol=1e-13)
    assert_close(h["joint"], 2.2226165429030402, rtol=1e-13)
    assert_close(h["value"], s.value[7], rtol=1e-13)


def test_small_perturbation_limit_is_first_order(t1):  # C6: L/eps^2 -> S^K at rate O(eps)
    q, k, v, att, s, _ = t1
    eps = np.array([0.1, 0.01, 0.001])
    ratio = np.array([float(_loss(q, k, v, att.out, 7, jnp.concatenate([v[7], (1 - e) * k[7]]))) / e**2 for e in eps])
    assert_close(ratio, [0.80345, 0.93226, 0.94630], rtol=1e-4)
    fit = linregress(np.log(eps), np.log(np.abs(ratio - float(s.key[7]))))
    assert abs(fit.slope - 1.0) < 0.05


def test_t1_rank_agreement_table(t1):  # C7 (spec table)
    *_, att, s, e = t1
    oracle = np.asarray(e.removal)
    scores = {"V": s.value, "K": s.key, "VK": s.joint, "A": jnp.sum(att.probs, 0)}
    want = {"V": (0.99156, 1.0, 1.0), "K": (0.97636, 1.0, 0.9), "VK": (0.98574, 1.0, 1.0), "A": (0.95141, 0.6, 0.9)}
    top = lambda x, b: set(np.argsort(-np.asarray(x))[:b])  # noqa: E731
    for name, x in scores.items():
        rho = spearmanr(np.asarray(x), oracle).statistic
        got = (rho, len(top(x, 5) & top(oracle, 5)) / 5, len(top(x, 10) & top(oracle, 10)) / 10)
        assert_close(got, want[name], rtol=0, atol=5e-6, what=name)
        assert int(np.argmax(np.asarray(x))) == 29


def test_gqa_additivity_and_pre_reduction(t1):  # C9
    q, k, v, att, s, _ = t1
    rng = np.random.default_rng(0)
    rng.normal(size=(40, 16)), rng.normal(size=(40, 16)), rng.normal(size=(8, 16))
    qb = jnp.asarray(1.5 * rng.normal(size=(8, 16)))
    attb = window_attention(qb, k, v)
    summed = s.joint[7] + obcache_scores(attb, v).joint[7]
    assert_close(summed, 2.4274745577170544, rtol=1e-13)
    theta = jnp.concatenate([v[7], k[7]])
    f = lambda th: _loss(q, k, v, att.out, 7, th) + _loss(qb, k, v, attb.out, 7, th)  # noqa: E731
    d = -theta
    assert_close(0.5 * d @ jax.jit(jax.hessian(f))(theta) @ d, 2.4274745577170544, rtol=1e-13)
    mean_att = att._replace(probs=(att.probs + attb.probs) / 2, logits=(att.logits + attb.logits) / 2, out=(att.out + attb.out) / 2)
    assert_close(2 * obcache_scores(mean_att, v).joint[7], 1.20554, rtol=1e-5)


def test_set_value_zeroing_and_set_removal(t1):  # C10
    q, k, v, att, s, _ = t1
    P = jnp.array([3, 7, 11])
    zero_v = window_attention(q, k, v.at[P].set(0.0)).out
    assert_close(jnp.sum((zero_v - att.out) ** 2), 1.090580536645037, rtol=1e-13)
    assert_close(jnp.sum(s.value[P]), 1.0115955366008138, rtol=1e-13)
    keep = jnp.ones((8, 40), bool).at[:, P].set(False)
    removed = window_attention(q, k, v, keep).out
    assert_close(jnp.sum((removed - att.out) ** 2), 1.3357087812054338, rtol=1e-13)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), shift=st.floats(-5, 5), scale=st.floats(0.1, 4.0))
def test_properties_joint_nonnegative_permutation_equivariant_shift(seed, shift, scale):
    rng = np.random.default_rng(seed)
    w, n = 4, 9  # fixed shapes (one compilation); the data vary
    q, k, v = rng.normal(size=(w, 4)) * scale, rng.normal(size=(n, 4)), rng.normal(size=(n, 3))
    att = window_attention(q, k, v)
    s, e = obcache_scores(att, v), exact_errors(att, v)
    assert float(jnp.min(s.joint)) >= -1e-12 * float(jnp.max(s.joint))
    perm = rng.permutation(n)
    sp, ep = obcache_scores(window_attention(q, k[perm], v[perm]), v[perm]), exact_errors(window_attention(q, k[perm], v[perm]), v[perm])
    for name in ("value", "key", "joint"):
        assert_close(getattr(sp, name), np.asarray(getattr(s, name))[perm], rtol=1e-10, atol=1e-14, what=name)
    assert_close(ep.removal, np.asarray(e.removal)[perm], rtol=1e-10, atol=1e-14)
    # a common logit shift (extra coordinate) leaves A, S^V and E^rm unchanged (pitfall 6)
    q2 = np.concatenate([q, np.full((w, 1), shift * np.sqrt(4))], 1) * np.sqrt(5 / 4)
    att2 = window_attention(q2, np.concatenate([k, np.ones((n, 1))], 1), v)
    assert_close(att2.probs, att.probs, rtol=1e-10, atol=1e-14)
    assert_close(obcache_scores(att2, v).value, s.value, rtol=1e-10, atol=1e-14)
    assert_close(exact_errors(att2, v).removal, e.removal, rtol=1e-9, atol=1e-14)


def test_masked_tokens_contribute_nothing_and_no_nan():
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(2, 4, 8)), rng.normal(size=(2, 10, 8)), rng.normal(size=(2, 10, 8))
    m = np.broadcast_to(np.asarray(causal_mask(10, np.arange(2, 6))), (2, 4, 10))
    att = window_attention(q, k, v, m)
    s, e = obcache_scores(att, v), exact_errors(att, v)
    for x in (*s, *e):
        assert np.isfinite(np.asarray(x)).all()
        assert_close(np.asarray(x)[:, 6:], np.zeros((2, 4)), atol=0.0)
    for kind in ("key", "joint", "removal"):
        assert_close(getattr(e, kind), perturbation_errors_bruteforce(q, k, v, m, kind), rtol=1e-11, what=kind)


def test_removal_of_the_only_visible_key_is_infinite():
    q, k, v = np.ones((2, 2)), np.ones((3, 2)), np.arange(6.0).reshape(3, 2)
    m = np.array([[True, False, False], [True, True, False]])
    e = exact_errors(window_attention(q, k, v, m), v)
    assert np.isinf(float(e.removal[0])) and np.isfinite(float(e.removal[1]))
    assert np.isinf(float(perturbation_errors_bruteforce(q, k, v, m, "removal")[0]))


def test_bad_input_is_rejected():
    q, k, v = np.ones((3, 4)), np.ones((5, 4)), np.ones((5, 2))
    with pytest.raises(ValueError, match="query dim"):
        window_attention(np.ones((3, 3)), k, v)
    with pytest.raises(ValueError, match="keys .* values"):
        window_attention(q, k, np.ones((6, 2)))
    with pytest.raises(ValueError, match="NaN/inf at index \\(1, 2\\)"):
        window_attention(q, k.copy() + np.where(np.arange(20).reshape(5, 4) == 6, np.nan, 0), v)
    with pytest.raises(ValueError, match="sees no key"):
        window_attention(q, k, v, np.zeros((3, 5), bool))
    with pytest.raises(ValueError, match="does not broadcast"):
        window_attention(q, k, v, np.ones((2, 5), bool))
    with pytest.raises(ValueError, match="batch/head axes"):
        window_attention(np.ones((2, 3, 4)), np.ones((3, 5, 4)), np.ones((3, 5, 2)))
    with pytest.raises(ValueError, match="query positions"):
        causal_mask(4, np.arange(2, 6))
    with pytest.raises(ValueError, match="kind must be"):
        perturbation_errors_bruteforce(q, k, v, None, "evict")


def test_sharded_heads_give_the_same_scores():
    devices = np.array(jax.devices())
    assert devices.size == 8
    rng = np.random.default_rng(2)
    q, k, v = rng.normal(size=(8, 4, 8)), rng.normal(size=(8, 16, 8)), rng.normal(size=(8, 16, 8))
    sh = jax.sharding.NamedSharding(jax.sharding.Mesh(devices, ("h",)), jax.sharding.PartitionSpec("h"))
    qs, ks, vs = (jax.device_put(jnp.asarray(x), sh) for x in (q, k, v))
    ref = obcache_scores(window_attention(q, k, v), v)
    got = obcache_scores(window_attention(qs, ks, vs), vs)
    for a, b in zip(got, ref):
        assert_close(a, b, rtol=1e-13, atol=1e-15)
