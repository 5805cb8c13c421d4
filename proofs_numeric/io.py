"""Atomic file output: reports, tables and figures are never left half-written.

Every writer goes through :func:`atomic_write_bytes`: the content is written to a temporary
file in the destination directory, flushed and ``fsync``-ed, then moved into place with
:func:`os.replace`, which is atomic on POSIX. A crash leaves the old file or the new one,
never a truncated mix.
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

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "save_figure", "to_jsonable"]


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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
