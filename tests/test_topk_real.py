"""Top-k on real attention: the k_eps kernel and its sharding, the prose corpus, the reduction
measurement, the soundness measurement's failure detection, the claims' decisions, outputs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attnverify import bounds
from attnverify import proofs_numeric as pn
from attnverify.experiments.topk_real import claims as topk_claims
from attnverify.experiments.topk_real import study as topk_real
from attnverify.experiments.topk_real.keps import keps_rows
from attnverify.experiments.topk_real.protocol import PAPER, Protocol, RealProtocol, measure
from attnverify.experiments.topk_real.reduction import measure_reduction

ROOT = Path(__file__).resolve().parents[1]
# one sequence of 128 tokens, padded to the reduced protocol's width: shares its compiled programs
TINY = Protocol("tiny", {128: 1}, batch=1, bound_rows=64, eps=(0.01, 0.1), predictor_grid=9, width=256)
TINY_REAL = RealProtocol("tiny", ("minilm",), {32: 6}, {"minilm": TINY}, batch=6, mc_sequences=1, mc_rows=4, mc_lengths=(32,))


@pytest.fixture(scope="module")
def model():
    return topk_real.load_model("minilm")


# ------------------------------------------------------------------------------------ k_eps kernel

def test_keps_rows_matches_definition_and_certified_topk():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(64, 40)) * rng.uniform(0.2, 5, size=(64, 1))
    s[0] = 0.0  # uniform n = 40: tail after k keys is (40 - k) / 40
    s[1, :7] = s[1, 0]  # ties at the top
    eps = [0.001, 0.01, 0.05, 0.1, 0.25]
    k, sigma = keps_rows(s, eps)
    assert np.array_equal(k[0], [40 - int(np.floor(e * 40)) for e in eps])  # k* = min{k: (40-k)/40 <= eps}
    for j, e in enumerate(eps[1:3], start=1):
        c = bounds.certified_topk(s, e)
        ok = np.asarray(c.minimal_certified, bool)
        assert np.array_equal(k[ok, j], np.asarray(c.k)[ok])
    assert np.allclose(sigma, s.std(-1), rtol=1e-13)
    u4 = np.zeros((1, 4))  # spec pitfall: uniform n = 4, k* = 2 at eps = 0.5, 3 at 0.25 ("<=" semantics)
    assert keps_rows(u4, [0.5, 0.25])[0].tolist() == [[2, 3]]
    with pytest.raises(ValueError, match="finite"):
        keps_rows(np.array([[0.0, -np.inf]]), [0.1])
    with pytest.raises(ValueError, match="eps"):
        keps_rows(u4, [1.0])
    with pytest.raises(ValueError, match="devices"):
        keps_rows(u4, [0.1], devices=0)


_SHARD_SCRIPT = """
import json, sys, numpy as np
from attnverify.proofs_numeric import enable_x64; enable_x64()
import jax
from attnverify.experiments.topk_real.keps import keps_rows
assert len(jax.devices()) == 8, jax.devices()
rng = np.random.default_rng(1)
s = rng.normal(size=(301, 32)) * rng.uniform(0.5, 4, size=(301, 1))
ref = keps_rows(s, [0.001, 0.01, 0.05, 0.1], devices=1)
same = all(np.array_equal(a, b) for d in (3, 8) for a, b in zip(keps_rows(s, [0.001, 0.01, 0.05, 0.1], devices=d), ref))
print(json.dumps({"same": bool(same), "devices": len(jax.devices())}))
"""


def test_sharded_rows_identical_on_8_emulated_devices():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", _SHARD_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"same": True, "devices": 8}


# ------------------------------------------------------------------------------------ corpus

def test_prose_corpus_is_deterministic_mixed_and_hashed(model):
    from attnverify.attention import PROSE_SOURCES, prose_corpus
    from attnverify.attention.data import prose

    a = prose_corpus(model, 64, 6)
    b = prose_corpus(model, 64, 3)
    assert a.input_ids.shape == (6, 64) and np.array_equal(a.input_ids[:3], b.input_ids)  # prefixes agree
    assert a.source == tuple(PROSE_SOURCES)[:3] * 2  # the sources take turns
    assert np.all(a.input_ids[:, 0] == model.cls_id) and np.all(a.input_ids[:, -1] == model.sep_id)
    st = prose._STREAMS[(str(model.path), "django-msgids")]
    used = a.texts["django-msgids"]
    assert a.sha256["django-msgids"] == hashlib.sha256("\n\n".join(st["texts"][:used]).encode()).hexdigest()
    assert st["ends"][used - 1] >= a.tokens["django-msgids"] > (st["ends"][used - 2] if used > 1 else 0)
    rec = a.record()
    assert set(rec["sources"]) == set(PROSE_SOURCES) and "django" in rec["versions"]
    one = prose_corpus(model, 64, 1, sources=("django-msgids", "stdlib-docstrings"))  # the second source is not reached
    assert one.source == ("django-msgids",) and one.texts["stdlib-docstrings"] == 0
    with pytest.raises(ValueError, match="sources"):
        prose_corpus(model, 64, 2, sources=("nowhere",))
    with pytest.raises(ValueError, match="n_tokens"):
        prose_corpus(model, 600, 1)


def test_po_msgids_parser():
    """The prose source reads msgids with the catalogue parser: continuation lines joined, escapes undone,
    the header entry dropped."""
    from attnverify.attention.data.po_catalogues import parse_po

    po = 'msgid ""\nmsgstr ""\n\nmsgid "Enter a valid "\n"value, \\"please\\"."\nmsgstr ""\nmsgid_plural "x"\n'
    assert [e.msgid for e in parse_po(po)] == ['Enter a valid value, "please".']


# ------------------------------------------------------------------------------------ measurements

@pytest.fixture(scope="module")
def tiny_run(model):
    return topk_real.run_real(TINY_REAL, 0)


def test_reduction_measurement_is_consistent(tiny_run):
    r = tiny_run["models"]["minilm"]["reduction"]["32"]
    assert r["sequences"] == 6 and len(r["per_layer"]) == 6 * len(r["eps"])
    for j, c in enumerate(r["per_eps"]):
        seq = np.asarray(r["per_sequence"]["mean_k"])[:, j]
        assert c["mean_k"] == pytest.approx(seq.mean()) and c["n_over_mean_k"] == pytest.approx(32 / seq.mean())
        assert c["n_over_mean_k_ci95"][0] <= c["n_over_mean_k"] <= c["n_over_mean_k_ci95"][1]
        assert c["mean_n_over_k"] >= c["n_over_mean_k"]  # Jensen: mean of n/k >= n / mean k
    ks = [c["mean_k"] for c in r["per_eps"]]
    assert ks == sorted(ks, reverse=True)  # a larger budget keeps fewer keys
    mc = r["mc_search"]
    assert mc["rows"] == 6 * 12 * 4 and mc["scored_below_k_eps"] == mc["kept_below_k_eps"] == mc["tau_upper_above_eps"] == 0
    assert mc["mean_scored"] >= mc["mean_kept"] >= mc["mean_k_eps"]


def test_mpnet_mc_search_bounds_include_the_relative_bias():
    """On a head whose logits are dominated by the relative bias, MC-Search still certifies."""
    from attnverify.experiments.topk_real.reduction import mc_search_rows

    rng = np.random.default_rng(3)
    n, d = 48, 8
    q, k = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    bias = 4.0 * rng.normal(size=(n, n))
    r = mc_search_rows(q, k, bias, np.arange(n), 0.01)
    assert (r["tau_upper"] <= 0.01).all() and (r["scored"] >= r["k_eps"]).all() and (r["kept"] >= r["k_eps"]).all()


@pytest.fixture(scope="module")
def tiny(tiny_run):
    return tiny_run["models"]["minilm"]["soundness"]  # measure(model, TINY)


def _drop_one_more(real):
    """A deliberately wrong selection: the certified set minus its lowest-logit key (when k > 1)."""

    def wrong(logits, eps):
        c = real(logits, eps)
        s, kept, k = np.asarray(logits), np.asarray(c.kept, bool).copy(), np.asarray(c.k)
        last = np.where(kept, s, np.inf).argmin(-1)
        drop = np.zeros_like(kept)
        np.put_along_axis(drop, last[..., None], True, axis=-1)
        kept &= ~(drop & (k > 1)[..., None])
        return c._replace(kept=kept, k=kept.sum(-1))

    return wrong


def test_tiny_soundness_and_wrong_selection_detected(model, tiny, monkeypatch):
    for c in tiny["per_n_eps"]:
        assert c["rows"] == c["tv_rows"] == c["tv_ok"] == 6 * 12 * 128
        assert c["minimality_violations"] == 0 and sum(c["bound_violations"].values()) == 0
    monkeypatch.setattr(bounds, "certified_topk", _drop_one_more(bounds.certified_topk))
    s = measure(model, dataclasses.replace(TINY, eps=(0.01,)), seed=0)
    assert s["per_n_eps"][0]["tv_ok"] < s["per_n_eps"][0]["tv_rows"]


# ------------------------------------------------------------------------------------ claims

IDS = ("topk.real_certified_tv", "topk.real_output_bounds", "topk.real_reduction_minilm_n128",
       "topk.real_headline_2_4x_minilm", "topk.real_rule_vs_predictor", "topk.real_mc_search_sound")


def _with_paper_lengths(run):
    """The tiny run relabelled as n = 128 and 256 (the claims look up the paper's lengths)."""
    run = json.loads(json.dumps(pn.io.to_jsonable(run)))
    red = run["models"]["minilm"]["reduction"]
    red["128"] = red.pop("32")
    red["256"] = json.loads(json.dumps(red["128"]))
    return run


@pytest.fixture(scope="module")
def claim_results(tiny_run):
    run = _with_paper_lengths(tiny_run)
    mp = pytest.MonkeyPatch()
    mp.setattr(topk_claims, "verify_real", lambda seed: run)
    try:
        yield {cid: pn.run_claim(pn.get_claim(cid), scale=0.01) for cid in IDS}
    finally:
        mp.undo()


def test_claims_decide_by_their_stated_rule(claim_results):
    r = claim_results
    assert all(x.verdict is not pn.Verdict.FAILED for x in r.values()), {k: v.message for k, v in r.items()}
    assert r["topk.real_certified_tv"].verdict is pn.Verdict.VERIFIED
    assert r["topk.real_mc_search_sound"].verdict is pn.Verdict.VERIFIED
    d = r["topk.real_reduction_minilm_n128"].evidence.decision
    assert d.units == "sequences" and d.n_units == 6 and d.boundary == pytest.approx(128 / 58.8)  # spec §4
    lo, hi = d.ci
    want = pn.Verdict.VERIFIED if lo > d.boundary else pn.Verdict.NOT_REPRODUCED if hi < d.boundary else pn.Verdict.INCONCLUSIVE
    assert d.outcome is want and d.paper_setting and d.our_setting  # a different model is never 'refuted'
    h = r["topk.real_headline_2_4x_minilm"].evidence.decision
    assert h.test == "equivalence" and h.n_units == 12


@pytest.mark.parametrize("name", ["mpnet", "minilm"])
def test_cached_full_runs_and_verify_size_agree(name):
    """The MPNet claims read the committed full run (checked against the recorded zip hash); for both
    models a verify-size prefix (16 of 64 sequences, the corpus is prefix-stable) gives the same
    verdict as all 64, so REAL_VERIFY and REAL_FULL agree."""
    cache = topk_real.MPNET_CACHE if name == "mpnet" else topk_real.MINILM_CACHE
    if not cache.exists():
        pytest.skip("no cached full run yet")
    run = json.loads(cache.read_text())[name]
    for n in (128, 256):
        if name == "mpnet":
            res = pn.run_claim(pn.get_claim(f"topk.real_reduction_mpnet_n{n}"))
            assert res.verdict is not pn.Verdict.FAILED, res.message
        seq = np.asarray(run["reduction"][str(n)]["per_sequence"]["mean_k"])[:, 1]
        kw = dict(boundary=PAPER["reduction"][n], statistic=lambda x, axis=-1: n / np.mean(x, axis=axis), units="sequences",
                  rule="r", setting_differs=True, paper_setting="p", our_setting="o")
        assert pn.decide_direction(seq[:16], **kw).outcome is pn.decide_direction(seq, **kw).outcome


def test_stale_mpnet_cache_fails(tmp_path, monkeypatch):
    bad = tmp_path / "mpnet_full.json"
    bad.write_text(json.dumps({"mpnet": {"zip_sha256": "0" * 64}}))
    monkeypatch.setattr(topk_claims, "MPNET_CACHE", bad)
    monkeypatch.setenv("ATTNVERIFY_EVIDENCE", str(tmp_path))  # a user's run replaces the pinned one (verify --evidence)
    assert pn.run_claim(pn.get_claim("topk.real_reduction_mpnet_n128")).verdict is pn.Verdict.FAILED


# ------------------------------------------------------------------------------------ outputs, CLI

def test_experiment_writes_files(tiny_run, monkeypatch, tmp_path: Path):
    run = _with_paper_lengths(tiny_run)
    monkeypatch.setattr(topk_real, "run_real", lambda protocol, seed, devices: {**run, "devices": devices})
    res = topk_real.topk_real_experiment(tmp_path, quick=True, seed=0, devices=2)
    names = {Path(f).name for f in res["files"]}
    assert {"topk_real.json", "topk_real.md", "reduction_models_vs_paper.png", "keps_real.svg"} <= names
    md = (tmp_path / "topk_real.md").read_text()
    assert "58.8" in md and "devices = 2" in md and "sha256" in md


def test_cli_devices_option():
    from attnverify.proofs_numeric.cli import build_parser

    assert build_parser().parse_args(["experiment", "topk-real", "--devices", "2"]).devices == 2
    assert build_parser().parse_args(["experiment", "topk-real"]).devices == 1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["experiment", "topk-real", "--devices", "0"])


def test_rule_vs_predictor_decides_per_n_and_requires_both():
    """Issue 27: n = 128 and n = 256 are decided separately (t over each n's 64 sequences), both required;
    the pooled effect hid opposite signs. The rule's history and the placebo's inapplicability are recorded."""
    from attnverify.proofs_numeric import x64

    with x64():
        r = pn.run_claim(pn.get_claim("topk.real_rule_vs_predictor"))
    assert r.verdict is not pn.Verdict.FAILED, r.message
    d = r.evidence.decision
    assert set(d.parts) == {"n = 128", "n = 256"} and all(p["n_units"] == 64 for p in d.parts.values())
    outs = {k: p["outcome"] for k, p in d.parts.items()}
    want = (pn.Verdict.VERIFIED if set(outs.values()) == {"verified"} else
            pn.Verdict.NOT_REPRODUCED if "not reproduced" in outs.values() else pn.Verdict.INCONCLUSIVE)
    assert r.verdict is want and d.detectable_effect > 0
    assert "after seeing" in r.evidence.details["rule_history"] and "permut" in r.evidence.details["control"]
