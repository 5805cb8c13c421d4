"""The character LM's key/value-cache decoding against full recomputation (spec O4: every position,
prompt and generated, steered and head-masked the same way): float64 logits at every step, identical
samples for the same keys, and a deliberately wrong cache that the comparison catches."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnverify import proofs_numeric as pn
from attnverify.attention.sae import charlm as cl
from attnverify.attention.sae.jumprelu import JumpReLUSAE
from attnverify.attention.sae.steering import Steer, make_steer, no_steer

CFG = cl.CharLMConfig(vocab=12, d=16, layers=3, heads=4, mlp=32, context=24)
P, NEW, B = 5, 14, 6


def _model():
    """Random weights scaled up so that logits, attention and the steer matter (float64)."""
    p = cl.init_charlm(CFG, seed=3)
    scale = dict(emb=40.0, pos=40.0, wqkv=30.0, wo=60.0, w1=30.0, w2=60.0)
    p = {k: jnp.asarray(v, jnp.float64) * scale.get(k, 1.0) for k, v in p.items()}
    r = np.random.default_rng(0)
    m = 8
    sae = JumpReLUSAE(r.normal(size=(CFG.d, m)), r.normal(size=m) * 0.1, r.normal(size=(m, CFG.d)), np.zeros(CFG.d), np.full(m, 0.1))
    return p, sae


def _configs(sae):
    mask = np.ones((CFG.layers, CFG.heads))
    mask[0, 1] = mask[2, 3] = 0.0
    return {"plain": (no_steer(CFG.d), np.ones((CFG.layers, CFG.heads))),
            "steered": (make_steer(sae, 1, 2, 3.0), np.ones((CFG.layers, CFG.heads))),
            "additive": (make_steer(sae, 0, 5, 2.0, mode="additive"), np.ones((CFG.layers, CFG.heads))),
            "head-masked": (no_steer(CFG.d), mask),
            "steered and head-masked": (make_steer(sae, 2, 2, 3.0), mask)}


def _logits_both(p, ids, steer, mask, step_steer=None):
    """Logits at positions P-1 .. P+NEW-2: full forward, and prefill + one step per position."""
    full = np.asarray(cl.charlm_forward(p, CFG, ids[:, :-1], steer, mask))[:, P - 1:]
    mask = jnp.asarray(mask, jnp.float32)
    first, ks, vs = cl._prefill(p, CFG, ids[:, :P], P + NEW - 1, steer, mask)
    out = [np.asarray(first)]
    for t in range(P, P + NEW - 1):
        lg, ks, vs = cl._step(p, CFG, ids[:, t], jnp.asarray(t), ks, vs, steer if step_steer is None else step_steer, mask)
        out.append(np.asarray(lg))
    return full, np.stack(out, 1)


@pn.x64()
def test_cached_logits_equal_full_recomputation_at_every_step():
    p, sae = _model()
    ids = jnp.asarray(np.random.default_rng(1).integers(2, CFG.vocab, (B, P + NEW)))
    for name, (steer, mask) in _configs(sae).items():
        full, cached = _logits_both(p, ids, steer, mask)
        assert full.dtype == np.float64 and np.ptp(full) > 1.0, name  # logits that vary, in float64
        err = np.max(np.abs(full - cached) / (1.0 + np.abs(full)))
        assert err < 1e-12, (name, err)


@pn.x64()
def test_comparison_catches_a_cache_that_drops_the_steer():
    """The same comparison on a wrong cache (steer applied in the prefill only) fails by far."""
    p, sae = _model()
    ids = jnp.asarray(np.random.default_rng(1).integers(2, CFG.vocab, (B, P + NEW)))
    steer, mask = _configs(sae)["steered"]
    full, cached = _logits_both(p, ids, steer, mask, step_steer=no_steer(CFG.d))
    assert np.max(np.abs(full - cached) / (1.0 + np.abs(full))) > 1e-3


@pn.x64()
def test_cached_samples_equal_full_recomputation():
    p, sae = _model()
    prompt = jnp.asarray(np.random.default_rng(2).integers(2, CFG.vocab, (B, P)), jnp.int32)
    confs = _configs(sae)
    for name, (steer, mask) in confs.items():
        key = jax.random.PRNGKey(7)
        a = np.asarray(cl.charlm_generate(p, CFG, prompt, NEW, key, 1.0, steer, mask, cache=True))
        b = np.asarray(cl.charlm_generate(p, CFG, prompt, NEW, key, 1.0, steer, mask, cache=False))
        assert a.shape == (B, NEW) and a.min() >= 2, name  # BOS / PAD never sampled
        assert np.array_equal(a, b), name
        assert len(np.unique(a)) > 3, name  # a sampler with real choices, not one forced character
    steers = Steer(*(jnp.stack(x) for x in zip(*(s for s, _ in confs.values()))))
    masks = jnp.asarray(np.stack([m for _, m in confs.values()]), jnp.float32)
    keys = jnp.stack([jax.random.PRNGKey(i) for i in range(len(confs))])
    many = [np.asarray(cl.charlm_generate_many(p, CFG, prompt, NEW, keys, 0.5, steers, masks, cache=c)) for c in (True, False)]
    assert np.array_equal(*many)


def test_float32_default_path_runs_and_rejects_bad_lengths():
    p = cl.init_charlm(CFG, seed=0)
    prompt = jnp.asarray(np.full((2, P), 3), jnp.int32)
    out = cl.charlm_generate(p, CFG, prompt, NEW, jax.random.PRNGKey(0), 1.0, None, None)
    assert out.shape == (2, NEW)
    with pytest.raises(ValueError, match="context"):
        cl.charlm_generate(p, CFG, prompt, CFG.context - P + 1, jax.random.PRNGKey(0), 1.0, None, None)
