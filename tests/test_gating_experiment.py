"""Gating study: tasks, models, the curvature proxy, the statistics' decision rules and the claims.

The quick study is computed once per test process (``cached_study``) by the experiment test; the four
``gating.empirical_*`` claims decide from the committed full study (``experiments/gating/reference``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnverify import proofs_numeric as pn
from attnverify.attention.models.gated_classifier import GATES, ClassifierConfig, classifier_logits, classifier_representation, init_classifier
import attnverify.experiments.gating.study as gs
from attnverify.experiments.gating.tasks import LINEAR_TASKS, TASKS, make_task
from tests.helpers import assert_close

CLAIMS = ["gating.empirical_nonlinear_advantage", "gating.empirical_linear_no_difference",
          "gating.empirical_curvature_accuracy_correlation", "gating.empirical_depth_growth", "gating.empirical_gated_proxy_greater"]
SMALL = ClassifierConfig(width=8, seq_len=3, n_heads=2, depth=2)


# ----------------------------------------------------------------------------- tasks

@pytest.mark.parametrize("name", TASKS)
def test_tasks_are_deterministic_and_well_formed(name):
    a, b, c = make_task(name, 3, 64, 128), make_task(name, 3, 64, 128), make_task(name, 4, 64, 128)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)
    assert a.x_train.shape == (64, 2) and a.y_test.shape == (128,) and a.x_train.dtype == np.float32
    assert set(np.unique(a.y_train)) <= {0, 1} and np.abs(a.x_test).max() < 2
    assert a.linear == (name in LINEAR_TASKS)


def test_task_labels_follow_their_closed_forms():
    x = make_task("xor", 0, 500, 10).x_train
    assert np.array_equal(make_task("xor", 0, 500, 10).y_train, (x[:, 0] * x[:, 1] > 0).astype(int))
    c = make_task("circles", 0, 500, 10)
    assert np.array_equal(c.y_train, (np.linalg.norm(c.x_train, axis=1) < 2**-0.5).astype(int))
    clean, noisy = make_task("halfplane", 1, 4000, 10), make_task("halfplane_noisy", 1, 4000, 10)
    # a clean half-plane is linearly separable: least squares on (x, 1) recovers the labels
    A = np.c_[clean.x_train, np.ones(4000)]
    w = np.linalg.lstsq(A, 2.0 * clean.y_train - 1, rcond=None)[0]
    assert np.mean((A @ w > 0) == clean.y_train) > 0.97
    # the noisy variant: one fitted line explains ~90 % of labels (10 % flipped)
    B = np.c_[noisy.x_train, np.ones(4000)]
    v = np.linalg.lstsq(B, 2.0 * noisy.y_train - 1, rcond=None)[0]
    assert 0.85 < np.mean((B @ v > 0) == noisy.y_train) < 0.95


def test_bad_task_arguments():
    with pytest.raises(ValueError, match="unknown task"):
        make_task("checkerboard", 0)
    with pytest.raises(ValueError, match="n_train"):
        make_task("xor", 0, n_train=0)


# ----------------------------------------------------------------------------- models

@settings(max_examples=6, deadline=None)
@given(st.integers(0, 2**20), st.sampled_from(GATES))
def test_switch_model_equals_the_dedicated_variant(seed, gate):
    cfg_s, cfg_g = dataclasses.replace(SMALL, gate="switch"), dataclasses.replace(SMALL, gate=gate)
    ps = init_classifier(seed, cfg_s, jnp.float64, gate_select=GATES.index(gate))
    pg = init_classifier(seed, cfg_g, jnp.float64)
    for ls, lg in zip(ps["layers"], pg["layers"]):
        if gate == "headwise":
            lg["Wg"], lg["bg"] = ls["Wh"], ls["bh"]
        for k in ("Wq", "Wk", "Wv", "Wo"):  # paired design: same non-gate weights
            assert np.array_equal(ls[k], lg[k])
    x = np.random.default_rng(seed).normal(size=(5, 2))
    assert_close(_jit_logits(ps, x, cfg_s), _jit_logits(pg, x, cfg_g), rtol=1e-13, atol=1e-13)


_jit_logits = jax.jit(classifier_logits, static_argnums=2)


def test_switched_off_layers_give_the_shallower_model():
    deep = dataclasses.replace(SMALL, gate="switch", depth=3)
    p = init_classifier(1, deep, jnp.float64, gate_select=1, active_depth=1)
    shallow = {**p, "layers": p["layers"][:1], "layer_on": p["layer_on"][:1]}
    x = jnp.array([0.3, -0.2])
    assert_close(classifier_representation(p, x, deep), classifier_representation(shallow, x, dataclasses.replace(deep, depth=1)), rtol=1e-14)


def test_model_bad_input():
    p = init_classifier(0, SMALL, jnp.float64)
    with pytest.raises(ValueError, match="shape"):
        classifier_logits(p, np.zeros((4, 3)), SMALL)
    with pytest.raises(ValueError, match="non-finite input at index \\(2, 1\\)"):
        classifier_logits(p, np.array([[0, 0], [1, 1], [0, np.nan]]), SMALL)
    with pytest.raises(ValueError, match="shape"):
        classifier_representation(p, np.zeros(3), SMALL)
    with pytest.raises(ValueError, match="gate"):
        ClassifierConfig(gate="relu")
    with pytest.raises(ValueError, match="divide"):
        ClassifierConfig(width=10, n_heads=3)
    with pytest.raises(ValueError, match="active_depth"):
        init_classifier(0, SMALL, active_depth=1)


def test_training_accepts_runs_sharded_over_devices():
    """``train_runs`` on runs sharded over the 8 emulated CPU devices equals the unsharded result."""
    from jax.sharding import NamedSharding, PartitionSpec

    cfg = dataclasses.replace(SMALL, gate="switch", depth=1)
    R, n = 8, 16
    params = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[init_classifier(i, cfg, jnp.float32, i % 3) for i in range(R)])
    rng = np.random.default_rng(0)
    args = (params, jnp.asarray(rng.integers(0, n, (R, 5, 4)), jnp.int32), jnp.asarray(rng.normal(size=(R, n, 2)), jnp.float32),
            jnp.asarray(rng.integers(0, 2, (R, n)), jnp.int32))
    plain, _ = gs.train_runs(*args, config=cfg, lr=1e-2)
    mesh = jax.make_mesh((len(jax.devices()),), ("runs",))
    sharded = jax.device_put(args, NamedSharding(mesh, PartitionSpec("runs")))
    out, _ = gs.train_runs(*sharded, config=cfg, lr=1e-2)
    assert_close(out["out_W"], plain["out_W"], rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- curvature proxy (spec C10)

def _dirs(k: int) -> jnp.ndarray:
    a = np.linspace(0, np.pi, k, endpoint=False) + 0.1
    return jnp.asarray(np.c_[np.cos(a), np.sin(a)])


def test_proxy_vanishes_for_affine_maps_and_is_scale_invariant():
    A = jnp.asarray(np.random.default_rng(0).normal(size=(5, 2)))
    affine = lambda x: A @ x + 1.0
    assert float(gs.curvature_proxy(affine, jnp.array([0.2, -0.4]), _dirs(6), 1e-2)) < 1e-12
    f = lambda x: jnp.tanh(A @ x) + x[0] * x[1]
    x = jnp.array([0.3, 0.1])
    assert_close(gs.curvature_proxy(lambda y: 7.5 * f(y), x, _dirs(6), 1e-2), gs.curvature_proxy(f, x, _dirs(6), 1e-2), rtol=1e-12)


@pytest.mark.parametrize("h", [1e-1, 1e-2, 1e-3])
def test_proxy_closed_form_on_a_quadratic_graph(h):
    r"""$f=(x_1,x_2,x_1^2)$: differences are exact, $\hat\rho=\frac1{|D|}\sum_u h\|\gamma''\|/(2\|\gamma'\|)$."""
    f = lambda x: jnp.stack([x[0], x[1], x[0] ** 2])
    x, D = np.array([0.4, -0.3]), np.asarray(_dirs(5))
    expected = np.mean([h * 2 * u[0] ** 2 / (2 * np.sqrt(u[0] ** 2 + u[1] ** 2 + (2 * x[0] * u[0]) ** 2)) for u in D])
    assert_close(gs.curvature_proxy(f, jnp.asarray(x), jnp.asarray(D), h), expected, rtol=1e-8)


def test_measure_points_rejects_bad_points():
    fit = {"task": ["xor"], "params": None, "classifier": SMALL}
    with pytest.raises(ValueError, match="points must be finite"):
        gs.measure_points(fit, np.array([[0.0, np.inf]]), gs.quick_config())


# ----------------------------------------------------------------------------- statistics and decision rules

def _fake_study(gap_nonlinear: float, gap_linear: float, seed: int = 0, nan: bool = False) -> gs.StudyResult:
    """Synthetic per-run table whose outcome is known by construction."""
    cfg = gs.quick_config()
    rng = np.random.default_rng(seed)
    rows = [(D, t, g, s) for D in cfg.depths for t in cfg.tasks for g in cfg.gates for s in range(cfg.n_seeds)]
    base = {(D, t, s): 0.9 + 0.01 * rng.normal() for D, t, _, s in rows}
    acc = np.array([base[(D, t, s)] + (g != "none") * (gap_linear if t in LINEAR_TASKS else gap_nonlinear) + 1e-3 * rng.normal()
                    for D, t, g, s in rows])
    dens = np.array([D ** (1 + (g != "none")) * (1 + 0.1 * rng.random()) for D, _, g, _ in rows])  # grows faster when gated
    proxy = acc + 1e-3 * rng.normal(size=len(rows))
    if nan:
        proxy[3] = np.nan
    runs = {"depth": np.array([r[0] for r in rows]), "task": np.array([r[1] for r in rows]), "gate": np.array([r[2] for r in rows]),
            "seed": np.array([r[3] for r in rows]), "accuracy": acc, "proxy": proxy, "curv_density": dens,
            "frac_degenerate": np.zeros(len(rows)), "final_loss": np.zeros(len(rows))}
    return gs.StudyResult(cfg, 0, runs, 0.0)


def test_decision_rules_on_synthetic_outcomes():
    st_ = gs.claim_statistics(_fake_study(gap_nonlinear=0.03, gap_linear=0.0))
    assert st_["nonlinear_advantage"]["holds"] and st_["linear_no_difference"]["holds"]
    assert st_["curvature_accuracy_correlation"]["holds"] and st_["depth_growth"]["holds"]
    assert st_["nonlinear_advantage"]["pooled"]["elementwise"]["mean_diff"] == pytest.approx(0.03, abs=2e-3)
    st_ = gs.claim_statistics(_fake_study(gap_nonlinear=-0.03, gap_linear=0.05))
    assert not st_["nonlinear_advantage"]["holds"] and not st_["linear_no_difference"]["holds"]


def test_decisions_on_synthetic_outcomes():
    """Seeds are the units; "no difference" is an equivalence test; our setting differs, so the opposite
    direction is `not reproduced`, never `refuted`."""
    V = pn.Verdict
    dec = gs.claim_decisions(_fake_study(gap_nonlinear=0.03, gap_linear=0.0))
    assert {k: d.outcome for k, d in dec.items()} == {
        "nonlinear_advantage": V.VERIFIED, "linear_no_difference": V.VERIFIED,
        "curvature_accuracy_correlation": V.VERIFIED, "depth_growth": V.VERIFIED, "gated_proxy_greater": V.VERIFIED}
    # every decision reports its detectable effect; the placebos run and do not pass
    assert all(d.detectable_effect is not None and d.detectable_effect > 0 for d in dec.values())
    assert dec["curvature_accuracy_correlation"].controls
    assert not any(c["passes"] for d in dec.values() for c in (d.controls or {}).values())
    # depth growth: the ungated arm's slope is what the contrast subtracts, so it is context, never a control
    assert not dec["depth_growth"].controls
    from attnverify.experiments.gating.stats import depth_growth_context
    assert "trained ungated slope" in depth_growth_context(_fake_study(gap_nonlinear=0.03, gap_linear=0.0))
    assert all(d.n_units == gs.quick_config().n_seeds and d.units.startswith("seeds") for d in dec.values())
    assert dec["linear_no_difference"].test == "equivalence" and dec["linear_no_difference"].boundary == gs.LINEAR_MARGIN
    assert dec["nonlinear_advantage"].estimate == pytest.approx(0.03, abs=2e-3)
    dec = gs.claim_decisions(_fake_study(gap_nonlinear=-0.03, gap_linear=0.05))
    assert dec["nonlinear_advantage"].outcome is V.NOT_REPRODUCED and dec["linear_no_difference"].outcome is V.NOT_REPRODUCED
    assert dec["nonlinear_advantage"].paper_setting and dec["nonlinear_advantage"].our_setting
    # a gap inside the margin that a test of difference would miss stays undecided when the interval is wide
    noisy = _fake_study(gap_nonlinear=0.0, gap_linear=0.008)
    noisy.runs["accuracy"][noisy.select(gate="elementwise", task="halfplane")] += np.random.default_rng(3).normal(0, 0.02, 10)
    assert gs.claim_decisions(noisy)["linear_no_difference"].outcome is V.INCONCLUSIVE


def test_paired_test_matches_the_t_statistic_closed_form():
    a, b = np.array([0.9, 0.8, 0.85, 0.95, 0.7]), np.array([0.88, 0.81, 0.8, 0.9, 0.69])
    d = a - b
    t = d.mean() / (d.std(ddof=1) / np.sqrt(d.size))
    out = gs.paired_test(a, b)
    assert_close(out["t"], t, rtol=1e-12)
    assert_close(out["p_greater"], out["p_two_sided"] / 2, rtol=1e-12)
    assert gs.paired_test(a, a)["p_two_sided"] == 1.0


# ----------------------------------------------------------------------------- claims and experiment

@pytest.fixture
def fake_cache(monkeypatch):
    pn.discover()  # the claims link to geometry/gating claims of other modules (depends_on)

    def use(study):
        monkeypatch.setitem(gs._CACHE, ("reference", 0), (study, {"file": "synthetic test table"}))
    return use


@pytest.mark.parametrize("cid", CLAIMS)
def test_claim_verdict_follows_the_data(cid, fake_cache):
    fake_cache(_fake_study(gap_nonlinear=-0.03, gap_linear=0.05))
    r = pn.run_claim(pn.get_claim(cid), scale=0.01)
    key = cid.split("empirical_")[1]
    # proxy = accuracy + noise: the gated - ungated proxy follows the accuracy gap, (0.05 - 3 x 0.03) / 4 < 0
    expected = pn.Verdict.VERIFIED if key in ("curvature_accuracy_correlation", "depth_growth") else pn.Verdict.NOT_REPRODUCED
    assert r.verdict is expected and r.evidence.decision.outcome is expected, r.message


@pytest.mark.parametrize("cid", CLAIMS)
def test_claim_fails_on_non_finite_measures(cid, fake_cache):
    fake_cache(_fake_study(0.03, 0.0, nan=True))
    assert pn.run_claim(pn.get_claim(cid), scale=0.01).verdict is pn.Verdict.FAILED


def test_claims_decide_from_the_committed_full_study():
    """The four claims read the committed full study, recompute its decisions and record its provenance."""
    import hashlib

    for cid in CLAIMS:
        r = pn.run_claim(pn.get_claim(cid), scale=0.01)
        assert r.verdict is not pn.Verdict.FAILED, r.message
        d = r.evidence.decision
        assert r.verdict is d.outcome and r.verdict is not pn.Verdict.REFUTED  # our setting is not the paper's
        assert d.units.startswith("seeds") and d.n_units == gs.full_config().n_seeds and d.ci[0] <= d.estimate <= d.ci[1]
        src = r.evidence.details["reference_run"]
        assert src["sha256"] == hashlib.sha256(gs.REFERENCE.read_bytes()).hexdigest() and src["quick"] is False
        assert r.evidence.details["n_runs"] == 360


def _evidence_copy(monkeypatch, tmp_path):
    """The pinned evidence copied to ``tmp_path`` and used instead of the committed files."""
    from attnverify.proofs_numeric import evidence as ev

    monkeypatch.setattr(ev, "_MANIFEST", [ev.sandbox(tmp_path)])
    monkeypatch.delitem(gs._CACHE, ("reference", 0), raising=False)
    return tmp_path / "experiments" / "gating" / "reference" / "results.json"


def test_missing_reference_names_the_command(monkeypatch, tmp_path):
    _evidence_copy(monkeypatch, tmp_path).unlink()
    with pytest.raises(ValueError, match="attnverify experiment gating"):
        gs.reference_study()


def test_experiment_quick_writes_table_and_plots(tmp_path: Path):
    from attnverify.proofs_numeric.cli import main

    assert main(["experiment", "gating", "--quick", "--out", str(tmp_path)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    for stem in ("accuracy_by_task", "curvature_vs_accuracy", "curvature_vs_depth"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names
    res = json.loads((tmp_path / "results.json").read_text())
    assert len(res["runs"]["accuracy"]) == 80 and all(0.4 < a <= 1 for a in res["runs"]["accuracy"])
    md = (tmp_path / "results.md").read_text()
    assert "| task | depth | gate | accuracy |" in md and "Paired t-tests" in md
    # the JSON holds everything the claims need: its decisions equal the in-memory study's
    again = gs.claim_decisions(gs.study_from_json(res))
    from attnverify.proofs_numeric.io import to_jsonable

    assert json.loads(json.dumps(to_jsonable({k: d.to_dict() for k, d in again.items()}))) == res["decisions"]


def test_a_failed_study_is_cached_and_not_retrained(monkeypatch):
    calls = []

    def boom(*a, **k):
        calls.append(1)
        raise FloatingPointError("diverged")

    monkeypatch.setattr(gs, "run_study", boom)
    monkeypatch.delitem(gs._CACHE, (True, 12345), raising=False)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="failed earlier") as e:
            gs.cached_study(True, 12345)
        assert isinstance(e.value.__cause__, FloatingPointError)
    assert len(calls) == 1
    monkeypatch.delitem(gs._CACHE, (True, 12345))


def test_a_quick_run_is_refused_as_reference(monkeypatch, tmp_path):
    from attnverify.proofs_numeric.promote import promote

    ref = _evidence_copy(monkeypatch, tmp_path / "tree")
    bad = tmp_path / "run" / "results.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps({**json.loads(ref.read_text()), "quick": True}))
    with pytest.raises(ValueError, match="quick"):  # the gating.results schema refuses it at promotion
        promote(bad, "experiments/gating/reference/results.json")
    assert gs.reference_study()[0].runs["accuracy"].size == 360  # the pinned full study is untouched


def test_issue27_controls_decide():
    """Issue 27: depth growth decides on gated - ungated slope, so an ungated arm that grows as fast blocks it
    (the ungated slope alone is context, not a control); a positive correlation whose interval excludes the paper's
    0.79 is not reproduced; the within-seed permutation placebo does not pass."""
    V = pn.Verdict
    same = _fake_study(0.03, 0.0)
    noise = 1 + 0.1 * np.random.default_rng(2).random(len(same.runs["depth"]))
    same.runs["curv_density"] = same.runs["depth"].astype(float) * noise  # both arms grow alike
    d = gs.claim_decisions(same)["depth_growth"]
    assert d.outcome is not V.VERIFIED and abs(d.estimate) < 0.05
    from attnverify.experiments.gating.stats import depth_growth_context
    assert not d.controls and depth_growth_context(same)["trained ungated slope"]["outcome"] == "verified"  # context only
    d = gs.claim_decisions(same, untrained=same)["depth_growth"]  # the control: the same contrast, untrained
    assert set(d.controls) == {"untrained models: gated - ungated slope"} and d.controls["untrained models: gated - ungated slope"]["outcome"] == "does not pass"
    weak = _fake_study(0.03, 0.0)
    weak.runs["proxy"] = weak.runs["accuracy"] + 0.02 * np.random.default_rng(4).standard_normal(len(weak.runs["accuracy"]))
    c = gs.claim_decisions(weak)["curvature_accuracy_correlation"]
    assert 0 < c.ci[0] and c.ci[1] < 0.79 and c.outcome is V.NOT_REPRODUCED
    assert c.controls["accuracy permuted within seed"]["outcome"] == "does not pass"
