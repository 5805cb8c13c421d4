"""The fast track end to end (the committed quick and full runs): the toy claims C6-C8 decide from the
full run, C10 from its recall gate, the SAEs meet the spec's gates, and the results carry their hashes."""

from __future__ import annotations

import numpy as np
import pytest

import attnverify.experiments.sae_steering.claims  # noqa: F401
from attnverify import proofs_numeric as pn
from attnverify.experiments.sae_steering.results import fast_results

TOY = ("sae.steering_beats_controls_toy", "sae.steering_layer_profile_toy", "sae.steering_heads_toy", "sae.lid_gate_toy")


@pytest.fixture(scope="module")
def fast():
    return fast_results(quick=True, seed=0)


def test_fast_track_results_are_complete(fast):
    assert fast["track"] == "fast" and len(fast["model_hash"]) == 64 and len(fast["wordlist_sha256"]) == 64
    assert set(fast["targets"]) == {"fr", "es", "zh", "ja"} and fast["n_prompts"] >= 16
    for st in fast["sae_stats"]:  # spec §5 SAE gates
        assert st["fvu"] < 0.1 and 5 <= st["l0"] <= 64, st
    for t in fast["targets"]:
        for li in range(len(fast["layers"])):
            s = np.asarray(fast["success"][t][li])
            assert s.shape == (len(fast["kappas"]), fast["n_prompts"]) and ((0 <= s) & (s <= 1)).all()
    assert fast["gate"]["32"]["fasttext_lite"]["en"]["n"] >= 30


@pytest.fixture(scope="module")
def full():
    from attnverify.experiments.sae_steering.results import full_fast_results

    res = full_fast_results(0)
    assert res is not None, "no committed full fast-track run (docs/sae_steering.md, Commands: full fast track only)"
    return res


def test_full_run_is_complete(full):
    """The committed full run: the FULL setting, its counted unsteered labels, plain label rates beside
    the success rule, timing, and stored successes that the rule counted for their own target."""
    from attnverify.experiments.sae_steering.fast_track import FULL

    assert full["quick"] is False and full["n_prompts"] == FULL["prompts"] and full["seeds"] == FULL["seeds"]
    assert full["settings"]["new"] == FULL["new"] and full["config"]["layers"] == FULL["layers"]
    assert sum(full["unsteered_labels"].values()) == full["n_prompts"] * full["seeds"]
    for t in full["targets"]:
        for li in range(len(full["layers"])):
            lab, ok = np.asarray(full["label_rate"][t][li]), np.asarray(full["success"][t][li])
            assert lab.shape == ok.shape == (len(full["kappas"]), full["n_prompts"]) and (ok <= lab + 1e-12).all()  # success implies the label
        assert all(e["label"] == t and " kappa 0" not in e["cell"] for e in full["examples"].get(t, []))
    assert full["timing"]["sweep_cpu_s"] > 0


@pytest.mark.parametrize("cid", TOY)
def test_toy_claims_decide_from_the_committed_full_run(cid, full):
    """C6-C8 decide from the full run (never the quick one): its n, a negative control, the decision the
    report shows (claims.toy_decision); C10 on the toy keeps its recall gate."""
    from attnverify.experiments.sae_steering.claims import toy_decision

    r = pn.run_claim(pn.get_claim(cid), scale=0.01)
    d = r.evidence.decision
    if cid == "sae.lid_gate_toy":
        assert r.verdict is pn.Verdict.VERIFIED and d.method.startswith("Clopper-Pearson"), r.message
        return
    which = {"sae.steering_beats_controls_toy": "c6", "sae.steering_layer_profile_toy": "c7", "sae.steering_heads_toy": "c8"}[cid]
    assert r.evidence.details["full_run"]["quick"] is False, r.message
    ours = toy_decision(full, which)
    if ours is None:  # C8 without head cells (too few heads at or above every best layer): not measured, never decided
        assert any(full["heads"][t] is None for t in full["targets"]) and "NOT MEASURED" in d.effect and r.verdict is pn.Verdict.INCONCLUSIVE
        return
    assert d.n_units == full["n_prompts"] and d.controls and d.detectable_effect is not None and np.isfinite(d.detectable_effect)
    assert d.to_dict() == ours.to_dict()


def test_toy_lm_gate_decides_from_the_full_runs_counted_labels(fast, full):
    """The stay-in-language gate reads the full run's counted labels (exact), not the quick run's upper bound
    (0.83 for the quick LM: it would fail)."""
    from attnverify.experiments.sae_steering.claims import lm_gate, stay_in_language

    r = pn.run_claim(pn.get_claim("sae.lm_stays_in_language_toy"), scale=0.01)
    assert r.evidence.details["exact"] and r.evidence.details["n_continuations"] == full["n_prompts"] * full["seeds"]
    assert r.verdict is lm_gate(full).outcome
    assert stay_in_language(fast)["stay_en_upper_bound"] < 0.95 and lm_gate(fast).outcome is not pn.Verdict.VERIFIED
    assert "sae.lm_stays_in_language_toy" in pn.get_claim("sae.steering_layer_profile_toy").depends_on


