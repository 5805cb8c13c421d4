"""Gemma 3 forward on tiny random-weight configs (float64): an independent numpy reference, the (1 + w)
norm convention, KV-cached decode = full forward, sliding window, GQA, RoPE, hooks, overrides, bad input."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnverify.attention import (
    AttentionInputs, GemmaConfig, gemma_attention, gemma_decode_step, gemma_forward, gemma_prefill, generate,
    init_kv_cache, random_gemma, rms_norm, rope,
)
from helpers import assert_close, rng

TINY = GemmaConfig(vocab_size=40, hidden_size=16, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=8,
                   intermediate_size=32, context_length=48, sliding_window=3, rope_global_base=1000.0,
                   rope_local_base=10.0, global_every=2, query_scale=8 ** -0.5)


@pytest.fixture(scope="module")
def model():
    return random_gemma(TINY, seed=1, dtype=jnp.float64)


def _ids(T: int, B: int = 2, seed: int = 0) -> np.ndarray:
    return rng(seed).integers(0, TINY.vocab_size, (B, T)).astype(np.int32)


def _reference_logits(model, ids: np.ndarray) -> np.ndarray:
    """Gemma 3 written from the HF formulas in numpy, one query at a time: norms (1 + w_hf) with
    w_hf = stored - 1, rotate_half RoPE, explicit per-head softmax over allowed keys."""
    cfg, P = model.config, jax.tree.map(np.asarray, model.params)
    gelu = lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))  # noqa: E731

    def norm(x, stored):
        return x / np.sqrt(np.mean(x * x, -1, keepdims=True) + cfg.rms_eps) * (1.0 + (stored - 1.0))

    def rot(x, pos, base):  # x [T, d]
        d = x.shape[-1]
        inv = 1.0 / base ** (np.arange(0, d, 2) / d)
        ang = np.concatenate([pos[:, None] * inv, pos[:, None] * inv], -1)
        half = np.concatenate([-x[:, d // 2:], x[:, : d // 2]], -1)
        return x * np.cos(ang) + half * np.sin(ang)

    out = []
    for seq in ids:
        T, pos = len(seq), np.arange(len(seq), dtype=np.float64)
        h = P["embed"][seq] * np.sqrt(cfg.hidden_size)
        for layer, p in enumerate(P["layers"]):
            x = norm(h, p["attn_norm"])
            base = cfg.rope_global_base if (layer + 1) % cfg.global_every == 0 else cfg.rope_local_base
            o = np.zeros((T, cfg.num_heads, cfg.head_dim))
            for hd in range(cfg.num_heads):
                g = hd * cfg.num_kv_heads // cfg.num_heads
                q = rot(norm(x @ p["wq"][:, hd], p["q_norm"]), pos, base)
                k = rot(norm(x @ p["wk"][:, g], p["k_norm"]), pos, base)
                v = x @ p["wv"][:, g]
                for i in range(T):
                    lo = 0 if (layer + 1) % cfg.global_every == 0 else max(0, i - cfg.sliding_window + 1)
                    s = cfg.query_scale * k[lo: i + 1] @ q[i]
                    w = np.exp(s - s.max())
                    o[i, hd] = (w / w.sum()) @ v[lo: i + 1]
            h = h + norm(np.einsum("thk,hkd->td", o, p["wo"]), p["post_attn_norm"])
            u = norm(h, p["ffn_norm"])
            h = h + norm((gelu(u @ p["w_gate"]) * (u @ p["w_up"])) @ p["w_down"], p["post_ffn_norm"])
        out.append(norm(h, P["final_norm"]) @ P["embed"].T)
    return np.stack(out)


def test_forward_matches_independent_reference(model):
    ids = _ids(6)
    assert_close(gemma_forward(model, ids, jit=False).logits, _reference_logits(model, ids), rtol=1e-10, atol=1e-12)


def _interleaved_rope(model):
    """Interleaved ("NORM") RoPE is half-split RoPE on q/k features permuted evens-first."""
    perm = np.concatenate([np.arange(0, TINY.head_dim, 2), np.arange(1, TINY.head_dim, 2)])
    layers = [{**p, "wq": p["wq"][..., perm], "wk": p["wk"][..., perm], "q_norm": p["q_norm"][perm],
               "k_norm": p["k_norm"][perm]} for p in model.params["layers"]]
    return dataclasses.replace(model, params={**model.params, "layers": layers})


def _norms_plus_one(model):
    """The (1 + w) convention applied twice: every stored norm scale gets another + 1."""
    layers = [{k: v + 1.0 if k.endswith("norm") else v for k, v in p.items()} for p in model.params["layers"]]
    params = {**model.params, "layers": layers, "final_norm": model.params["final_norm"] + 1.0}
    return dataclasses.replace(model, params=params)


@pytest.mark.parametrize("wrong", [_interleaved_rope, _norms_plus_one])
def test_reference_check_fails_on_a_wrong_convention(model, wrong):
    ids = _ids(6)
    with pytest.raises(AssertionError, match="not close"):
        assert_close(gemma_forward(wrong(model), ids, jit=False).logits, _reference_logits(model, ids), rtol=1e-6)


def test_norm_scale_is_stored_one_plus_w():
    """The stored scale multiplies as is: scale 1 gives unit RMS, scale s gives RMS |s| (no extra +1)."""
    x = jnp.asarray(rng(2).normal(size=(3, 5, 16)))
    y1 = rms_norm(x, jnp.ones(16, jnp.float64), 0.0)
    assert_close(jnp.sqrt(jnp.mean(y1 * y1, -1)), np.ones((3, 5)), rtol=1e-12)
    y3 = rms_norm(x, jnp.full(16, 3.0, jnp.float64), 0.0)
    assert_close(y3, 3.0 * np.asarray(y1), rtol=1e-12)


def test_rope_depends_on_relative_position_only():
    r = rng(3)
    q, k = (jnp.asarray(r.normal(size=(1, 1, 1, 8))) for _ in range(2))
    dot = lambda i, j: float(jnp.sum(rope(q, jnp.array([i]), 100.0) * rope(k, jnp.array([j]), 100.0)))  # noqa: E731
    for shift in (1, 7, 40):
        assert_close(dot(5 + shift, 2 + shift), dot(5, 2), rtol=1e-12)
    assert_close(jnp.linalg.norm(rope(q, jnp.array([13]), 100.0)), jnp.linalg.norm(q), rtol=1e-12)


def test_kv_cached_generation_equals_full_forward(model):
    ids = _ids(3)
    T, N = ids.shape[1], 3
    new = generate(model, ids, N)
    full = np.asarray(gemma_forward(model, np.concatenate([ids, new], 1), jit=False).logits)
    assert np.array_equal(new, np.argmax(full[:, T - 1: T + N - 1], -1))  # greedy = argmax of the full forward
    cache = init_kv_cache(TINY, 2, T + N, jnp.float64)
    logits, cache = gemma_prefill(model, jnp.asarray(ids), cache)
    assert_close(logits, full[:, T - 1], rtol=1e-10, atol=1e-12, what="prefill")
    for i in range(N - 1):
        logits, cache = gemma_decode_step(model, jnp.asarray(new[:, i]), T + i, cache)
        assert_close(logits, full[:, T + i], rtol=1e-10, atol=1e-12, what=f"decode step {i}")


def test_sliding_window_hides_old_tokens_on_local_layers_only():
    """One layer: a local layer's last output ignores tokens >= W back; a global layer's does not."""
    W, T = TINY.sliding_window, 6
    ids = _ids(T)
    changed = ids.copy()
    changed[:, T - W - 1] = (changed[:, T - W - 1] + 1) % TINY.vocab_size
    changed_in = ids.copy()
    changed_in[:, T - W] = (changed_in[:, T - W] + 1) % TINY.vocab_size
    for every, sees_old in ((2, False), (1, True)):
        m = random_gemma(dataclasses.replace(TINY, num_layers=1, global_every=every), seed=4, dtype=jnp.float64)
        last = lambda a: np.asarray(gemma_forward(m, a, jit=False).logits[0, -1])  # noqa: E731
        assert (np.abs(last(changed) - last(ids)).max() > 1e-6) == sees_old
        assert np.abs(last(changed_in) - last(ids)).max() > 1e-6


def test_gqa_equals_multi_head_with_shared_kv(model):
    """H_kv = 2 groups equal H_kv = H heads whose k/v maps are copied within each group."""
    mha_cfg = dataclasses.replace(TINY, num_kv_heads=TINY.num_heads)
    G = TINY.num_heads // TINY.num_kv_heads
    layers = [{**p, "wk": jnp.repeat(p["wk"], G, axis=1), "wv": jnp.repeat(p["wv"], G, axis=1)}
              for p in model.params["layers"]]
    mha = dataclasses.replace(model, config=mha_cfg, params={**model.params, "layers": layers})
    ids = _ids(6)
    assert_close(gemma_forward(mha, ids, jit=False).logits, gemma_forward(model, ids, jit=False).logits, rtol=1e-12, atol=1e-13)


def test_hidden_states_are_consistent(model):
    ids = _ids(6)
    out = gemma_forward(model, ids, return_hidden=True, residual_hook=_steer)  # jit, a static hook
    L = TINY.num_layers
    assert len(out.residuals) == len(out.attn_inputs) == len(out.attn_outputs) == len(out.attn_heads) == L
    assert out.attn_heads[0].shape == (2, 6, TINY.num_heads, TINY.head_dim)
    p0 = model.params["layers"][0]
    assert_close(out.attn_inputs[0], rms_norm(out.embeddings, p0["attn_norm"], TINY.rms_eps), rtol=1e-12)
    h = rms_norm(out.residuals[-1], model.params["final_norm"], TINY.rms_eps)
    assert_close(out.logits, jnp.einsum("btd,vd->btv", h, model.params["embed"]), rtol=1e-12, atol=1e-13)
    eager = gemma_forward(model, ids, residual_hook=_steer, jit=False)
    assert_close(eager.logits, out.logits, rtol=1e-12, atol=1e-13, what="op by op")


def _steer(layer: int, h: jax.Array) -> jax.Array:
    return h + 3.0 if layer == 0 else h


def test_residual_hook_acts_in_prefill_and_decode(model):
    ids = _ids(3)
    new = generate(model, ids, 3, residual_hook=_steer, jit=False)
    full = gemma_forward(model, np.concatenate([ids, new], 1), residual_hook=_steer, return_hidden=True, jit=False)
    assert np.array_equal(new, np.argmax(np.asarray(full.logits)[:, 2:5], -1))
    plain = gemma_forward(model, np.concatenate([ids, new], 1), return_hidden=True, jit=False)
    assert_close(full.residuals[0], np.asarray(plain.residuals[0]) + 3.0, rtol=1e-12)
    assert np.abs(np.asarray(full.logits) - np.asarray(plain.logits)).max() > 1e-3


def _keep_head_zero(a: AttentionInputs) -> jax.Array:
    o = gemma_attention(a)
    return o * (jnp.arange(o.shape[2]) == 0).astype(o.dtype)[None, None, :, None]


def test_attention_override_replaces_one_layer(model):
    ids = _ids(6)
    base = gemma_forward(model, ids, return_hidden=True, jit=False)
    same = gemma_forward(model, ids, attention_override={1: gemma_attention}, jit=False)
    assert_close(same.logits, base.logits, rtol=1e-12)
    abl = gemma_forward(model, ids, attention_override={1: _keep_head_zero}, return_hidden=True, jit=False)
    assert_close(abl.residuals[0], base.residuals[0], rtol=1e-12)
    assert np.all(np.asarray(abl.attn_heads[1])[:, :, 1:] == 0) and np.any(np.asarray(base.attn_heads[1])[:, :, 1:] != 0)
    ids = _ids(3)
    new = generate(model, ids, 3, attention_override={1: _keep_head_zero}, jit=False)
    full = gemma_forward(model, np.concatenate([ids, new], 1), attention_override={1: _keep_head_zero}, jit=False)
    assert np.array_equal(new, np.argmax(np.asarray(full.logits)[:, 2:5], -1))


def test_bad_input_is_named(model):
    with pytest.raises(ValueError, match="context length"):
        generate(model, _ids(40, B=1)[0], 9, jit=False)
    with pytest.raises(ValueError, match="ids.*vocabulary"):
        gemma_forward(model, np.array([[0, TINY.vocab_size]]), jit=False)
    with pytest.raises(TypeError, match="integer"):
        gemma_forward(model, np.zeros((1, 3)), jit=False)
    with pytest.raises(ValueError, match="attention_override"):
        gemma_forward(model, _ids(3), attention_override={TINY.num_layers: gemma_attention})
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(model, _ids(3), 0)
    with pytest.raises(ValueError, match="num_kv_heads"):
        dataclasses.replace(TINY, num_kv_heads=3)
