"""Pinned evidence (issue 20): every committed result file that decides a verdict is pinned by SHA-256 in
``experiments/evidence_manifest.json`` and validated before a claim reads it.

All tampering happens on copies (:func:`proofs_numeric.evidence.sandbox`), never on the committed files.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from attnverify import proofs_numeric as pn
from attnverify.proofs_numeric import evidence as ev
from attnverify.proofs_numeric.promote import promote, write_manifest
from attnverify.proofs_numeric.validate import EvidenceError, Fields

ROOT = Path(__file__).resolve().parents[1]

#: per study: a pinned file, a claim that reads it, a raw value to change, and a value out of its range
#: (the field the validator must name)
TAMPER = {
    "gating": ("experiments/gating/reference/results.json", "gating.empirical_depth_growth",
               ("runs", "accuracy", 0), 0.5, 1.5, "runs.accuracy.0"),
    "obcache": ("experiments/kv_eviction/reference/summary.json", "obcache.output_aware_beats_attention_minilm",
                ("minilm", "log_ratio_per_head", 0), 0.25, None, None),
    "obcache_recall": ("experiments/kv_eviction/reference/summary.json", "obcache.output_aware_beats_attention_minilm",
                       ("minilm", "recall10_per_head", "obc-k", 0), 0.5, 7.0, "minilm.recall10_per_head.obc-k.0"),
    "fal": ("experiments/fal/reference/fal_results.json", "fal.quality_fal_vs_baseline",
            ("val_nll", "fal", 0), 2.5, -1.0, "val_nll.fal.0"),
    "fal_c10": ("experiments/fal/reference/fal_results.json", "fal.c10b_first_attention_gradient",
                ("c10", "per_seed", 0, "grad_norms", 0), 0.1, 0.0, "c10.per_seed.0.grad_norms.0"),
    "hybrid": ("experiments/hybrid/results/collapse_full.json", "hybrid.collapse_toy",
               ("arms", "mse", 0, "eval", "accuracy", "long", "la_full"), 0.9, 1.7, "arms.mse.0.eval.accuracy.long.la_full"),
    "hybrid_gemma": ("experiments/hybrid/results/gemma_real_full.json", "hybrid.collapse_real_gemma",
                     ("agreement_beyond_window", "mse/swa", 0), 0.5, -0.2, "agreement_beyond_window.mse/swa.0"),
    "sae_gemma": ("experiments/sae_steering/gemma_results.json", "sae.steering_success_gemma",
                  ("cells", 1, "texts", 0), ["changed"] * 48, ["too short"], "cells.1.texts.0"),
    "sae_gate": ("experiments/sae_steering/gemma_results.json", "sae.lid_gate_gemma",
                 ("gate_sets", "es", "recall", "tokens"), [[1]] * 200, [[1]], "gate_sets.es.recall.tokens"),
    "sae_toy": ("experiments/sae_steering/reference/fast_results_9185c26f3469f9dc1806a3f2.json", "sae.lid_gate_toy",
                ("gate", "32", "fasttext_lite", "fr", "accuracy"), 0.99, 1.5, "gate.32.fasttext_lite.fr.accuracy"),
    "gating_untrained": ("experiments/gating/reference_untrained/results.json", "gating.empirical_depth_growth",
                         ("runs", "frac_degenerate", 0), 0.5, -0.1, "runs.frac_degenerate.0"),
    "obcache_files": ("experiments/kv_eviction/reference_files/files_minilm.json", "obcache.scores_rank_removal_error",
                      ("recall10_per_head", "obc-k", 0), 0.5, 7.0, "recall10_per_head.obc-k.0"),
    "delta_files": ("experiments/delta/reference/delta_files.json", "delta.helps_minilm",
                    ("anchor_error",), 0.0, 0.5, "anchor_error"),
    "topk": ("experiments/topk_real/mpnet_full.json", "topk.real_headline_2_4x_mpnet",
             ("mpnet", "reduction", "128", "per_sequence", "mean_k", 0, 0), 50.0, 0.0, "mpnet.reduction.128.per_sequence.mean_k.0.0"),
}


@pytest.fixture(autouse=True)
def _registered():
    pn.discover()


@pytest.fixture
def tree(monkeypatch, tmp_path):
    """The pinned evidence copied to ``tmp_path`` and read from there; memoised loads forgotten."""
    monkeypatch.setattr(ev, "_MANIFEST", [ev.sandbox(tmp_path)])
    monkeypatch.delenv(ev.EVIDENCE_ENV, raising=False)
    return tmp_path


def _set(obj, path, value):
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


def _edit(file: Path, path, value) -> str:
    data = json.loads(file.read_text())
    _set(data, path, value)
    file.write_text(json.dumps(data))
    return hashlib.sha256(file.read_bytes()).hexdigest()


def _repin(file: str, sha: str) -> None:
    """Make the copied manifest agree with a changed copy (as a hand-edited pin would)."""
    import dataclasses

    write_manifest([dataclasses.replace(p, sha256=sha) if p.file == file else p for p in ev.manifest()])


def test_the_committed_manifest_pins_every_file_and_each_is_valid():
    pn.discover()
    ids = [c.id for c in pn.claims()]
    pins = ev.manifest()
    assert len(pins) >= 15 and len({p.file for p in pins}) == len(pins)
    for p in pins:
        assert len(p.sha256) == 64 and p.command and p.claims and p.protocol, p.file
        assert ev.load_source(p).sha256 == p.sha256  # bytes match and the schema accepts them
        for g in p.claims:
            assert fnmatch.filter(ids, g), f"{p.file}: claim glob {g!r} matches no registered claim"
    tracked = subprocess.run(["git", "ls-files", "experiments"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if tracked:  # in a git checkout: every pinned file is committed
        assert {p.file for p in pins} <= set(tracked)


@pytest.mark.parametrize("study", sorted(TAMPER))
def test_one_changed_value_fails_the_claim_with_both_hashes(tree, study):
    file, cid, path, value, _, _ = TAMPER[study]
    pin = ev.pin_for(ROOT / file)
    new = _edit(tree / file, path, value)
    r = pn.run_claim(pn.get_claim(cid), scale=0.01)
    assert r.verdict is pn.Verdict.FAILED
    assert file in r.message and pin.sha256 in r.message and new in r.message, r.message
    with pytest.raises(EvidenceError, match="changed"):  # and the loader refuses it too
        ev.read_pinned(ROOT / file)


@pytest.mark.parametrize("study", sorted(s for s, t in TAMPER.items() if t[4] is not None))
def test_an_impossible_value_fails_the_claim_naming_the_field(tree, study):
    file, cid, path, _, bad, field = TAMPER[study]
    _repin(file, _edit(tree / file, path, bad))
    r = pn.run_claim(pn.get_claim(cid), scale=0.01)
    assert r.verdict is pn.Verdict.FAILED and file in r.message and f"field {field} " in r.message, r.message


def test_consistency_violations_name_the_field(tree):
    """A stored figure that contradicts the raw data it summarises fails (SAE toy gate accuracy vs its confusion
    counts; FAL C10 effect vs its gradient norms). The Gemma SAE run stores no derived figure: its claims
    judge the stored texts."""
    cases = [("experiments/sae_steering/reference/fast_results_9185c26f3469f9dc1806a3f2.json", "sae.lid_gate_toy",
              ("gate", "32", "fasttext_lite", "es", "accuracy"), 0.5, "does not equal its count over its total"),
             ("experiments/fal/reference/fal_results.json", "fal.c10b_first_attention_gradient",
              ("c10", "per_seed", 1, "effect_b"), 3.0, "differs from its recomputation")]
    for file, cid, path, value, why in cases:
        _repin(file, _edit(tree / file, path, value))
        r = pn.run_claim(pn.get_claim(cid), scale=0.01)
        assert r.verdict is pn.Verdict.FAILED and why in r.message, r.message


def test_only_the_claims_that_read_a_changed_file_fail(tree):
    _edit(tree / "experiments/fal/reference/fal_results.json", ("val_nll", "fal", 0), 2.5)
    assert pn.run_claim(pn.get_claim("fal.quality_falplus_vs_fal"), scale=0.01).verdict is pn.Verdict.FAILED
    for cid in ("gating.empirical_depth_growth", "sae.lid_gate_gemma"):
        assert pn.run_claim(pn.get_claim(cid), scale=0.01).verdict is not pn.Verdict.FAILED


def test_a_missing_pinned_file_fails_with_its_command(tree):
    (tree / "experiments/fal/reference/fal_results.json").unlink()
    r = pn.run_claim(pn.get_claim("fal.quality_fal_vs_baseline"), scale=0.01)
    assert r.verdict is pn.Verdict.FAILED and "is missing" in r.message and "attnverify experiment fal" in r.message


def test_a_claim_not_listed_for_a_file_cannot_read_it():
    with ev.claim_scope("topk.some_claim"), pytest.raises(EvidenceError, match="lists it only for"):
        ev.read_pinned(ROOT / "experiments/fal/reference/fal_results.json")
    with pytest.raises(EvidenceError, match="not pinned"):
        ev.read_pinned(ROOT / "experiments/fal/reference_reduced/fal_results.json")


def test_a_results_folder_in_the_working_directory_changes_no_verdict(monkeypatch, tmp_path):
    """A user's runs under ``./results/`` (here: copies with changed values) are never read by ``verify``."""
    monkeypatch.delenv(ev.EVIDENCE_ENV, raising=False)
    ids = ("fal.quality_fal_vs_baseline", "fal.c10b_first_attention_gradient", "sae.steering_success_gemma", "gating.empirical_depth_growth")
    before = {cid: pn.run_claim(pn.get_claim(cid), scale=0.01) for cid in ids}
    for name, file in (("fal", "experiments/fal/reference/fal_results.json"), ("sae-steering", "experiments/sae_steering/gemma_results.json"),
                       ("gating", "experiments/gating/reference/results.json")):
        dest = tmp_path / "results" / name / Path(file).name
        dest.parent.mkdir(parents=True)
        dest.write_text((ROOT / file).read_text().replace("0.", "0.9", 50))
    monkeypatch.chdir(tmp_path)
    def outcome(r):
        d = None if r.evidence is None else r.evidence.decision
        return (r.verdict, None if d is None else (d.estimate, d.ci), r.message.strip().splitlines()[-1:])

    for cid in ids:
        r = pn.run_claim(pn.get_claim(cid), scale=0.01)
        assert outcome(r) == outcome(before[cid]), cid
        if r.evidence is not None:
            assert all(f["pinned"] for f in r.evidence.details["evidence_files"]), cid


