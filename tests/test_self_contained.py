"""The shipped library is self-contained: no source file refers to things outside the repository.

Docstrings, comments, error and details strings, claim statements and rule histories are read by users who
have only the installed package. A tracker number ("issue 21") or a path outside the checkout
(``../shared/papers/...``) means nothing to them, so every ``.py`` file of the five library packages and of
``attnverify/``, and every text file shipped with them as package data (``setup.py``: JSON evidence, device
scripts, notes), is scanned for such references; a hit fails naming ``file:line``. A hit in pinned evidence
(``experiments/evidence_manifest.json``) cannot be edited in place: re-run it and ``attnverify promote`` it. Cite a paper by its title or
arXiv id and our summary under ``docs/papers/``; name a rule by the module that implements it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("proofs_numeric", "bounds", "geometry", "attention", "experiments", "attnverify")
#: ``.py`` plus the text formats of ``setup.py``'s package data (binary ``npz``/``png`` cannot hold prose)
SUFFIXES = (".py", ".json", ".txt", ".md", ".csv", ".tsv", ".toml", ".yaml", ".yml", ".sh")
OUTSIDE = re.compile(r"[Ii]ssue [0-9]|\.\./shared|shared/papers")


def outside_references(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """``file:line: text`` for every line of a package source or shipped text file that refers outside
    the repository."""
    hits = []
    for pkg in packages:
        for f in sorted(f for f in (root / pkg).rglob("*") if f.suffix in SUFFIXES and f.is_file()):
            for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                if OUTSIDE.search(line):
                    hits.append(f"{f.relative_to(root)}:{n}: {line.strip()}")
    return hits


def test_library_sources_have_no_outside_references():
    hits = outside_references()
    assert not hits, "references outside the repository (reword in the project's own words):\n" + "\n".join(hits)


def test_scan_finds_a_reintroduced_reference(tmp_path):
    """The check can fail: each pattern is caught and named by file and line; clean text is not."""
    pkg = tmp_path / "attention"
    pkg.mkdir()
    (pkg / "ok.py").write_text('"""The pre-registered success rule (attnverify.attention.sae.success)."""\n')
    (pkg / "bad.py").write_text('"""Doc.\n\nSpec (issue 21).\n"""\n# Issue 7\nX = "../shared/x"\nY = "shared/papers/a.md"\n')
    (pkg / "run.sh").write_text("#!/usr/bin/env bash\n# protocol of issue 22\n")
    (pkg / "fig.png").write_bytes(b"issue 9")  # not a text format: not scanned
    hits = outside_references(tmp_path, ("attention",))
    assert [h.split(": ", 1)[0] for h in hits] == [f"attention/bad.py:{n}" for n in (3, 5, 6, 7)] + ["attention/run.sh:2"]
