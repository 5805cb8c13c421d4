"""The collapse toy (issue 15, part 2): MQAR construction, SWA-only reach L(w-1), the student's
reductions to the teacher, the C9/C10 decision rules on synthetic caches (verified, not reproduced,
inconclusive without a cache, failed on a corrupt cache)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import attnverify.attention.hybrid.claims  # noqa: F401  (C1-C8: the claims C9/C10 depend on)
import attnverify.attention.hybrid.claims_structure  # noqa: F401
import attnverify.experiments.hybrid.claims  # noqa: F401
import attnverify.experiments.hybrid.study as hs
from attnverify import proofs_numeric as pn
from attnverify.attention.hybrid import RecallConfig, ToyConfig, init_student, init_teacher, recall_batch, toy_forward
from attnverify.attention.hybrid.toy_model import COMPONENTS, student_outputs
from helpers import assert_close, rng

TASK = RecallConfig(n_pairs=4, length=64)
CFG = ToyConfig(vocab=TASK.vocab, length=64, d=16, heads=2, d_ff=32)


@pytest.mark.parametrize("kind", ["short", "long"])
def test_recall_sets_have_the_stated_distances_and_answers(kind):
    b = recall_batch(rng(0), 64, TASK, kind)
    d = b.distance[b.distance >= 0]
    assert (d < TASK.window).all() if kind == "short" else (d > TASK.reach).all()
    for tok, tgt, dist in zip(b.tokens, b.targets, b.distance):
        for n in np.flatnonzero(tgt >= 0):
            key_pos = n - dist[n] - 1
            assert tok[key_pos] == tok[n] and tok[key_pos + 1] == tgt[n]  # literal: the query's key, followed by its value
            assert np.count_nonzero(tok[:n] == tok[n]) == 1  # the key occurs once before the query
    assert b.tokens.max() < TASK.vocab and (b.targets[b.targets >= 0] >= TASK.n_keys).all()


def test_recall_rejects_bad_input():
    with pytest.raises(ValueError, match="window"):
        RecallConfig(n_pairs=9, window=16)
    with pytest.raises(ValueError, match="length"):
        RecallConfig(n_pairs=8, length=40)
    with pytest.raises(ValueError, match="kind"):
        recall_batch(rng(0), 4, TASK, "medium")


def _models(seed=0, omega=None):
    teacher = init_teacher(jax.random.PRNGKey(seed), CFG)
    student = init_student(jax.random.PRNGKey(seed + 1), CFG)
    if omega is not None:
        student = {**student, "omega": jnp.full_like(student["omega"], omega)}
    return teacher, student


def test_swa_only_reach_is_layers_times_window_minus_one():
    # derived: L layers of SWA see positions >= n - L(w-1) only, so the long set is at chance by construction
    teacher, student = _models(1)
    tok = jnp.asarray(recall_batch(rng(1), 2, TASK, "long").tokens)
    n = TASK.length - 1
    out = lambda t: np.asarray(toy_forward(teacher, t, CFG, student=student, components=("swa", "swa"))[:, n])  # noqa: E731
    base = out(tok)
    far = tok.at[:, n - TASK.reach - 1].set((tok[:, n - TASK.reach - 1] + 1) % TASK.vocab)
    near = tok.at[:, n - TASK.reach].set((tok[:, n - TASK.reach] + 1) % TASK.vocab)
    assert_close(out(far), base, rtol=0, atol=0, what="beyond the reach")
    assert np.max(np.abs(out(near) - base)) > 1e-6  # inside the reach the output does change


def test_student_with_full_window_is_the_teacher_and_lora_starts_at_zero():
    # C2 at model level: w >= T makes the hybrid exact causal softmax, whatever phi and gamma; B_0 = 0
    teacher, student = _models(2, omega=0.3)
    tok = jnp.asarray(recall_batch(rng(2), 2, TASK, "mixed").tokens)
    wide = ToyConfig(**{**CFG.__dict__, "window": TASK.length})
    assert_close(toy_forward(teacher, tok, wide, student=student), toy_forward(teacher, tok, CFG), rtol=1e-5, atol=1e-5)
    assert all(float(jnp.max(jnp.abs(student["lora"][p]["B"]))) == 0.0 for p in "qkvo")


def test_ablations_differ_from_hybrid_and_share_one_compiled_program():
    teacher, student = _models(3)
    tok = jnp.asarray(recall_batch(rng(3), 2, TASK, "long").tokens)
    outs = {c: np.asarray(toy_forward(teacher, tok, CFG, student=student, components=(c, c))) for c in COMPONENTS}
    assert all(np.max(np.abs(outs[c] - outs["hybrid"])) > 1e-4 for c in COMPONENTS if c != "hybrid")
    # the quick run's speed rests on this: the component and gamma are traced, so one XLA program serves them all
    before, gam = student_outputs._cache_size(), jax.nn.sigmoid(student["omega"])
    for c in COMPONENTS:
        got = student_outputs(teacher, student, tok, jnp.full((2,), COMPONENTS.index(c), jnp.int32), gam, cfg=CFG)[0]
        assert_close(got, outs[c], rtol=1e-4, atol=1e-5, what=c)
    one = student_outputs(teacher, student, tok, jnp.zeros(2, jnp.int32), jnp.ones_like(gam), cfg=CFG)[0]
    assert_close(one, toy_forward(teacher, tok, CFG, student=student, gamma=1.0), rtol=1e-4, atol=1e-5, what="gamma = 1")
    assert student_outputs._cache_size() == before + 1
    mixed = toy_forward(teacher, tok, CFG, student=student, components=("la_full", "hybrid"))
    assert_close(toy_forward(teacher, tok, CFG, student=student, ssd=jnp.array([True, False])), mixed, rtol=1e-5, atol=1e-6,
                 what="an SSD draw is LA-only in that layer")


# ----------------------------------------------------------------------------- claims on synthetic caches


def _synthetic(la_long: dict[str, list[float]], hybridised_long: list[float], swa_long: float = 1 / 64) -> dict:
    acc = lambda la, hyb, swa: {"short": {c: 0.99 for c in COMPONENTS}, "long": {**{c: 0.02 for c in COMPONENTS}, "la_full": la, "hybrid": hyb, "swa": swa}}  # noqa: E731
    rb = {"short": {"0": {"[0,16)": 0.1}}, "long": {"0": {"[31,61)": 0.5}}}
    arms = {arm: [{"seed": s, "eval": {"accuracy": acc(v, v, swa_long), "r_buckets": rb, "gamma": [[0.1]]}} for s, v in enumerate(vals)]
            for arm, vals in la_long.items()}
    arms["linear_only"] = [{"seed": s, "eval": {"accuracy": acc(0.9, 0.9, swa_long), "r_buckets": rb, "gamma": [[0.1]]},
                            "eval_hybridised": {"accuracy": acc(0.9, h, swa_long), "r_buckets": rb, "gamma": [[1.0]]}}
                           for s, h in enumerate(hybridised_long)]
    proto = {"name": "reduced", "eval_sequences": 256, "seeds": len(hybridised_long), "task": {"length": 64, "n_pairs": 4, "n_values": 64},
             "model": {"layers": 2, "d": 32, "heads": 2, "window": 16, "d_prime": 16}, "train": {"teacher_steps": 400}}
    return {"protocol": proto, "chance": 1 / 64, "teacher": {"accuracy": {"short": 1.0, "long": 1.0}}, "arms": arms}


def _run(monkeypatch, tmp_path, cache, claim_id, name="reduced"):
    monkeypatch.setattr(hs, "CACHE_DIR", tmp_path)
    monkeypatch.setenv("ATTNVERIFY_EVIDENCE", str(tmp_path))  # a synthetic run replaces the pinned one (verify --evidence)
    if cache is not None:
        (tmp_path / f"collapse_{name}.json").write_text(json.dumps({**cache, "protocol": {**cache["protocol"], "name": name}}))
    return pn.run_claim(pn.get_claim(claim_id))


def test_c9_c10_verdicts_follow_the_interval(monkeypatch, tmp_path):
    good = _synthetic({"mse": [0.05, 0.10, 0.08], "hedgecats": [0.60, 0.70, 0.65], "ssd": [0.50, 0.62, 0.55]}, [0.8, 0.85, 0.9])
    assert _run(monkeypatch, tmp_path, good, "hybrid.collapse_toy").verdict is pn.Verdict.VERIFIED
    assert _run(monkeypatch, tmp_path, good, "hybrid.inference_time_hybridisation").verdict is pn.Verdict.VERIFIED
    bad = _synthetic({"mse": [0.60, 0.70, 0.65], "hedgecats": [0.05, 0.10, 0.08], "ssd": [0.10, 0.12, 0.05]}, [0.05, 0.1, 0.08])
    assert _run(monkeypatch, tmp_path, bad, "hybrid.collapse_toy").verdict is pn.Verdict.NOT_REPRODUCED
    assert _run(monkeypatch, tmp_path, bad, "hybrid.inference_time_hybridisation").verdict is pn.Verdict.NOT_REPRODUCED


def test_claims_without_cache_are_inconclusive_and_a_corrupt_cache_fails(monkeypatch, tmp_path):
    r = _run(monkeypatch, tmp_path, None, "hybrid.collapse_toy")
    assert r.verdict is pn.Verdict.INCONCLUSIVE and "attnverify experiment hybrid" in r.evidence.details["message"]
    corrupt = _synthetic({"mse": [0.05, 0.1, 0.08], "hedgecats": [0.6, 0.7, 0.65], "ssd": [0.5, 0.6, 0.55]}, [0.8, 0.85, 0.9], swa_long=0.5)
    assert _run(monkeypatch, tmp_path, corrupt, "hybrid.collapse_toy").verdict is pn.Verdict.FAILED  # SWA-only cannot see the long set


def test_claims_are_inconclusive_when_the_teacher_missed_99_percent(monkeypatch, tmp_path):
    res = _synthetic({"mse": [0.05, 0.1, 0.08], "hedgecats": [0.6, 0.7, 0.65], "ssd": [0.5, 0.6, 0.55]}, [0.8, 0.85, 0.9])
    res["teacher"]["accuracy"]["long"] = 0.9
    r = _run(monkeypatch, tmp_path, res, "hybrid.collapse_toy")
    assert r.verdict is pn.Verdict.INCONCLUSIVE and r.evidence.details["measured_decision"]["outcome"] == "verified"


_GOOD = ({"mse": [0.05, 0.10, 0.08], "hedgecats": [0.60, 0.70, 0.65], "ssd": [0.50, 0.62, 0.55]}, [0.8, 0.85, 0.9])
_BAD = ({"mse": [0.60, 0.70, 0.65], "hedgecats": [0.05, 0.10, 0.08], "ssd": [0.10, 0.12, 0.05]}, [0.05, 0.1, 0.08])


def test_the_full_protocol_decides_with_the_reduced_one_beside_it(monkeypatch, tmp_path):
    import hashlib

    _run(monkeypatch, tmp_path, _synthetic(*_BAD), "hybrid.collapse_toy", name="reduced")
    r = _run(monkeypatch, tmp_path, _synthetic(*_GOOD), "hybrid.collapse_toy", name="full")
    assert r.verdict is pn.Verdict.VERIFIED and r.evidence.details["protocol"] == "full"
    ref = r.evidence.details["reference_run"]
    assert ref["sha256"] == hashlib.sha256((tmp_path / "collapse_full.json").read_bytes()).hexdigest()
    assert "ATTNVERIFY_HYBRID_PROTOCOL=full" in ref["reproduce"]
    (other,) = r.evidence.details["other_protocols"]
    assert other["protocol"] == "reduced" and other["outcome"] == "not reproduced"


def test_teacher_replications_are_reported_and_never_decide(monkeypatch, tmp_path):
    (tmp_path / "teacher_seeds").mkdir()
    stuck = _synthetic(*_BAD)
    stuck["teacher"]["accuracy"]["long"] = 0.17
    (tmp_path / "teacher_seeds" / "collapse_full_seed1.json").write_text(json.dumps({**stuck, "seed": 1}))
    r = _run(monkeypatch, tmp_path, _synthetic(*_GOOD), "hybrid.inference_time_hybridisation", name="full")
    assert r.verdict is pn.Verdict.VERIFIED
    (rep,) = r.evidence.details["replications"]
    assert rep["kind"] == "teacher_seeds" and rep["teacher_seed"] == 1 and not rep["teacher_ready"]
    assert rep["outcome"].startswith("inconclusive") and rep["measured_outcome"] == "not reproduced"
    # a second teacher at 99 % with the same outcome keeps the verdict; one with the opposite outcome makes the
    # teachers disagree, and the claim decides nothing (inconclusive), whatever the deciding run says
    (tmp_path / "teacher_seeds" / "collapse_full_seed4_curriculum.json").write_text(json.dumps({**_synthetic(*_GOOD), "seed": 4}))
    r = pn.run_claim(pn.get_claim("hybrid.inference_time_hybridisation"))
    assert r.verdict is pn.Verdict.VERIFIED and r.evidence.details["teacher_summary"]["teachers_agree"]
    (tmp_path / "teacher_seeds" / "collapse_full_seed3_curriculum.json").write_text(json.dumps({**_synthetic(*_BAD), "seed": 3}))
    r = pn.run_claim(pn.get_claim("hybrid.inference_time_hybridisation"))
    ts = r.evidence.details["teacher_summary"]
    assert r.verdict is pn.Verdict.INCONCLUSIVE and (ts["teacher_runs"], ts["teachers_ready"]) == (4, 3)
    assert "teachers at 99 % disagree" in r.evidence.details["message"] and not ts["teachers_agree"]
    assert ts["outcomes_of_ready_teachers"] == {"not reproduced": 1, "verified": 2} and ts["distinct_ready_teacher_seeds"] == [0, 3, 4]
    (tmp_path / "teacher_seeds" / "collapse_full_seed3_curriculum.json").unlink()
    corrupt = _synthetic(*_BAD, swa_long=0.5)  # SWA-only cannot see the long set: a replication this wrong fails the claim
    (tmp_path / "teacher_seeds" / "collapse_full_seed2.json").write_text(json.dumps({**corrupt, "seed": 2}))
    assert pn.run_claim(pn.get_claim("hybrid.inference_time_hybridisation")).verdict is pn.Verdict.FAILED


def test_committed_full_run_is_the_spec_protocol_and_names_its_machine():
    from attnverify.experiments.hybrid.claims import load_runs
    from attnverify.experiments.hybrid.decisions import teacher_ready

    runs = load_runs()
    assert "full" in runs, "experiments/hybrid/results/collapse_full.json is committed and decides C9/C10"
    res = runs["full"].data
    p = res["protocol"]
    assert (p["task"]["length"], p["task"]["n_pairs"], p["model"]["d"], p["model"]["heads"]) == (128, 8, 64, 4)
    assert (p["train"]["stage1_steps"], p["train"]["stage2_steps"], p["seeds"]) == (300, 300, 3)
    assert teacher_ready(res) and res["environment"]["backend"] in ("cpu", "gpu", "tpu")
    assert res["environment"]["matmul_precision"] in ("highest", None)


@pytest.mark.parametrize("raw", ["0", "-5", "1e4", "many"])
def test_teacher_budget_override_is_validated(monkeypatch, raw):
    monkeypatch.setenv("ATTNVERIFY_HYBRID_TEACHER_STEPS", raw)
    with pytest.raises(ValueError, match="ATTNVERIFY_HYBRID_TEACHER_STEPS"):
        hs._with_teacher_budget(hs.PROTOCOLS["full"])
    monkeypatch.setenv("ATTNVERIFY_HYBRID_TEACHER_STEPS", "30000")
    assert hs._with_teacher_budget(hs.PROTOCOLS["full"]).train.teacher_steps == 30000


# ------------------------------------------------------------ issue 22: split statements, short set, controls, MDE


def _with(res: dict, arm: str, set_name: str, component: str, values: list[float], key: str = "eval") -> dict:
    res = json.loads(json.dumps(res))
    for run, v in zip(res["arms"][arm], values):
        run[key]["accuracy"][set_name][component] = v
    return res


def test_the_collapse_gap_is_its_own_claim_and_can_disagree_with_la_only():
    from attnverify.experiments.hybrid.decisions import c9_decision, collapse_gap_decision

    # the fixes raise LA-only accuracy, but MSE's hybrid beats SWA-only by more: LA-only verified, collapse not reproduced
    res = _synthetic(*_GOOD)
    res = _with(res, "mse", "long", "hybrid", [0.9, 0.85, 0.88])
    assert c9_decision(res)[0].outcome is pn.Verdict.VERIFIED
    d, fig = collapse_gap_decision(res)
    assert d.outcome is pn.Verdict.NOT_REPRODUCED and fig["mse_long_hybrid_minus_swa"]["mean"] > 0.8
    assert d.detectable_effect > 0 and d.controls and not any(c["passes_as_strongly"] for c in d.controls.values())
    g = collapse_gap_decision(_synthetic(*_GOOD))[0]  # 3 seeds: the sign-flip placebo cannot pass, so it tests nothing
    assert g.outcome is pn.Verdict.INCONCLUSIVE and "cannot pass" in g.rule
    assert all(c["can_pass"] is False for c in g.controls.values())
    assert pn.get_claim("hybrid.collapse_gap_toy").empirical and pn.get_claim("hybrid.inference_time_hybridisation_short").empirical


def test_c10_short_set_is_a_non_inferiority_decision_with_its_margin():
    from attnverify.experiments.hybrid.decisions import C10_SHORT_MARGIN, c10_short_decision

    base = _with(_synthetic(*_GOOD), "linear_only", "short", "la_full", [0.80, 0.82, 0.81])
    base = _with(base, "linear_only", "short", "none", [0.02, 0.015, 0.02], key="eval_hybridised")  # the control: no attention
    ok = _with(base, "linear_only", "short", "hybrid", [0.80, 0.815, 0.812], key="eval_hybridised")
    d, _ = c10_short_decision(ok)
    assert d.outcome is pn.Verdict.VERIFIED and d.boundary == -C10_SHORT_MARGIN and "non-inferiority" in d.rule
    worse = _with(base, "linear_only", "short", "hybrid", [0.70, 0.71, 0.72], key="eval_hybridised")
    assert c10_short_decision(worse)[0].outcome is pn.Verdict.NOT_REPRODUCED
    wide = _with(base, "linear_only", "short", "hybrid", [0.70, 0.90, 0.83], key="eval_hybridised")
    assert c10_short_decision(wide)[0].outcome is pn.Verdict.INCONCLUSIVE  # a +0.01 mean with a wide interval does not decide
    leaky = _with(ok, "linear_only", "short", "none", [0.81, 0.83, 0.82], key="eval_hybridised")
    assert c10_short_decision(leaky)[0].outcome is pn.Verdict.INCONCLUSIVE  # "no attention" as good as LA: the control passes


def test_a_negative_control_that_passes_as_strongly_blocks_verified():
    from attnverify.experiments.hybrid.decisions import c9_decision, sign_flip_placebo

    assert list(sign_flip_placebo(np.array([1.0, 2.0, 3.0]))) == [1.0, -2.0, 3.0]
    res = _synthetic(*_GOOD)
    assert c9_decision(res)[0].outcome is pn.Verdict.VERIFIED
    # an SWA-only difference between arms as large as the LA-only one: the statistic cannot tell retrieval from bias
    leaky = _with(_with(res, "hedgecats", "long", "swa", [0.70, 0.80, 0.75]), "ssd", "long", "swa", [0.60, 0.70, 0.66])
    d, _ = c9_decision(leaky)
    assert d.outcome is pn.Verdict.INCONCLUSIVE and "control" in d.rule


def test_teacher_curriculum_trains_in_stages_and_rejects_bad_settings(monkeypatch):
    import dataclasses

    from attnverify.experiments.hybrid.protocol import PROTOCOLS

    monkeypatch.setenv("ATTNVERIFY_HYBRID_TEACHER_CURRICULUM", "2,4")
    assert hs.teacher_curriculum() == (2, 4)
    pr = dataclasses.replace(PROTOCOLS["quick"], teacher_cycle=5, train=dataclasses.replace(PROTOCOLS["quick"].train, teacher_steps=5))
    seen = []
    _, hist = hs.train_teacher_in_cycles(pr, 0, curriculum=(2,), on_cycle=lambda t, rec: seen.append((sorted(t), rec)))
    assert [c["n_pairs"] for c in hist["cycles"]] == [2, 4] and "curriculum over K = [2, 4]" in hist["note"]
    assert [rec for _, rec in seen] == hist["cycles"] and all(c["seconds"] > 0 for c in hist["cycles"])
    assert all(keys == seen[0][0] and keys for keys, _ in seen)  # the callback gets the teacher's weights
    for bad in ("4,2", "x", "0"):
        monkeypatch.setenv("ATTNVERIFY_HYBRID_TEACHER_CURRICULUM", bad)
        with pytest.raises(ValueError, match="CURRICULUM"):
            hs.teacher_curriculum()
    with pytest.raises(ValueError, match="beyond"):
        hs.train_teacher_in_cycles(pr, 0, curriculum=(8,))


def test_c9_and_the_gap_are_decided_per_fix_and_both_must_hold():
    """F10/F11 (review 22): one fix far above MSE and the other below it must not verify through the mean."""
    from attnverify.experiments.hybrid.decisions import c9_decision, collapse_gap_decision

    split = _synthetic({"mse": [0.30, 0.32, 0.31], "hedgecats": [0.90, 0.92, 0.91], "ssd": [0.20, 0.21, 0.19]}, [0.8, 0.85, 0.9])
    d, fig = c9_decision(split)  # mean contrast +0.25 (verified under the old averaged rule), SSD - MSE = -0.11
    assert d.outcome is pn.Verdict.NOT_REPRODUCED and fig["deciding_fix"] == "ssd"
    assert fig["hedgecats_minus_mse_long_la_only"]["mean"] > 0.5
    g, gfig = collapse_gap_decision(split)
    assert g.outcome is pn.Verdict.NOT_REPRODUCED and gfig["deciding_fix"] == "ssd"
    assert "does not by itself show that MSE's hybrid collapses" in g.rule and "MSE collapses, the fixes do not" not in g.rule
    assert "collapse of MSE itself not decided" in pn.get_claim("hybrid.collapse_gap_toy").statement


def test_teacher_only_record_and_cli(monkeypatch, tmp_path):
    """The teacher-only runner writes the record of the committed teacher-seed files (stages, 512-set accuracy,
    cycles, command, environment) and a checkpoint after each cycle; usage errors exit 2 before any work."""
    import dataclasses
    import pickle

    from attnverify.experiments.hybrid import teacher_only as to
    from attnverify.experiments.hybrid.protocol import PROTOCOLS

    monkeypatch.setenv("ATTNVERIFY_HYBRID_TEACHER_CURRICULUM", "2,4")
    pr = dataclasses.replace(PROTOCOLS["quick"], teacher_cycle=5, train=dataclasses.replace(PROTOCOLS["quick"].train, teacher_steps=5))
    teacher, rec = to.teacher_record(pr, 0, tmp_path / "ckpt")
    assert rec["steps_per_stage"] == {"2": 5, "4": 5} and rec["curriculum"] == [2, 4]
    assert set(rec["eval512"]) == {"short", "long"} and all(0 <= a <= 1 for a in rec["eval512"].values())
    assert [c["n_pairs"] for c in rec["cycles"]] == [2, 4] and all("load" in c and c["wall_s"] > 0 for c in rec["cycles"])
    assert rec["environment"]["x64"] is not None and rec["command"].startswith("python -m attnverify.experiments.hybrid.teacher_only")
    saved = pickle.loads((tmp_path / "ckpt" / "teacher.pkl").read_bytes())
    assert sorted(saved) == sorted(teacher)
    with pytest.raises(ValueError, match="teacher_cycle"):
        to.teacher_record(PROTOCOLS["quick"], 0)
    for argv in (["-1", "--out", str(tmp_path / "x.json")], ["0", "--out", str(tmp_path / "x.json"), "--protocol", "quick"],
                 ["0", "--out", " "], ["0"]):
        with pytest.raises(SystemExit) as e:
            to.main(argv)
        assert e.value.code == 2
    assert not (tmp_path / "x.json").exists()
