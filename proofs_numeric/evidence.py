r"""Pinned evidence: the manifest of committed result files that decide verdicts, checked before use.

Every committed file an empirical claim decides from is **pinned** in one manifest
(``experiments/evidence_manifest.json``; the experiments package registers it with
:func:`use_manifest`): its repository-relative path, the SHA-256 of its bytes, the command, seed and
protocol that produced it, the machine it ran on (a :func:`proofs_numeric.environment` record where
known), the claims that read it (id globs) and the schema that validates it
(:mod:`proofs_numeric.validate`). Before a claim decides, the runner and every read through
:func:`read_pinned` check, for each file the claim reads,

.. math::  \mathrm{SHA256}(\text{bytes on disk}) = \text{pin},

then validate the parsed content. A mismatch or a violation raises :class:`EvidenceError`, which makes
the claim ``failed`` with a message naming the file and both hashes (or the file and the field).

Nothing is read from the working directory. ``attnverify verify --evidence DIR`` (environment
variable ``ATTNVERIFY_EVIDENCE``) lets a user's own run decide instead: a pinned file is replaced by
``DIR/<its repository path>``, or ``DIR/<its file name>`` when that exists and no other pin has that name
(else an :class:`EvidenceError` names the ambiguity); the file is validated but
not hash-checked, and the verdict is marked as coming from an unpinned local run (file, SHA-256,
protocol). Promoting a run to evidence is :func:`promote` (``attnverify promote``): it copies the file
into the tree and rewrites its pin, so that one diff shows both.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .validate import EvidenceError, validate

__all__ = ["EvidenceError", "Pin", "Source", "use_manifest", "manifest_path", "manifest", "pin_for", "pins_for_claim",
           "read_pinned", "check_claim_evidence", "claim_scope", "local_evidence_dir", "EVIDENCE_ENV", "sha256_bytes",
           "sandbox", "load_source", "root", "in_package_tree"]

EVIDENCE_ENV = "ATTNVERIFY_EVIDENCE"  #: a user's run directory that replaces pinned files (``verify --evidence DIR``)
_MANIFEST: list[Path] = []  # the registered manifest (one)
_CHECKED: dict[tuple[str, str], Any] = {}  # (file, sha256 of the bytes) -> parsed, validated content
_CURRENT: list[str] = []  # the claim being run (set by the runner), for the "is it listed?" check
_READ: list[dict[str, dict[str, Any]]] = []  # per running claim (parallel to _CURRENT): pin file -> source record read


@dataclasses.dataclass(frozen=True)
class Pin:
    """One manifest entry (see the module docstring)."""

    file: str
    sha256: str
    command: str
    seed: Any
    protocol: str
    machine: Any
    claims: tuple[str, ...]
    schema: str = ""

    def reads(self, claim_id: str) -> bool:
        return any(fnmatch.fnmatchcase(claim_id, g) for g in self.claims)

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "claims": list(self.claims)}


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a claim's data came from: the pinned file, or a user's unpinned local run that replaced it."""

    pin: Pin
    path: Path
    sha256: str
    pinned: bool
    data: Any

    def record(self) -> dict[str, Any]:
        out = {"file": self.pin.file, "sha256": self.sha256, "pinned": self.pinned, "protocol": self.pin.protocol,
               "seed": self.pin.seed, "command": self.pin.command}
        if not self.pinned:
            out.update(file=str(self.path), replaces=self.pin.file, pinned_sha256=self.pin.sha256,
                       protocol=_protocol_of(self.data), seed=_seed_of(self.data, None),
                       note="unpinned local run (attnverify verify --evidence)")
        return out


