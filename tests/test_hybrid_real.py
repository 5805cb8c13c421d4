"""Issue 15 §3 on a tiny random Gemma 3: the block runner equals the model's forward, the conversion
trains, SWA-only and the hybrid are exact before the window; the real-model decision rule on synthetic
caches (collapse, not reproduced, no headroom, no cache)."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

import attnverify.attention.hybrid.claims  # noqa: F401
import attnverify.attention.hybrid.claims_structure  # noqa: F401
import attnverify.experiments.hybrid.claims  # noqa: F401
import attnverify.experiments.hybrid.real_report as rr
from attnverify import proofs_numeric as pn
from attnverify.attention import GemmaConfig, gemma_forward, random_gemma
from attnverify.attention.hybrid.gemma_convert import (ConvertConfig, collect_activations, convert_layers, embed, init_converted,
                                            run_blocks)
from attnverify.experiments.hybrid.real_model import gemma_text, position_buckets
from helpers import assert_close, rng

TINY = GemmaConfig(vocab_size=40, hidden_size=16, num_layers=3, num_heads=4, num_kv_heads=2, head_dim=8,
                   intermediate_size=32, context_length=48, sliding_window=48, global_every=2, query_scale=8 ** -0.5)


def test_block_runner_is_the_model_and_full_window_hybrid_is_softmax():
    m = random_gemma(TINY, seed=1)
    ids = rng(0).integers(0, 40, (2, 12)).astype(np.int32)
    ref = gemma_forward(m, ids, return_hidden=True).residuals[-1]
    h, store = run_blocks(m.params, embed(m, ids), {}, cfg=TINY, start=0, stop=3, capture=(1,))
    assert_close(h, ref, rtol=1e-5, atol=1e-5)
    assert store[1][0].shape == (2, 12, 4, 8) and store[1][1].shape == (2, 12, 2, 8)
    conv = ConvertConfig(layers=(0, 2), window=12, d_prime=4)
    p = init_converted(jax.random.PRNGKey(0), TINY, conv)
    hy, _ = run_blocks(m.params, embed(m, ids), p, cfg=TINY, start=0, stop=3, components=((0, "hybrid"), (2, "hybrid")),
                       settings=conv.settings)
    assert_close(hy, ref, rtol=1e-5, atol=1e-5, what="w >= T: the converted model is the model")


@pytest.mark.parametrize("objective", ["mse", pytest.param("xent", marks=pytest.mark.slow)])
def test_conversion_lowers_its_loss_and_rejects_bad_input(objective):
    m = random_gemma(TINY, seed=2)
    acts = collect_activations(m, rng(1).integers(0, 40, (4, 24)).astype(np.int32), (1,), desc="t")
    p, hist = convert_layers(acts, TINY, ConvertConfig(layers=(1,), window=4, d_prime=4, steps=30, batch=2), objective=objective)
    assert hist["loss"][-1][1] < hist["loss"][0][1]
    with pytest.raises(ValueError, match="objective"):
        convert_layers(acts, TINY, ConvertConfig(layers=(1,)), objective="kl")
    with pytest.raises(ValueError, match="layers"):
        convert_layers(acts, TINY, ConvertConfig(layers=(0,)), objective="mse")


def test_text_chunks_and_buckets():
    class Tok:  # a stand-in tokenizer: one id per character
        def encode(self, text, add_special_tokens=False):
            return type("E", (), {"ids": [ord(c) % 50 + 3 for c in text]})()

    class Model:
        tokenizer, bos_id = Tok(), 2

    ids, rec = gemma_text(Model(), 3, 17, skip=1)
    ids0, _ = gemma_text(Model(), 4, 17)
    assert ids.shape == (3, 17) and (ids[:, 0] == 2).all() and (ids[:, 1:] == ids0[1:, 1:]).all()
    assert len(rec["sha256_docstrings"]) == 64
    assert position_buckets(64, 256) == [(0, 64), (64, 128), (128, 256)]
    assert position_buckets(8, 32) == [(0, 8), (8, 16), (16, 32)]


# ------------------------------------------------------------------ the decision rule on synthetic caches


def _cache(hyb: list[float], swa: list[float]) -> dict:
    agree = {k: {"[0,64)": [1.0] * len(swa)} for k in ("mse/swa", "mse/hybrid", "mse/la_full", "xent/hybrid", "xent/la_full")}
    beyond = {"mse/swa": swa, "mse/hybrid": hyb, "mse/la_full": [0.3] * len(swa), "xent/hybrid": hyb, "xent/la_full": [0.3] * len(swa)}
    return {"protocol": {"name": "full", "length": 256, "n_eval": len(swa), "convert": {"layers": [11], "window": 64, "d_prime": 64,
                                                                                       "steps": 10, "batch": 4}},
            "model": {"name": "gemma3-270m", "layers": 18}, "data": {}, "agreement": agree, "agreement_beyond_window": beyond,
            "r_buckets": {"mse": {"11": {"[0,64)": [0.0] * len(swa)}}}, "buckets": ["[0,64)"]}


def _run(monkeypatch, tmp_path, cache):
    monkeypatch.setattr(rr, "_RESULTS", tmp_path)
    monkeypatch.setenv("ATTNVERIFY_EVIDENCE", str(tmp_path))  # a synthetic run replaces the pinned one (verify --evidence)
    if cache is not None:
        (tmp_path / "gemma_real_full.json").write_text(json.dumps(cache))
    return pn.run_claim(pn.get_claim("hybrid.collapse_real_gemma"))


def test_real_claim_verdicts(monkeypatch, tmp_path):
    swa = [0.80, 0.82, 0.85, 0.78, 0.81]
    assert _run(monkeypatch, tmp_path, _cache([s - 0.01 for s in swa], swa)).verdict is pn.Verdict.VERIFIED  # collapse
    r = _run(monkeypatch, tmp_path, _cache([s + 0.10 for s in swa], swa))
    assert r.verdict is pn.Verdict.NOT_REPRODUCED and len(r.evidence.details["cache_sha256"]) == 64
    full = [1.0, 0.99, 1.0, 1.0, 0.995]  # SWA-only already matches the model: collapse cannot be seen
    assert _run(monkeypatch, tmp_path, _cache(full, full)).verdict is pn.Verdict.INCONCLUSIVE
    assert _run(monkeypatch, tmp_path, None).verdict is pn.Verdict.INCONCLUSIVE


@pytest.mark.slow
def test_quick_experiment_end_to_end(tmp_path):
    # the command's quick path: toy (quick protocol) then the tiny random Gemma; writes no cache
    import attnverify.experiments.hybrid.study as hs

    before = {p: p.stat().st_mtime for p in hs.CACHE_DIR.glob("*.json")}
    out = hs.hybrid_experiment(tmp_path, quick=True)
    assert {"hybrid.collapse_toy", "hybrid.collapse_real_gemma"} <= set(out["decisions"])
    assert (tmp_path / "gemma_real.md").is_file() and (tmp_path / "hybrid_gemma_agreement_rn.png").is_file()
    real = json.loads((tmp_path / "gemma_real.json").read_text())
    assert all(x == 1.0 for k in ("mse/swa", "mse/hybrid") for x in real["agreement"][k]["[0,8)"])  # exact below w
    assert {p: p.stat().st_mtime for p in hs.CACHE_DIR.glob("*.json")} == before
