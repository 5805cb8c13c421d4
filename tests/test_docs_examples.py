"""The documentation runs as written and stays self-contained.

* Every ```python block of README.md, docs/*.md and docs/papers/*.md runs, in order, in a fresh
  interpreter per file (blocks of one file may build on each other), from an empty directory, as a user
  would paste them. A block opts out only with a visible first line ``# not run: <reason>``.
* The Quickstart writes nothing to stderr (no progress bars).
* README, docs and notebooks name only public modules and functions (no ``attnverify.x._private``) and
  point nowhere outside the repository (no ``../shared``, issue numbers, "spec §" or "open point")."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "docs" / "papers").glob("*.md"))]
BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)
OPT_OUT = re.compile(r"^# not run: (\S+ \S+.*)$")  # a reason of at least two words
SLOW_FILES = {"gemma.md"}  # loads the 270M decoder and generates: tens of seconds


def blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


def runnable(path: Path) -> list[str]:
    out = []
    for b in blocks(path):
        first = b.lstrip("\n").splitlines()[0] if b.strip() else ""
        if first.startswith("# not run"):
            assert OPT_OUT.match(first), f"{path.name}: an opted-out block must give its reason: {first!r}"
            continue
        out.append(b)
    return out


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XLA_FLAGS", "ATTNVERIFY_NO_PROGRESS")}
    env["MPLBACKEND"] = "Agg"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env, timeout=900)


def _params():
    for p in DOCS:
        if runnable(p):
            marks = [pytest.mark.slow] if p.name in SLOW_FILES else []
            yield pytest.param(p, id=str(p.relative_to(ROOT)), marks=marks)


@pytest.mark.parametrize("path", list(_params()))
def test_python_blocks_run_as_written(path: Path, tmp_path: Path):
    """(The README's Quickstart blocks run in the Quickstart test below, not twice.)"""
    skip = quickstart_blocks() if path.name == "README.md" else []
    code = "\n\n".join(b for b in runnable(path) if b not in skip)
    proc = run_python(code, tmp_path)
    assert proc.returncode == 0, f"{path.name}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


def quickstart_blocks() -> list[str]:
    """Every Python block of the README's Quickstart section, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    code = BLOCK.findall(section)
    assert code, "the Quickstart has no Python block"
    return code


def quickstart() -> str:
    return "\n\n".join(quickstart_blocks())


def test_quickstart_is_quiet_and_prints_its_results(tmp_path: Path):
    proc = run_python(quickstart(), tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stderr == "", f"the Quickstart writes to stderr (progress bars?):\n{proc.stderr[-2000:]}"
    assert "('topk.tv_equals_tail_mass', 'verified')" in proc.stdout and "(6, 1, 12, " in proc.stdout
    assert not list(tmp_path.iterdir())  # and writes no file


def test_every_file_was_looked_at():
    assert len(DOCS) >= 9 and sum(len(blocks(p)) for p in DOCS) >= 5


TEXTS = [*DOCS, *sorted((ROOT / "notebooks").glob("*.ipynb"))]
PRIVATE = re.compile(r"attnverify(?:\.\w+)*\._\w+|from attnverify[\w.]* import [^\n\"]*(?<![\w.])_[a-z]\w*"
                     r"|`(?:attention|bounds|geometry|experiments|proofs_numeric)(?:\.\w+)*\._[a-z]\w*")
OUTSIDE = re.compile(r"shared/|\bissues? \d|\bspec §|\bopen points? \d", re.I)


@pytest.mark.parametrize("path", TEXTS, ids=[str(p.relative_to(ROOT)) for p in TEXTS])
def test_public_names_and_self_contained(path: Path):
    text = path.read_text(encoding="utf-8")
    assert not PRIVATE.findall(text), f"{path.name} uses private names: {PRIVATE.findall(text)}"
    bad = [line.strip()[:120] for line in text.splitlines() if OUTSIDE.search(line)]
    assert not bad, f"{path.name} points outside the repository: {bad}"
