"""FAL C9 under the pre-registered CPU protocol: the claims decide from the pinned ``fal_c9.json``,
follow the paired interval, report n, the detectable effect, the placebo arm and the bigram target,
and cannot be verified when a control passes or a variant misses the target."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from attnverify import proofs_numeric as pn
from attnverify.experiments.fal import c9
from attnverify.experiments.fal import claims_c9 as fc9
from attnverify.proofs_numeric.validate import EvidenceError

C9_CLAIMS = ("fal.quality_fal_vs_baseline", "fal.quality_falplus_vs_fal", "fal.quality_falplus_b_vs_fal",
             "fal.quality_falplus_vs_baseline", "fal.quality_falplus_b_vs_baseline", "fal.no_connection_worse_than_fal")


@pytest.fixture(autouse=True)
def _registered(monkeypatch):
    pn.discover()
    monkeypatch.delenv("ATTNVERIFY_EVIDENCE", raising=False)


def _synthetic(tmp_path, monkeypatch, val_nll: dict, placebo: list[float]) -> None:
    """A valid fal_c9.json with these NLLs (summary recomputed), read through ``verify --evidence DIR``."""
    rec = json.loads(fc9.REFERENCE_C9.read_text())
    nll = {**rec["val_nll"], **val_nll}
    rec = {**rec, "protocol_name": "synthetic", "val_nll": nll, "placebo": {**rec["placebo"], "val_nll": placebo},
           "summary": c9.c9_summary(nll, placebo, rec["count_models"]["bigram_windows"])}
    pn.atomic_write_json(tmp_path / c9.RESULTS_JSON, rec)
    monkeypatch.setenv("ATTNVERIFY_EVIDENCE", str(tmp_path))


def test_c9_claims_decide_from_the_pinned_cpu_run() -> None:
    """Every C9 decision: n = the protocol's seeds, a finite detectable effect, both controls recorded and not
    passing on the committed run, every variant's NLL against the bigram, and the full-shape run as support."""
    rec = json.loads(fc9.REFERENCE_C9.read_text())
    n = len(rec["protocol"]["seeds"])
    for cid in C9_CLAIMS:
        r = pn.run_claim(pn.get_claim(cid), scale=0.01)
        d, det = r.evidence.decision, r.evidence.details
        assert r.verdict is not pn.Verdict.FAILED, r.message
        assert d.n_units == n and np.isfinite(d.detectable_effect) and d.detectable_effect > 0
        assert set(d.controls) == {f"placebo arm: {c9.PLACEBO_NAME} - baseline", "paired differences with every other sign flipped"}
        assert not any(c["passes"] for c in d.controls.values()), (cid, d.controls)
        assert det["source"].endswith("reference_c9cpu/fal_c9.json") and det["pinned"]
        assert det["source_sha256"] == hashlib.sha256(fc9.REFERENCE_C9.read_bytes()).hexdigest()
        assert set(det["val_nll_vs_bigram"]) == set(rec["val_nll"]) and det["supporting_full_run"]["protocol_name"] == "full"


def test_c9_follows_the_interval_the_controls_and_the_target(tmp_path, monkeypatch) -> None:
    """FAL better on every seed -> verified; worse -> not reproduced; a placebo arm that differs from the baseline
    as much -> inconclusive (its control passes); every model above the bigram -> inconclusive (target missed)."""
    rec = json.loads(fc9.REFERENCE_C9.read_text())
    n = len(rec["protocol"]["seeds"])
    bigram = rec["count_models"]["bigram_windows"]
    base = [bigram - 0.1 + 0.01 * k for k in range(n)]
    spread = [0.003 * (-1) ** k for k in range(n)]
    null = [b + s for b, s in zip(base, spread)]  # placebo: no systematic difference
    better = [b - 0.02 + s for b, s in zip(base, spread)]
    cases = [({"baseline": base, "fal": better}, null, pn.Verdict.VERIFIED),
             ({"baseline": base, "fal": [b + 0.02 + s for b, s in zip(base, spread)]}, null, pn.Verdict.NOT_REPRODUCED),
             ({"baseline": base, "fal": better}, better, pn.Verdict.INCONCLUSIVE),
             ({"baseline": [b + 0.2 for b in base], "fal": [b + 0.2 for b in better]}, [b + 0.2 for b in null], pn.Verdict.INCONCLUSIVE)]
    for val_nll, placebo, want in cases:
        _synthetic(tmp_path, monkeypatch, val_nll, placebo)
        r = pn.run_claim(pn.get_claim("fal.quality_fal_vs_baseline"), scale=0.01)
        assert r.verdict is want, (want, r.message, r.evidence.decision.rule)
        assert r.evidence.details["pinned"] is False and r.evidence.details["protocol_name"] == "synthetic"
    assert "missed the pre-registered target" in r.evidence.decision.rule


def test_c9_schema_refuses_a_summary_that_is_not_its_recomputation(tmp_path, monkeypatch) -> None:
    rec = json.loads(fc9.REFERENCE_C9.read_text())
    rec["summary"]["variants"]["fal"]["mean"] += 0.01
    pn.atomic_write_json(tmp_path / c9.RESULTS_JSON, rec)
    monkeypatch.setenv("ATTNVERIFY_EVIDENCE", str(tmp_path))
    r = pn.run_claim(pn.get_claim("fal.quality_fal_vs_baseline"), scale=0.01)
    assert r.verdict is pn.Verdict.FAILED and "summary.variants.fal.mean" in r.message
    with pytest.raises(EvidenceError, match="summary.variants.fal.mean"):
        from attnverify.proofs_numeric.validate import validate

        validate("fal.c9", rec, str(tmp_path / c9.RESULTS_JSON))


def test_c9_summary_and_target() -> None:
    """Hand-checked: means, distance from the bigram, seeds below it; the placebo's paired mean."""
    s = c9.c9_summary({"baseline": [2.0, 2.2], "fal": [1.9, 2.5]}, [2.1, 2.1], 2.1)
    assert s["variants"]["baseline"] == {"mean": pytest.approx(2.1), "minus_bigram": pytest.approx(0.0), "seeds_below_bigram": 1, "n_seeds": 2}
    assert s["placebo_minus_baseline"]["mean"] == pytest.approx(0.0) and s["variants"]["fal"]["seeds_below_bigram"] == 1
    assert fc9.missed_target({"a": [2.0, 2.2], "b": [2.0, 2.1]}, 2.1, ("a", "b")) == ["a"]
