"""Eviction policies (kvpress style: one shared list, generic tests), host reductions (C11), streaming (C12),
budgets and bad input, sharding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnverify.attention.kv.eviction import (
    AccumulatedAttention,
    OBCacheJoint,
    OBCacheKey,
    budget_count,
    eviction_error,
    eviction_policies,
    h2o,
    keep_mask,
    keep_masks,
    max_pool1d,
    select_tokens,
    snapkv,
    tova,
)
from attnverify.attention.kv.perturbation import causal_mask, obcache_scores, window_attention
from helpers import assert_close

N, F, D = 48, 8, 8
POLICIES = eviction_policies(window=8)


@pytest.fixture(scope="module")
def qkv():
    rng = np.random.default_rng(0)
    return tuple(jnp.asarray(rng.normal(size=(3, N + F, D)) * s) for s in (1.5, 1.0, 1.0))


def _causal_probs(q, k):
    n = k.shape[-2]
    z = jnp.einsum("hid,hjd->hij", q, k) / np.sqrt(q.shape[-1])
    return jax.nn.softmax(jnp.where(np.tri(n, dtype=bool), z, -jnp.inf), axis=-1)


@pytest.mark.parametrize("host", ["h2o", "tova", "snapkv"])
def test_every_policy_keeps_budget_recent_and_sinks_and_top_scores(host, qkv):
    q, k, v = (x[:, :N] for x in qkv)
    group = tuple(p for p in POLICIES if p.host == host)
    masks = np.asarray(keep_masks(group, q, k, v, 0.25, n_recent=3, n_sinks=2))
    w = group[0].window or N
    att = window_attention(q[:, N - w :], k, v, causal_mask(N, jnp.arange(N - w, N)))
    for p, keep in zip(group, masks):
        assert keep.shape == (3, N) and (keep.sum(-1) == budget_count(0.25, N)).all(), p.name
        assert keep[:, -3:].all() and keep[:, :2].all(), p.name
        score = p.score(att, v)
        assert score.shape == (3, N) and np.isfinite(np.asarray(score)).all()
        assert (keep == np.asarray(select_tokens(score, 0.25, n_recent=3, n_sinks=2, pool=p.pool))).all(), p.name


def test_host_reductions_bit_exact(qkv):  # C11
    q, k, v = (x[:, :N] for x in qkv)
    a = np.asarray(_causal_probs(q, k))
    rows = lambda w: window_attention(q[:, N - w :], k, v, causal_mask(N, jnp.arange(N - w, N)))  # noqa: E731
    assert_close(h2o().score(rows(N), v), a.sum(-2), rtol=1e-14, atol=1e-15)
    assert_close(tova().score(rows(1), v), a[:, -1], rtol=1e-14, atol=1e-15)
    snap = snapkv(window=8).score(rows(8), v)
    assert_close(snap, a[:, -8:].sum(-2), rtol=1e-14, atol=1e-15)
    ref = np.stack([[np.max(np.asarray(snap)[h, max(0, i - 3) : i + 4]) for i in range(N)] for h in range(3)])
    assert_close(max_pool1d(snap, 7), ref, rtol=0.0)


def test_streaming_accumulation_equals_batch(qkv):  # C12
    q, k, v = (x[:, :N] for x in qkv)
    w = 6
    batch = obcache_scores(window_attention(q[:, N - w :], k, v, causal_mask(N, jnp.arange(N - w, N))), v)
    acc = sum(obcache_scores(window_attention(q[:, t : t + 1], k, v, causal_mask(N, jnp.array([t]))), v).joint for t in range(N - w, N))
    assert_close(acc, batch.joint, rtol=1e-12, atol=1e-15)
    last = obcache_scores(window_attention(q[:, -1:], k, v, causal_mask(N, jnp.array([N - 1]))), v)
    assert_close(OBCacheKey(window=1).score(window_attention(q[:, -1:], k, v, causal_mask(N, jnp.array([N - 1]))), v), last.key, rtol=0.0)


def test_selection_prefers_high_scores_breaks_ties_low_and_pools_candidates_only():
    s = jnp.array([[0.0, 5.0, 1.0, 1.0, 3.0, 9.0, 0.5, 0.2]])
    assert np.asarray(select_tokens(s, 3)).nonzero()[1].tolist() == [1, 4, 5]
    ties = jnp.zeros((1, 6))
    assert np.asarray(select_tokens(ties, 2)).nonzero()[1].tolist() == [0, 1]
    # the recent token (index 7) is kept and never pooled into the candidates
    s2 = jnp.array([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 100.0]])
    keep = np.asarray(select_tokens(s2, 3, n_recent=1, pool=3))
    assert keep[0].nonzero()[0].tolist() == [5, 6, 7]


def test_eviction_error_keep_all_is_zero_and_decreases_with_budget(qkv):
    q, k, v = qkv
    assert float(jnp.max(eviction_error(q[:, N:], k, v, jnp.ones((3, N), bool)))) == 0.0
    errs = [float(jnp.mean(eviction_error(q[:, N:], k, v, keep_mask(h2o(OBCacheJoint), q[:, :N], k[:, :N], v[:, :N], b)))) for b in (0.1, 0.5, 1.0)]
    assert errs[0] > errs[1] > errs[2] == 0.0


def test_bad_input_is_rejected(qkv):
    q, k, v = (x[:, :N] for x in qkv)
    for b in (0.0, -0.1, 1.5, float("nan"), True):
        with pytest.raises(ValueError, match="budget"):
            budget_count(b, N)
    with pytest.raises(ValueError, match="budget count 49"):
        keep_mask(h2o(), q, k, v, N + 1)
    with pytest.raises(ValueError, match="window 64"):
        keep_mask(snapkv(window=64), q, k, v, 0.5)
    with pytest.raises(ValueError, match="exceeds the budget"):
        keep_mask(h2o(), q, k, v, 4, n_recent=3, n_sinks=2)
    with pytest.raises(ValueError, match="same window"):
        keep_masks((h2o(), tova()), q, k, v, 0.5)
    with pytest.raises(ValueError, match="same length"):
        keep_mask(h2o(), q[:, :10], k, v, 0.5)
    with pytest.raises(ValueError, match="prompt .* future"):
        eviction_error(qkv[0][:, N:], qkv[1], qkv[2], jnp.ones((3, N - 1), bool))
    with pytest.raises(ValueError, match="keys .* values"):
        keep_mask(h2o(), q, k, v[:, :-1], 0.5)
    with pytest.raises(ValueError, match="odd"):
        max_pool1d(jnp.ones(5), 4)


def test_policy_is_a_dataclass_with_one_extension_point():
    assert {p.name for p in POLICIES} >= {"h2o", "tova+obc-k", "snapkv+obc-vk"}
    assert AccumulatedAttention(window=3) == AccumulatedAttention(window=3) != OBCacheKey(window=3)


def test_sharded_heads_give_the_same_keep_mask(qkv):
    devices = np.array(jax.devices())
    rng = np.random.default_rng(3)
    q, k, v = (rng.normal(size=(8, N, D)) for _ in range(3))
    sh = jax.sharding.NamedSharding(jax.sharding.Mesh(devices, ("h",)), jax.sharding.PartitionSpec("h"))
    got = keep_mask(snapkv(OBCacheKey, window=8), *(jax.device_put(jnp.asarray(x), sh) for x in (q, k, v)), 0.3, n_recent=2)
    assert (np.asarray(got) == np.asarray(keep_mask(snapkv(OBCacheKey, window=8), q, k, v, 0.3, n_recent=2))).all()
