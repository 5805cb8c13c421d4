"""MiniLM-L6 in pure JAX: loader, forward internals, sentence embeddings, corpus, bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnverify.attention import (
    ModelLoadError, bert_forward, default_model_dir, load_bert, mean_pool, sentence_embedding, stdlib_docstrings,
    text_corpus, tokenize,
)
from helpers import assert_close

TEXTS = ["The quick brown fox jumps over the lazy dog.", "Attention is all you need.", "a b"]


@pytest.fixture(scope="module")
def model():
    return load_bert()


@pytest.fixture(scope="module")
def batch(model):
    ids, mask = tokenize(model, TEXTS, 32, pad_to_max_len=True)
    return ids, mask, bert_forward(model, ids, mask)


def test_config_and_shapes(model, batch):
    cfg = model.config
    assert (cfg.num_layers, cfg.num_heads, cfg.hidden_size, cfg.max_positions) == (6, 12, 384, 512)
    ids, mask, out = batch
    L, B, H, n, dh = 6, 3, 12, 32, 32
    assert out.logits.shape == out.probs.shape == (L, B, H, n, n)
    for a in (out.q, out.k, out.v, out.head_out):
        assert a.shape == (L, B, H, n, dh)
    assert out.hidden.shape == (B, n, 384) and out.hidden.dtype == jnp.float32
    assert np.array_equal(np.asarray(out.mask), mask.astype(bool))


def test_attention_internals_are_consistent(batch):
    """logits = QK^T/sqrt(d_h) on valid keys and -inf on padding; probs = softmax; head_out = PV."""
    _, mask, out = batch
    q, k, v = (np.asarray(a, np.float64) for a in (out.q, out.k, out.v))
    s = np.einsum("lbhqe,lbhke->lbhqk", q, k) / np.sqrt(32)
    keymask = np.broadcast_to(mask.astype(bool)[None, :, None, None, :], s.shape)
    logits = np.asarray(out.logits, np.float64)
    assert np.all(np.isneginf(logits[~keymask])) and np.all(np.isfinite(logits[keymask]))
    assert_close(logits[keymask], s[keymask], rtol=1e-4, atol=1e-4, what="logits")
    e = np.exp(np.where(keymask, s - s.max(axis=-1, keepdims=True, where=keymask, initial=-np.inf), -np.inf))
    p = e / e.sum(-1, keepdims=True)
    assert_close(out.probs, p, atol=1e-5, what="probs")
    assert np.all(np.asarray(out.probs)[~keymask] == 0.0)
    assert_close(out.head_out, np.einsum("lbhqk,lbhke->lbhqe", p, v), atol=1e-4, what="head_out")


def test_padding_and_batch_invariance(model, batch):
    ids, mask, out = batch
    ids2, mask2 = tokenize(model, TEXTS[1:2], 32)  # unpadded, its own length
    out2 = bert_forward(model, ids2, mask2)
    n = ids2.shape[1]
    assert_close(out2.hidden[0], out.hidden[1, :n], atol=2e-5, what="hidden, padded vs unpadded")
    assert_close(out2.probs[:, 0, :, :n, :n], out.probs[:, 1, :, :n, :n], atol=2e-6, what="probs")


def test_causal_mask(model, batch):
    ids, mask, _ = batch
    out = bert_forward(model, ids, mask, causal=True)
    p = np.asarray(out.probs)
    assert np.all(p[..., np.triu_indices(32, 1)[0], np.triu_indices(32, 1)[1]] == 0.0)
    assert_close(p[..., 0, 0], np.ones(p.shape[:3]), atol=1e-6, what="first row attends to itself")


def test_float64_agrees_with_float32(model, batch):
    ids, mask, out = batch
    m64 = load_bert(dtype=jnp.float64)
    out64 = bert_forward(m64, ids, mask, attention=False)
    assert out64.hidden.dtype == jnp.float64 and out64.logits is None
    assert_close(out.hidden, out64.hidden, atol=1e-4, what="hidden f32 vs f64")


def test_sharded_batch_matches(model):
    ids = text_corpus(model, 8, 4)
    ref = bert_forward(model, ids, attention=False).hidden
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:4]), ("b",))
    sh = jax.device_put(jnp.asarray(ids), jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("b", None)))
    got = bert_forward(model, sh, attention=False).hidden
    assert_close(got, ref, atol=1e-5, what="sharded forward")


PAIRS = [
    ("A man is playing a guitar on stage.", "Someone performs a song with a guitar in front of an audience."),
    ("The cat is sleeping on the sofa.", "A kitten naps on the couch."),
    ("How do I reset my email password?", "What are the steps to change the password of my mail account?"),
    ("The stock market fell sharply today.", "Share prices dropped steeply in today's trading."),
    ("It is raining heavily in London.", "There is a downpour in London right now."),
    ("She is cooking pasta for dinner.", "She prepares spaghetti for the evening meal."),
    ("The train to Paris was delayed by two hours.", "Our Paris train arrived two hours late."),
    ("Children are playing football in the park.", "Kids kick a soccer ball around in the park."),
    ("The doctor prescribed antibiotics for the infection.", "The physician gave medicine to treat the bacterial infection."),
    ("Python is a popular programming language.", "Many developers like to write code in Python."),
    ("The spacecraft landed safely on Mars.", "The probe touched down on the red planet without damage."),
    ("He repaired the flat tyre of his bicycle.", "He fixed the punctured wheel on his bike."),
]


def test_paraphrases_score_higher_than_unrelated_pairs(model):
    e = np.asarray(sentence_embedding(model, [p[0] for p in PAIRS] + [p[1] for p in PAIRS]), np.float64)
    a, b = e[: len(PAIRS)], e[len(PAIRS):]
    assert_close(np.linalg.norm(a, axis=1), np.ones(len(PAIRS)), rtol=1e-5, what="unit norm")
    cos = a @ b.T
    para = np.diag(cos)
    unrelated = cos[~np.eye(len(PAIRS), dtype=bool)]
    assert para.min() > unrelated.max(), (para.min(), unrelated.max())


def test_tokenize_matches_tokenizer_template_and_truncates(model):
    from tokenizers import Tokenizer

    ref = Tokenizer.from_file(str(default_model_dir() / "tokenizer.json"))
    ref.no_padding(), ref.no_truncation()
    ids, mask = tokenize(model, TEXTS)
    for i, t in enumerate(TEXTS):
        e = ref.encode(t).ids  # the tokenizer's own [CLS] ... [SEP] template
        assert list(ids[i, : mask[i].sum()]) == e and np.all(ids[i, mask[i].sum():] == model.pad_id)
    with pytest.warns(UserWarning, match="truncated"):
        long_ids, long_mask = tokenize(model, ["word " * 600, "short"])
    assert long_ids.shape == (2, 512) and long_ids[0, -1] == model.sep_id and long_mask[0].all()
    with pytest.raises(ValueError, match="max_len"):
        tokenize(model, ["x"], 513)


def test_forward_rejects_bad_input(model):
    with pytest.raises(ValueError, match="exceeds"):
        bert_forward(model, np.ones((1, 513), np.int32))
    with pytest.raises(ValueError, match="vocabulary"):
        bert_forward(model, np.array([[101, 40000, 102]]))
    with pytest.raises(ValueError, match="row 1"):
        bert_forward(model, np.ones((2, 3), np.int32), np.array([[1, 1, 1], [0, 0, 0]]))


def _model_dir(tmp_path: Path, **replace: str | bytes) -> Path:
    d = tmp_path / "m"
    d.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if name in replace:
            data = replace[name]
            (d / name).write_bytes(data.encode() if isinstance(data, str) else data)
        else:
            (d / name).symlink_to(default_model_dir() / name)
    return d


@pytest.mark.parametrize("case, match", [
    ("nodir", "does not exist"), ("missing", "tokenizer.json: file not found"),
    ("badjson", "config.json: not valid JSON"), ("gpt2", "config.json: model_type is 'gpt2'"),
    ("corrupt", "model.safetensors: cannot read"), ("shape", "model.safetensors: tensor"),
])
def test_bad_model_directory_names_the_file(tmp_path: Path, case: str, match: str):
    cfg = json.loads((default_model_dir() / "config.json").read_text())
    if case == "nodir":
        d = tmp_path / "nowhere"
    elif case == "missing":
        d = _model_dir(tmp_path)
        (d / "tokenizer.json").unlink()
    elif case == "badjson":
        d = _model_dir(tmp_path, **{"config.json": "{not json"})
    elif case == "gpt2":
        d = _model_dir(tmp_path, **{"config.json": json.dumps({**cfg, "model_type": "gpt2"})})
    elif case == "corrupt":
        d = _model_dir(tmp_path, **{"model.safetensors": (default_model_dir() / "model.safetensors").read_bytes()[:5000]})
    else:
        d = _model_dir(tmp_path, **{"config.json": json.dumps({**cfg, "hidden_size": 768})})
    with pytest.raises(ModelLoadError, match=match):
        load_bert(d)


def test_corpus_is_deterministic_real_text(model):
    a = text_corpus(model, 128, 3)
    b = text_corpus(model, 128, 3)
    assert a.shape == (3, 128) and a.dtype == np.int32 and np.array_equal(a, b)
    assert np.all(a[:, 0] == model.cls_id) and np.all(a[:, -1] == model.sep_id) and not np.any(a == model.pad_id)
    c = text_corpus(model, 256, 1)
    assert np.array_equal(c[0, 1:127], a[0, 1:127])  # the same stream, cut into longer chunks
    docs = [d for _, d in zip(range(5), stdlib_docstrings())]
    assert [d[0] for d in docs] == sorted(d[0] for d in docs)
    with pytest.raises(ValueError, match="n_tokens"):
        text_corpus(model, 513, 1)


def test_mean_pool_ignores_padding():
    h = jnp.asarray(np.arange(24, dtype=np.float64).reshape(2, 3, 4))
    m = np.array([[1, 1, 0], [1, 0, 0]])
    got = mean_pool(h, m)
    want = np.stack([h[0, :2].mean(0), h[1, 0]])
    assert_close(got, want / np.linalg.norm(want, axis=1, keepdims=True), rtol=1e-14)


@pytest.mark.reference
def test_matches_transformers_reference(model, batch):
    """Optional: Hugging Face ``BertModel`` (torch) on the same directory, float32, tolerance 1e-5."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    ids, mask, out = batch
    ref = transformers.BertModel.from_pretrained(str(default_model_dir()), attn_implementation="eager").eval()
    with torch.no_grad(), warnings.catch_warnings():
        r = ref(input_ids=torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(mask), output_attentions=True)
    # float32 on both sides: XLA and torch accumulate in different orders (largest gap seen: 2.3e-5 on values ~0.5)
    assert_close(out.hidden, r.last_hidden_state.numpy(), atol=1e-4, rtol=1e-5, what="hidden vs transformers")
    assert_close(out.probs, np.stack([a.numpy() for a in r.attentions]), atol=1e-5, what="probs vs transformers")


@settings(max_examples=5, deadline=None)
@given(st.integers(1, 3), st.integers(1, 6), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_mean_pool_is_invariant_to_masked_positions(b, n, d, seed):
    r = np.random.default_rng(seed)
    h = r.normal(size=(b, n, d))
    m = r.random((b, n)) < 0.6
    m[:, 0] = True
    noisy = np.where(m[:, :, None], h, r.normal(size=h.shape) * 1e3)
    assert_close(mean_pool(jnp.asarray(noisy), m), mean_pool(jnp.asarray(h), m), rtol=1e-12, atol=1e-15)
