"""FAL end to end: the O6 corpus, the C9 GPT, training, C10 analyses, the communication model and
the study's claims (cache-backed verdicts, a deliberately wrong law failing)."""

from __future__ import annotations

import hashlib
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import attnverify.attention.fal.claims  # noqa: F401  (registers the claims the new ones link to)
import attnverify.attention.fal.claims_counts  # noqa: F401
import attnverify.attention.fal.claims_training as fct
from attnverify import proofs_numeric as pn
from attnverify.attention.fal import (LINKS, QUICK_PROTOCOL, TrainProtocol, char_corpus, gpt_config, gpt_init, gpt_nll,
                           linear_cka, predicted_saving, primacy_ablation, ring_allreduce_time, train_batch)
from attnverify.attention.fal.analysis import attention_grad_norms
from helpers import assert_close, rng

TINY = dict(n_blocks=2, d_model=16, n_heads=2, d_mlp=32, seq_len=8)


def test_corpus_is_sorted_filtered_hashed_and_split(tmp_path) -> None:
    files = {"b.py": "print('b')\n", "a/x.py": "x = 'é'\n", "test/t.py": "no\n", "site-packages/s.py": "no\n", "c.txt": "no\n"}
    for k in [f"m{j:02d}.py" for j in range(9)]:
        files[k] = f"# {k}\n"
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    c = char_corpus(str(tmp_path))
    kept = sorted(k for k in files if k.endswith(".py") and not k.startswith(("test/", "site-packages/")))
    h = hashlib.sha256()
    for k in kept:
        h.update(k.encode() + b"\0" + files[k].encode())
    assert (c.n_files, c.sha256) == (len(kept), h.hexdigest())
    val_text = files[kept[0]] + files[kept[10]]  # files 0 and 10 of the sorted list
    assert c.val.tobytes() == val_text.replace("é", "\0").encode("ascii")
    assert c.n_chars == c.train.size + c.val.size == sum(len(files[k]) for k in kept)
    with pytest.raises(ValueError, match="root"):
        char_corpus(str(tmp_path / "missing"))


def test_gpt_starts_near_uniform() -> None:
    """GPT-2 init makes logits small: the initial NLL is log V within 0.05 (FAL+ B: every path, A-bar_1 included)."""
    toks = jnp.asarray(rng(0).integers(0, 128, (2, TINY["seq_len"] + 1)), jnp.int32)
    losses = {}
    for v in ("falplus_B",):  # the block stacks' forward is checked against the spec's equations in test_fal.py
        cfg = gpt_config(v, **TINY)
        losses[v] = float(jax.jit(gpt_nll, static_argnames="cfg")(gpt_init(jax.random.PRNGKey(0), cfg), toks, cfg=cfg))
    assert max(abs(x - math.log(128)) for x in losses.values()) < 0.05
    with pytest.raises(ValueError, match="variant"):
        gpt_config("falplus")
    with pytest.raises(TypeError, match="tokens"):
        gpt_nll(gpt_init(jax.random.PRNGKey(0), gpt_config("fal", **TINY)), toks.astype(jnp.float32), gpt_config("fal", **TINY))


def test_batches_are_paired_across_variants_and_seeded() -> None:
    c = char_corpus()
    p = QUICK_PROTOCOL
    a, b = train_batch(c, p, 8, 0, 3), train_batch(c, p, 8, 0, 3)
    assert np.array_equal(a, b) and not np.array_equal(a, train_batch(c, p, 8, 1, 3))
    assert a.shape == (p.batch, 9) and a.max() < 128
    with pytest.raises(ValueError):
        TrainProtocol(steps=0)


def test_linear_cka_properties() -> None:
    """CKA is 1 for X against an orthogonal transform and scaling of X, and invariant to shifts; < 1 otherwise."""
    r = rng(1)
    x = jnp.asarray(r.standard_normal((64, 6)))
    q, _ = np.linalg.qr(r.standard_normal((6, 6)))
    assert_close(linear_cka(x, 3.0 * x @ jnp.asarray(q) + 5.0), 1.0, rtol=1e-12)
    assert float(linear_cka(x, jnp.asarray(r.standard_normal((64, 6))))) < 0.5
    with pytest.raises(ValueError, match="x and y"):
        linear_cka(x, x[:10])


