"""The fast track end to end (quick mode; cached after its first run): the toy claims C6-C8, C10 give
pre-stated decisions, the SAEs meet the spec's gates, and the results carry their hashes."""

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


@pytest.mark.parametrize("cid", TOY)
def test_toy_claims_decide_only_from_a_full_run(cid, fast):
    """Issue 21: the quick run (label-only success, a toy LM that fails its gate) never decides C6-C8."""
    r = pn.run_claim(pn.get_claim(cid), scale=0.01)
    d = r.evidence.decision
    if cid == "sae.lid_gate_toy":
        assert r.verdict is pn.Verdict.VERIFIED and d.method.startswith("Clopper-Pearson"), r.message
    else:
        assert r.verdict is pn.Verdict.INCONCLUSIVE and "full fast-track run" in d.rule, r.message


def test_toy_lm_fails_its_stay_in_language_gate(fast):
    r = pn.run_claim(pn.get_claim("sae.lm_stays_in_language_toy"), scale=0.01)
    assert r.verdict is pn.Verdict.NOT_REPRODUCED and r.evidence.details["stay_en_upper_bound"] < 0.95
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
