"""The verdict API: decisions with confidence intervals, and the runner's mapping to verdicts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attnverify import proofs_numeric as pn
from attnverify.proofs_numeric.report import HOW_TO_READ, markdown_report, summary_line

V = pn.Verdict
KW = dict(units="seeds", rule="verified if the 95 % CI of the mean lies above 0")


# ------------------------------------------------------------------------------------ intervals


@pytest.mark.parametrize("dist", ["normal", "exponential"])
def test_bootstrap_ci_covers_the_mean_about_95_percent(dist):
    rng = np.random.default_rng(1)
    true, hits, reps = (0.5 if dist == "normal" else 1.0), 0, 200
    for i in range(reps):
        x = rng.normal(0.5, 1.0, 60) if dist == "normal" else rng.exponential(1.0, 60)
        _, lo, hi = pn.bootstrap_ci(x, n_boot=1000, seed=i)
        hits += lo <= true <= hi
    # binomial sd at p = 0.95, 200 reps: 1.5 %; BCa at n = 60 under-covers skewed data slightly
    assert 0.88 <= hits / reps <= 0.99, hits / reps


def test_t_ci_matches_scipy_and_covers():
    from scipy import stats

    rng = np.random.default_rng(2)
    x = rng.normal(1.0, 2.0, 15)
    m, lo, hi, p = pn.t_ci(x)
    ref = stats.t.interval(0.95, df=14, loc=x.mean(), scale=stats.sem(x))
    assert m == pytest.approx(x.mean()) and (lo, hi) == pytest.approx(ref)
    assert p == pytest.approx(stats.ttest_1samp(x, 0).pvalue)


def test_bootstrap_is_deterministic_and_handles_constant_and_non_vectorised_statistics():
    x = np.arange(20.0)
    assert pn.bootstrap_ci(x, seed=3) == pn.bootstrap_ci(x, seed=3)
    assert pn.bootstrap_ci(np.full(7, 2.5)) == (2.5, 2.5, 2.5)
    est, lo, hi = pn.bootstrap_ci(x, lambda a: float(np.median(a)), n_boot=500)
    assert lo <= est <= hi and est == 9.5


# ------------------------------------------------------------------------------------ outcomes


def test_each_outcome_is_reachable():
    rng = np.random.default_rng(0)
    up, down, flat = rng.normal(1, 0.3, 30), rng.normal(-1, 0.3, 30), rng.normal(0, 1, 30)
    assert pn.decide_direction(up, **KW).outcome is V.VERIFIED
    assert pn.decide_direction(down, **KW).outcome is V.REFUTED
    assert pn.decide_direction(flat, **KW).outcome is V.INCONCLUSIVE
    nr = pn.decide_direction(down, setting_differs=True, paper_setting="Llama, RULER", our_setting="MiniLM, output error",
                             paper_figure="+2 points", **KW)
    assert nr.outcome is V.NOT_REPRODUCED and nr.paper_figure == "+2 points"
    assert pn.decide_direction(down, direction="less", **KW).outcome is V.VERIFIED
    assert pn.decide_direction(up, boundary=2.0, method="t", **KW).outcome is V.REFUTED
    eq = dict(units="seeds", rule="verified if the 95 % CI lies within ±0.05")
    assert pn.decide_equivalence(rng.normal(0, 0.02, 40), margin=0.05, **eq).outcome is V.VERIFIED
    assert pn.decide_equivalence(rng.normal(0.3, 0.02, 40), margin=0.05, **eq).outcome is V.REFUTED
    assert pn.decide_equivalence(rng.normal(0.05, 0.05, 10), margin=0.05, **eq).outcome is V.INCONCLUSIVE
    assert pn.decide_equivalence(rng.normal(0, 0.02, 40), margin=0.05, method="bootstrap", **eq).outcome is V.VERIFIED


def test_a_tie_never_decides():
    # 4 wins out of 8 against a majority rule: the CI of the win rate straddles 1/2
    wins = np.array([1, 0, 1, 0, 1, 0, 1, 0], dtype=float)
    assert pn.decide_direction(wins, boundary=0.5, **KW).outcome is V.INCONCLUSIVE
    # all exactly on the boundary: a degenerate interval [b, b] touches it
    assert pn.decide_direction(np.zeros(6), **KW).outcome is V.INCONCLUSIVE
    assert pn.decide_interval(0.0, (0.0, 0.3), effect="e", units="u", n_units=3, rule="r", method="m").outcome is V.INCONCLUSIVE
    assert pn.decide_interval(0.1, (1e-12, 0.3), effect="e", units="u", n_units=3, rule="r", method="m").outcome is V.VERIFIED


def test_decision_is_json_serialisable_and_round_trips():
    d = pn.decide_direction(np.linspace(0.1, 1, 12), effect="mean gain", **KW)
    s = json.dumps(d.to_dict())
    back = pn.Decision(**{**json.loads(s), "ci": tuple(json.loads(s)["ci"])})
    assert back == d and json.loads(s)["outcome"] == "verified"
    assert "n = 12 seeds" in d.summary() and d.method.startswith("bootstrap")


@pytest.mark.parametrize(
    "call, arg",
    [
        (lambda: pn.decide_direction([1.0], **KW), "samples"),
        (lambda: pn.decide_direction([[1.0, 2.0]], **KW), "samples"),
        (lambda: pn.decide_direction([1.0, float("nan")], **KW), "samples"),
        (lambda: pn.decide_direction([1.0, 2.0], direction="up", **KW), "direction"),
        (lambda: pn.decide_direction([1.0, 2.0], boundary=float("inf"), **KW), "boundary"),
        (lambda: pn.decide_direction([1.0, 2.0], method="magic", **KW), "method"),
        (lambda: pn.decide_direction([1.0, 2.0], level=1.5, **KW), "level"),
        (lambda: pn.decide_direction([1.0, 2.0], units="", rule="r"), "units"),
        (lambda: pn.decide_direction([1.0, 2.0], units="seeds", rule=""), "rule"),
        (lambda: pn.decide_direction([1.0, 2.0], setting_differs=True, **KW), "paper_setting"),
        (lambda: pn.decide_equivalence([1.0, 2.0], margin=0.0, **KW), "margin"),
        (lambda: pn.decide_equivalence([1.0, 2.0], margin=-1, **KW), "margin"),
        (lambda: pn.bootstrap_ci([1.0, 2.0], n_boot=10), "n_boot"),
        (lambda: pn.paired_differences([1.0, 2.0], [1.0]), "paired"),
        (lambda: pn.Decision("e", "u", 0, "r", 0.0, 0.0, (0.0, 0.0), "m", V.VERIFIED), "n_units"),
        (lambda: pn.Decision("e", "u", 3, "r", 0.0, 0.0, (1.0, 0.0), "m", V.VERIFIED), "ci"),
        (lambda: pn.Decision("e", "u", 3, "r", 0.0, 0.0, (0.0, 0.0), "m", V.ERRATUM), "outcome"),
        (lambda: pn.Decision("e", "u", 3, "r", 0.0, 0.0, (0.0, 0.0), "m", V.NOT_REPRODUCED), "paper_setting"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call, arg):
    with pytest.raises(ValueError, match=arg):
        call()


def test_paired_differences():
    assert np.array_equal(pn.paired_differences([3.0, 2.0], [1.0, 1.0]), [2.0, 1.0])


# ------------------------------------------------------------------------------------ the runner


@pytest.fixture
def scratch():
    ids: list[str] = []
    yield ids
    for cid in ids:
        pn.unregister(cid)


def _register(ids, cid, evidence, **kw):
    ids.append(cid)
    pn.claim(cid, paper="x", equation="1", statement="s", provenance=kw.pop("provenance", "paper"), tolerance=1.0, **kw)(
        lambda ctx: evidence() if callable(evidence) else evidence
    )


def test_runner_maps_every_verdict(scratch):
    rng = np.random.default_rng(0)
    nr = pn.decide_direction(rng.normal(-1, 0.3, 20), setting_differs=True, paper_setting="bert-base", our_setting="MiniLM", **KW)
    inc = pn.decide_direction(rng.normal(0, 1, 20), **KW)
    ver = pn.decide_direction(rng.normal(1, 0.3, 20), **KW)
    _register(scratch, "fal.test_ok", pn.Evidence(0.0, 3))
    _register(scratch, "fal.test_corrected", pn.Evidence(0.0, 3), provenance="derived")
    _register(scratch, "fal.test_erratum", pn.Evidence(0.0, 0, 1, counterexample={"N": 1}), expect="erratum",
              corrected_by="fal.test_corrected", provenance="finding")
    _register(scratch, "fal.test_refuted", pn.Evidence(0.0, 0, 1, counterexample={"N": 1}), expect="refuted")
    _register(scratch, "fal.test_emp_nr", pn.Evidence(0.0, 20, decision=nr), empirical=True)
    _register(scratch, "fal.test_emp_inc", pn.Evidence(0.0, 20, decision=inc), empirical=True)
    _register(scratch, "fal.test_emp_ok", pn.Evidence(0.0, 20, decision=ver), empirical=True, depends_on=("fal.test_ok",))
    rep = pn.run_claims("fal.test_*")
    v = {r.claim.id: r.verdict for r in rep.results}
    assert v == {
        "fal.test_ok": V.VERIFIED, "fal.test_corrected": V.VERIFIED, "fal.test_erratum": V.ERRATUM,
        "fal.test_refuted": V.REFUTED, "fal.test_emp_nr": V.NOT_REPRODUCED, "fal.test_emp_inc": V.INCONCLUSIVE,
        "fal.test_emp_ok": V.VERIFIED,
    }
    assert summary_line(rep) == "7 claims: 3 verified, 1 refuted, 1 not reproduced, 1 inconclusive, 1 erratum, 0 failed"
    md = markdown_report(rep)
    assert HOW_TO_READ.splitlines()[0] in md and "| setting | bert-base | MiniLM |" in md
    assert "corrected by `fal.test_corrected`" in md and "depends on `fal.test_ok`" in md
    js = rep.as_dict()
    emp = next(c for c in js["claims"] if c["id"] == "fal.test_emp_ok")
    assert emp["decision"]["n_units"] == 20 and emp["decision"]["units"] == "seeds" and len(emp["decision"]["ci"]) == 2
    assert emp["depends_on"] == ["fal.test_ok"]
    json.dumps(pn.atomic_write_json.__module__) and json.dumps(js["counts"])


def test_runner_failures(scratch):
    _register(scratch, "sae.test_emp_no_decision", pn.Evidence(0.0, 5, details={"holds": True}), empirical=True)
    _register(scratch, "sae.test_refuted_without_counterexample", pn.Evidence(0.0, 1), expect="refuted")
    _register(scratch, "sae.test_dangling", pn.Evidence(0.0, 1), depends_on=("sae.no_such_claim",))
    _register(scratch, "sae.test_decision_on_math", pn.Evidence(0.0, 1, decision=pn.decide_direction([1.0, 2.0], **KW)))
    _register(scratch, "sae.test_emp_above_tolerance", pn.Evidence(2.0, 5, decision=pn.decide_direction([1.0, 2.0], **KW)), empirical=True)
    rep = pn.run_claims("sae.test_*")
    assert all(r.verdict is V.FAILED for r in rep.results), [(r.claim.id, r.verdict) for r in rep.results]
    msg = {r.claim.id: r.message for r in rep.results}
    assert "no Decision" in msg["sae.test_emp_no_decision"]
    assert "counterexample" in msg["sae.test_refuted_without_counterexample"]
    assert "sae.no_such_claim" in msg["sae.test_dangling"]
    assert "exceeds tolerance" in msg["sae.test_emp_above_tolerance"]


def test_registry_validates_the_new_fields(scratch):
    base = dict(paper="x", equation="1", statement="s", provenance="paper", tolerance=1.0)
    with pytest.raises(ValueError, match="corrected_by"):
        pn.claim("fal.test_bad1", expect="erratum", **base)(lambda c: None)
    with pytest.raises(ValueError, match="expect"):
        pn.claim("fal.test_bad2", expect="refuted", empirical=True, **base)(lambda c: None)
    with pytest.raises(ValueError, match="symbolic_kind"):
        pn.claim("fal.test_bad3", symbolic_kind="proof", **base)(lambda c: None)
    with pytest.raises(ValueError, match="depends_on"):
        pn.claim("fal.test_bad4", depends_on="fal.x", **base)(lambda c: None)


def test_symbolic_kind_decides_proved_or_identity(scratch):
    import sympy as sp

    x = sp.symbols("x")
    _register(scratch, "hybrid.test_deriv", pn.Evidence(0.0, 1), symbolic=lambda: sp.diff(x**2, x) - 2 * x, symbolic_kind="derivation")
    _register(scratch, "hybrid.test_ident", pn.Evidence(0.0, 1), symbolic=lambda: sp.simplify((x + 1) ** 2 - x**2 - 2 * x - 1))
    rep = {r.claim.id: r.symbolic for r in pn.run_claims("hybrid.test_*").results}
    assert rep == {"hybrid.test_deriv": "proved", "hybrid.test_ident": "identity"}


def test_every_registered_link_resolves():
    pn.discover()
    ids = {c.id for c in pn.claims()}
    for c in pn.claims():
        assert set(c.depends_on) <= ids, (c.id, c.depends_on)
        assert not c.corrected_by or c.corrected_by in ids, (c.id, c.corrected_by)