@pytest.mark.slow
def test_primacy_ablation_zeroes_the_attention_exactly() -> None:
    """Zeroing A_i by the shift -A_i equals running with that block's attention weights W_O = 0."""
    cfg = gpt_config("baseline", **TINY)
    params = gpt_init(jax.random.PRNGKey(1), cfg, jnp.float64)
    windows = rng(2).integers(0, 128, (3, TINY["seq_len"] + 1))
    ab = primacy_ablation(params, windows, cfg)
    for i in range(cfg.blocks.n_blocks):
        blocks = [dict(b, wo=jnp.zeros_like(b["wo"])) if j == i else b for j, b in enumerate(params["stack"]["blocks"])]
        zeroed = {**params, "stack": {**params["stack"], "blocks": blocks}}
        assert_close(ab["delta"][i], float(gpt_nll(zeroed, jnp.asarray(windows), cfg)) - ab["clean"], rtol=1e-9, atol=1e-12)
    g = attention_grad_norms(params, windows, cfg)
    assert g.shape == (2,) and np.all(g > 0)


def test_ring_allreduce_and_saving_formulas() -> None:
    """Hand-computed ring time (2 (p-1)/p M / (eta BW) + 2 (p-1) alpha) and S = phi (1 - n_FAL / n_base)."""
    link = LINKS["PCIe 4.0 x16"]
    assert_close(link.bandwidth, 31.5076923076923e9, rtol=1e-12)  # 16 GT/s x 16 lanes x 128/130 / 8 bits
    assert_close(ring_allreduce_time(4e6, 4, link), 1.5 * 4e6 / (0.8 * link.bandwidth) + 6 * 5e-6, rtol=1e-12)
    s = predicted_saving(3.0, 48, 27, 0.1)
    assert_close(s["saving"], (48 - 27) * 0.1 / (3.0 + 4.8), rtol=1e-12)
    assert_close(s["saving"], s["phi"] * (1 - 27 / 48), rtol=1e-12)
    with pytest.raises(ValueError):
        predicted_saving(1.0, 4, 5, 0.1)


def test_saving_claim_verifies_and_fails_on_a_wrong_law(monkeypatch) -> None:
    ok = pn.run_claim(pn.get_claim("fal.saving_44_needs_comm_dominated_steps"), scale=0.01)
    assert ok.verdict is pn.Verdict.VERIFIED, ok.message
    wrong = lambda t_comp, n_base, n_fal, t_ar: {"saving": 1 - n_fal / n_base, "phi": 0.5}  # forgets the compute time
    monkeypatch.setattr(fct, "predicted_saving", wrong)
    assert pn.run_claim(pn.get_claim("fal.saving_44_needs_comm_dominated_steps"), scale=0.01).verdict is pn.Verdict.FAILED


def test_empirical_claims_ignore_a_results_folder(monkeypatch, tmp_path) -> None:
    """A run in the working directory (``results/fal/``) is never read: the pinned record decides
    (C9's own record: tests/test_fal_c9.py)."""
    import attnverify.experiments.fal.claims as fc

    before = pn.run_claim(pn.get_claim("fal.c10c_primacy"), scale=0.01)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ATTNVERIFY_EVIDENCE", raising=False)
    pn.atomic_write_json(tmp_path / "results" / "fal" / "fal_results.json", {"quick": False, "val_nll": {}})
    r = pn.run_claim(pn.get_claim("fal.c10c_primacy"), scale=0.01)
    assert r.verdict is before.verdict and r.evidence.details["source"] == "experiments/fal/reference/fal_results.json"
    assert r.evidence.details["source_sha256"] == hashlib.sha256(fc.REFERENCE.read_bytes()).hexdigest()


def test_c10_effects_are_trained_minus_initial_with_a_control(monkeypatch, tmp_path) -> None:
    """C10 (a), (b): the committed run verifies trained - initial and its control (two untrained models) does
    not pass; a record whose 'trained' models are the initial ones cannot verify (the old statistic would)."""
    import attnverify.experiments.fal.claims as fc

    for cid in ("fal.c10a_mlp_inputs_similar", "fal.c10b_first_attention_gradient"):
        r = pn.run_claim(pn.get_claim(cid), scale=0.01)
        d = r.evidence.decision
        assert r.verdict is pn.Verdict.VERIFIED and d.detectable_effect > 0 and "trained - initial" in d.effect
        assert d.controls and not any(c["passes"] for c in d.controls.values())
    committed = json.loads(fc.REFERENCE.read_text())
    untrained = {**committed, "protocol_name": "synthetic", "c10": {**committed["c10"], "per_seed": committed["c10_initial"]["initial"]}}
    pn.atomic_write_json(tmp_path / "fal_results.json", untrained)
    monkeypatch.setenv("ATTNVERIFY_EVIDENCE", str(tmp_path))
    for cid in ("fal.c10a_mlp_inputs_similar", "fal.c10b_first_attention_gradient"):
        assert pn.run_claim(pn.get_claim(cid), scale=0.01).verdict is not pn.Verdict.VERIFIED
