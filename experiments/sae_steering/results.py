r"""Where the study's results live, and how the claims obtain them without rerunning the 270M model.

* **Fast track** (:func:`fast_results`): the quick character-LM run, cached as JSON under
  :func:`attention.sae.activations.cache_dir` keyed by its settings and seed. On a miss it reads the
  committed reference run of the same key (:data:`FAST_REFERENCE`, written by :func:`compute_fast_results`
  through ``attnverify experiment sae-steering --quick`` and copied there), so that a fresh machine's
  ``verify`` and test suite do not train the character LM and SAEs (about 580 CPU s); only without it is
  the run computed. The key hashes the settings and the seed, so a changed protocol never reads a stale
  file; a slow test recomputes the reference and compares.
* **Gemma track** (:func:`gemma_results`): the JSON the full experiment writes to its ``--out``
  directory, promoted into the tree as the pinned snapshot ``experiments/sae_steering/gemma_results.json``
  (``attnverify promote``). It is read through :func:`proofs_numeric.reference.load_reference_run`, which
  checks its SHA-256 against the evidence manifest and validates it; nothing is read from the working
  directory (a user's run decides only with ``attnverify verify --evidence DIR``, marked unpinned).

The committed fast-track run is read the same way (pinned); a key with no committed run (another seed)
is computed on this machine and cached under :func:`attention.sae.activations.cache_dir` by
:func:`fast_results` (experiments and reports only): the toy claims never call it for such a key (they
are ``inconclusive`` without a pinned run of the seed; ``claims._quick``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from attnverify.proofs_numeric import atomic_write_json
from attnverify.proofs_numeric.reference import ReferenceRun, load_reference_run

__all__ = ["fast_results", "fast_results_source", "compute_fast_results", "store_fast_results", "gemma_results", "SNAPSHOT", "FAST_REFERENCE",
           "gemma_result_paths", "gemma_results_path", "gemma_run", "fast_key", "full_fast_results", "full_fast_run",
           "full_fast_path", "FULL_FAST_COMMAND"]

SNAPSHOT = Path(__file__).resolve().parent / "gemma_results.json"
FAST_REFERENCE = Path(__file__).resolve().parent / "reference"  #: committed fast-track runs, ``fast_results_<key>.json``
FAST_COMMAND = "ATTNVERIFY_CACHE=$(mktemp -d) attnverify experiment sae-steering --quick --out results/sae-steering"
FULL_FAST_COMMAND = ("ATTNVERIFY_SAE_GEMMA=0 ATTNVERIFY_CACHE=$(mktemp -d) attnverify experiment sae-steering "
                     "--out results/sae-steering  (full fast track)")
GEMMA_COMMAND = "attnverify experiment sae-steering --out results/sae-steering"
_MEMO: dict[str, tuple[dict, dict]] = {}  # key -> (results, where they came from)


def fast_key(quick: bool, seed: int) -> str:
    from .fast_track import FULL, QUICK

    return hashlib.sha256(json.dumps([QUICK if quick else FULL, seed, "v1"], sort_keys=True, default=str).encode()).hexdigest()[:24]


def compute_fast_results(quick: bool = True, seed: int = 0) -> dict[str, Any]:
    """Build the fast track, run the sweep and the C10 gate; a JSON-ready dictionary (with the wall and
    process CPU seconds of the build and of the sweep, the load average at the end, and
    :func:`proofs_numeric.environment` of the process: float64 on or off, backend, versions, so that a
    run's precision is recorded in the run itself and not only beside it)."""
    import os
    import time

    from attnverify.proofs_numeric import environment

    from .fast_track import build_fast_track
    from .sweep import lid_gate, run_sweep

    t0, c0 = time.perf_counter(), time.process_time()
    ft = build_fast_track(quick, seed)
    t1, c1 = time.perf_counter(), time.process_time()
    res = run_sweep(ft)
    res["timing"] = {"build_s": t1 - t0, "build_cpu_s": c1 - c0, "sweep_s": time.perf_counter() - t1,
                     "sweep_cpu_s": time.process_time() - c1, "load_avg_end": list(os.getloadavg()), "cpu_count": os.cpu_count()}
    res.update(track="fast", model="character LM miniature (spec §5)", gate=lid_gate(ft), sae_stats=ft["sae_stats"], lm=ft["lm"],
               model_hash=ft["model_hash"], corpus_hash=ft["corpus_hash"], wordlist_sha256=ft["wordlist_sha256"],
               settings=ft["settings"], config=ft["cfg"]._asdict(), seed=seed, quick=quick,
               environment=environment())
    return json.loads(json.dumps(_jsonable(res)))


def _jsonable(x):
    from attnverify.proofs_numeric.io import to_jsonable

    return to_jsonable(x)


def fast_results(quick: bool = True, seed: int = 0) -> dict[str, Any]:
    """The cached fast-track results (local cache, then the committed reference, else computed and cached)."""
    return _fast_lookup(quick, seed)[0]


def fast_results_source(quick: bool = True, seed: int = 0) -> dict[str, Any]:
    """Where :func:`fast_results` came from: the file and its SHA-256 (for the claims' evidence)."""
    return _fast_lookup(quick, seed)[1]


def _fast_lookup(quick: bool, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    from attnverify.attention.sae.activations import cache_dir

    key = fast_key(quick, seed)
    if key not in _MEMO:
        path = cache_dir() / f"fast_results_{key}.json"
        committed = FAST_REFERENCE / path.name
        if committed.exists():  # the pinned run decides; a local cache of the same key is never read
            run = load_reference_run(committed, full=False, command=FAST_COMMAND)
            _MEMO[key] = (run.data, {k: v for k, v in run.provenance().items() if k != "config"})
        else:  # no committed run of this key: computed here (and cached), recorded as such
            if not path.exists():
                atomic_write_json(path, compute_fast_results(quick, seed))
            raw = path.read_bytes()
            _MEMO[key] = (json.loads(raw), {"file": str(path), "sha256": hashlib.sha256(raw).hexdigest(), "pinned": False,
                                            "note": "computed on this machine (no committed run of this key)",
                                            "quick": quick, "seed": seed})
    return _MEMO[key]


def full_fast_path(seed: int = 0) -> Path:
    """Where the committed **full** fast-track run of ``seed`` lives (``reference/fast_results_<key>.json``)."""
    return FAST_REFERENCE / f"fast_results_{fast_key(False, seed)}.json"


def full_fast_run(seed: int = 0) -> ReferenceRun | None:
    """The committed full fast-track run of ``seed`` (hash-checked against the evidence manifest), or
    ``None`` when none is committed (a local cache never stands in for it)."""
    path = full_fast_path(seed)
    return load_reference_run(path, command=FULL_FAST_COMMAND) if path.is_file() else None


def full_fast_results(seed: int = 0) -> dict[str, Any] | None:
    """The data of :func:`full_fast_run`, or ``None``."""
    run = full_fast_run(seed)
    return None if run is None else run.data


def store_fast_results(res: dict[str, Any], quick: bool, seed: int) -> Path:
    """Write ``res`` where :func:`fast_results` finds it."""
    from attnverify.attention.sae.activations import cache_dir

    _MEMO.pop(fast_key(quick, seed), None)
    return atomic_write_json(cache_dir() / f"fast_results_{fast_key(quick, seed)}.json", res)


def gemma_result_paths() -> list[Path]:
    """Where the Gemma results are read from: the pinned snapshot only."""
    return [SNAPSHOT]


def gemma_results_path() -> Path | None:
    """The first Gemma results file that exists (see the module docstring), or ``None``."""
    return next((p for p in gemma_result_paths() if p.is_file()), None)


def gemma_run() -> ReferenceRun | None:
    """The pinned Gemma run (hash-checked and validated), or ``None`` when there is no file."""
    p = gemma_results_path()
    return None if p is None else load_reference_run(p, full=False, command=GEMMA_COMMAND)


def gemma_results() -> dict[str, Any] | None:
    """The pinned Gemma results (see the module docstring), or ``None``."""
    run = gemma_run()
    return None if run is None else run.data
