"""GGUF reading on tiny files written with ``gguf.GGUFWriter``: chunk assembly and its hash, metadata to
config, dequantisation, unsupported types, the SentencePiece tokenizer against the merge loop itself."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from attnverify.attention import gemma_forward, gguf_tokenizer, load_gemma, random_gemma, spm_encode_reference
from attnverify.attention.models import ModelLoadError
from attnverify.attention.models.gguf_file import assemble_chunks
from helpers import assert_close, rng

from test_gemma import TINY

gguf = pytest.importorskip("gguf")  # the `data` extra

SP = "\u2581"
WORDS = ["the", "then", "there", "in", "ing", "thing", "is", "a", "at", "at", "on", "one", "to", "tea", "he", "her"]


def _vocab() -> tuple[list[str], list[float], list[int]]:
    """A small SentencePiece-BPE vocabulary: control, byte, user-defined (newline, a literal-space run)
    and normal pieces; merges ranked by score as a BPE trainer would (longer pieces later)."""
    pieces = ["<pad>", "<eos>", "<bos>", "<unk>"] + [f"<0x{b:02X}>" for b in range(256)] + ["\n", "  "]
    types = [3, 3, 3, 2] + [6] * 256 + [4, 4]
    chars = sorted(set("".join(WORDS)) | {SP, "."})
    normal: list[str] = []
    for w in dict.fromkeys(WORDS):
        for piece in (SP + w, w):
            for n in range(2, len(piece) + 1):
                if piece[:n] not in normal:
                    normal.append(piece[:n])
    pieces += normal + chars
    types += [1] * (len(normal) + len(chars))
    scores = [0.0] * 262 + [-float(i) for i in range(len(normal))] + [-1e4 - i for i in range(len(chars))]
    return pieces, scores, types


def _write_gguf(path: Path, tensors: dict[str, np.ndarray], quant: dict[str, tuple[np.ndarray, object]]) -> None:
    pieces, scores, types = _vocab()
    w = gguf.GGUFWriter(str(path), "gemma3")
    fields = {"context_length": TINY.context_length, "embedding_length": TINY.hidden_size,
              "block_count": TINY.num_layers, "feed_forward_length": TINY.intermediate_size,
              "head_count": TINY.num_heads, "head_count_kv": TINY.num_kv_heads, "key_length": TINY.head_dim,
              "value_length": TINY.head_dim, "layer_norm_rms_eps": TINY.rms_eps, "rope_freq_base": TINY.rope_global_base,
              "rope_freq_base_swa": TINY.rope_local_base, "sliding_window": TINY.sliding_window,
              "sliding_window_pattern": [(i + 1) % TINY.global_every != 0 for i in range(TINY.num_layers)],
              "tokenizer_model": "llama", "token_list": pieces, "token_scores": scores, "token_types": types,
              "bos_token_id": 2, "eos_token_id": 1, "unk_token_id": 3, "add_bos_token": True}
    for key, value in fields.items():
        getattr(w, f"add_{key}")(value)
    for name, a in tensors.items():
        if name in quant:
            data, qtype = quant[name]
            w.add_tensor(name, data, raw_dtype=qtype)
        else:
            w.add_tensor(name, a.astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _tensors(vocab: int) -> dict[str, np.ndarray]:
    m = random_gemma(dataclasses.replace(TINY, vocab_size=vocab), seed=5, dtype=jnp.float32)
    P, D, H, K, dh = m.params, TINY.hidden_size, TINY.num_heads, TINY.num_kv_heads, TINY.head_dim
    t = {"token_embd.weight": P["embed"], "output_norm.weight": P["final_norm"]}
    for i, p in enumerate(P["layers"]):
        t.update({f"blk.{i}.{k}.weight": v for k, v in {
            "attn_norm": p["attn_norm"], "attn_q": p["wq"].reshape(D, H * dh).T, "attn_k": p["wk"].reshape(D, K * dh).T,
            "attn_v": p["wv"].reshape(D, K * dh).T, "attn_q_norm": p["q_norm"], "attn_k_norm": p["k_norm"],
            "attn_output": p["wo"].reshape(H * dh, D).T, "post_attention_norm": p["post_attn_norm"],
            "ffn_norm": p["ffn_norm"], "ffn_gate": p["w_gate"].T, "ffn_up": p["w_up"].T, "ffn_down": p["w_down"].T,
            "post_ffw_norm": p["post_ffn_norm"]}.items()})
    return {k: np.asarray(v, np.float32) for k, v in t.items()}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    d = tmp_path_factory.mktemp("gguf")
    t = _tensors(len(_vocab()[0]))
    q8 = "blk.0.ffn_down.weight"  # rows of F = 32 elements: one Q8_0 block each
    quant = {q8: (gguf.quants.quantize(t[q8], gguf.GGMLQuantizationType.Q8_0), gguf.GGMLQuantizationType.Q8_0)}
    _write_gguf(d / "tiny.gguf", t, quant)
    return d / "tiny.gguf", t, q8


def test_tiny_gguf_loads_with_config_dequantised_weights_and_cache(written, tmp_path, monkeypatch):
    path, t, q8 = written
    monkeypatch.setenv("ATTNVERIFY_CACHE", str(tmp_path))
    m = load_gemma(path, dtype=jnp.float64)
    # the file stores eps as float32; the query scale is Gemma 3's published 1/sqrt(256), not stored
    assert m.config == dataclasses.replace(TINY, vocab_size=len(_vocab()[0]), rms_eps=float(np.float32(TINY.rms_eps)),
                                           query_scale=1 / 16)
    assert m.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert_close(m.params["final_norm"], t["output_norm.weight"], rtol=0, what="norm scale stored as is (1 + w)")
    deq = np.asarray(m.params["layers"][0]["w_down"]).T
    assert_close(deq, t[q8], atol=np.abs(t[q8]).max() / 100, what="Q8_0 within its step")
    assert not np.array_equal(deq, t[q8])
    assert len(list((tmp_path / "gemma3").glob("*.safetensors"))) == 1
    again = load_gemma(path, dtype=jnp.float64)  # from the cache
    assert_close(again.params["layers"][0]["w_down"], m.params["layers"][0]["w_down"], rtol=0)
    ids = again.tokenizer.encode("the thing").ids
    assert ids[0] == 2 and gemma_forward(again, ids, jit=False).logits.shape == (1, len(ids), m.config.vocab_size)


def test_unsupported_quant_type_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNVERIFY_CACHE", str(tmp_path))
    t = _tensors(len(_vocab()[0]))
    name = "blk.1.ffn_gate.weight"  # stored as raw bytes of Q2_K blocks (refused before any shape check)
    raw = np.zeros((3, gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q2_K][1]), np.uint8)
    _write_gguf(tmp_path / "bad.gguf", t, {name: (raw, gguf.GGMLQuantizationType.Q2_K)})
    with pytest.raises(ModelLoadError, match=rf"{name}.*Q2_K"):
        load_gemma(tmp_path / "bad.gguf")


def test_chunk_assembly_checks_presence_and_hash(tmp_path):
    parts = [tmp_path / f"part{i}" for i in range(3)]
    for i, p in enumerate(parts):
        p.write_bytes(bytes(rng(i).integers(0, 256, 1000, dtype=np.uint8)))
    whole = b"".join(p.read_bytes() for p in parts)
    chunks = [(f"pkg_part{i + 1}", p) for i, p in enumerate(parts)]
    out = assemble_chunks(chunks, hashlib.sha256(whole).hexdigest(), tmp_path / "out.gguf")
    assert out.read_bytes() == whole
    with pytest.raises(ModelLoadError, match="pkg_part1.*pkg_part3.*SHA-256"):
        assemble_chunks(chunks, "0" * 64, tmp_path / "bad.gguf")
    assert not (tmp_path / "bad.gguf").exists() and not list(tmp_path.glob(".bad.gguf*"))
    parts[1].unlink()
    with pytest.raises(ModelLoadError, match="package 'pkg_part2'"):
        assemble_chunks(chunks, hashlib.sha256(whole).hexdigest(), tmp_path / "again.gguf")


SAMPLES = ["the thing is there", "then  one\nat tea, her heat", "thinging on the inn.", "zebra ü 日本 the"]


def _meta() -> dict:
    pieces, scores, types = _vocab()
    return {"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": pieces, "tokenizer.ggml.scores": scores,
            "tokenizer.ggml.token_type": types, "tokenizer.ggml.bos_token_id": 2, "tokenizer.ggml.unknown_token_id": 3}


@pytest.mark.parametrize("prefix", [False, True])
def test_tokenizer_matches_merge_loop_and_round_trips(prefix):
    meta = _meta()
    tok = gguf_tokenizer(meta, add_space_prefix=prefix)
    for text in SAMPLES:
        ids = tok.encode(text).ids
        assert ids[0] == 2 and ids[1:] == spm_encode_reference(text, meta, add_space_prefix=prefix), text
        assert tok.decode(ids) == text
    pieces = meta["tokenizer.ggml.tokens"]
    ids = tok.encode("the thing").ids[1:]
    assert [pieces[i] for i in ids] == ([SP] if prefix else []) + ["the", SP + "thing"] or prefix
    assert pieces[spm_encode_reference("  ", meta)[0]] == "  "  # literal-space piece, matched whole
