"""decide_all (every part must hold) and with_controls (a placebo that passes blocks `verified`)."""

import numpy as np
import pytest

from attnverify import proofs_numeric as pn

V = pn.Verdict


def _d(mean, n=16, sd=0.01, direction="greater", seed=0):
    x = mean + sd * np.random.default_rng(seed).standard_normal(n)
    return pn.decide_direction(x, method="t", direction=direction, units="files", rule="CI above 0")


def test_decide_direction_reports_detectable_effect():
    d = _d(0.05)
    assert d.detectable_effect == pytest.approx(pn.minimal_detectable_effect(sd=np.std(
        0.05 + 0.01 * np.random.default_rng(0).standard_normal(16), ddof=1), n=16))
    assert "detectable effect" in d.summary()


def test_decide_all_needs_every_part():
    ok, bad = _d(0.05), _d(-0.05)
    assert pn.decide_all({"a": ok, "b": ok}).outcome is V.VERIFIED
    both = pn.decide_all({"a": ok, "b": bad})
    assert both.outcome is V.REFUTED and set(both.parts) == {"a", "b"}
    assert both.estimate == bad.estimate  # the least favourable part is shown
    assert pn.decide_all({"a": ok, "b": _d(0.0, sd=0.05)}).outcome is V.INCONCLUSIVE
    with pytest.raises(ValueError):
        pn.decide_all({})


def test_with_controls_blocks_verified_when_any_placebo_passes():
    claim, weak, strong, null = _d(0.05), _d(0.01, seed=1), _d(0.08, seed=2), _d(0.0, sd=0.05, seed=4)
    assert pn.with_controls(claim, {"placebo": null}).outcome is V.VERIFIED
    out = pn.with_controls(claim, {"placebo": weak})  # a weaker placebo that passes still blocks (guide's rule)
    assert out.outcome is V.INCONCLUSIVE and out.controls["placebo"]["outcome"] == "passes" and "placebo" in out.rule
    out = pn.with_controls(claim, {"placebo": strong})
    assert out.outcome is V.INCONCLUSIVE and out.controls["placebo"]["passes_as_strongly"]
    c, p = _d(-0.05, direction="less"), _d(-0.02, direction="less", seed=3)
    assert pn.with_controls(c, {"p": p}).outcome is V.INCONCLUSIVE


def test_controls_are_never_labelled_refuted_and_record_can_pass():
    claim, other_side = _d(0.05), _d(-0.05, seed=5)
    assert other_side.outcome is V.REFUTED
    out = pn.with_controls(claim, {"p": other_side, "q": _d(0.0, sd=0.05, seed=6)}, can_pass={"p": True})
    assert out.outcome is V.VERIFIED
    assert {c["outcome"] for c in out.controls.values()} == {"does not pass"}
    assert out.controls["p"]["can_pass"] is True and out.controls["q"]["can_pass"] is None
    vac = pn.with_controls(claim, {"p": other_side}, can_pass={"p": False})  # the only control cannot pass
    assert vac.outcome is V.INCONCLUSIVE and "cannot pass" in vac.rule
    with pytest.raises(ValueError, match="can_pass"):
        pn.with_controls(claim, {"p": other_side}, can_pass={"zz": False})


def test_leave_one_out_counts_fragile_units():
    x = np.array([0.01, 0.012, 0.011, 0.009, 0.2])  # one unit carries the mean
    out = pn.leave_one_out(x, lambda s: pn.decide_direction(s, method="t", units="u", rule="r", boundary=0.02))
    assert out["n"] == 5 and out["changed"] >= 1 and len(out["outcomes"]) == 5
