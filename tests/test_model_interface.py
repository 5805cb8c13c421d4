"""One interface to MiniLM, MPNet and Gemma 3 270M: ``load_model``, ``encode``, ``forward(..., attention=True)``.

The same sentence through the three real models gives ``[L, B, H, T, T]`` probabilities; Gemma's are
checked against an independent numpy softmax (GQA by ``np.repeat``, causal and sliding-window masks) on a
tiny random Gemma; a model given to another family's function raises a ``TypeError`` naming the right one."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from attnverify.attention import (AttentionInputs, GemmaConfig, MODEL_NAMES, bert_forward, encode, forward, gemma_attention,
                                  gemma_forward, load_model, mpnet_forward, random_gemma, tokenize)

SENTENCE = ["Attention weights tell us which tokens a model reads."]
TINY = GemmaConfig(vocab_size=40, hidden_size=16, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=8,
                   intermediate_size=32, context_length=48, sliding_window=3, rope_global_base=1000.0,
                   rope_local_base=10.0, global_every=2, query_scale=8 ** -0.5)


@pytest.fixture(scope="module")
def models():
    return {name: load_model(name) for name in MODEL_NAMES}


def test_same_sentence_three_models_one_interface(models):
    shapes = {}
    for name, model in models.items():
        ids, mask = encode(model, SENTENCE)
        out = forward(model, ids, mask, attention=True)
        cfg = model.config
        T = ids.shape[1]
        assert out.probs.shape == (cfg.num_layers, 1, cfg.num_heads, T, T), name
        assert out.hidden.shape == (1, T, cfg.hidden_size) and out.mask.shape == (1, T)
        p = np.asarray(out.probs, np.float64)
        assert np.all(p >= 0) and np.allclose(p.sum(-1), 1.0, atol=1e-5), name
        assert forward(model, ids, mask).probs is None  # probabilities only on request
        shapes[name] = out.probs.shape
    assert shapes["minilm"][:3] == (6, 1, 12) and shapes["mpnet"][:3] == (12, 1, 12) and shapes["gemma-3-270m"][:3] == (18, 1, 4)
    gemma = np.asarray(forward(models["gemma-3-270m"], *encode(models["gemma-3-270m"], SENTENCE), attention=True).probs)
    assert np.all(np.triu(gemma, k=1) == 0)  # causal: no future key


def test_encoder_probs_are_the_model_specific_ones(models):
    for name, fn in (("minilm", bert_forward), ("mpnet", mpnet_forward)):
        ids, mask = encode(models[name], SENTENCE)
        np.testing.assert_array_equal(forward(models[name], ids, mask, attention=True).probs, fn(models[name], ids, mask).probs)


def _reference_probs(model, ids):
    """Each layer's probabilities from its AttentionInputs, in numpy: GQA by repeating the key heads."""
    seen = {}

    def capture(layer):
        def fn(a: AttentionInputs):
            seen[layer] = a
            return gemma_attention(a)
        return fn

    gemma_forward(model, ids, attention_override={l: capture(l) for l in range(model.config.num_layers)}, jit=False)
    out = []
    for layer in range(model.config.num_layers):
        a = seen[layer]
        G = a.q.shape[2] // a.k.shape[2]
        k = np.repeat(np.asarray(a.k), G, axis=2)  # query head h reads key head h // G
        s = np.einsum("bthd,bshd->bhts", np.asarray(a.q), k) * a.scale
        i, j = np.arange(ids.shape[1])[:, None], np.arange(ids.shape[1])[None, :]
        keep = (j <= i) & ((i - j < model.config.sliding_window) | model.config.is_global(layer))
        s = np.where(keep, s, -np.inf)
        e = np.exp(s - s.max(-1, keepdims=True))
        out.append(e / e.sum(-1, keepdims=True))
    return np.stack(out)


def test_gemma_probs_after_gqa_expansion_with_sliding_window():
    model = random_gemma(TINY, seed=3, dtype=jnp.float64)
    ids = np.random.default_rng(0).integers(0, TINY.vocab_size, (2, 9)).astype(np.int32)
    out = forward(model, ids, attention=True)
    ref = _reference_probs(model, ids)
    assert out.probs.shape == (2, 2, 4, 9, 9)
    np.testing.assert_allclose(np.asarray(out.probs), ref, rtol=1e-12, atol=1e-14)
    local = np.asarray(out.probs[0])  # layer 0 is local: window of 3 keys
    assert np.all(local[..., 5, :3] == 0) and np.all(local[..., 5, 3:6] > 0)
    assert np.all(np.asarray(out.probs[1])[..., 5, :6] > 0)  # layer 1 is global
    np.testing.assert_allclose(out.raw.logits, gemma_forward(model, ids).logits, rtol=1e-12, atol=1e-12)


def test_gemma_mask_must_pad_on_the_right():
    model = random_gemma(TINY, seed=3, dtype=jnp.float64)
    ids = np.ones((1, 5), np.int32)
    with pytest.raises(ValueError, match="attention_mask"):
        forward(model, ids, np.array([[0, 1, 1, 1, 1]]))
    assert forward(model, ids, np.array([[1, 1, 1, 0, 0]]), attention=True).probs.shape == (2, 1, 4, 5, 5)


def test_another_familys_model_is_a_clear_type_error(models):
    mini, mpnet, gemma = models["minilm"], models["mpnet"], models["gemma-3-270m"]
    ids = np.array([[1, 2, 3]], np.int32)
    with pytest.raises(TypeError, match=r"bert_forward: .*got an MPNet encoder; use mpnet_forward"):
        bert_forward(mpnet, ids)
    with pytest.raises(TypeError, match=r"mpnet_forward: .*got a BERT encoder.*use bert_forward"):
        mpnet_forward(mini, ids)
    with pytest.raises(TypeError, match=r"gemma_forward: .*use bert_forward"):
        gemma_forward(mini, ids)
    with pytest.raises(TypeError, match=r"bert_forward: .*got a Gemma 3 decoder; use gemma_forward"):
        bert_forward(gemma, ids)
    with pytest.raises(TypeError, match="tokenize"):
        tokenize(gemma, SENTENCE)
    with pytest.raises(TypeError, match="load_model"):
        forward(dataclasses.asdict(TINY), ids)
    with pytest.raises(ValueError, match="name must be one of"):
        load_model("bert-base")
