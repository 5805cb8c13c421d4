r"""Committed reference runs: full-protocol experiment results that ``verify`` decides from.

Some empirical claims need a protocol that ``attnverify verify`` cannot afford (the gating study
trains 360 classifiers; OBCache's effect on MiniLM needs 8 sequences of 512 tokens). Deciding them
on a cheaper protocol would change the verdict (the issue-10 rule: a claim's verdict at ``verify``'s
protocol must equal the full experiment's). Such a claim instead reads the **raw per-unit data** of
the full run, committed next to its experiment, and applies its pre-stated decision rule *live*:

* the file is written by a committed command (``attnverify experiment NAME --out results/NAME``) and
  promoted into the tree with ``attnverify promote`` (never edited by hand);
* it is **pinned** in the evidence manifest (:mod:`proofs_numeric.evidence`): the bytes read must have
  the pinned SHA-256 and pass the study's schema (:mod:`proofs_numeric.validate`), else
  :class:`~proofs_numeric.evidence.EvidenceError` and every claim reading it is ``failed``;
* the claim recomputes the statistics and the 95 % interval from the per-unit data (nothing in the
  verdict is copied from the file's own summary);
* the evidence carries :meth:`ReferenceRun.provenance`: path, SHA-256 of the bytes read, the command
  that reproduces it and its protocol, so that a reader can re-run it and compare.

Example::

    run = load_reference_run(Path("experiments/gating/reference/results.json"),
                             command="attnverify experiment gating --out results/gating")
    run.data["runs"]["accuracy"][:3], run.sha256[:12]
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

__all__ = ["ReferenceRun", "load_reference_run"]


@dataclasses.dataclass(frozen=True)
class ReferenceRun:
    """A committed JSON result file, its SHA-256 and the command that reproduces it. ``pinned`` is False
    when a user's run replaced the pinned file (``attnverify verify --evidence DIR``)."""

    path: Path
    sha256: str
    command: str
    data: Any
    pinned: bool = True

    def provenance(self) -> dict[str, Any]:
        """What the evidence records: where the data came from and how to reproduce it."""
        out: dict[str, Any] = {"file": _short(self.path), "sha256": self.sha256, "reproduce": self.command}
        if not self.pinned:
            out["pinned"] = "no: unpinned local run (attnverify verify --evidence)"
        if isinstance(self.data, dict):
            for key in ("protocol", "config", "quick", "seed"):
                if key in self.data:
                    out[key] = self.data[key]
        return out


def _short(path: Path) -> str:
    """The path relative to the repository root (the first parent holding ``pyproject.toml``)."""
    p = path.resolve()
    for parent in p.parents:
        if (parent / "pyproject.toml").is_file():
            return str(p.relative_to(parent))
    return str(p)


def load_reference_run(path: str | Path, *, command: str, full: bool = True) -> ReferenceRun:
    """Read a committed reference run through its pin (:func:`proofs_numeric.evidence.read_pinned`).

    :class:`~proofs_numeric.evidence.EvidenceError` (a ``ValueError``) names the file when it is missing,
    not pinned, changed since it was pinned (both hashes), not valid JSON, fails its schema, or, with
    ``full`` (the default: claims decide from the full protocol), records ``"quick": true``. ``command``
    is the reproduction command shown when the pin records none. ``TypeError``/``ValueError`` naming the
    argument for a ``path`` that is not a non-empty path, a ``command`` that is not a non-empty string, or a
    ``full`` that is not a bool."""
    from .evidence import EvidenceError, read_pinned
    from .precision import check_bool

    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise TypeError(f"path must be a file path (str or pathlib.Path) of a pinned reference run, got {path!r}")
    if not isinstance(command, str) or not command.strip():
        raise TypeError(f"command must be the reproduction command as a non-empty string, got {command!r}")
    full = check_bool(full, "full")
    src = read_pinned(path)
    data = src.data
    shown = src.pin.command or command
    if full and isinstance(data, dict) and data.get("quick"):
        raise EvidenceError(f"reference run {src.pin.file} holds a quick run; claims decide from the full protocol: `{shown}`")
    return ReferenceRun(src.path, src.sha256, shown, data, src.pinned)