def test_evidence_dir_decides_and_is_marked_unpinned(monkeypatch, tmp_path):
    """``verify --evidence DIR``: a user's run replaces the pinned file; the verdict says so, with file, hash, protocol."""
    from attnverify.proofs_numeric.report import claims_table_markdown, evidence_rows, summary_table

    ref = json.loads((ROOT / "experiments/fal/reference/fal_results.json").read_text())
    for s in ref["c10"]["per_seed"]:  # first attention's ablation 0.5 nats/char above every other block's, every seed
        s["ablation_delta_nll"], s["effect_c"] = [0.5] + [0.0] * (len(s["ablation_delta_nll"]) - 1), 0.5
    (tmp_path / "fal_results.json").write_text(json.dumps(ref))
    monkeypatch.setenv(ev.EVIDENCE_ENV, str(tmp_path))
    r = pn.run_claim(pn.get_claim("fal.c10c_primacy"), scale=0.01)
    assert r.verdict is not pn.Verdict.FAILED, r.message
    assert r.evidence.decision.estimate == pytest.approx(0.5)  # the user's run decided
    (src,) = r.evidence.details["evidence_files"]
    assert not src["pinned"] and src["file"] == str(tmp_path / "fal_results.json") and src["protocol"] == "full"
    assert src["sha256"] == hashlib.sha256((tmp_path / "fal_results.json").read_bytes()).hexdigest()
    report = pn.Report((r,), 0, 0.01, None, 0.0, "now")
    assert "(unpinned local run)" in summary_table(report) and "from an unpinned local run" in claims_table_markdown(report)
    row = next(x for x in evidence_rows(report) if x["file"] == "experiments/fal/reference/fal_results.json")
    assert row["status"].startswith("unpinned local run")
    bad = {**ref, "val_nll": {**ref["val_nll"], "fal": [7.0, "x", 1.0]}}  # a user's run is validated all the same
    (tmp_path / "fal_results.json").write_text(json.dumps(bad))
    r = pn.run_claim(pn.get_claim("fal.c10c_primacy"), scale=0.01)
    assert r.verdict is pn.Verdict.FAILED and "field val_nll.fal.1" in r.message


