r"""``attnverify experiment sae-steering [--quick]``: both tracks, the decisions C6-C10, two plots.

Quick mode (< 2 min; what the test suite and the notebook run) runs the fast track only and reports
the pinned Gemma run (:mod:`experiments.sae_steering.report`). Full mode runs the larger fast track and
the Gemma 3 270M protocol (:mod:`experiments.sae_steering.gemma_track`, ``ATTNVERIFY_SAE_GEMMA_PROTOCOL``
``full`` (default) or ``cpu``) and writes ``gemma_results.json`` to ``--out`` (promote it to decide); set
``ATTNVERIFY_SAE_GEMMA=0`` to skip the model and ``ATTNVERIFY_SAE_FAST=quick`` to keep the quick fast
track in a full run. ``python -m attnverify.experiments.sae_steering.gemma_run`` runs the Gemma protocol alone. Plots: success against strength per language (with the
random-feature, additive and unsteered curves and fluency) and success per layer.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from attnverify import proofs_numeric as pn

from . import decisions as dc
from .results import compute_fast_results, fast_results, gemma_results, store_fast_results
from .sweep import best_config

__all__ = ["sae_steering_experiment", "plot_strength", "plot_layers", "summary_markdown"]


def plot_strength(res: dict[str, Any], out_dir: Path, stem: str) -> list[Path]:
    """Success (and fluency, dashed) against $\\kappa$ at each target's best layer."""
    import matplotlib.pyplot as plt

    targets = res["targets"]
    fig, axes = plt.subplots(1, len(targets), figsize=(3.1 * len(targets), 3.0), squeeze=False, sharey=True)
    k = np.asarray(res["kappas"], np.float64)
    for ax, t in zip(axes[0], targets):
        li, _ = best_config(res, t)
        mean = lambda a: np.nanmean(np.asarray(a, np.float64), axis=-1)  # noqa: E731
        ax.plot(k, mean(res["success"][t][li]), "o-", label="clamp j*")
        ax.plot(k, mean(res["success_random"][t][li]), "s--", label="clamp random (rate-matched)")
        if res["additive"].get(t) is not None:
            ax.plot(k, mean(res["additive"][t]["success"]), "^-", label="additive j*")
        ax.plot(k, mean(res["fluency"][t][li]), ":", color="grey", label="fluency (clamp j*)")
        ax.axhline(float(np.mean(res["unsteered"][t])), color="k", lw=0.8, label="unsteered")
        ax.set(title=f"{t}, layer {res['layers'][li]}", xlabel="κ (c = κ μ⁺)", xscale="symlog")
        ax.title.set_fontsize(9)
    axes[0][0].set_ylabel(f"success (n = {res['n_prompts']} prompts)")
    axes[0][0].legend(fontsize=6)
    fig.suptitle(res.get("model", ""), fontsize=8)
    return pn.save_figure(fig, out_dir, stem)


def plot_layers(res: dict[str, Any], out_dir: Path, stem: str) -> list[Path]:
    """Success per layer, each layer at its best $\\kappa>0$, one line per target."""
    import matplotlib.pyplot as plt

    _, profile = dc.c7_layers(res, "plot", 0)
    fig, ax = plt.subplots(figsize=(4.0, 3.0))
    for t, vals in profile.items():
        ax.plot(res["layers"], vals, "o-", label=t)
    ax.set(xlabel="layer", ylabel="success at best κ", title=res.get("model", ""), ylim=(-0.02, 1.02))
    ax.title.set_fontsize(7)
    ax.legend(fontsize=7)
    return pn.save_figure(fig, out_dir, stem)


def summary_markdown(res: dict[str, Any], setting: str) -> str:
    """The decisions of one track, a per-layer SAE table and the C10 gate, as Markdown."""
    lines = [f"## {res.get('model', res.get('track'))}", "", "| layer | width | L0 | FVU | dead |", "|---|---|---|---|---|"]
    for i, st in enumerate(res["sae_stats"]):
        lines.append(f"| {st.get('layer', i)} | {st['width']} | {st['l0']:.1f} | {st['fvu']:.3f} | {st['dead']} |")
    decisions = [("C6 controls", dc.c6_controls(res, setting)[0]), ("C6 vs paper 90 %", dc.c6_paper(res, setting)),
                 ("C7 layers", dc.c7_layers(res, setting)[0]), ("C10 gate", dc.c10_gate(res["gate"], setting))]
    if all(res["heads"].get(t) is not None for t in res["targets"]):
        decisions.append(("C8 heads", dc.c8_heads(res, setting)))
    if "meaning" in res:
        decisions.append(("C9 meaning", dc.c9_meaning(res, setting)))
    lines += ["", "| claim | decision |", "|---|---|"] + [f"| {n} | {d.summary()} |" for n, d in decisions]
    gate = {k: {lang: round(v["accuracy"], 3) for lang, v in g["fasttext_lite"].items()} for k, g in res["gate"].items()}
    return "\n".join(lines + ["", f"LID gate (fastText lite, accuracy by length): {gate}", ""])


@pn.experiment("sae-steering", help="SAE language steering: character-LM fast track and Gemma 3 270M")
def sae_steering_experiment(out_dir: Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Run the study (see the module docstring); write ``*_results.json``, ``sae_steering.md`` and plots."""
    out_dir = Path(out_dir)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    small = quick or os.environ.get("ATTNVERIFY_SAE_FAST") == "quick"
    fast = fast_results(True, seed) if small else compute_fast_results(False, seed)
    if not small:
        store_fast_results(fast, False, seed)
    times["fast_track_s"] = time.perf_counter() - t0
    files = [pn.atomic_write_json(out_dir / "fast_results.json", fast)]
    files += plot_strength(fast, out_dir, "sae_success_vs_strength_fast") + plot_layers(fast, out_dir, "sae_success_per_layer_fast")
    md = "# SAE language steering\n\n" + summary_markdown(fast, "fast track")
    gemma = None
    if not quick and os.environ.get("ATTNVERIFY_SAE_GEMMA", "1") != "0":
        from attnverify.attention.models import load_gemma

        from .gemma_track import run_gemma_track

        t0, c0 = time.perf_counter(), time.process_time()
        protocol = os.environ.get("ATTNVERIFY_SAE_GEMMA_PROTOCOL", "full")
        gemma = run_gemma_track(load_gemma(), settings={"cells": protocol}, seed=seed)
        gemma.update(protocol=protocol, command=f"ATTNVERIFY_SAE_GEMMA_PROTOCOL={protocol} attnverify experiment sae-steering --out {out_dir}")
        times["gemma_track_s"], times["gemma_track_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
        gemma["seconds"], gemma["cpu_seconds"], gemma["load_avg_end"] = times["gemma_track_s"], times["gemma_track_cpu_s"], os.getloadavg()
        gemma["seed"] = seed  # the snapshot records its seed; promote it with `attnverify promote` (never written here)
        files += [pn.atomic_write_json(out_dir / "gemma_results.json", gemma)]
    elif quick:
        gemma = gemma_results()
    if gemma is not None and gemma.get("format") == "cells-v2":
        from .report import gemma_report_markdown

        md += "\n## Gemma 3 270M\n\n" + gemma_report_markdown(gemma, seed)
    files.append(pn.atomic_write_text(out_dir / "sae_steering.md", md + f"\nRun times: {times}\n"))
    return {"files": [str(f) for f in files], "times": times, "summary": md, "quick": quick}
