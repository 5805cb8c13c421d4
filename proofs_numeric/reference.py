r"""Committed reference runs: full-protocol experiment results that ``verify`` decides from.

Some empirical claims need a protocol that ``attnverify verify`` cannot afford (the gating study
trains 360 classifiers; OBCache's effect on MiniLM needs 8 sequences of 512 tokens). Deciding them
on a cheaper protocol would change the verdict (the issue-10 rule: a claim's verdict at ``verify``'s
protocol must equal the full experiment's). Such a claim instead reads the **raw per-unit data** of
the full run, committed next to its experiment, and applies its pre-stated decision rule *live*:

* the file is written by a committed command (``attnverify experiment NAME --out DIR``), never by hand;
* the claim recomputes the statistics and the 95 % interval from the per-unit data (nothing in the
  verdict is copied from the file's own summary);
* the evidence carries :meth:`ReferenceRun.provenance`: path, SHA-256 of the bytes read, the command
  that reproduces it and its protocol, so that a reader can re-run it and compare.

Example::

    run = load_reference_run(Path("experiments/gating/reference/results.json"),
                             command="attnverify experiment gating --out experiments/gating/reference")
    run.data["runs"]["accuracy"][:3], run.sha256[:12]
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["ReferenceRun", "load_reference_run"]


@dataclasses.dataclass(frozen=True)
class ReferenceRun:
    """A committed JSON result file, its SHA-256 and the command that reproduces it."""

    path: Path
    sha256: str
    command: str
    data: Any

    def provenance(self) -> dict[str, Any]:
        """What the evidence records: where the data came from and how to reproduce it."""
        out: dict[str, Any] = {"file": _short(self.path), "sha256": self.sha256, "reproduce": self.command}
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
    """Read a committed reference run. ``FileNotFoundError`` names the command that writes it;
    ``ValueError`` names the file when it is not valid JSON, or, with ``full`` (the default: claims
    decide from the full protocol), when it records ``"quick": true``."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"reference run {p} is missing: produce it with `{command}` and commit it")
    raw = p.read_bytes()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"reference run {p} is not valid JSON ({e}); re-create it with `{command}`") from None
    if full and isinstance(data, dict) and data.get("quick"):
        raise ValueError(f"reference run {p} holds a quick run; claims decide from the full protocol: `{command}`")
    return ReferenceRun(p, hashlib.sha256(raw).hexdigest(), command, data)
