"""A progress bar for long loops (tqdm on stderr; silent when ``ATTNVERIFY_NO_PROGRESS`` is set)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

__all__ = ["progress"]


def progress(iterable: Iterable[T], desc: str = "", total: int | None = None, leave: bool = True) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm progress bar written to stderr: the notebook widget (``tqdm.auto``) only
    where ipywidgets is installed (without it ``tqdm.auto`` warns "IProgress not found" in a notebook), else
    the text bar."""
    import importlib.util

    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm

    disable = bool(os.environ.get("ATTNVERIFY_NO_PROGRESS"))
    yield from tqdm(iterable, desc=desc, total=total, leave=leave, file=sys.stderr, disable=disable, dynamic_ncols=True)
