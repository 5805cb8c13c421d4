"""decide_all (every part must hold) and with_controls (a placebo that passes as strongly blocks `verified`)."""

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


def test_with_controls_downgrades_when_placebo_passes_as_strongly():
    claim, weak, strong = _d(0.05), _d(0.01, seed=1), _d(0.08, seed=2)
    assert pn.with_controls(claim, {"placebo": weak}).outcome is V.VERIFIED
    out = pn.with_controls(claim, {"placebo": strong})
    assert out.outcome is V.INCONCLUSIVE and out.controls["placebo"]["passes_as_strongly"]
    assert "placebo" in out.rule
    # direction "less": a more negative placebo passes as strongly
    c, p = _d(-0.05, direction="less"), _d(-0.08, direction="less", seed=3)
    assert pn.with_controls(c, {"p": p}).outcome is V.INCONCLUSIVE


def test_leave_one_out_counts_fragile_units():
    x = np.array([0.01, 0.012, 0.011, 0.009, 0.2])  # one unit carries the mean
    out = pn.leave_one_out(x, lambda s: pn.decide_direction(s, method="t", units="u", rule="r", boundary=0.02))
    assert out["n"] == 5 and out["changed"] >= 1 and len(out["outcomes"]) == 5
