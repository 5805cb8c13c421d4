"""The spine: registry, verdict logic, reports, CLI exit codes, and that a check can fail."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from attnverify import proofs_numeric as pn
from attnverify.proofs_numeric.cli import main
from attnverify.proofs_numeric.io import atomic_write_text
from attnverify.proofs_numeric.report import markdown_report, summary_table


def _tail_mass_claim(cid: str, formula, **kw):
    """A claim comparing `formula(p, k)` with the direct TV (half l1) of top-k renormalisation."""

    @pn.claim(cid, paper="topk_tv", equation="test", statement=r"\mathrm{TV}=\tau", provenance="derived", tolerance=1e-14, **kw)
    def check(ctx: pn.Context) -> pn.Evidence:
        rng = ctx.rng
        errs = []
        for _ in range(ctx.count(200)):
            n = int(rng.integers(2, 30))
            p = rng.dirichlet(np.ones(n))
            p = np.sort(p)[::-1]
            k = int(rng.integers(1, n))
            phat = np.where(np.arange(n) < k, p, 0) / p[:k].sum()
            tv = 0.5 * np.abs(p - phat).sum()
            errs.append(abs(formula(p, k) - tv))
        return pn.Evidence.from_errors(errs)

    return check


@pytest.fixture
def scratch_claims():
    ids = []
    yield ids
    for cid in ids:
        pn.unregister(cid)


def test_correct_formula_is_verified(scratch_claims):
    scratch_claims.append("topk.test_tail_mass_right")
    _tail_mass_claim("topk.test_tail_mass_right", lambda p, k: p[k:].sum())
    r = pn.run_claim(pn.get_claim("topk.test_tail_mass_right"), scale=1.0)
    assert r.verdict is pn.Verdict.VERIFIED, r.message
    assert r.evidence.n_random == 200


def test_deliberately_wrong_formula_fails(scratch_claims):
    # l1 instead of half-l1: the spec's pitfall, off by a factor 2
    scratch_claims.append("topk.test_tail_mass_wrong")
    _tail_mass_claim("topk.test_tail_mass_wrong", lambda p, k: 2 * p[k:].sum())
    r = pn.run_claim(pn.get_claim("topk.test_tail_mass_wrong"))
    assert r.verdict is pn.Verdict.FAILED
    assert "exceeds tolerance" in r.message


def test_symbolic_check_that_does_not_reduce_fails(scratch_claims):
    t = sp.symbols("tau", positive=True)
    scratch_claims.append("topk.test_bad_symbolic")
    _tail_mass_claim("topk.test_bad_symbolic", lambda p, k: p[k:].sum(), symbolic=lambda: sp.simplify(t / (1 - t) - t))
    r = pn.run_claim(pn.get_claim("topk.test_bad_symbolic"))
    assert r.symbolic == "failed" and r.verdict is pn.Verdict.FAILED


def test_refuted_and_raising_checks(scratch_claims):
    scratch_claims += ["gating.test_counterexample", "gating.test_raises", "gating.test_empirical"]

    @pn.claim("gating.test_counterexample", paper="x", equation="1", statement="K=0", provenance="finding", tolerance=0.0, expect="refuted")
    def _(ctx):
        return pn.Evidence(0.0, 0, 1, counterexample={"K": 0.5})

    @pn.claim("gating.test_raises", paper="x", equation="1", statement="s", provenance="paper", tolerance=1.0)
    def _(ctx):
        raise RuntimeError("boom")

    @pn.claim("gating.test_empirical", paper="x", equation="1", statement="s", provenance="paper", tolerance=1.0, empirical=True)
    def _(ctx):
        d = pn.decide_direction([-1.0, -1.2, -0.9, -1.1, -1.0], units="seeds", rule="CI above 0", method="t")
        return pn.Evidence(0.0, 5, 0, decision=d, details={"p": 0.4})

    rep = pn.run_claims("gating.test_*")
    v = {r.claim.id: r.verdict for r in rep.results}
    assert v == {
        "gating.test_counterexample": pn.Verdict.REFUTED,
        "gating.test_raises": pn.Verdict.FAILED,
        "gating.test_empirical": pn.Verdict.REFUTED,
    }
    assert "boom" in rep.failed[0].message
    md = markdown_report(rep)
    assert "Refuted" in md and "Failures" in md and "'K': 0.5" in md
    assert "3 claims: 0 verified, 2 refuted, 0 not reproduced, 0 inconclusive, 0 erratum, 1 failed" in summary_table(rep)


def test_nan_error_is_a_failure(scratch_claims):
    scratch_claims.append("topk.test_nan")

    @pn.claim("topk.test_nan", paper="x", equation="1", statement="s", provenance="paper", tolerance=1.0)
    def _(ctx):
        return pn.Evidence.from_errors([0.0, float("nan")])

    assert pn.run_claim(pn.get_claim("topk.test_nan")).verdict is pn.Verdict.FAILED


def test_registry_rejects_bad_ids_and_duplicates(scratch_claims):
    with pytest.raises(ValueError, match="must start with"):
        pn.claim("nonsense.x", paper="x", equation="1", statement="s", provenance="paper", tolerance=1)(lambda c: None)
    scratch_claims.append("topk.test_dup")
    pn.claim("topk.test_dup", paper="x", equation="1", statement="s", provenance="paper", tolerance=1)(lambda c: None)
    with pytest.raises(ValueError, match="twice"):
        pn.claim("topk.test_dup", paper="x", equation="1", statement="s", provenance="paper", tolerance=1)(lambda c: None)


def test_context_rng_depends_on_seed_and_claim_only():
    a = pn.Context(seed=1, claim_id="topk.a").rng.random(3)
    assert np.array_equal(a, pn.Context(seed=1, claim_id="topk.a", scale=0.1).rng.random(3))
    assert not np.array_equal(a, pn.Context(seed=2, claim_id="topk.a").rng.random(3))
    assert not np.array_equal(a, pn.Context(seed=1, claim_id="topk.b").rng.random(3))


def test_cli_verify_writes_reports_and_exit_codes(scratch_claims, tmp_path: Path, capsys):
    scratch_claims.append("hybrid.test_ok")
    _tail_mass_claim("hybrid.test_ok", lambda p, k: p[k:].sum())
    js, md = tmp_path / "r.json", tmp_path / "r.md"
    assert main(["verify", "--only", "hybrid.test_ok", "--json", str(js), "--markdown", str(md), "--seed", "3"]) == 0
    rep = json.loads(js.read_text())
    assert rep["seed"] == 3 and rep["counts"]["verified"] == 1 and "jax" in rep["environment"]
    assert "hybrid.test_ok" in md.read_text()
    scratch_claims.append("hybrid.test_bad")
    _tail_mass_claim("hybrid.test_bad", lambda p, k: 2 * p[k:].sum())
    assert main(["verify", "--only", "hybrid.test_*", "--json", str(js), "--markdown", str(md)]) == 1
    assert main(["verify", "--only", "no.such.claim*", "--json", str(js)]) == 2
    assert "no registered claim" in capsys.readouterr().err


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path):
    p = atomic_write_text(tmp_path / "sub" / "a.txt", "hello")
    assert p.read_text() == "hello"
    atomic_write_text(p, "again")
    assert p.read_text() == "again" and sorted(x.name for x in p.parent.iterdir()) == ["a.txt"]
