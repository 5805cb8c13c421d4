"""CLI edges and the README's generated claims table."""

from __future__ import annotations

import re
from pathlib import Path

from attnverify import proofs_numeric as pn
from attnverify.proofs_numeric.cli import main
from attnverify.proofs_numeric.report import README_END, README_START

ROOT = Path(__file__).resolve().parent.parent


def test_unknown_experiment_and_plot_are_usage_errors(capsys):
    assert main(["experiment", "no-such-experiment"]) == 2
    assert main(["plot", "no-such-plot"]) == 2
    assert "unknown experiment" in capsys.readouterr().err


def test_list_names_every_area_prefix(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "experiments:" in out and "plots:" in out


def test_readme_table_lists_exactly_the_registered_claims():
    pn.discover()
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split(README_START, 1)[1].split(README_END, 1)[0]
    in_readme = set(re.findall(r"^\| `([a-z_]+\.[a-z0-9_.]+)`", block, re.M))
    registered = {c.id for c in pn.claims() if ".test_" not in c.id}
    assert in_readme == registered, (
        "README claims table is out of date; regenerate it with "
        "`attnverify verify --update-readme README.md` "
        f"(missing: {sorted(registered - in_readme)}, stale: {sorted(in_readme - registered)})"
    )


def test_bad_seed_and_scale_exit_2_before_any_work(capsys):
    import pytest

    for argv in (["verify", "--seed", "-1"], ["verify", "--jobs", "0"], ["verify", "--jobs", "two"], ["verify", "--scale", "nan"], ["verify", "--scale", "inf"], ["verify", "--scale", "0"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        assert "must be" in capsys.readouterr().err


def test_experiment_run_record_names_its_machine(tmp_path, monkeypatch):
    """``run.json`` of every experiment records where it ran (:func:`proofs_numeric.environment`)."""
    import json

    import jax

    from attnverify.proofs_numeric import _registry, environment

    monkeypatch.setitem(_registry._EXPERIMENTS, "env-probe", _registry.Task("env-probe", "", lambda out, *, quick, seed: {}))
    assert main(["experiment", "env-probe", "--quick", "--out", str(tmp_path)]) == 0
    rec = json.loads((tmp_path / "run.json").read_text())
    env = rec["environment"]
    assert env == environment() and env["backend"] == jax.default_backend()
    assert env["device_count"] == len(jax.devices()) and env["x64"] == bool(jax.config.jax_enable_x64)
    assert {"python", "numpy", "jax", "jaxlib", "devices", "matmul_precision", "cpu_count", "xla_flags"} <= set(env)
