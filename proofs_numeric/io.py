"""Atomic file output: reports, tables and figures are never left half-written.

Every writer goes through :func:`atomic_write_bytes`: the content is written to a temporary
file in the destination directory, flushed and ``fsync``-ed, then moved into place with
:func:`os.replace`, which is atomic on POSIX. A crash leaves the old file or the new one,
never a truncated mix.

The new file gets the mode a plain ``open(path, "w")`` would give: the existing file's mode when it
is replaced, else ``0o666 & ~umask`` (not ``mkstemp``'s 0600). Temporary files carry the writer's
pid (``.NAME.PID.XXXX.tmp``); one left behind by a killed writer is removed by the next write to
the same path. :func:`check_output_file` and :func:`check_output_dir` test a destination up front,
before any work, and raise :class:`OutputPathError` (an ``OSError``) with a one-line message.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "save_figure", "to_jsonable",
           "OutputPathError", "check_output_file", "check_output_dir"]


class OutputPathError(OSError):
    """An output path that cannot be written (message: one line naming the path and the reason)."""


def _existing_ancestor(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe(directory: Path, what: str, path: Path) -> None:
    """Create and delete a temporary file in ``directory``: permission bits do not tell everything (root
    passes ``os.access`` on ``/proc``, a read-only mount, a full quota)."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise OutputPathError(f"cannot write {what} {path}: {directory} does not accept files ({e.strerror or e})") from None


def check_output_dir(path: str | Path, what: str = "output directory") -> Path:
    """``path`` is a directory, or can be created: its nearest existing ancestor is a writable directory."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise OutputPathError(f"{what} {path} exists and is not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputPathError(f"{what} {path} is not writable (permission denied)")
        _probe(path, what, path)
        return path
    anc = _existing_ancestor(path.parent)
    if not anc.is_dir():
        raise OutputPathError(f"cannot create {what} {path}: {anc} is a file, not a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot create {what} {path}: {anc} is not writable (permission denied)")
    _probe(anc, what, path)
    return path


def check_output_file(path: str | Path, what: str = "output file") -> Path:
    """``path`` can be written atomically: not a directory, not a device, FIFO or socket, and its directory
    exists writable or can be created. A symbolic link is followed: the returned path is its target, which
    the atomic write replaces (the link itself is kept)."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if path.is_dir():
        raise OutputPathError(f"{what} {path} is a directory; give a file name")
    if path.exists() and not path.is_file():
        raise OutputPathError(f"{what} {path} is not a regular file (a device, FIFO or socket); give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputPathError(f"{what} {path} is not writable (permission denied)")
    anc = _existing_ancestor(path.parent)
    if not anc.is_dir():
        raise OutputPathError(f"cannot write {what} {path}: {anc} is a file, not a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write {what} {path}: directory {anc} is not writable (permission denied)")
    _probe(anc, what, path)
    return path


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _remove_stale_temps(path: Path) -> None:
    """Delete ``.NAME.PID.*.tmp`` siblings whose writer process no longer exists."""
    for t in path.parent.glob(f".{path.name}.*.tmp"):
        parts = t.name[len(path.name) + 2 :].split(".")
        if not parts or not parts[0].isdigit() or int(parts[0]) == os.getpid():
            continue
        try:
            os.kill(int(parts[0]), 0)
        except ProcessLookupError:
            t.unlink(missing_ok=True)
        except PermissionError:  # alive, another user's process
            pass


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``), with the mode of a plain write."""
    path = check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(x: Any) -> Any:
    """Convert numpy/JAX scalars and arrays, paths and dataclass-like objects to JSON types.

    Non-finite floats become the strings ``"nan"``, ``"inf"``, ``"-inf"`` so the output is strict JSON.
    """
    if isinstance(x, Mapping):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (str, bool)) or x is None:
        return x
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        f = float(x)
        return f if math.isfinite(f) else ("nan" if math.isnan(f) else ("inf" if f > 0 else "-inf"))
    if hasattr(x, "__array__") and not isinstance(x, (list, tuple)):
        arr = np.asarray(x)
        return to_jsonable(arr.item()) if arr.ndim == 0 else [to_jsonable(v) for v in arr.tolist()]
    if hasattr(x, "_asdict"):
        return to_jsonable(x._asdict())
    if hasattr(x, "__dataclass_fields__"):
        return {k: to_jsonable(getattr(x, k)) for k in x.__dataclass_fields__}
    if isinstance(x, Iterable):
        return [to_jsonable(v) for v in x]
    if hasattr(x, "value"):  # enums
        return to_jsonable(x.value)
    return str(x)


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n")


def save_figure(fig: Any, out_dir: str | Path, stem: str, formats: Iterable[str] = ("png", "svg")) -> list[Path]:
    """Save a matplotlib figure as ``out_dir/stem.{png,svg}``, each atomically; closes the figure."""
    import matplotlib.pyplot as plt

    paths = []
    for fmt in formats:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=150, bbox_inches="tight")
        paths.append(atomic_write_bytes(Path(out_dir) / f"{stem}.{fmt}", buf.getvalue()))
    plt.close(fig)
    return paths
