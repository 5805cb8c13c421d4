r"""Δ attention on MiniLM with independent units and a locality-free placebo.

``delta.helps_minilm`` was decided on 6 consecutive chunks of 3 files, with an effect (0.0075) below its
detectable effect (0.0091), and a correction with no locality passed more strongly. This protocol, stated
before its run (2026-12-07, 19:00 UTC), replaces it:

* **units**: one 512-token chunk per standard-library file (:func:`attention.data.file_chunks`, 16 files
  evenly spaced over the eligible ones), MiniLM-L6 causal, all 6 x 12 heads averaged per file;
* **effect**: per file, the smaller over $\gamma\in\{8,64\}$ of the mean over non-anchor rows of
  $\cos(\hat y_i,y_i)-\cos(y^*_i,y_i)$ (sink 4, window 64, rows $\ge68$); Student-$t$ over files;
* **placebo**: the same effect for :func:`.fixtures.running_mean_correction` (the running mean of all past
  anchors' Δ: same anchors, no locality). A Δ gain that the placebo matches is not evidence for Eq. 7.

Per-layer gains (per file) are kept, since the effect changes sign across layers.

Run: ``attnverify experiment delta-files --out results/delta-files``, then ``attnverify promote
results/delta-files/delta_files.json experiments/delta/reference/delta_files.json``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from attnverify import proofs_numeric as pn

from .fixtures import cosine_study

__all__ = ["DELTA_FILES", "CLAIM_GAMMAS", "run_delta_files", "delta_files_experiment"]

DELTA_FILES = {"n": 512, "files": 16, "window": 64, "n_sink": 4}
DELTA_FILES_QUICK = {"n": 256, "files": 2, "window": 64, "n_sink": 4}
CLAIM_GAMMAS = (8, 64)


def _per_file_layer(study: dict[str, Any], key: str, g: int, layers: int, files: int) -> np.ndarray:
    """Mean non-anchor gain over sparse, ``[layers, files]`` (heads laid out ``[layers, files, heads]``)."""
    na = study["non_anchor"][g]
    gain = (study[key][g] - study["sparse"])[..., na].mean(axis=-1)
    return gain.reshape(layers, files, -1).mean(axis=-1)


def run_delta_files(n: int, files: int, window: int, n_sink: int) -> dict[str, Any]:
    """Per file and layer, the gain of Δ and of the running-mean placebo at each claim stride."""
    from attnverify import attention
    from attnverify.attention.data import file_chunks

    t0 = time.perf_counter()
    model = attention.load_bert()
    fc = file_chunks(model, n, files)
    out = attention.bert_forward(model, fc.input_ids, causal=True)
    layers = int(out.q.shape[0])
    q, k, v = (np.asarray(x, np.float64).reshape((-1,) + x.shape[-2:]) for x in (out.q, out.k, out.v))
    st = cosine_study(q, k, v, window=window, n_sink=n_sink, gammas=CLAIM_GAMMAS, score_from=window + n_sink,
                      recompute=False, placebo=True)
    gains = {arm: {str(g): _per_file_layer(st, key, g, layers, files).tolist() for g in CLAIM_GAMMAS}
             for arm, key in (("delta", "delta"), ("running_mean", "running_mean"))}
    return {"protocol": {"n": n, "files": files, "window": window, "n_sink": n_sink, "gammas": list(CLAIM_GAMMAS),
                         "corpus": "attention.data.file_chunks (first 510 docstring tokens of evenly spaced stdlib files)"},
            "files": list(fc.files), "eligible_files": fc.eligible, "layers": layers, "heads": int(q.shape[0]),
            "gain_per_layer_file": gains, "anchor_error": st["anchor_error"], "seconds": time.perf_counter() - t0}


def unit_gains(res: dict[str, Any], arm: str) -> np.ndarray:
    """Per file, the smaller over the claim strides of the mean (over layers) non-anchor gain of ``arm``."""
    return np.min(np.stack([np.asarray(res["gain_per_layer_file"][arm][str(g)]).mean(axis=0) for g in CLAIM_GAMMAS]), axis=0)


@pn.experiment("delta-files", help="Δ attention on MiniLM, one 512-token prompt per stdlib file, with a locality-free placebo")
def delta_files_experiment(out_dir: Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Run the protocol of the module docstring (quick: 2 files of 256 tokens); write ``delta_files.json``."""
    pn.require_x64("the delta-files experiment")
    pr = DELTA_FILES_QUICK if quick else DELTA_FILES
    res = {"quick": quick, "seed": seed, **run_delta_files(**pr)}
    path = pn.atomic_write_json(Path(out_dir) / "delta_files.json", res)
    return {"files": [str(path)], "seconds": res["seconds"]}
