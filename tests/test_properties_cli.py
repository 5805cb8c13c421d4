"""Property tests (issue 11): bad CLI arguments and unusable output paths exit 2 before any work, with a
one-line message naming the argument or the path; atomic writes use the umask mode and clean up.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attnverify.proofs_numeric import cli, io
from tests._properties import FAST, covers


def _no_work(monkeypatch):
    """Fail the test if the CLI starts any work (discovery, claims, tasks)."""
    def boom(*a, **k):
        raise AssertionError("work started before the arguments were validated")

    monkeypatch.setattr(cli, "_setup", boom)


@covers("proofs_numeric", "enable_x64")
@FAST
@given(st.sampled_from(["-1", "-7", "1.5", "x", ""]), st.sampled_from(["verify", "plot", "experiment"]))
def test_bad_seed_is_a_usage_error(seed, cmd):
    argv = [cmd] + ([] if cmd == "verify" else ["anything"]) + ["--seed", seed]
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(argv)
    assert info.value.code == 2


@FAST
@given(st.sampled_from(["nan", "inf", "-inf", "0", "-0.5", "0.0", "abc", "1e-400"]))
def test_bad_scale_is_a_usage_error(scale):
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(["verify", "--scale", scale])
    assert info.value.code == 2


@covers("attnverify.proofs_numeric.cli", "main")
@covers("attnverify.proofs_numeric.io", "check_output_file", "check_output_dir")
@pytest.mark.parametrize("kind", ["dir_as_file", "file_as_parent", "missing_readme"])
@pytest.mark.parametrize("flag", ["--json", "--markdown"])
def test_unusable_output_paths_exit_2_before_work(tmp_path, monkeypatch, capsys, kind, flag):
    _no_work(monkeypatch)
    (tmp_path / "plain").write_text("x")
    argv = {"dir_as_file": ["verify", flag, str(tmp_path)],
            "file_as_parent": ["verify", flag, str(tmp_path / "plain" / "r.json")],
            "missing_readme": ["verify", "--update-readme", str(tmp_path / "nope.md")]}[kind]
    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(tmp_path) in lines[0]


def test_usage_error_end_to_end_is_one_line_without_traceback(tmp_path):
    p = subprocess.run([sys.executable, "-m", "attnverify", "verify", "--json", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [f"attnverify verify: error: --json file {tmp_path} is a directory; give a file name"]


def test_output_dir_that_is_a_file_exits_2(tmp_path, monkeypatch, capsys):
    _no_work(monkeypatch)
    f = tmp_path / "plain"
    f.write_text("x")
    assert cli.main(["plot", "curvature", "--out", str(f)]) == 2
    assert "not a directory" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_directory_exits_2(tmp_path, monkeypatch, capsys):
    _no_work(monkeypatch)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert cli.main(["verify", "--json", str(ro / "r.json")]) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        ro.chmod(0o755)


@covers("proofs_numeric", "atomic_write_text", "atomic_write_json")
@covers("attnverify.proofs_numeric.io", "atomic_write_bytes", "atomic_write_text", "atomic_write_json")
@FAST
@given(st.sampled_from([0o022, 0o077, 0o002]))
def test_atomic_writes_use_the_umask_mode(tmp_path_factory, umask):
    tmp = tmp_path_factory.mktemp("mode")
    old = os.umask(umask)
    try:
        p = io.atomic_write_text(tmp / "a.txt", "x")
        q = io.atomic_write_json(tmp / "b.json", {"a": 1})
    finally:
        os.umask(old)
    for f in (p, q):
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask
    p.chmod(0o640)  # replacing an existing file keeps its mode, as a plain write would
    io.atomic_write_text(p, "y")
    assert stat.S_IMODE(p.stat().st_mode) == 0o640


def test_temp_file_of_a_killed_write_is_removed(tmp_path):
    target = tmp_path / "report.json"
    code = (f"import os, tempfile; fd, t = tempfile.mkstemp(prefix='.report.json.' + str(os.getpid()) + '.', suffix='.tmp', "
            f"dir={str(tmp_path)!r}); os.write(fd, b'half'); os.kill(os.getpid(), 9)")
    subprocess.run([sys.executable, "-c", code], timeout=60)
    assert list(tmp_path.glob(".report.json.*.tmp")), "the killed writer left no temp file to clean"
    io.atomic_write_text(target, "{}")
    assert not list(tmp_path.glob(".report.json.*.tmp")) and target.read_text() == "{}"


def test_write_errors_are_one_line(tmp_path, monkeypatch, capsys):
    # a full disk, simulated: the OSError raised while writing is reported in one line, exit 1
    import errno

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "r.json"))

    monkeypatch.setattr(cli, "_setup", lambda: None)
    monkeypatch.setattr(cli, "_cmd_verify", full)
    assert cli.main(["verify", "--json", str(tmp_path / "r.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0]


def test_an_existing_device_or_fifo_is_refused_and_a_symlink_is_written_through(tmp_path):
    """A report written onto ``/dev/null`` (or a FIFO) must not replace it with a regular file; a symbolic
    link keeps being a link and its target receives the bytes."""
    import os

    from attnverify.proofs_numeric.io import OutputPathError, atomic_write_text, check_output_file

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for bad in (Path("/dev/null"), fifo):
        with pytest.raises(OutputPathError, match="not a regular file"):
            check_output_file(bad)
        with pytest.raises(OutputPathError, match="not a regular file"):
            atomic_write_text(bad, "x")
    assert Path("/dev/null").is_char_device() and fifo.is_fifo()
    target = tmp_path / "target.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target.name)
    atomic_write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
