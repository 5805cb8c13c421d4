"""The fast track end to end (quick mode; cached after its first run): the toy claims C6-C8, C10 give
pre-stated decisions, the SAEs meet the spec's gates, and the results carry their hashes."""

from __future__ import annotations

import numpy as np
import pytest

import experiments.sae_steering.claims  # noqa: F401
import proofs_numeric as pn
from experiments.sae_steering.results import fast_results

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
def test_toy_claims_decide(cid, fast):
    r = pn.run_claim(pn.get_claim(cid), scale=0.01)
    assert r.verdict in (pn.Verdict.VERIFIED, pn.Verdict.NOT_REPRODUCED, pn.Verdict.INCONCLUSIVE), r.message
    d = r.evidence.decision
    assert d.units.startswith("prompts") or d.units == "held-out strings"
    assert d.ci[0] <= d.estimate <= d.ci[1]
