"""``verify --jobs N``: worker processes give the same verdicts and evidence as the serial runner."""

from __future__ import annotations

import math

from attnverify import proofs_numeric as pn
from attnverify.proofs_numeric._parallel import claim_groups, run_parallel

#: cheap claims from three areas (two groups share a worker, one runs alone)
CHEAP = ["delta.causal", "delta.cost_fraction", "gating.depth_amplification_scope", "topk.topk_optimal_for_its_size"]


def test_groups_are_areas_largest_first():
    pn.discover()
    groups = claim_groups([pn.get_claim(i) for i in CHEAP])
    assert groups[0] == ["delta.causal", "delta.cost_fraction"]
    assert sorted(map(tuple, groups[1:])) == [("gating.depth_amplification_scope",), ("topk.topk_optimal_for_its_size",)]


def test_workers_match_the_serial_runner_and_flag_unimportable_claims():
    pn.discover()

    @pn.claim("topk.test_runtime_only", paper="topk_tv", equation="test", statement="1=1", provenance="derived", tolerance=0.0)
    def _(ctx: pn.Context) -> pn.Evidence:
        return pn.Evidence(0.0, 1)

    try:
        claims = [pn.get_claim(i) for i in CHEAP] + [pn.get_claim("topk.test_runtime_only")]
        seen = []
        par = run_parallel(claims, seed=3, scale=0.01, jobs=2, run_claim=pn.run_claim, make_result=pn.ClaimResult,
                           on_result=seen.append)
    finally:
        pn.unregister("topk.test_runtime_only")
    assert [r.claim.id for r in par] == [c.id for c in claims] and len(seen) == len(claims)
    for c, p in zip(claims[:-1], par):
        s = pn.run_claim(c, seed=3, scale=0.01)
        assert p.verdict is s.verdict, (c.id, p.message)
        assert math.isclose(p.evidence.worst_error, s.evidence.worst_error, rel_tol=0, abs_tol=1e-300) or (
            p.evidence.worst_error == s.evidence.worst_error), c.id
        assert p.evidence.n_random == s.evidence.n_random
    bad = par[-1]
    assert bad.verdict is pn.Verdict.FAILED and "--jobs 1" in bad.message


def test_jobs_must_be_a_positive_integer():
    import pytest

    with pytest.raises(ValueError, match="jobs"):
        pn.run_claims("delta.causal", jobs=0)