def sha256_bytes(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def use_manifest(path: str | Path) -> Path | None:
    """Register the manifest (the experiments package does, on import); returns the previous one."""
    old = _MANIFEST[0] if _MANIFEST else None
    _MANIFEST[:] = [Path(path).resolve()]
    return old


def sandbox(dest: str | Path) -> Path:
    """Copy the manifest and every pinned file into ``dest`` (same relative paths) and return the
    copied manifest's path: with :func:`use_manifest` on it, claims read the copies, which can be
    tampered with to see ``verify`` fail without touching the committed files."""
    import shutil

    dest = Path(dest)
    src_root = root()
    for pin in manifest():
        (dest / pin.file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src_root / pin.file, dest / pin.file)
    rel = manifest_path().relative_to(src_root)
    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(manifest_path(), dest / rel)
    return dest / rel


def manifest_path() -> Path:
    if not _MANIFEST:  # the experiments package registers its manifest on import (its package only, no claims)
        import importlib

        from ._registry import PACKAGES

        for name in PACKAGES:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as e:
                if e.name != name:
                    raise
    if not _MANIFEST:
        raise EvidenceError("no evidence manifest registered (experiments/evidence_manifest.json)")
    return _MANIFEST[0]


def root() -> Path:
    """The directory the manifest's paths are relative to (the repository root)."""
    return manifest_path().parent.parent


_PARSED: dict[tuple[str, int, int], list[Pin]] = {}


def manifest() -> list[Pin]:
    """Every pin, in the manifest's order (none when no manifest is registered or written yet)."""
    try:
        p = manifest_path()
    except EvidenceError:
        return []
    if not p.is_file():
        return []
    st = p.stat()
    key = (str(p), st.st_mtime_ns, st.st_size)
    if key not in _PARSED:
        rows = json.loads(p.read_text(encoding="utf-8"))["files"]
        _PARSED.clear()
        _PARSED[key] = [Pin(**{**r, "claims": tuple(r["claims"])}) for r in rows]
    return list(_PARSED[key])


_PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # where the claims' own paths point (the installed tree)


def _rel(path: str | Path) -> str:
    """The pin key of ``path``: relative to the manifest's root, else to the package's root (so that a
    manifest copied elsewhere, :func:`sandbox`, serves the claims' paths from its own copies)."""
    p = Path(path).resolve()
    for base in (root().resolve(), _PACKAGE_ROOT):
        if p.is_relative_to(base):
            return p.relative_to(base).as_posix()
    return str(p)


def in_package_tree(path: str | Path) -> bool:
    """Whether ``path`` lies inside one of the installed package folders (``proofs_numeric/``, ``experiments/``,
    ...): experiments never write there (``attnverify promote`` is the one step that changes evidence)."""
    p = Path(path).resolve()
    folders = [_PACKAGE_ROOT / name for name in ("attnverify", "proofs_numeric", "bounds", "geometry", "attention", "experiments")]
    return any(p.is_relative_to(f.resolve()) for f in folders if f.is_dir()) or (
        (_PACKAGE_ROOT / "__init__.py").is_file() and p.is_relative_to(_PACKAGE_ROOT))  # an installed wheel: all of it


def pin_for(path: str | Path) -> Pin | None:
    rel = _rel(path)
    return next((p for p in manifest() if p.file == rel), None)


def pins_for_claim(claim_id: str) -> list[Pin]:
    return [p for p in manifest() if p.reads(claim_id)]


def local_evidence_dir() -> Path | None:
    d = os.environ.get(EVIDENCE_ENV)
    return Path(d) if d else None


def _by_name(name: str) -> list[Pin]:
    return [p for p in manifest() if Path(p.file).name == name]


def _local_file(pin: Pin) -> Path | None:
    """``pin``'s replacement in the user's run: ``DIR/<its repository path>``, else ``DIR/<its file name>`` when
    no other pin has that name (several pins named ``results.json`` are never replaced by one file: an
    :class:`EvidenceError` names the ambiguity)."""
    d = local_evidence_dir()
    if d is None:
        return None
    if (d / pin.file).is_file():
        return d / pin.file
    bare = d / Path(pin.file).name
    if not bare.is_file():
        return None
    same = _by_name(bare.name)
    if len(same) > 1:
        raise EvidenceError(f"--evidence {d}: {bare.name} is ambiguous, {len(same)} pinned files have that name "
                            f"({', '.join(p.file for p in same)}); lay the run out by repository path "
                            f"(e.g. {d / pin.file})")
    return bare


def _protocol_of(data: Any) -> str:
    if not isinstance(data, dict):
        return "not recorded"
    for key in ("protocol_name",):
        if key in data:
            return str(data[key])
    proto = data.get("protocol")
    if isinstance(proto, dict) and "name" in proto:
        return str(proto["name"])
    if "quick" in data:
        return "quick" if data["quick"] else "full"
    return "not recorded" if proto is None else "recorded in the file (protocol)"


def _seed_of(data: Any, default: Any) -> Any:
    return data.get("seed", default) if isinstance(data, dict) else default


def _parse(pin: Pin, raw: bytes) -> Any:
    if not pin.file.endswith(".json"):
        return raw
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EvidenceError(f"evidence file {pin.file} is not valid JSON ({e})") from None


def load_source(pin: Pin, local: Path | None = None) -> Source:
    """Read ``pin``'s file (or its local replacement ``local``, by default the one in
    :func:`local_evidence_dir`), check the hash, parse and validate it (cached by hash)."""
    local = local or _local_file(pin)
    path = local or root() / pin.file
    if not path.is_file():
        raise EvidenceError(f"pinned evidence {pin.file} is missing (sha256 {pin.sha256}); reproduce it with `{pin.command}`")
    raw = path.read_bytes()
    digest = sha256_bytes(raw)
    if local is None and digest != pin.sha256:
        raise EvidenceError(f"pinned evidence {pin.file} changed: manifest sha256 {pin.sha256}, file sha256 {digest}; "
                            "restore the committed file or promote a new run (attnverify promote)")
    key = (str(path), digest)
    if key not in _CHECKED:
        data = _parse(pin, raw)
        validate(pin.schema, data, str(path if local else pin.file))
        recorded = _protocol_of(data)
        if local is None and pin.protocol and recorded not in ("not recorded", "recorded in the file (protocol)") \
                and recorded != pin.protocol:
            raise EvidenceError(f"pinned evidence {pin.file}: the pin's protocol {pin.protocol!r} differs from the "
                                f"file's protocol {recorded!r}")
        _CHECKED[key] = data
    return Source(pin, path, digest, local is None, _CHECKED[key])


def read_pinned(path: str | Path) -> Source:
    """The checked content of a pinned file. ``EvidenceError`` when it is not in the manifest, when the
    running claim is not among the claims the manifest lists for it, or as :func:`load_source`."""
    pin, local = pin_for(path), None
    d = local_evidence_dir()
    if pin is None and d is not None and Path(path).resolve().is_relative_to(d.resolve()):
        rel = Path(path).resolve().relative_to(d.resolve()).as_posix()  # a file of the user's run: which pin it replaces
        pin = next((p for p in manifest() if p.file == rel), None)
        if pin is None:
            same = _by_name(Path(path).name)
            if len(same) > 1:
                raise EvidenceError(f"{path}: {Path(path).name} is ambiguous, {len(same)} pinned files have that name "
                                    f"({', '.join(p.file for p in same)}); lay the run out by repository path")
            pin = same[0] if same else None
        if pin is None and Path(path).is_file():  # a file of the user's run with no pinned counterpart
            pin = Pin(rel, "", "(a file of the user's run)", None, "not recorded", "not recorded", ("*",))
        local = Path(path) if pin is not None and Path(path).is_file() else None
    if pin is None:
        raise EvidenceError(f"{_rel(path)} is not pinned in {manifest_path().name}: evidence that decides a verdict "
                            "must be promoted (attnverify promote) before a claim reads it")
    if _CURRENT and _CURRENT[-1] and not pin.reads(_CURRENT[-1]):
        raise EvidenceError(f"claim {_CURRENT[-1]} reads {pin.file}, but the manifest lists it only for {list(pin.claims)}; "
                            "add the claim to the pin's claims")
    src = load_source(pin, local)
    if _READ:
        _READ[-1][pin.file] = src.record()
    return src


@contextlib.contextmanager
def claim_scope(claim_id: str) -> Iterator[dict[str, dict[str, Any]]]:
    """The runner marks the claim being run (reads are checked against the pin's claim list); yields the
    files the claim read (pin path -> :meth:`Source.record`), filled as it runs."""
    _CURRENT.append(claim_id)
    _READ.append({})
    try:
        yield _READ[-1]
    finally:
        _CURRENT.pop()
        _READ.pop()


def check_claim_evidence(claim_id: str) -> list[dict[str, Any]]:
    """Before ``claim_id`` runs: every file pinned for it is present, unchanged and valid (else
    :class:`EvidenceError`); the records of its sources, for the report."""
    return [load_source(p).record() for p in pins_for_claim(claim_id)]
