"""Hybrid linear + sliding-window attention: operators against a literal loop of the spec's
formula, the registered claims C1-C8 (small scale), deliberately wrong formulas, bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.sharding import NamedSharding, PartitionSpec as P

import attnverify.attention.hybrid.claims as hc
import attnverify.attention.hybrid.claims_structure as hs
from attnverify import proofs_numeric as pn
from attnverify.attention.hybrid.operators import (causal_linear_attention, hybrid_attention, hybrid_attention_recurrent,
                               window_weight)
from attnverify.attention.hybrid.features import hedgehog_features, hedgehog_init, ssd_draws, ssd_schedule
from helpers import assert_close, rng

IDS = ["hybrid.parallel_equals_recurrent", "hybrid.full_window_is_softmax", "hybrid.window_one_gamma_zero_is_la",
       "hybrid.linear_attention_recurrent", "hybrid.hedgehog_properties", "hybrid.output_structure",
       "hybrid.swa_only", "hybrid.ssd_draw_frequency"]


def _loop_reference(q, k, v, fq, fk, w, gamma, lam):
    """The spec's §2 formula, 1-based indices, one query at a time (numpy)."""
    T, dh = q.shape
    y = np.zeros((T, v.shape[1]))
    for n in range(1, T + 1):
        W = range(max(1, n - w + 1), n + 1)
        s = {i: q[n - 1] @ k[i - 1] / np.sqrt(dh) for i in W}
        c = max(s.values())
        num = sum(gamma * np.exp(s[i] - c) * v[i - 1] for i in W) + sum(lam * (fq[n - 1] @ fk[j - 1]) * v[j - 1] for j in range(1, n - w + 1))
        den = sum(gamma * np.exp(s[i] - c) for i in W) + sum(lam * (fq[n - 1] @ fk[j - 1]) for j in range(1, n - w + 1))
        y[n - 1] = num / den
    return y


def _problem(seed, T=9, dh=4, dprime=3):
    r = rng(seed)
    q, k, v = r.standard_normal((T, dh)) * 2, r.standard_normal((T, dh)), r.standard_normal((T, 2))
    W1, W2 = hedgehog_init(jax.random.PRNGKey(seed), dh, dprime), hedgehog_init(jax.random.PRNGKey(seed + 1), dh, dprime)
    return q, k, v, np.asarray(hedgehog_features(q, W1)), np.asarray(hedgehog_features(k, W2))


@pytest.mark.parametrize("w", [1, 3, 9, 10])
def test_parallel_and_recurrent_match_the_literal_formula(w):
    q, k, v, fq, fk = _problem(w)
    ref = _loop_reference(q, k, v, fq, fk, w, 0.3, 0.7)
    y, r = hybrid_attention(q, k, v, fq, fk, window=w, gamma=0.3, lam=0.7)
    assert_close(y, ref, rtol=1e-12, atol=1e-13, what="parallel")
    assert_close(hybrid_attention_recurrent(q, k, v, fq, fk, window=w, gamma=0.3, lam=0.7), ref, rtol=1e-12, atol=1e-13, what="recurrent")
    assert np.all((np.asarray(r) >= 0) & (np.asarray(r) <= 1))


def test_default_window_weight_is_one_tenth():
    # spec: omega_0 = -2.1972 so that gamma = 0.1 (closed form: sigmoid(-ln 9) = 1/10)
    assert_close(window_weight(jnp.asarray(-np.log(9.0))), 0.1, rtol=1e-15)
    assert_close(window_weight(jnp.asarray(-2.1972)), 0.1, rtol=1e-4)


@pytest.mark.parametrize("cid", IDS)
def test_claims_verified_at_small_scale(cid):
    r = pn.run_claim(pn.get_claim(cid), scale=0.01)
    assert r.verdict is pn.Verdict.VERIFIED, r.message
    c = pn.get_claim(cid)
    assert r.symbolic == ("n/a" if c.symbolic is None else "proved" if c.symbolic_kind == "derivation" else "identity")


def _run_with_wrong(monkeypatch, module, name, wrong, jitted, claim_id):
    """Run a claim at small scale with ``module.name`` replaced by a deliberately wrong formula
    (``jitted`` is the compiled check whose cache must not keep the right one)."""
    monkeypatch.setattr(module, name, wrong)
    jitted.clear_cache()
    try:
        return pn.run_claim(pn.get_claim(claim_id), scale=0.01)
    finally:
        monkeypatch.undo()
        jitted.clear_cache()


def test_wrong_decode_order_fails_c1(monkeypatch):
    # the spec's pitfall: folding k_{n-w} one step late is an off-by-one window (w + 1 keys)
    real = hc.hybrid_attention_recurrent
    wrong = lambda *a, window, **kw: real(*a, window=window + 1, **kw)  # noqa: E731
    r = _run_with_wrong(monkeypatch, hc, "hybrid_attention_recurrent", wrong, hc._parallel_vs_recurrent, "hybrid.parallel_equals_recurrent")
    assert r.verdict is pn.Verdict.FAILED and "exceeds tolerance" in r.message


