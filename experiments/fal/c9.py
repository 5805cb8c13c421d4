r"""FAL C9 alone under a protocol that can decide on 2 CPU cores: ``attnverify experiment fal-c9``.

Spec ``fal.md`` C9 (paper: $\mathrm{PPL}(\mathrm{FAL{+}})<\mathrm{PPL}(\mathrm{FAL})<\mathrm{PPL}(\text{baseline})$):
train the five :data:`~attention.fal.gpt.VARIANTS` with the same initialisation key and the same
batches per seed (paired design), plus a **placebo arm**: the baseline again from the same
initialisation, on a *different data order* (batch seed ``data_seed + PLACEBO_DATA_SEED_OFFSET``),
scored on the same validation windows. The placebo's paired difference from the baseline,
$\delta^{\rm pl}_r=\mathrm{NLL}^{(r)}_{\rm base,\,order\,B}-\mathrm{NLL}^{(r)}_{\rm base}$, has mean 0 by
construction; the claims run their rule on it and it must not pass.

Pre-registered (fixed in code before the run; ``PREREGISTERED`` is written into the result):

* protocol :data:`~attention.fal.train.CPU_DECIDE_PROTOCOL` (units: seeds; NLL in nats/char);
* target: every variant's mean validation NLL below the add-one bigram count model on the same
  windows (``count_models.bigram_windows``); a claim whose compared variants miss it in any seed
  cannot be ``verified`` or ``not reproduced`` (it reads ``inconclusive``: the protocol failed);
* decision rule: 95 % Student-$t$ interval of the mean paired difference over seeds against 0
  (the paper's side -> verified, the other side -> not reproduced, straddling -> inconclusive);
* minimal detectable effect (80 % power, :func:`proofs_numeric.minimal_detectable_effect`) planned
  from the pilot's paired sd, reported with each decision.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from attnverify import proofs_numeric as pn
from attnverify.attention.fal import QUICK_PROTOCOL, CharCorpus, TrainProtocol, char_corpus, evaluate_nll, train_seeds, val_windows
from attnverify.attention.fal.train import CPU_DECIDE_PROTOCOL

from .measure import count_model_nll
from .tables import quality_markdown, quality_table
from .training import cached_stage, protocol_record, run_training

RESULTS_JSON = "fal_c9.json"
#: the placebo arm's batches come from ``data_seed`` + this offset (same initialisation, other data order)
PLACEBO_DATA_SEED_OFFSET = 1000
PLACEBO_NAME = "baseline, other data order"

#: stated before the run (see the module docstring); the pilot figures are what the seed count was chosen from
PREREGISTERED = {
    "protocol": "cpu_decide",
    "units": "seeds (paired: same initialisation and batches for every variant of a seed)",
    "nll_units": "nats/char",
    "target": "every variant's mean validation NLL below the add-one bigram count model on the same windows "
              "(count_models.bigram_windows); missed -> the claims that compare it read inconclusive",
    "rule": "95 % Student-t interval of the mean paired difference over seeds vs 0: paper's side -> verified, "
            "other side -> not reproduced, straddling -> inconclusive; a passing negative control blocks verified",
    "controls": ["placebo arm: baseline on another data order minus baseline, same rule (mean 0 by construction)",
                 "per-seed paired differences with every other sign flipped, same rule"],
    "mde_target_nats_per_char": 0.05,
    "planned_n": 8,
    "planned_mde_nats_per_char": 0.015,
    "pilot": {"seeds": [0, 1, 2, 3, 4], "variants": ["baseline", "fal"], "n_val": 64, "steps": 500,
              "baseline_val_nll_step_500": [2.334, 2.324, 2.302, 2.306, 2.296], "bigram_windows": 2.409,
              "fal_minus_baseline_step_500": {"mean": -0.0226, "sd": 0.0131},
              "first_step_every_baseline_seed_below_bigram": 300, "cpu_s_per_variant": 130},
}


def _placebo(protocol: TrainProtocol, corpus: CharCorpus) -> dict[str, Any]:
    """The baseline trained on another data order, scored on ``protocol``'s validation windows."""
    other = dataclasses.replace(protocol, data_seed=protocol.data_seed + PLACEBO_DATA_SEED_OFFSET)
    r = train_seeds("baseline", other, corpus)
    cfg = protocol.gpt("baseline")
    nll = evaluate_nll(r["params"], val_windows(corpus, protocol, cfg.seq_len), cfg)
    return {"name": PLACEBO_NAME, "data_seed": other.data_seed, "val_nll": [float(v) for v in nll],
            "val_nll_own_windows": [float(v) for v in r["val_nll"]], "cpu_s": r["cpu_s"], "wall_s": r["wall_s"],
            "tokens_per_s": r["tokens_per_s"]}