def test_promote_copies_validates_and_pins(tree, tmp_path):
    file = "experiments/fal/reference/fal_results.json"
    run = tmp_path / "run" / "fal_results.json"
    run.parent.mkdir()
    data = json.loads((tree / file).read_text())
    data["val_nll"]["fal"][0] -= 0.01
    run.write_text(json.dumps(data))
    old = ev.pin_for(ROOT / file)
    pin = promote(run, file)
    assert (tree / file).read_bytes() == run.read_bytes() and pin.sha256 == hashlib.sha256(run.read_bytes()).hexdigest()
    assert pin.claims == old.claims and pin.command == old.command and ev.pin_for(ROOT / file) == pin
    assert pn.run_claim(pn.get_claim("fal.quality_fal_vs_baseline"), scale=0.01).verdict is not pn.Verdict.FAILED
    data["val_nll"]["fal"][0] = float("inf")
    run.write_text(json.dumps(data))
    with pytest.raises(EvidenceError, match="val_nll.fal.0"):  # an invalid run is refused, nothing written
        promote(run, file)
    assert ev.pin_for(ROOT / file) == pin
    with pytest.raises(EvidenceError, match="--claims"):
        promote(run, "experiments/fal/reference/new.json")
    with pytest.raises(EvidenceError, match="matches no registered claim"):  # a typo would pin a file nobody reads
        promote(run, "experiments/fal/reference/new.json", claims=["fal.no_such_claim*"], command="x")


