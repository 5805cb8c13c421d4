"""SAE steering study (issue 13 §2): .po parsing, STE pseudo-gradients, the steering hook, selection,
language ID, chrF, the activation cache, SAE training, decisions, and deliberately wrong formulas.
Fast: no model is trained here (the fast-track integration lives in test_sae_steering_track.py)."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

import attnverify.attention.sae.claims  # noqa: F401  (registers C2, which the hook claim depends on)
import attnverify.attention.sae.claims_steering as cs
from attnverify import proofs_numeric as pn
from attnverify.attention.data.po_catalogues import parse_po, po_pairs
from attnverify.attention.sae.activations import cache_key, cached_array
from attnverify.attention.sae.jumprelu import JumpReLUSAE, sae_encode
from attnverify.attention.sae.langid import detect_language, detect_language_lingua, gate_accuracy, wilson_interval
from attnverify.attention.sae.meaning import chrf
from attnverify.attention.sae.miniature import WordLists, word_validity
from attnverify.attention.sae.selection import head_attribution, matched_random_feature, mu_plus, select_feature
from attnverify.attention.sae.steering import make_steer, no_steer, steer_residual
from attnverify.attention.sae.training import sae_stats, train_sae
from attnverify.experiments.sae_steering import decisions as dc
from helpers import assert_close, rng

PO = r'''# header
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\n"

#: a.py:1
msgid "Save"
msgstr "Enregistrer"

#, fuzzy
msgid "Delete"
msgstr "Supprimer"

msgctxt "month"
msgid "May"
msgstr "mai"

msgid "one item"
msgid_plural "%(n)s items"
msgstr[0] "un"
msgstr[1] "des"

msgid ""
"A long "
"message"
msgstr "Un \"long\" message"
'''


def test_parse_po_hand_written():
    e = {x.msgid: x for x in parse_po(PO)}
    assert set(e) == {"Save", "Delete", "May", "one item", "A long message"}
    assert e["Save"].msgstr == ("Enregistrer",) and e["Save"].single_line and not e["Save"].fuzzy
    assert e["Delete"].fuzzy and e["May"].context == "month"
    assert e["one item"].plural == "%(n)s items" and e["one item"].msgstr == ("un", "des")
    assert not e["A long message"].single_line and e["A long message"].msgstr == ('Un "long" message',)
    with pytest.raises(ValueError, match="bad.po:2"):
        parse_po('msgid "x"\nmsgstr unquoted\n', "bad.po")
    with pytest.raises(ValueError, match="lang"):
        po_pairs("")


def test_po_pairs_from_django_are_parallel_and_hashed():
    pairs, sha = po_pairs("fr")
    assert len(pairs) >= 400 and len(sha) == 64 and int(sha, 16) >= 0
    assert len({s for s, _ in pairs}) == len(pairs)  # de-duplicated sources
    assert all("%(" not in s and "\n" not in t for s, t in pairs)
    assert po_pairs("fr")[1] == sha  # deterministic


def test_ste_claim_and_a_wrong_kernel_fails(monkeypatch):
    r = pn.run_claim(pn.get_claim("sae.ste_pseudo_gradient"), scale=0.01)
    assert r.verdict is pn.Verdict.VERIFIED and r.symbolic == "proved", r.message
    right = cs.pseudo_gradients
    monkeypatch.setattr(cs, "pseudo_gradients", lambda p, t, e: (right(p, t, e)[0], right(p, t, e)[3]) + right(p, t, e)[2:])  # theta factor dropped
    assert pn.run_claim(pn.get_claim("sae.ste_pseudo_gradient"), scale=0.01).verdict is pn.Verdict.FAILED


def _toy_sae():
    # d = 2, m = 2: encoder identity, decoder rows (1, 1) and (0, 2), thresholds 0.5 (as in test_sae.py)
    return JumpReLUSAE(jnp.eye(2), jnp.zeros(2), jnp.asarray([[1.0, 1.0], [0.0, 2.0]]), jnp.asarray([0.1, -0.1]), jnp.full(2, 0.5))


def test_steer_hook_hand_computed_and_claim():
    x = jnp.asarray([[2.0, 0.25], [0.5, 1.0]])  # f_1 = (0, 1)
    st = make_steer(_toy_sae(), 3, 1, 3.0)
    assert_close(steer_residual(st, 3, x), x + jnp.asarray([[0.0, 6.0], [0.0, 4.0]]), rtol=1e-15)  # alpha = (3, 2)
    assert_close(steer_residual(st, 2, x), x, rtol=0)
    add = make_steer(_toy_sae(), 3, 1, 3.0, mode="additive")
    assert_close(steer_residual(add, 3, x), x + jnp.asarray([[0.0, 6.0], [0.0, 6.0]]), rtol=1e-15)
    assert_close(steer_residual(no_steer(2), 0, x), x, rtol=0)
    for bad, match in ((dict(mode="nope"), "mode"), (dict(j=5), "feature index"), (dict(c=math.inf), "c must be finite")):
        kw = dict(sae=_toy_sae(), layer=0, j=1, c=1.0) | bad
        with pytest.raises(ValueError, match=match):
            make_steer(**kw)
    r = pn.run_claim(pn.get_claim("sae.steer_hook_is_clamp"), scale=0.01)
    assert r.verdict is pn.Verdict.VERIFIED, r.message


def test_selection_planted_and_attribution():
    g = rng(1)
    f_en = np.abs(g.normal(0, 1, (200, 6))) * (g.random((200, 6)) < 0.3)
    f_l = f_en.copy()
    f_l[:, 4] += 2.0  # planted language feature
    j, scores = select_feature(f_l, f_en)
    assert j == 4 and scores[4] == pytest.approx(2.0)
    assert mu_plus(np.asarray([[0.0], [2.0], [4.0]]), 0) == 3.0 and mu_plus(np.zeros((2, 1)), 0) == 0.0
    k = matched_random_feature(np.concatenate([f_l, f_en]), j, scores, g, pool=3, exclude_top=1)
    assert k != j
    contrib = np.zeros((2, 3, 2, 2))
    contrib[1, :, 0] = [1.0, 2.0]  # layer 1 head 0 writes (1, 2) at every position
    assert_close(head_attribution(contrib, np.asarray([1.0, 1.0])), np.asarray([[0.0, 0.0], [3.0, 0.0]]), rtol=0)
    with pytest.raises(ValueError, match="f_target"):
        select_feature(np.zeros(3), f_en)


def test_wilson_closed_forms_and_language_id():
    z2 = 1.959963984540054**2
    lo, hi = wilson_interval(0, 50)
    assert lo == 0.0 and hi == pytest.approx((z2 / 50) / (1 + z2 / 50), rel=1e-12)
    lo, hi = wilson_interval(50, 50)
    assert hi == 1.0 and lo == pytest.approx(1 / (1 + z2 / 50), rel=1e-12)
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(3, 2)
    texts = ["Ceci est une phrase écrite en français pour le test.", "Esta es una frase escrita en español para la prueba.",
             "这是一个用于测试的中文句子，内容很简单。", "これはテストのための日本語の文章です。"]
    assert detect_language(texts) == ["fr", "es", "zh", "ja"]
    assert detect_language_lingua(texts) == ["fr", "es", "zh", "ja"]
    g = gate_accuracy({"fr": texts[:1], "es": texts[:1]})
    assert g["fr"]["accuracy"] == 1.0 and g["es"]["accuracy"] == 0.0 and g["es"]["confusion"]["fr"] == 1
    with pytest.raises(TypeError):
        detect_language("one string")


def test_chrf_and_word_validity_by_hand():
    assert chrf("abc", "abc") == 1.0 and chrf("abc", "xyz") == 0.0 and chrf("", "abc") == 0.0
    # unigrams: P = 1/2, R = 1/1; bigrams: C = {ab}, R = {} -> skipped; F_2 = 5 P R / (4 P + R) = 2.5 / 3
    assert chrf("ab", "a", max_n=2) == pytest.approx(2.5 / 3, rel=1e-12)
    lists = WordLists({"en": ["the", "cat"], "fr": ["le", "chat"], "zh": ["中文"]}, {}, "")
    assert word_validity("xx le chat dog the yy", "fr", lists) == pytest.approx(3 / 4)
    assert word_validity("中文字", "zh", lists) == pytest.approx(2 / 3)
    assert math.isnan(word_validity("one", "fr", lists))
    with pytest.raises(ValueError, match="target"):
        word_validity("x", "de", lists)


def test_cache_computes_once_and_recovers(tmp_path):
    calls = []
    key = cache_key("m" * 8, "c" * 8, 3)
    a = cached_array(key, lambda: calls.append(1) or np.arange(4.0), tmp_path)
    b = cached_array(key, lambda: calls.append(1) or np.arange(4.0), tmp_path)
    assert calls == [1] and np.array_equal(a, b)
    (tmp_path / f"{key}.npy").write_bytes(b"garbage")
    assert np.array_equal(cached_array(key, lambda: np.ones(2), tmp_path), np.ones(2))
    assert key != cache_key("m" * 8, "c" * 8, 4)
    with pytest.raises(ValueError, match="model_hash"):
        cache_key("", "c", 0)


def test_train_sae_reconstructs_sparse_data():
    g = rng(2)
    d, m, n = 8, 32, 2000
    atoms = g.normal(0, 1, (m, d))
    codes = np.abs(g.normal(1, 0.3, (n, m))) * (g.random((n, m)) < 3 / m)
    x = codes @ atoms
    sae, trace = train_sae(x, width=m, lam=1e-3, steps=250, batch=512, lr=3e-3)
    st = sae_stats(sae, x)
    assert st.width == m and st.fvu < 0.2 and 0 < st.l0 < m, st
    assert trace["loss"][-1] < trace["loss"][0]
    assert not np.allclose(np.asarray(sae.theta), 1e-3)  # thresholds moved: their pseudo-gradient flows
    assert np.asarray(sae_encode(sae, jnp.asarray(x[:4], jnp.float32))).shape == (4, m)
    with pytest.raises(ValueError, match="width"):
        train_sae(x, width=0)


def _synthetic(success_star: float, success_control: float, n: int = 40) -> dict:
    """A two-target, two-layer sweep result in the JSON layout (kappas 0, 1)."""
    g = rng(3)
    draw = lambda p: (g.random(n) < p).astype(float)  # noqa: E731
    res = {"targets": ["fr", "zh"], "layers": [0, 1], "kappas": [0.0, 1.0], "n_prompts": n}
    res["success"] = {t: [[draw(0.0), draw(success_control)], [draw(0.0), draw(success_star)]] for t in res["targets"]}
    res["success_random"] = {t: [[draw(0.0), draw(0.0)], [draw(0.0), draw(success_control)]] for t in res["targets"]}
    res["heads"] = {t: {"drop_top": draw(success_star), "drop_random": [draw(success_control)] * 5} for t in res["targets"]}
    res["fluency"] = {t: [[draw(0.5)] * 2] * 2 for t in res["targets"]}
    res["unsteered"], res["unsteered_fluency"] = ({t: draw(0.0) for t in res["targets"]}, {t: draw(0.5) for t in res["targets"]})
    return res


def test_decisions_follow_the_data_and_fail_when_wrong():
    good, bad = _synthetic(0.9, 0.1), _synthetic(0.1, 0.9)
    assert dc.c6_controls(good, "toy")[0].outcome is pn.Verdict.VERIFIED
    assert dc.c7_layers(good, "toy")[0].outcome is pn.Verdict.VERIFIED
    assert dc.c8_heads(good, "toy").outcome is pn.Verdict.VERIFIED
    # the same rules on data where the "feature" is the worse one cannot verify
    assert dc.c7_layers(bad, "toy")[0].outcome is pn.Verdict.NOT_REPRODUCED
    assert dc.c8_heads(bad, "toy").outcome is pn.Verdict.NOT_REPRODUCED
    assert dc.c6_paper(good, "toy").outcome is not pn.Verdict.VERIFIED or np.mean(good["success"]["fr"][1][1]) > 0.9
    gate = {"32": {"fasttext_lite": {lang: {"accuracy": 1.0, "ci": wilson_interval(60, 60), "n": 60, "confusion": {lang: 60, "other": 0}}
                                     for lang in ("en", "fr", "es", "zh", "ja")}}}
    assert dc.c10_gate(gate, "toy").outcome is pn.Verdict.VERIFIED
    gate["32"]["fasttext_lite"]["es"] = {"accuracy": 0.5, "ci": wilson_interval(30, 60), "n": 60, "confusion": {"es": 30, "fr": 30}}
    assert dc.c10_gate(gate, "toy").outcome is pn.Verdict.NOT_REPRODUCED
    gate["32"]["fasttext_lite"]["es"]["accuracy"] = 1.0  # a stored accuracy contradicting the counts does not decide
    assert dc.c10_gate(gate, "toy").outcome is pn.Verdict.NOT_REPRODUCED


def test_gemma_claims_without_a_pinned_run_are_inconclusive(monkeypatch, tmp_path):
    import attnverify.experiments.sae_steering.claims  # noqa: F401
    import attnverify.experiments.sae_steering.results as rs

    monkeypatch.setattr(rs, "gemma_result_paths", lambda: [tmp_path / "none.json"])
    for cid in ("sae.steering_success_gemma", "sae.steering_beats_controls_gemma", "sae.lid_gate_gemma", "sae.meaning_kept_gemma"):
        r = pn.run_claim(pn.get_claim(cid), scale=0.01)
        assert r.verdict is pn.Verdict.INCONCLUSIVE, (cid, r.message)
        assert "NOT MEASURED" in r.evidence.decision.effect and "gemma_run" in r.evidence.decision.rule


GEMMA_CLAIMS = ("sae.steering_success_gemma", "sae.steering_beats_controls_gemma", "sae.steering_layer_profile_gemma",
                "sae.steering_heads_gemma", "sae.meaning_kept_gemma", "sae.lid_gate_gemma")


def test_gemma_claims_read_the_pinned_run_under_issue_21_rules():
    """The pinned snapshot is a cells-v2 run (issue 21): >= 48 random prompts, 3 sampling seeds, BOS not
    steered, EOS stop, banned image/control tokens; every Gemma claim decides from it with the success
    rule, records the file's SHA-256, depends on the C10 gate and carries a negative control where it
    measured one; no claim is verified while the gate is not."""
    import attnverify.experiments.sae_steering.claims  # noqa: F401
    import attnverify.experiments.sae_steering.results as rs

    res = rs.gemma_results()
    assert res["format"] == "cells-v2" and res["n_prompts"] >= 48 and len(res["seeds"]) == 3 and res["settings"]["new"] >= 32
    assert res["banned_tokens"] > 0 and 1 in res["stop_ids"] and not any("Afrikaans" in p for p in res["prompts"])
    gate = pn.run_claim(pn.get_claim("sae.lid_gate_gemma"), scale=0.01)
    for cid in GEMMA_CLAIMS:
        r = pn.run_claim(pn.get_claim(cid), scale=0.01)
        assert r.verdict in (pn.Verdict.VERIFIED, pn.Verdict.NOT_REPRODUCED, pn.Verdict.INCONCLUSIVE), (cid, r.message)
        assert r.evidence.details["results_sha256"] == rs.gemma_run().sha256 and "success_rule" in r.evidence.details
        if cid != "sae.lid_gate_gemma":
            assert "sae.lid_gate_gemma" in pn.get_claim(cid).depends_on
            assert gate.verdict is pn.Verdict.VERIFIED or r.verdict is not pn.Verdict.VERIFIED
        if "NOT MEASURED" not in r.evidence.decision.effect:
            assert r.evidence.decision.controls, cid


def test_docs_figures_are_generated_from_the_pinned_runs():
    """docs/sae_steering.md holds the generated report of the pinned Gemma run and of the committed full
    fast-track run (the quick run while none is committed) verbatim: figures come from the committed runs."""
    from pathlib import Path

    import attnverify.experiments.sae_steering.results as rs
    from attnverify.experiments.sae_steering.report import gemma_report_markdown, toy_report_markdown

    doc = (Path(__file__).resolve().parents[1] / "docs" / "sae_steering.md").read_text()
    assert gemma_report_markdown(rs.gemma_results()) in doc
    assert toy_report_markdown(rs.full_fast_results(0) or rs.fast_results(quick=True, seed=0)) in doc


@pytest.mark.parametrize("x64", [False, True])
def test_fast_run_records_its_precision(monkeypatch, x64):
    """A fast-track run records the process's environment (float64 on or off) in the run itself
    (stubbed build and sweep: only the bookkeeping of compute_fast_results runs)."""
    from attnverify.experiments.sae_steering import fast_track, results, sweep

    class _Cfg:
        def _asdict(self):
            return {"d": 4}

    ft = {"sae_stats": [], "lm": {}, "model_hash": "m", "corpus_hash": "c", "wordlist_sha256": "w", "settings": {}, "cfg": _Cfg()}
    monkeypatch.setattr(fast_track, "build_fast_track", lambda quick, seed: ft)
    monkeypatch.setattr(sweep, "run_sweep", lambda ft: {})
    monkeypatch.setattr(sweep, "lid_gate", lambda ft: {})
    import jax

    with jax.enable_x64(x64):
        res = results.compute_fast_results(quick=True, seed=0)
    assert res["environment"]["x64"] is x64 and res["environment"]["backend"]