def c9_summary(val_nll: dict[str, list[float]], placebo: list[float], bigram: float) -> dict[str, Any]:
    """Per variant: mean NLL, its distance from the bigram and how many seeds are below it;
    the placebo arm's paired difference from the baseline (mean, t interval, sd)."""
    out: dict[str, Any] = {"bigram_windows": bigram, "variants": {}}
    for k, v in val_nll.items():
        x = np.asarray(v, float)
        out["variants"][k] = {"mean": float(x.mean()), "minus_bigram": float(x.mean() - bigram),
                              "seeds_below_bigram": int((x < bigram).sum()), "n_seeds": int(x.size)}
    d = pn.paired_differences(placebo, val_nll["baseline"], name_a="placebo", name_b="baseline")
    m, lo, hi, p = pn.t_ci(d)
    out["placebo_minus_baseline"] = {"mean": m, "ci95": [lo, hi], "sd": float(np.std(d, ddof=1)), "p": p}
    return out


@pn.experiment("fal-c9", help="FAL C9 only, pre-registered CPU protocol: 5 variants + a data-order placebo, paired by seed")
def fal_c9_experiment(out_dir: Path, *, quick: bool = False, seed: int = 0, devices: int = 1) -> dict[str, Any]:
    """Train the C9 variants and the placebo arm under ``CPU_DECIDE_PROTOCOL`` (``quick``: the test
    protocol), write ``fal_c9.json`` and ``fal_c9.md``; every stage is cached in ``out_dir``."""
    if not isinstance(devices, int) or devices < 1:
        raise ValueError(f"devices must be a positive integer, got {devices!r}")
    quick = quick or bool(os.environ.get("ATTNVERIFY_QUICK"))
    pr = QUICK_PROTOCOL if quick else CPU_DECIDE_PROTOCOL
    pr = dataclasses.replace(pr, seeds=tuple(seed + s for s in pr.seeds))
    out_dir = Path(out_dir)
    t0, cpu0 = time.perf_counter(), os.times()
    corpus = char_corpus()
    training = run_training(out_dir, pr, corpus)
    placebo = cached_stage(out_dir, "c9_placebo", pr, lambda: _placebo(pr, corpus))
    counts = count_model_nll(corpus, pr)
    val_nll = {k: v["val_nll"] for k, v in training["variants"].items()}
    cpu1 = os.times()
    result = {"quick": quick, "protocol_name": "quick" if quick else "cpu_decide", "protocol": protocol_record(pr),
              "preregistered": PREREGISTERED, "corpus": training["corpus"], "load_during_training": training["load"],
              "val_nll": val_nll, "val_curve": {k: v["val_curve"] for k, v in training["variants"].items()},
              "placebo": placebo, "count_models": counts, "quality": quality_table(training),
              "summary": c9_summary(val_nll, placebo["val_nll"], counts["bigram_windows"]),
              "training_cpu_s": {**{k: v["cpu_s"] for k, v in training["variants"].items()}, "placebo": placebo["cpu_s"]},
              "training_wall_s": {**{k: v["wall_s"] for k, v in training["variants"].items()}, "placebo": placebo["wall_s"]},
              "load_at_end": list(os.getloadavg()),
              "this_call": {"wall_s": time.perf_counter() - t0,
                            "cpu_s": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
                            "note": "this call only: cached stages in the output folder are not recomputed"}}
    md = _markdown(result, training)
    files = [pn.atomic_write_json(out_dir / RESULTS_JSON, result), pn.atomic_write_text(out_dir / "fal_c9.md", md)]
    return {**result, "files": [str(f) for f in files], "table": md}


def _markdown(result: dict[str, Any], training: dict[str, Any]) -> str:
    s, cm = result["summary"], result["count_models"]
    rows = "\n".join(f"| {k} | {v['mean']:.4f} | {v['minus_bigram']:+.4f} | {v['seeds_below_bigram']} / {v['n_seeds']} |"
                     for k, v in s["variants"].items())
    pl = s["placebo_minus_baseline"]
    return (f"# FAL C9 ({result['protocol_name']} protocol)\n\n{quality_markdown(result['quality'], training)}\n"
            f"Bigram count model on the same windows: {cm['bigram_windows']:.4f} nats/char (unigram {cm['unigram_windows']:.4f}).\n\n"
            "| variant | mean NLL | − bigram | seeds below bigram |\n|---|---|---|---|\n" + rows +
            f"\n\nPlacebo ({PLACEBO_NAME}) − baseline: {pl['mean']:+.4f} [{pl['ci95'][0]:+.4f}, {pl['ci95'][1]:+.4f}], "
            f"sd {pl['sd']:.4f} nats/char.\n\nLoad average during training: {result['load_during_training']}.\n")
