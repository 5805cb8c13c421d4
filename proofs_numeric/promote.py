r"""Promote a run to evidence: the one explicit step that changes what ``verify`` decides from.

``attnverify experiment NAME --out results/NAME`` never writes into the package tree. To make a run
the evidence of its claims::

    attnverify promote results/gating/results.json experiments/gating/reference/results.json

copies the file into the tree (atomically), validates it with its schema
(:mod:`proofs_numeric.validate`; an invalid run is refused) and rewrites its pin in the manifest
(:mod:`proofs_numeric.evidence`): SHA-256, command, seed, protocol and machine (from the file, or from
the ``run.json`` that ``attnverify experiment`` writes beside it). A reviewer sees the new bytes and
the new pin in one diff. A file not pinned yet needs ``claims`` (id globs) and ``command``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .evidence import EvidenceError, Pin, _protocol_of, _seed_of, manifest, manifest_path, root, sha256_bytes
from .io import atomic_write_bytes, atomic_write_text

__all__ = ["promote", "describe_run", "write_manifest"]

_ABOUT = ("Pinned evidence: every committed file that decides a verdict, with the SHA-256 of its bytes. "
          "attnverify verify checks each file against its pin before a claim that reads it decides "
          "(a mismatch or an invalid file makes those claims failed). Change it only with `attnverify promote` "
          "(docs/verdicts.md, 'Where the evidence comes from').")


def describe_run(src: Path, data: Any) -> dict[str, Any]:
    """Seed, protocol and machine of a run file: from its content, else from ``run.json`` beside it."""
    run_json = src.parent / "run.json"
    run = json.loads(run_json.read_text()) if run_json.is_file() and run_json != src else {}
    seed = _seed_of(data, run.get("seed"))
    seeds = data["protocol"].get("seeds") if isinstance(data, dict) and isinstance(data.get("protocol"), dict) else None
    if isinstance(seeds, list):
        seed = {"run": seed, "seeds": seeds}
    elif seed is None:
        seed = "not recorded in the file"
    machine = (data.get("environment") if isinstance(data, dict) else None) or run.get("environment") or \
        "not recorded (the run predates proofs_numeric.environment())"
    protocol = _protocol_of(data)
    if protocol == "not recorded" and "quick" in run:
        protocol = "quick" if run["quick"] else "full"
    return {"seed": seed, "protocol": protocol, "machine": machine}


def write_manifest(pins: list[Pin]) -> Path:
    """Write the manifest atomically, sorted by file."""
    rows = [p.as_dict() for p in sorted(pins, key=lambda p: p.file)]
    return atomic_write_text(manifest_path(), json.dumps({"about": _ABOUT, "files": rows}, indent=1) + "\n")


def _check_claim_patterns(patterns: list[str]) -> None:
    """Every ``--claims`` pattern names at least one registered claim (a typo would pin a file nobody reads)."""
    from fnmatch import fnmatchcase

    from ._registry import claims as registered, discover

    discover()
    ids = [c.id for c in registered()]
    unknown = [p for p in patterns if not any(fnmatchcase(i, p) for i in ids)]
    if unknown:
        raise EvidenceError(f"promote: --claims {', '.join(unknown)} matches no registered claim")


def promote(src: str | Path, dest: str, *, claims: list[str] | None = None, command: str | None = None,
            schema: str | None = None, protocol: str | None = None) -> Pin:
    """Copy run file ``src`` to ``dest`` (repository-relative), validate it and pin it; returns the new pin.

    ``EvidenceError`` (nothing written) when ``src`` is missing or fails its schema, when ``dest`` is
    outside the repository, or when a new pin lacks ``claims`` or ``command``."""
    from .validate import validate

    src_p = Path(src)
    if not src_p.is_file():
        raise EvidenceError(f"promote: run file {src_p} does not exist")
    if {"site-packages", "dist-packages"} & set(root().resolve().parts):
        raise EvidenceError(f"promote: {root()} is an installed package, not a source checkout; promote in a clone "
                            "of the repository, where the new file and its pin are committed together")
    if claims:
        _check_claim_patterns(claims)
    dest_p = (root() / dest).resolve()
    if not dest_p.is_relative_to(root().resolve()):
        raise EvidenceError(f"promote: destination {dest} is outside the repository {root()}")
    rel = dest_p.relative_to(root().resolve()).as_posix()
    raw = src_p.read_bytes()
    pins = manifest()
    old = next((p for p in pins if p.file == rel), None)
    claims = claims or (list(old.claims) if old else None)
    command = command or (old.command if old else None)
    schema = schema if schema is not None else (old.schema if old else "")
    if not claims or not command:
        raise EvidenceError(f"promote: {rel} is not pinned yet; name the claims that read it (--claims) and the command (--command)")
    data = json.loads(raw) if rel.endswith(".json") else raw
    validate(schema, data, str(src_p))
    info = describe_run(src_p, data)
    new = Pin(rel, sha256_bytes(raw), command, info["seed"], protocol or info["protocol"], info["machine"], tuple(claims), schema)
    atomic_write_bytes(dest_p, raw)
    write_manifest([p for p in pins if p.file != rel] + [new])
    return new
