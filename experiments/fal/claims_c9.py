r"""C9 claims of the FAL study (spec ``fal.md`` C9, §4), decided from the pre-registered CPU run.

The deciding record is ``experiments/fal/reference_c9cpu/fal_c9.json``, written by
``attnverify experiment fal-c9`` (:mod:`experiments.fal.c9`) under
:data:`~attention.fal.train.CPU_DECIDE_PROTOCOL` and pinned by SHA-256 like every evidence file.
The earlier full-shape run (``reference/fal_results.json``, 3 seeds x 120 steps, every model above
the bigram) is read as supporting evidence only: its paired differences are reported next to the
decision.

Protocol, stated before the run (:data:`experiments.fal.c9.PREREGISTERED`): per seed $r$ the paired
difference $\delta_r=\mathrm{NLL}_a^{(r)}-\mathrm{NLL}_b^{(r)}$ (nats/char, same initialisation and
batches), Student-$t$ 95 % interval of the mean over the $n$ seeds against 0; paper's side ->
verified, other side -> not reproduced (toy character model, not GPT-2 on OpenWebText), straddling
-> inconclusive; minimal detectable effect at 80 % power reported. Two negative controls run the same
rule and must not pass: the **placebo arm** (the baseline from the same initialisation on another data
order, minus the baseline: mean 0 by construction) and the per-seed differences with every other sign
flipped. **Target**: a compared variant whose mean validation NLL is not below the add-one bigram on
the same windows makes the decision ``inconclusive`` (the protocol did not train far enough to say).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from attnverify import proofs_numeric as pn
from attnverify.proofs_numeric import Context, Evidence, Verdict
from attnverify.proofs_numeric.reference import ReferenceRun, load_reference_run

from .c9 import PLACEBO_NAME, RESULTS_JSON
from .claims import _decide, load_run, sign_flip_placebo

REFERENCE_C9 = Path(__file__).resolve().parent / "reference_c9cpu" / RESULTS_JSON
REFERENCE_C9_COMMAND = "attnverify experiment fal-c9 --out results/fal-c9cpu"


def load_c9() -> ReferenceRun:
    """The pinned C9 run (``EvidenceError``, hence ``failed``, when missing, changed since pinned, or invalid)."""
    return load_reference_run(REFERENCE_C9, command=REFERENCE_C9_COMMAND)


def _supporting(a: str, b: str) -> dict[str, Any]:
    """The full-shape run's paired difference (3 seeds x 120 steps): reported, not deciding."""
    rec = load_run().data
    d = pn.paired_differences(rec["val_nll"][a], rec["val_nll"][b], name_a=a, name_b=b)
    m, lo, hi, _ = pn.t_ci(d)
    return {"protocol_name": rec["protocol_name"], "per_seed": d.tolist(), "mean": m, "ci95": [lo, hi],
            "detectable_effect": pn.minimal_detectable_effect(d), "val_nll_mean": {k: float(np.mean(rec["val_nll"][k])) for k in (a, b)},
            "bigram_windows": rec["count_models"]["bigram_windows"] if "count_models" in rec else None}


def missed_target(val_nll: dict[str, list[float]], bigram: float, variants: tuple[str, ...]) -> list[str]:
    """The ``variants`` whose mean validation NLL is not below the bigram's (the pre-registered target)."""
    return [v for v in variants if not float(np.mean(val_nll[v])) < bigram]


def c9_decision(a: str, b: str, direction: str, paper_figure: str) -> Evidence:
    r"""Decide $\mathrm{NLL}(a)-\mathrm{NLL}(b)$ ``direction`` 0 from the pinned C9 run (see the module docstring)."""
    run = load_c9()
    rec = run.data
    nll, bigram = rec["val_nll"], rec["count_models"]["bigram_windows"]
    diff = pn.paired_differences(nll[a], nll[b], name_a=a, name_b=b)
    placebo = pn.paired_differences(rec["placebo"]["val_nll"], nll["baseline"], name_a="placebo", name_b="baseline")
    table = {k: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)), "minus_bigram": float(np.mean(v)) - bigram,
                 "seeds_below_bigram": int(np.sum(np.asarray(v) < bigram))} for k, v in nll.items()}
    details = {"val_nll_vs_bigram": table, "bigram_windows": bigram, "unigram_windows": rec["count_models"]["unigram_windows"],
               "placebo_per_seed": placebo.tolist(), "preregistered": rec["preregistered"],
               "supporting_full_run": _supporting(a, b)}
    ev = _decide(diff, f"NLL({a}) - NLL({b}) (nats/char)", "seeds", direction, paper_figure, rec, str(run.path), details,
                 {f"placebo arm: {PLACEBO_NAME} - baseline": placebo,
                  "paired differences with every other sign flipped": sign_flip_placebo(diff)}, run=run)
    missed = missed_target(nll, bigram, (a, b))
    d = ev.decision
    if missed and d.outcome is not Verdict.INCONCLUSIVE:
        d = dataclasses.replace(d, outcome=Verdict.INCONCLUSIVE, rule=d.rule + f"; inconclusive: {', '.join(missed)} missed the "
                                f"pre-registered target (mean validation NLL below the bigram's {bigram:.4f} nats/char)")
        ev = dataclasses.replace(ev, decision=d)
    return ev