def test_dropping_the_max_shift_fails_c6(monkeypatch):
    # without c_n the window terms e^{s} no longer cancel a row shift against the linear terms
    def wrong(s, kap, v, w):
        p = real(s, kap, v, w)
        T = s.shape[-1]
        n, i = jnp.arange(T)[:, None], jnp.arange(T)[None, :]
        e = jnp.where((i <= n) & (i > n - w), jnp.exp(s), 0.0)
        return p._replace(window_num=e @ v, window_den=e.sum(-1))

    real = hs.hybrid_parts
    r = _run_with_wrong(monkeypatch, hs, "hybrid_parts", wrong, hs._structure_errors, "hybrid.output_structure")
    assert r.verdict is pn.Verdict.FAILED


def test_components():
    q, k, v, fq, fk = _problem(3)
    swa, _ = hybrid_attention(q, k, v, fq, fk, window=3, gamma=0.2, component="swa")
    assert_close(swa, hybrid_attention(q, k, v, fq, fk, window=3, gamma=5.0, component="swa")[0], rtol=1e-14, atol=1e-15)
    la, r = hybrid_attention(q, k, v, fq, fk, window=3, gamma=0.2, component="la_full")
    assert_close(la, causal_linear_attention(fq, fk, v), rtol=1e-14) and np.all(np.asarray(r) == 1)
    sinks, _ = hybrid_attention(q, k, v, fq, fk, window=3, gamma=0.2, component="sinks", sinks=1)
    assert_close(sinks, np.repeat(v[:1], len(v), 0), rtol=1e-14)  # one sink: every row reads v_1
    assert np.all(np.asarray(hybrid_attention(q, k, v, fq, fk, window=3, gamma=0.2, component="none")[0]) == 0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), w=st.integers(1, 10), c=st.floats(1e-3, 1e3))
def test_common_scaling_of_gamma_and_lambda_is_invisible(seed, w, c):
    q, k, v, fq, fk = _problem(seed)
    y1, r1 = hybrid_attention(q, k, v, fq, fk, window=w, gamma=0.4, lam=1.3)
    y2, r2 = hybrid_attention(q, k, v, fq, fk, window=w, gamma=0.4 * c, lam=1.3 * c)
    assert_close(y2, y1, rtol=1e-12, atol=1e-13)
    assert_close(r2, r1, rtol=1e-12, atol=1e-13)


def test_hedgehog_half_sums_and_ssd_schedule():
    x = rng(1).standard_normal((5, 4))
    f = hedgehog_features(x, hedgehog_init(jax.random.PRNGKey(0), 4, 6))
    assert f.shape == (5, 12)
    assert_close(f[:, :6].sum(-1), np.ones(5), rtol=1e-14)
    assert list(ssd_schedule(6)) == [0.9, 0.9, 0.75, 0.75, 0.5, 0.5]
    assert ssd_draws(jax.random.PRNGKey(0), 6, 2).shape == (6, 2)


def test_batched_over_sharded_devices():
    devs = jax.devices()
    r = rng(4)
    q, k, v = (r.standard_normal((len(devs), 6, s)) for s in (4, 4, 3))
    f = np.exp(r.standard_normal((len(devs), 6, 5)))
    sh = NamedSharding(jax.sharding.Mesh(np.array(devs), ("b",)), P("b"))
    fn = jax.jit(jax.vmap(lambda *a: hybrid_attention_recurrent(*a, window=2, gamma=0.5, lam=1.0)))
    out = fn(*(jax.device_put(x, sh) for x in (q, k, v, f, f)))
    ref = np.stack([hybrid_attention(*(x[i] for x in (q, k, v, f, f)), window=2, gamma=0.5)[0] for i in range(len(devs))])
    assert_close(out, ref, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kw, match", [
    (dict(window=0), "window"), (dict(gamma=0.0), "gamma"), (dict(lam=-1.0), "lam"),
    (dict(component="la_region"), "la_full"), (dict(component="bogus"), "unknown component"), (dict(sinks=0), "sinks"),
])
def test_bad_arguments(kw, match):
    q, k, v, fq, fk = _problem(0)
    args = dict(window=2, gamma=0.5) | kw
    with pytest.raises(ValueError, match=match):
        hybrid_attention(q, k, v, fq, fk, **args)


def test_bad_arrays():
    q, k, v, fq, fk = _problem(0)
    q[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"q has a non-finite entry at index \(2, 1\)"):
        hybrid_attention(q, k, v, fq, fk, window=2, gamma=0.5)
    with pytest.raises(ValueError, match="shapes disagree"):
        hybrid_attention(k, k, v[:-1], fq, fk, window=2, gamma=0.5)
    with pytest.raises(ValueError, match=r"\[T, dim\]"):
        hybrid_attention(k[0], k, v, fq, fk, window=2, gamma=0.5)
    with pytest.raises(ValueError, match="feature map"):
        hedgehog_features(k, np.ones((4, 2)), "nope")
    with pytest.raises(ValueError, match="probabilities"):
        ssd_schedule(10, (0.5, 1.5))
    with pytest.raises(ValueError, match="total_steps"):
        ssd_schedule(2)
