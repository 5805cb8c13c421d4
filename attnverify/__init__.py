r"""attnverify: claim-by-claim verification of recent results on attention outputs.

One import name, five subpackages (each a top-level folder of the repository, mapped into this namespace
by ``setup.py``):

==============================  ===============================================================
``attnverify.proofs_numeric``   registry of claims, runner, verdicts, reports, I/O, precision, CLI
``attnverify.bounds``           Top-k via total variation: TV = tail mass = 1 - e^{-KL}, certified Top-k
``attnverify.geometry``         Fisher-Rao metrics and curvature of (gated) attention manifolds
``attnverify.attention``        attention mechanisms and real models (MiniLM, MPNet, Gemma 3 270M),
                                KV eviction, Delta attention, FAL, hybrid attention, SAE steering
``attnverify.experiments``      the empirical studies and their pinned evidence
==============================  ===============================================================

Importing :mod:`attnverify` is cheap and changes no global state (float64 stays off until
:func:`attnverify.proofs_numeric.enable_x64` or the scoped :func:`attnverify.proofs_numeric.x64`
is used). Subpackages load on first attribute access: ``attnverify.bounds.certified_topk``.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

__all__ = ["__version__", "proofs_numeric", "bounds", "geometry", "attention", "experiments"]

_SUBPACKAGES = frozenset(__all__[1:])


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'attnverify' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBPACKAGES)