def test_promote_refuses_an_installed_package(monkeypatch, tmp_path):
    site = tmp_path / "lib" / "site-packages" / "attnverify"
    monkeypatch.setattr(ev, "root", lambda: site)
    import attnverify.proofs_numeric.promote as pm

    monkeypatch.setattr(pm, "root", lambda: site)
    run = tmp_path / "run.json"
    run.write_text("{}")
    with pytest.raises(EvidenceError, match="installed package"):
        promote(run, "experiments/x.json", claims=["fal.*"], command="x")


def test_report_prints_the_manifest_and_each_status(tree):
    from attnverify.proofs_numeric.report import evidence_table, markdown_report

    _edit(tree / "experiments/fal/reference/fal_results.json", ("val_nll", "fal", 0), 2.5)
    results = tuple(pn.run_claim(pn.get_claim(c), scale=0.01) for c in ("fal.quality_fal_vs_baseline", "sae.lid_gate_gemma"))
    report = pn.Report(results, 0, 0.01, None, 0.0, "now")
    text = evidence_table(report)
    assert "experiments/fal/reference/fal_results.json" in text and "FAILED: pinned evidence" in text
    assert "experiments/sae_steering/gemma_results.json" in text and "\n      ok" in text
    md = markdown_report(report)
    assert "## Pinned evidence" in md and "| `experiments/gating/reference/results.json` |" in md