def test_a_committed_reference_exists_for_the_current_protocol():
    """A fresh machine reads the committed fast-track run instead of training for ~580 CPU s; a changed
    protocol changes the key, and this test then asks for the reference to be regenerated."""
    from attnverify.experiments.sae_steering.results import FAST_REFERENCE, fast_key

    ref = FAST_REFERENCE / f"fast_results_{fast_key(True, 0)}.json"
    assert ref.is_file(), (f"regenerate {ref}: run `ATTNVERIFY_CACHE=$(mktemp -d) attnverify experiment sae-steering --quick` "
                           "and copy the cache's fast_results_*.json there")


@pytest.mark.slow
def test_committed_reference_is_reproduced(tmp_path, monkeypatch):
    """Recompute the fast track in an empty cache: the same corpus and word lists, SAEs that meet the same
    gates, and the same verdict for every toy claim. (float32 training is not bit-stable across code
    changes and machines, so the numbers themselves may move a little.)"""
    import json

    import attnverify.experiments.sae_steering.claims as sc
    from attnverify.experiments.sae_steering.results import FAST_REFERENCE, compute_fast_results, fast_key

    monkeypatch.setenv("ATTNVERIFY_CACHE", str(tmp_path))
    ref = json.loads((FAST_REFERENCE / f"fast_results_{fast_key(True, 0)}.json").read_text())
    fresh = compute_fast_results(True, 0)
    for k in ("corpus_hash", "wordlist_sha256", "targets", "kappas", "layers", "n_prompts"):
        assert fresh[k] == ref[k], k
    for a, b in zip(fresh["sae_stats"], ref["sae_stats"]):
        assert a["l0"] == pytest.approx(b["l0"], rel=0.15) and a["fvu"] < 0.1
    verdicts = {}
    for res in (ref, fresh):
        monkeypatch.setattr(sc, "fast_results", lambda quick=True, seed=0, res=res: res)
        verdicts[id(res)] = [pn.run_claim(pn.get_claim(c)).verdict for c in TOY]
    assert verdicts[id(ref)] == verdicts[id(fresh)]


def test_stay_in_language_counts_the_unsteered_labels():
    """A run that counted its unsteered labels gives the share staying English itself (``other`` counts
    against it), decided by Clopper-Pearson against 0.95; a wrong count is refused."""
    from attnverify.experiments.sae_steering.claims import lm_gate, stay_in_language

    res = {"n_prompts": 200, "seeds": 3, "targets": ["fr"], "unsteered": {"fr": [0.0] * 200}}
    ok = dict(res, unsteered_labels={"en": 597, "other": 3})
    s = stay_in_language(ok)
    assert s["exact"] and s["k_en"] == 597 and s["stay_en_upper_bound"] == pytest.approx(0.995)
    assert lm_gate(ok).outcome is pn.Verdict.VERIFIED
    bad = dict(res, unsteered_labels={"en": 540, "other": 50, "fr": 10})  # 0.90: below the gate
    assert lm_gate(bad).outcome is pn.Verdict.NOT_REPRODUCED
    with pytest.raises(ValueError, match="unsteered_labels"):
        stay_in_language(dict(res, unsteered_labels={"en": 10}))
    old = stay_in_language(res)  # a run without the counts: the upper bound, marked as such
    assert not old["exact"] and old["stay_en_upper_bound"] == 1.0


def test_full_setting_can_score_latin_targets_and_mixes_languages_as_stated():
    """The full setting's continuations are long enough for the success rule's 32 non-space characters
    (en/fr/es text is about a quarter spaces), fit the context, and train on the stated mix."""
    from attnverify.attention.sae.miniature import MINI_LANGUAGES, sample_documents, word_lists
    from attnverify.attention.sae.success import MIN_CHARS
    from attnverify.experiments.sae_steering.fast_track import FULL, QUICK, language_mix

    rng = np.random.default_rng(0)
    docs = sample_documents(word_lists(FULL["v"]), "fr", 200, FULL["new"], rng)
    assert np.mean([len("".join(t.split())) >= MIN_CHARS for t in docs]) > 0.95
    assert 1 + 16 + FULL["new"] <= FULL["context"]
    short = sample_documents(word_lists(QUICK["v"]), "fr", 200, QUICK["new"], rng)  # the check can fail: 32 new characters
    assert np.mean([len("".join(t.split())) >= MIN_CHARS for t in short]) < 0.05
    mix = language_mix(FULL)
    assert mix[MINI_LANGUAGES.index("en")] == pytest.approx(FULL["en_share"]) and mix.sum() == pytest.approx(1.0)
    assert language_mix(QUICK) is None
    with pytest.raises(ValueError, match="en_share"):
        language_mix(dict(FULL, en_share=1.5))
