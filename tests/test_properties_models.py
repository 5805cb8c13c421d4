"""Property tests: the model loaders, ``encode``/``tokenize``, ``forward`` and Gemma generation name a bad argument.

Every malformed input ends in ``ValueError``/``TypeError`` naming the argument (:func:`tests._properties.rejects`):
``max_len`` that is not an integer in range (``-3``, ``0``, ``1.5``, ``True``, ``"8"``), a truthy non-bool
``attention`` flag, ids that are not integer token ids or lie outside the vocabulary, a mask with NaN, a
non-callable hook, a sampling ``temperature`` of ``inf``, a KV cache that the prompt does not fit, a decode
``position`` outside the cache. MiniLM is loaded once per module; Gemma runs as a tiny random model (the same
argument checks fire before any weight is read).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from attnverify.attention import models as M
from attnverify.attention.models import GemmaConfig, random_gemma
from tests._properties import FAST, covers, rejects

TINY = GemmaConfig(vocab_size=40, hidden_size=16, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=8,
                   intermediate_size=32, context_length=32, sliding_window=4, global_every=2)
NOT_INT = [-3, 0, 1.5, 2.7, True, 8.0, "8", None]
NOT_BOOL = ["no", 1, 0, None, "False"]


@pytest.fixture(scope="module")
def bert():
    try:
        return M.load_bert()
    except Exception as e:  # noqa: BLE001  (the MiniLM package is optional on a bare checkout)
        pytest.skip(f"MiniLM not installed: {e}")


@pytest.fixture(scope="module")
def gemma():
    return random_gemma(TINY, seed=1)


@covers("attention.models", "encode", "tokenize")
@FAST
@given(st.sampled_from([x for x in NOT_INT if x is not None]))
def test_encode_max_len_must_be_an_integer_in_range(bert, max_len):
    rejects(lambda: M.encode(bert, ["hello world"], max_len=max_len), "max_len")
    rejects(lambda: M.tokenize(bert, ["hello world"], max_len=max_len), "max_len")
    with pytest.warns(UserWarning, match="truncated"):
        ids, _ = M.encode(bert, ["hello world"], max_len=3)  # a valid bound truncates: [CLS] one token [SEP]
    assert ids.shape == (1, 3)


@covers("attention.models", "forward", "bert_forward", "gemma_forward")
@FAST
@given(st.sampled_from(NOT_BOOL))
def test_flags_must_be_bools(bert, gemma, flag):
    ids, mask = M.encode(bert, ["hi"])
    rejects(lambda: M.forward(bert, ids, mask, attention=flag), "attention")
    rejects(lambda: M.forward(gemma, np.array([[1, 2]]), attention=flag), "attention")
    rejects(lambda: M.bert_forward(bert, ids, mask, causal=flag), "causal")
    rejects(lambda: M.gemma_forward(gemma, np.array([[1]]), return_hidden=flag), "return_hidden")
    rejects(lambda: M.generate(gemma, np.array([1, 2]), 1, greedy=flag), "greedy")


@covers("attention.models", "forward")
def test_forward_ids_and_mask(bert, gemma):
    ids, mask = M.encode(bert, ["hello world"])
    for bad in (ids.astype(float), -ids, ids + 10**6, ids > 0, "abc", np.zeros((1, 0), np.int32)):
        rejects(lambda: M.forward(bert, bad, None), "input_ids")
    nan_mask = mask.astype(float)
    nan_mask[0, -1] = np.nan
    rejects(lambda: M.forward(bert, ids, nan_mask), "attention_mask")
    rejects(lambda: M.forward(gemma, np.array([[1, 2]]), np.array([[1.0, np.nan]])), "attention_mask")
    for bad in (np.array([[1.0, 2.0]]), np.array([[1, 40]]), np.array([[1, -1]])):
        rejects(lambda: M.forward(gemma, bad), "input_ids")
    # documented: a mask entry counts as valid when nonzero, so 2 reads as 1
    a, b = M.forward(bert, ids, mask).hidden, M.forward(bert, ids, 2 * mask).hidden
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@covers("attention.models", "load_model", "load_gemma", "random_gemma")
def test_loaders_name_their_arguments():
    rejects(lambda: M.load_model("bogus"), "name")
    for dtype in ("nope", jnp.int32):
        rejects(lambda: M.load_model("minilm", dtype=dtype), "dtype")
        rejects(lambda: random_gemma(TINY, dtype=dtype), "dtype")
    rejects(lambda: M.load_gemma(3), "path")
    rejects(lambda: random_gemma(None), "config")
    rejects(lambda: random_gemma(TINY, seed=-1), "seed")


@covers("attention.models", "generate", "generate_batch")
@FAST
@given(st.sampled_from([0, -1, 2.0, True, "2", np.float64(2)]))
def test_generate_max_new_tokens(gemma, n):
    rejects(lambda: M.generate(gemma, np.array([1, 2]), n), "max_new_tokens")
    rejects(lambda: M.generate_batch(gemma, np.array([[1, 2]]), n), "max_new_tokens")


@covers("attention.models", "generate", "generate_batch")
def test_generate_arguments(bert, gemma):
    p, P = np.array([1, 2, 3], np.int32), np.array([[1, 2], [3, 4]], np.int32)
    assert M.generate(gemma, p, np.int64(2)).shape == (2,)  # a NumPy integer is an integer
    for t in (float("inf"), float("nan"), 0.0, "1"):
        rejects(lambda: M.generate(gemma, p, 2, greedy=False, temperature=t), "temperature")
        rejects(lambda: M.generate_batch(gemma, P, 2, temperature=t), "temperature")
    for seed in (1.5, "a"):
        rejects(lambda: M.generate(gemma, p, 2, greedy=False, seed=seed), "seed")
    for model in (bert, None):
        rejects(lambda: M.generate(model, p, 2), "model")
        rejects(lambda: M.generate_batch(model, P, 2), "model")
    rejects(lambda: M.generate(gemma, p, 2, residual_hook=3), "residual_hook")
    rejects(lambda: M.gemma_forward(gemma, p, residual_hook=3), "residual_hook")
    rejects(lambda: M.generate_batch(gemma, P, 2, keys=np.zeros((2, 2))), "keys")
    rejects(lambda: M.generate_batch(gemma, P, 2, logit_bias=np.full(40, -np.inf)), "logit_bias")
    rejects(lambda: M.generate_batch(gemma, P, 2, logit_bias=np.full(40, np.inf)), "logit_bias")


@covers("attention.models", "init_kv_cache", "gemma_prefill", "gemma_decode_step")
def test_kv_cache_and_steps(gemma):
    for bad in (0, -1, 2.5, True):
        rejects(lambda: M.init_kv_cache(TINY, bad, 8), "batch")
        rejects(lambda: M.init_kv_cache(TINY, 1, bad), "length")
    rejects(lambda: M.init_kv_cache(TINY, 1, TINY.context_length + 1), "length")
    rejects(lambda: M.init_kv_cache(None, 1, 8), "cfg")
    cache = M.init_kv_cache(TINY, 1, 8)
    for bad in (jnp.array([[1, 50]]), jnp.ones((1, 9), jnp.int32), jnp.ones((2, 3), jnp.int32)):
        rejects(lambda: M.gemma_prefill(gemma, bad, cache), "ids")
    rejects(lambda: M.gemma_prefill(gemma, jnp.array([[1]]), "cache"), "cache")
    for pos in (8, -1, 1.5, True):
        rejects(lambda: M.gemma_decode_step(gemma, jnp.array([1]), pos, cache), "position")
    for tok in (jnp.array([99]), jnp.array([1, 2]), jnp.array([1.0])):
        rejects(lambda: M.gemma_decode_step(gemma, tok, 1, cache), "token")
    logits, _ = M.gemma_decode_step(gemma, jnp.array([1]), np.int32(7), cache)
    assert logits.shape == (1, TINY.vocab_size)


@covers("attention.models", "mean_pool", "mpnet_position_ids", "relative_position_bucket", "rms_norm", "rope",
        "check_model", "spm_encode_reference", "gguf_tokenizer", "init_classifier")
def test_helpers_name_their_arguments():
    rejects(lambda: M.mean_pool(jnp.ones((1, 3, 4)), jnp.ones((1, 2))), "hidden", "mask")
    rejects(lambda: M.mean_pool(jnp.ones((3, 4)), jnp.ones(3)), "hidden", "mask")
    rejects(lambda: M.mpnet_position_ids(np.array([[1.0, 2.0]])), "input_ids")
    rejects(lambda: M.mpnet_position_ids(np.array([[1, 2]]), padding_idx=1.5), "padding_idx")
    for nb in (0, 3, 2.0):
        rejects(lambda: M.relative_position_bucket(np.array([1, 2]), num_buckets=nb), "num_buckets")
    rejects(lambda: M.relative_position_bucket(np.array([1, 2]), max_distance=0), "max_distance")
    rejects(lambda: M.rms_norm(jnp.ones(4), jnp.ones(4), -1.0), "eps")
    rejects(lambda: M.rope(jnp.ones((1, 2, 1, 4)), jnp.arange(2), 0.0), "base")
    rejects(lambda: M.rope(jnp.ones((1, 2, 1, 3)), jnp.arange(2), 1e4), "x")
    rejects(lambda: M.check_model(random_gemma(TINY), "xx", "f"), "kind")
    rejects(lambda: M.spm_encode_reference(None, {}), "text")
    rejects(lambda: M.gguf_tokenizer("/nonexistent"), "meta")
    rejects(lambda: M.init_classifier(0, None), "config")
    rejects(lambda: M.init_classifier(1.5, M.ClassifierConfig()), "seed")
    rejects(lambda: M.init_classifier(0, M.ClassifierConfig(gate="switch"), active_depth=0), "active_depth")


@covers("attention.models", "gemma_forward", "gemma_prefill", "gemma_decode_step")
def test_gemma_entry_points_accept_traced_ids(gemma):
    import jax

    ids = jnp.array([[1, 2, 3, 4]])
    eager = M.gemma_forward(gemma, ids).logits
    traced = jax.jit(lambda i: M.gemma_forward(gemma, i, jit=False).logits)(ids)
    np.testing.assert_allclose(np.asarray(traced), np.asarray(eager), rtol=1e-5, atol=1e-6)
    cache = M.init_kv_cache(TINY, 1, 8)
    pre, _ = M.gemma_prefill(gemma, ids, cache)
    pre_t, cache_t = jax.jit(lambda i: M.gemma_prefill(gemma, i, cache, jit=False))(ids)
    np.testing.assert_allclose(np.asarray(pre_t), np.asarray(pre), rtol=1e-5, atol=1e-6)
    step = jax.jit(lambda t: M.gemma_decode_step(gemma, t, 4, cache_t, jit=False)[0])(jnp.array([5]))
    assert step.shape == (1, TINY.vocab_size) and bool(jnp.all(jnp.isfinite(step)))
    oov = np.asarray(jax.jit(lambda i: M.gemma_forward(gemma, i, jit=False).logits)(jnp.array([[1, 40, 2], [1, -1, 2], [1, 3, 2]])))
    assert np.isnan(oov[:2, 1:]).all() and np.isfinite(oov[2]).all(), "a traced id outside the vocabulary gives NaN"
    rejects(lambda: M.gemma_forward(gemma, [[2**40]]), "ids")
    rejects(lambda: M.gemma_forward(gemma, [[1, 40]]), "ids")


@covers("attention.models", "generate", "load_gemma")
def test_generate_and_load_gemma_messages_name_the_argument(gemma, tmp_path):
    rejects(lambda: M.generate(gemma, [1, 2], 2, greedy=False, seed=-1), "seed")
    err = rejects(lambda: M.generate(gemma, [], 2), "prompt_ids")
    assert "dtype" not in str(err), "an empty prompt is empty, not a dtype problem"
    rejects(lambda: M.generate(gemma, "hello", 2), "prompt_ids")
    rejects(lambda: M.generate(gemma, None, 2), "prompt_ids")
    rejects(lambda: M.generate(gemma, [1, 2, 3], 40), "max_new_tokens")
    err = rejects(lambda: M.load_gemma(tmp_path), "path")
    assert "directory" in str(err)
    rejects(lambda: M.load_gemma(tmp_path / "nope.gguf"), "path")
