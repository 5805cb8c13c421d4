r"""C9 training stage of the FAL study: every variant, every seed, cached in the output folder.

``fal_training.json`` records the protocol, the corpus (SHA-256), per variant and seed the
validation NLL (nats/char), the loss curves and the throughput; ``baseline_params.npz`` keeps the
trained baseline (all seeds) for the C10 analyses. A later run with the same protocol and corpus
reuses both (``reuse=True``), so the plots and claims never retrain by accident.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import numpy as np

from attnverify import proofs_numeric as pn
from attnverify.attention.fal import VARIANTS, CharCorpus, TrainProtocol, train_seeds

TRAINING_JSON = "fal_training.json"
BASELINE_NPZ = "baseline_params.npz"


def protocol_record(protocol: TrainProtocol) -> dict[str, Any]:
    """The protocol as JSON (seeds as a list)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(protocol).items()}


def save_params(path: Path, params: Any) -> Path:
    """Flatten ``params`` to ``{tree path: array}`` and write an ``.npz`` atomically."""
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    import io

    buf = io.BytesIO()
    np.savez(buf, **{jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves})
    return pn.io.atomic_write_bytes(path, buf.getvalue())


def load_params(path: Path, like: Any) -> Any:
    """Inverse of :func:`save_params` given a pytree ``like`` of the same structure."""
    with np.load(path) as z:
        leaves = jax.tree_util.tree_flatten_with_path(like)[0]
        return jax.tree_util.tree_unflatten(jax.tree.structure(like), [z[jax.tree_util.keystr(k)] for k, _ in leaves])


def load_training(out_dir: Path, protocol: TrainProtocol, corpus_sha: str | None = None) -> dict[str, Any] | None:
    """The cached training record in ``out_dir`` if it matches ``protocol`` (and the corpus), else ``None``."""
    path = Path(out_dir) / TRAINING_JSON
    if not path.is_file():
        return None
    import json

    rec = json.loads(path.read_text())
    if rec.get("protocol") != protocol_record(protocol) or (corpus_sha and rec["corpus"]["sha256"] != corpus_sha):
        return None
    return rec


def run_training(out_dir: Path, protocol: TrainProtocol, corpus: CharCorpus, *, reuse: bool = True) -> dict[str, Any]:
    """Train (or reuse) all :data:`VARIANTS` x ``protocol.seeds``; returns the JSON record."""
    out_dir = Path(out_dir)
    cached = load_training(out_dir, protocol, corpus.sha256) if reuse else None
    if cached is not None and (out_dir / BASELINE_NPZ).is_file():
        return cached
    runs: dict[str, Any] = {}
    for name in pn.progress(list(VARIANTS), desc="fal: training variants"):
        r = train_seeds(name, protocol, corpus)
        if name == "baseline":
            save_params(out_dir / BASELINE_NPZ, r["params"])
        runs[name] = {"val_nll": [float(v) for v in r["val_nll"]],
                      "train_loss": np.asarray(r["train_loss"]).T.tolist(),
                      "val_curve": {"steps": [s for s, _ in r["val_curve"]], "nll": np.stack([v for _, v in r["val_curve"]]).T.tolist()},
                      "tokens_per_s": r["tokens_per_s"], "compile_s": r["compile_s"], "cpu_s": r["cpu_s"], "wall_s": r["wall_s"]}
    rec = {"protocol": protocol_record(protocol), "corpus": corpus.record(), "variants": runs,
           "load": _load_average()}
    pn.atomic_write_json(out_dir / TRAINING_JSON, rec)
    return rec


def _load_average() -> list[float]:
    import os

    return [round(x, 2) for x in os.getloadavg()]


def cached_stage(out_dir: Path, name: str, protocol: TrainProtocol, compute, *, reuse: bool = True) -> Any:
    """``compute()`` cached as ``fal_<name>.json`` in ``out_dir`` under the protocol's record
    (a stage of the study reruns only when its protocol changed or ``reuse=False``)."""
    import json

    path = Path(out_dir) / f"fal_{name}.json"
    if reuse and path.is_file():
        rec = json.loads(path.read_text())
        if rec.get("protocol") == protocol_record(protocol):
            return rec["data"]
    data = compute()
    pn.atomic_write_json(path, {"protocol": protocol_record(protocol), "data": data})
    return json.loads(json.dumps(pn.io.to_jsonable(data)))
