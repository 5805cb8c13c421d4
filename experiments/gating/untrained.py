r"""Gating study, untrained control arm: the curvature measures at initialisation.

The depth-growth and "gated proxy > ungated" statements are about *trained* gated models. If the same
contrast already holds at initialisation, training (and the gate's learned behaviour) is not what produces
it. This arm measures the full protocol's models **before any step**: the same (depth, task, seed) initial
weights as the trained runs (:func:`.train.fit_classifiers` with ``steps = 0``; initial weights depend on
(depth, task, seed) only), the gates ``none`` and ``elementwise`` (the primary gate), the same probes and
measures (:func:`.curvature.run_study`). Accuracy is the untrained classifier's.

Run: ``attnverify experiment gating-untrained --out results/gating-untrained``, then ``attnverify promote
results/gating-untrained/results.json experiments/gating/reference_untrained/results.json``.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

from attnverify.proofs_numeric import experiment
from attnverify.proofs_numeric.io import atomic_write_json

from .curvature import StudyResult, run_study
from .stats import PRIMARY_GATE
from .train import StudyConfig, full_config, quick_config

__all__ = ["untrained_config", "run_untrained", "gating_untrained_experiment"]


def untrained_config(quick: bool = False) -> StudyConfig:
    """The full (or quick) protocol with no training step and the gates ``none`` and the primary gate."""
    return dataclasses.replace(quick_config() if quick else full_config(), steps=0, gates=("none", PRIMARY_GATE))


def run_untrained(quick: bool = False, seed: int = 0) -> StudyResult:
    """Measure every untrained (depth, task, gate, seed) run of :func:`untrained_config`."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Mean of empty slice")  # final_loss of a 0-step run: nan
        warnings.filterwarnings("ignore", message="invalid value encountered")
        return run_study(untrained_config(quick), seed)


@experiment("gating-untrained", help="gating study's control arm: curvature measures of the untrained models (same initial weights)")
def gating_untrained_experiment(out_dir: Any, *, quick: bool, seed: int) -> dict[str, Any]:
    """Run :func:`run_untrained`; write ``results.json`` (config, per-run table) like the trained study."""
    res = run_untrained(quick, seed)
    runs = {k: v for k, v in res.runs.items() if k != "final_loss"}
    path = atomic_write_json(Path(out_dir) / "results.json", {
        "config": dataclasses.asdict(res.config), "seed": seed, "quick": quick, "seconds": res.seconds, "runs": runs})
    return {"files": [str(path)], "seconds": res.seconds}
