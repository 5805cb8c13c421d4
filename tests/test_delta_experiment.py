"""The Δ-attention study on small fixtures; the full quick experiment through the CLI is marked slow."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attnverify.experiments.delta.fixtures import ar_fixture, cosine_study, helps, iid_fixture, summarise


def test_fixtures_follow_the_spec():
    q, k, v = iid_fixture(2)
    r = np.random.default_rng(0)
    assert np.array_equal(q[0], r.normal(size=(512, 32))) and np.array_equal(k[0], r.normal(size=(512, 32)))
    qa, ka, va = ar_fixture(0.9, 1, n=64)
    r = np.random.default_rng(1)
    q0 = r.normal(size=32)
    assert np.array_equal(qa[0, 0], q0)
    assert np.allclose(qa[0, 1], 0.9 * q0 + np.sqrt(1 - 0.81) * r.normal(size=32), rtol=0, atol=1e-15)
    assert va.mean() > 0.4  # V + 0.5


def test_cosine_study_structure_and_identities():
    q, k, v = ar_fixture(0.99, 2, n=256)
    st = cosine_study(q, k, v, window=32, n_sink=4, gammas=(4, 16), score_from=64)
    assert st["sparse"].shape == (2, 192) and st["anchor_error"] < 1e-14
    for g in (4, 16):
        na = st["non_anchor"][g]
        # recompute (Eq. 5) equals sparse off the anchors, and is exact (cos 1) on them
        assert np.array_equal(st["recompute"][g][:, na], st["sparse"][:, na])
        assert np.allclose(st["recompute"][g][:, ~na], 1.0, atol=1e-12)
        assert np.allclose(st["delta"][g][:, ~na], 1.0, atol=1e-12)
    s = summarise(st)
    assert set(s["per_gamma"]) == {4, 16} and 0 < s["nbr_cos"] <= 1
    holds, gains = helps(s)
    assert holds is all(x > 0 for x in gains.values())


@pytest.mark.slow
def test_cli_quick_experiment_writes_tables_and_plots(tmp_path):
    from attnverify.proofs_numeric.cli import main

    assert main(["experiment", "delta", "--quick", "--out", str(tmp_path)]) == 0
    for name in ("delta_cosine.md", "delta_cosine.json", "delta_cosine_vs_gamma.png", "delta_cosine_vs_gamma.svg", "delta_per_query_gain.png", "run.json"):
        assert (tmp_path / name).is_file(), name
    res = json.loads((tmp_path / "delta_cosine.json").read_text())
    assert res["anchor_error"] < 1e-12 and "MiniLM causal n=512" in res["summaries"]
