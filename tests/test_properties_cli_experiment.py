"""Property tests: ``attnverify experiment`` and ``attnverify plot`` refuse usage errors with exit 2 before any work.

Before any work means: no registered experiment or plot function runs, and no output directory is created.
Cases: unknown names, ``--seed`` that is negative, fractional, not a number or beyond ``2**32 - 1`` (it used
to overflow inside JAX's PRNG), ``--devices`` below 1 or not an integer, ``--devices`` for an experiment that
does not shard, ``--from-json`` for a plot that does not read one, and ``--out`` that is empty, a file or below
a file. Each message names the option (or, for a name, the unknown name and the list of valid ones).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attnverify.proofs_numeric import _registry, cli
from tests._properties import FAST


def _run(argv, capsys):
    """``main(argv)``'s exit status and stderr (argparse errors raise ``SystemExit``)."""
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


@pytest.fixture
def no_task(monkeypatch):
    """Every registered experiment and plot fails the test if it is called."""
    _registry.discover()

    def refuse(fn):
        @functools.wraps(fn)  # keeps the signature the CLI inspects (devices, from_json)
        def boom(*a, **k):
            raise AssertionError(f"{fn.__name__} ran before its arguments were validated")
        return boom

    for table in (_registry._EXPERIMENTS, _registry._PLOTS):
        for name, entry in list(table.items()):
            monkeypatch.setitem(table, name, dataclasses.replace(entry, fn=refuse(entry.fn)))


@FAST
@given(st.sampled_from(["-1", "1.5", "x", "", "4294967296", "99999999999999999999999"]),
       st.sampled_from(["plot", "experiment"]))
def test_bad_seed_exits_2_naming_it(seed, cmd):
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args([cmd, "anything", "--seed", seed])
    assert info.value.code == 2
    assert cli.build_parser().parse_args([cmd, "anything", "--seed", "4294967295"]).seed == 2**32 - 1


@FAST
@given(st.sampled_from(["0", "-2", "1.5", "x", "4097"]))
def test_bad_devices_exits_2(devices):
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(["experiment", "fal", "--devices", devices])
    assert info.value.code == 2


def test_messages_name_the_option(capsys):
    for argv, option in ((["experiment", "fal", "--seed", "-1"], "--seed"), (["plot", "keps", "--seed", "2.5"], "--seed"),
                         (["experiment", "fal", "--devices", "x"], "--devices"),
                         (["experiment", "fal", "--seed", str(2**40)], "--seed")):
        code, err = _run(argv, capsys)
        assert code == 2 and f"argument {option}:" in err, err
    code, err = _run(["experiment", "fal", "--devices", "x"], capsys)
    assert "[1, 4096]" in err  # the rule of --devices, not --seed's


def test_unknown_names_and_unsupported_options(tmp_path, capsys, no_task):
    cases = [(["experiment", "nope"], "unknown experiment 'nope'"), (["plot", "nope"], "unknown plot 'nope'"),
             (["experiment", "gating", "--devices", "2"], "does not take --devices"),
             (["plot", "keps", "--from-json", str(tmp_path / "r.json")], "does not take --from-json")]
    (tmp_path / "r.json").write_text("{}")
    for i, (argv, words) in enumerate(cases):
        out = tmp_path / f"out{i}"
        code, err = _run(argv + ["--out", str(out)], capsys)
        assert code == 2 and words in err, err
        assert not out.exists(), f"{argv}: the refused command created its --out directory"
    code, err = _run(["experiment", "nope", "--out", str(tmp_path / "x")], capsys)
    assert "available: " in err and "fal" in err


def test_bad_out_exits_2_before_any_work(tmp_path, capsys, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("work started before --out was validated")

    monkeypatch.setattr(cli, "_setup", boom)
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, err = _run(["plot", "verdicts", "--from-json", str(tmp_path / "missing.json"), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "--from-json" in err, err
    for out in ("", "  ", str(afile), str(afile / "sub")):
        for cmd, name in (("experiment", "fal"), ("plot", "keps")):
            code, err = _run([cmd, name, "--out", out], capsys)
            assert code == 2 and "--out" in err, (out, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_reference_loader_names_its_arguments():
    """``load_reference_run``, the reader of the committed runs that ``experiment`` writes and ``promote`` pins."""
    from attnverify.proofs_numeric.evidence import EvidenceError, manifest
    from attnverify.proofs_numeric.reference import ReferenceRun, load_reference_run
    from tests._properties import rejects

    pinned = Path(__file__).resolve().parents[1] / manifest()[0].file
    for bad in (None, 3, "", "  "):
        rejects(lambda: load_reference_run(bad, command="x"), "path")
    for bad in (None, 3, "", b"x"):
        rejects(lambda: load_reference_run(pinned, command=bad), "command")
    for bad in ("yes", None, 1):
        rejects(lambda: load_reference_run(pinned, command="x", full=bad), "full")
    with pytest.raises(EvidenceError, match="README.md is not pinned"):
        load_reference_run(pinned.parents[2] / "README.md", command="x")
    assert isinstance(load_reference_run(pinned, command="attnverify experiment x", full=False), ReferenceRun)
