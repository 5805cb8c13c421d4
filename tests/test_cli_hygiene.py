"""CLI hygiene: ``--version``, help text on every option, the names in ``plot --help`` and
``experiment --help``, and output paths that no permission bit reveals (``/proc``) rejected with exit 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

import attnverify
from attnverify.proofs_numeric import experiment_tasks, plot_tasks
from attnverify.proofs_numeric.cli import build_parser, main


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"attnverify {attnverify.__version__}"


def test_every_option_has_help_text():
    parser = build_parser()
    missing = [f"{name} {a.option_strings or a.dest}" for name, sub in _subparsers(parser) for a in sub._actions
               if not isinstance(a, argparse._HelpAction) and not a.help]
    missing += [str(a.option_strings) for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) and not a.help]
    assert not missing, missing


@pytest.mark.parametrize("kind", ["plot", "experiment"])
def test_help_lists_the_names(kind, capsys):
    with pytest.raises(SystemExit) as e:
        main([kind, "--help"])
    out = capsys.readouterr().out
    table = plot_tasks() if kind == "plot" else experiment_tasks()
    assert e.value.code == 0 and table
    for name, task in table.items():
        assert f"  {name} " in out and task.help[:30] in out, name


@pytest.mark.skipif(not sys.platform.startswith("linux") or not Path("/proc/self").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("argv", [["plot", "keps", "--out", "/proc/forbidden"],
                                  ["experiment", "delta", "--quick", "--out", "/proc/forbidden/x"],
                                  ["verify", "--only", "topk.tv_equals_tail_mass", "--json", "/proc/forbidden.json"],
                                  ["verify", "--only", "topk.tv_equals_tail_mass", "--markdown", "/proc/forbidden.md"]])
def test_output_path_that_accepts_no_file_exits_2(argv, capsys, monkeypatch):
    import attnverify.proofs_numeric.cli as cli

    monkeypatch.setattr(cli, "_setup", lambda: pytest.fail("work started before the output path was checked"))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "/proc/forbidden" in err and len(err.strip().splitlines()) == 1