_C9 = dict(paper="fal", provenance="paper", tolerance=0.0, error="none (empirical)", empirical=True)


@pn.claim("fal.quality_fal_vs_baseline", equation="C9, §4", statement=r"\mathrm{NLL}_{\rm val}(\mathrm{FAL})<\mathrm{NLL}_{\rm val}(\text{baseline})", **_C9)
def _fal_vs_base(ctx: Context) -> Evidence:
    """FAL reaches a lower validation NLL than the baseline GPT (paper: better perplexity), paired by seed."""
    return c9_decision("fal", "baseline", "less", "FAL perplexity below GPT's")


@pn.claim("fal.quality_falplus_vs_fal", equation="C9, §4", statement=r"\mathrm{NLL}_{\rm val}(\mathrm{FAL{+}}_A)<\mathrm{NLL}_{\rm val}(\mathrm{FAL})", **_C9)
def _falplus_vs_fal(ctx: Context) -> Evidence:
    """FAL+ (reading A, the default) reaches a lower validation NLL than FAL (paper: FAL+ lower still), paired by seed."""
    return c9_decision("falplus_A", "fal", "less", "FAL+ perplexity below FAL's")


@pn.claim("fal.quality_falplus_b_vs_fal", equation="C9, §4 (reading B)", statement=r"\mathrm{NLL}_{\rm val}(\mathrm{FAL{+}}_B)<\mathrm{NLL}_{\rm val}(\mathrm{FAL})", **_C9)
def _falplus_b_vs_fal(ctx: Context) -> Evidence:
    """FAL+ in the literal reading B (A-bar_1 written into the residual stream) against FAL, paired by seed."""
    return c9_decision("falplus_B", "fal", "less", "FAL+ perplexity below FAL's")


@pn.claim("fal.quality_falplus_vs_baseline", equation="C9, §4", statement=r"\mathrm{NLL}_{\rm val}(\mathrm{FAL{+}}_A)<\mathrm{NLL}_{\rm val}(\text{baseline})", **_C9)
def _falplus_vs_base(ctx: Context) -> Evidence:
    """FAL+ (reading A) reaches a lower validation NLL than the baseline GPT, paired by seed."""
    return c9_decision("falplus_A", "baseline", "less", "FAL+ perplexity below GPT's")


@pn.claim("fal.quality_falplus_b_vs_baseline", equation="C9, §4 (reading B)", statement=r"\mathrm{NLL}_{\rm val}(\mathrm{FAL{+}}_B)<\mathrm{NLL}_{\rm val}(\text{baseline})", **_C9)
def _falplus_b_vs_base(ctx: Context) -> Evidence:
    """FAL+ in the literal reading B (A-bar_1 written into the residual stream) against the baseline GPT, paired by seed."""
    return c9_decision("falplus_B", "baseline", "less", "FAL+ perplexity below GPT's")


@pn.claim("fal.no_connection_worse_than_fal", equation="C9, §4 motivation", statement=r"\mathrm{NLL}_{\rm val}(\mathrm{FAL},\ \bar A_1\equiv0)>\mathrm{NLL}_{\rm val}(\mathrm{FAL})", **_C9)
def _control(ctx: Context) -> Evidence:
    """Dropping the MHA->MLP connection with no substitute (FAL with A-bar_1 = 0) hurts: higher validation NLL than FAL [reported, unconfirmed]."""
    return c9_decision("no_connection", "fal", "greater", "perplexity degrades badly without the connection")