def test_cli_verify_evidence_and_promote_usage(tmp_path, capsys):
    from attnverify.proofs_numeric.cli import main

    assert main(["verify", "--only", "fal.quality_fal_vs_baseline", "--evidence", str(tmp_path / "none"), "--json", str(tmp_path / "v0.json")]) == 2
    assert main(["promote", str(tmp_path / "none.json"), "experiments/fal/reference/fal_results.json"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["verify", "--only", "fal.quality_fal_vs_baseline", "--json", str(tmp_path / "v.json"), "--markdown", str(tmp_path / "v.md")]) == 0
    out = capsys.readouterr().out
    assert "pinned evidence" in out and "experiments/fal/reference/fal_results.json" in out
    rows = json.loads((tmp_path / "v.json").read_text())["evidence_manifest"]
    assert any(r["file"] == "experiments/fal/reference/fal_results.json" and r["status"] == "ok" for r in rows)


def test_an_experiment_cannot_write_into_the_package_tree(capsys):
    from attnverify.proofs_numeric.cli import main

    target = ROOT / "experiments" / "fal" / "not_here"
    assert main(["experiment", "delta-files", "--quick", "--out", str(target)]) == 2
    assert "inside the package tree" in capsys.readouterr().err and not target.exists()


def test_fields_checks_name_file_and_field():
    f = Fields("x.json", {"r": [0.5, 1.2], "c": [1, -1], "l": [0.0], "n": {"a": [1, 2]}, "k": 3, "t": 4, "q": 0.7, "p": 0.75})
    for call, field in ((lambda: f.rate("r"), "r.1"), (lambda: f.count("c"), "c.1"), (lambda: f.loss("l"), "l.0"),
                        (lambda: f.length("n.*", 3), "n.a"), (lambda: f.ratio("q", "k", "t"), "q"), (lambda: f.require("z.y"), "z")):
        with pytest.raises(EvidenceError, match=rf"x\.json: field {field} "):
            call()
    f.rate("r.0")
    f.ratio("p", "k", "t")  # 3/4


def _tracked_data() -> dict[str, str]:
    """SHA-256 of every tracked data file (results, references, the manifest)."""
    files = subprocess.run(["git", "ls-files", "*.json", "*.npz"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    return {f: hashlib.sha256((ROOT / f).read_bytes()).hexdigest() for f in files if (ROOT / f).is_file()}


CHEAP = ["delta-files"]
SLOW = ["delta", "kv-eviction", "kv-eviction-files", "gating", "gating-untrained", "hybrid", "fal", "sae-steering", "topk-real"]


@pytest.mark.parametrize("name", CHEAP + [pytest.param(n, marks=pytest.mark.slow) for n in SLOW])
def test_a_quick_experiment_writes_only_into_its_out_dir(monkeypatch, tmp_path, name):
    """``attnverify experiment NAME --quick --out DIR`` leaves every tracked file unchanged: every write goes
    under DIR (or a cache outside the repository), and no tracked data file changes."""
    from attnverify.proofs_numeric import io
    from attnverify.proofs_numeric.cli import main

    if not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout")
    writes: list[Path] = []
    real = io.atomic_write_bytes

    def spy(path, data):
        writes.append(Path(path).resolve())
        return real(path, data)

    monkeypatch.setattr(io, "atomic_write_bytes", spy)
    monkeypatch.chdir(tmp_path)  # a default output would land here, not in the checkout
    before = _tracked_data()
    out = tmp_path / "out"
    assert main(["experiment", name, "--quick", "--out", str(out)]) == 0
    inside = [w for w in writes if w.is_relative_to(ROOT)]
    assert not inside, f"{name} wrote into the checkout: {inside}"
    changed = [f for f, h in _tracked_data().items() if before.get(f) != h]
    assert not changed, f"tracked files changed during `attnverify experiment {name} --quick`: {changed}"


# --- review of the pinned-evidence mechanism (findings 1-5) ---------------------------------------------


def _pin(file: str) -> "ev.Pin":
    return next(p for p in ev.manifest() if p.file == file)


def test_evidence_dir_matches_by_repository_path_and_refuses_an_ambiguous_name(tree, monkeypatch, tmp_path):
    """Both gating pins are named results.json: one file ``DIR/results.json`` may replace neither (an error
    names the ambiguity); ``DIR/<repository path>`` replaces exactly its own pin."""
    trained, untrained = "experiments/gating/reference/results.json", "experiments/gating/reference_untrained/results.json"
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_bytes((tree / untrained).read_bytes())
    monkeypatch.setenv(ev.EVIDENCE_ENV, str(run))
    with pytest.raises(EvidenceError, match="ambiguous.*reference/results.json.*reference_untrained/results.json"):
        ev.load_source(_pin(trained))
    (run / "results.json").unlink()
    (run / untrained).parent.mkdir(parents=True)
    (run / untrained).write_bytes((tree / untrained).read_bytes())
    assert ev.load_source(_pin(trained)).pinned  # the trained pin is not replaced by the untrained run
    assert not ev.load_source(_pin(untrained)).pinned
    (run / "results.json").write_text("{}")
    with pytest.raises(EvidenceError, match="ambiguous"):  # a claim naming the user's file directly: same rule
        ev.read_pinned(run / "results.json")


def test_the_gating_schemas_tell_trained_from_untrained():
    untrained = json.loads((ROOT / "experiments/gating/reference_untrained/results.json").read_text())
    trained = json.loads((ROOT / "experiments/gating/reference/results.json").read_text())
    from attnverify.proofs_numeric.validate import validate

    with pytest.raises(EvidenceError, match="config.steps"):
        validate("gating.results", untrained, "run/results.json")
    with pytest.raises(EvidenceError, match="config.steps"):
        validate("gating.untrained", trained, "run/results.json")


def test_toy_claims_with_another_seed_read_no_cache_and_compute_nothing(monkeypatch, tmp_path):
    """``verify --seed 1``: a local cache file of that seed (here: the seed-0 run with a failing gate) never
    decides, nothing is computed; the toy claims are inconclusive, saying no run of that seed is pinned."""
    from attnverify.experiments.sae_steering import results as rs

    key = rs.fast_key(True, 1)
    fake = json.loads(next(rs.FAST_REFERENCE.glob("fast_results_*.json")).read_text())
    for cell in fake["gate"]["32"]["fasttext_lite"].values():
        cell["accuracy"] = 0.0
    (tmp_path / "sae_steering").mkdir()
    (tmp_path / "sae_steering" / f"fast_results_{key}.json").write_text(json.dumps(fake))
    monkeypatch.setenv("ATTNVERIFY_CACHE", str(tmp_path))
    monkeypatch.setattr(rs, "compute_fast_results", lambda *a, **k: pytest.fail("computed a fast-track run"))
    rs._MEMO.pop(key, None)
    for cid in ("sae.lid_gate_toy", "sae.lm_stays_in_language_toy", "sae.steering_beats_controls_toy"):
        r = pn.run_claim(pn.get_claim(cid), seed=1)
        assert r.verdict is pn.Verdict.INCONCLUSIVE, (cid, r.message)
        assert "no pinned quick fast-track run for seed 1" in r.evidence.decision.rule, cid
    assert key not in rs._MEMO


def _check_rejects(tree, file: str, path, value, field: str) -> None:
    _repin(file, _edit(tree / file, path, value))
    with pytest.raises(EvidenceError, match=field.replace(".", r"\.")):
        ev.load_source(_pin(file))


def test_delta_gains_are_cosine_differences(tree):
    _check_rejects(tree, "experiments/delta/reference/delta_files.json",
                   ("gain_per_layer_file", *next(_first_gain_path(tree))), 3.0, "gain_per_layer_file.")


def _first_gain_path(tree):
    g = json.loads((tree / "experiments/delta/reference/delta_files.json").read_text())["gain_per_layer_file"]
    method = next(iter(g))
    gamma = next(iter(g[method]))
    yield (method, gamma, 0, 0)


def test_topk_predictor_gap_is_bounded_and_summary_matches_raw(tree):
    f = "experiments/topk_real/mpnet_full.json"
    _check_rejects(tree, f, ("mpnet", "reduction", "128", "per_sequence", "predictor_minus_rule_abs_error", 0, 0), 5.0,
                   "mpnet.reduction.128.per_sequence.predictor_minus_rule_abs_error.0.0")
    data = json.loads((tree / f).read_text())
    data["mpnet"]["reduction"]["128"]["per_sequence"]["predictor_minus_rule_abs_error"][0][0] = 0.0
    data["mpnet"]["reduction"]["128"]["per_eps"][0]["mean_k"] += 10.0  # the summary no longer matches its rows
    (tree / f).write_text(json.dumps(data))
    _repin(f, hashlib.sha256((tree / f).read_bytes()).hexdigest())
    with pytest.raises(EvidenceError, match=r"mpnet\.reduction\.128\.per_eps\.0\.mean_k"):
        ev.load_source(_pin(f))


def test_hybrid_full_file_must_hold_the_full_protocol_and_pins_match_files(tree):
    _check_rejects(tree, "experiments/hybrid/results/collapse_full.json", ("protocol", "name"), "reduced", "protocol.name")
    import dataclasses

    f = "experiments/fal/reference/fal_results.json"  # a pin whose protocol differs from the file's
    write_manifest([dataclasses.replace(p, protocol="reduced") if p.file == f else p for p in ev.manifest()])
    with pytest.raises(EvidenceError, match="protocol 'reduced' differs from the file's protocol 'full'"):
        ev.load_source(_pin(f))


def test_a_missing_pinned_mpnet_run_fails_mc_search(tree, monkeypatch):
    import attnverify.experiments.topk_real.claims as tc

    monkeypatch.setitem(tc.LOADERS, "minilm", lambda ctx: {"reduction": {}})  # the live MiniLM part is not under test
    (tree / "experiments/topk_real/mpnet_full.json").unlink()
    monkeypatch.setattr(tc, "MPNET_CACHE", tree / "experiments/topk_real/mpnet_full.json")  # the claim's path: absent
    with ev.claim_scope("topk.real_mc_search_sound"), pytest.raises(EvidenceError, match="mpnet_full.json is missing"):
        pn.get_claim("topk.real_mc_search_sound").check(pn.Context(seed=0, scale=1.0, claim_id="topk.real_mc_search_sound"))


def test_run_claims_evidence_argument_and_environment_are_marked_unpinned(monkeypatch, tmp_path):
    from attnverify.proofs_numeric.report import summary_table

    monkeypatch.delenv(ev.EVIDENCE_ENV, raising=False)
    ref = json.loads((ROOT / "experiments/fal/reference/fal_results.json").read_text())
    ref["val_nll"]["fal"] = [v - 0.5 for v in ref["val_nll"]["baseline"]]
    (tmp_path / "fal_results.json").write_text(json.dumps(ref))
    rep = pn.run_claims("fal.quality_fal_vs_baseline", scale=0.01, evidence=tmp_path)
    assert "(unpinned local run)" in summary_table(rep) and ev.EVIDENCE_ENV not in __import__("os").environ
    monkeypatch.setenv(ev.EVIDENCE_ENV, str(tmp_path))  # the environment variable: the same mark, never silent
    assert "(unpinned local run)" in summary_table(pn.run_claims("fal.quality_fal_vs_baseline", scale=0.01))
    with pytest.raises(ValueError, match="evidence"):
        pn.run_claims("fal.quality_fal_vs_baseline", evidence=tmp_path / "nope")
