r"""Summaries of the FAL study's measurements: C9 quality table, C10 per-seed effects, savings grid.

Per-seed values are the independent units. Paired difference of variant $v$ from the baseline,
seed $r$: $\delta_r=\mathrm{NLL}_v^{(r)}-\mathrm{NLL}_{\rm base}^{(r)}$; its 95 % interval is
Student's $t$ with $n-1$ degrees of freedom (:func:`proofs_numeric.t_ci`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attnverify import proofs_numeric as pn
from attnverify.attention.fal.comm_model import PAPER_SAVING

def quality_table(training: dict[str, Any]) -> dict[str, Any]:
    """Per variant: mean and sd of the validation NLL over seeds; paired difference from the baseline with its t interval."""
    base = np.asarray(training["variants"]["baseline"]["val_nll"])
    out = {}
    for name, run in training["variants"].items():
        v = np.asarray(run["val_nll"])
        row = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n_seeds": int(v.size),
               "tokens_per_s": run["tokens_per_s"]}
        if name != "baseline":
            m, lo, hi, p = pn.t_ci(pn.paired_differences(v, base, name_a=name, name_b="baseline"))
            row["diff_vs_baseline"] = {"mean": m, "ci95": [lo, hi], "p": p}
        out[name] = row
    return out


def quality_markdown(table: dict[str, Any], training: dict[str, Any]) -> str:
    pr, corpus = training["protocol"], training["corpus"]
    lines = [f"Validation NLL (nats/char) after {pr['steps']} steps, {len(pr['seeds'])} seeds {pr['seeds']}; "
             f"N = {pr['n_blocks']}, d = {pr['d_model']}, {pr['n_heads']} heads, MLP {pr['d_mlp']}, T = {pr['seq_len']}, "
             f"batch {pr['batch']} per seed; corpus SHA-256 {corpus['sha256'][:16]}... ({corpus['n_files']} files).", "",
             "| variant | NLL mean ± sd | Δ vs baseline (95 % CI, t, seeds) | tokens/s |", "|---|---|---|---|"]
    for name, r in table.items():
        d = r.get("diff_vs_baseline")
        diff = f"{d['mean']:+.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}]" if d else "—"
        lines.append(f"| {name} | {r['mean']:.4f} ± {r['sd']:.4f} | {diff} | {r['tokens_per_s']:.0f} |")
    return "\n".join(lines) + "\n"


def savings_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| model | TP | link | t_comp (ms) | t_allreduce (µs) | φ (baseline comm. fraction) | saving, FAL one f | "
             "saving, FAL autodiff | ceiling fwd+bwd / fwd | reaches 44 %? |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['tp']} | {r['link']} | {1e3 * r['t_comp_s']:.2f} | {1e6 * r['t_allreduce_s']:.0f} | "
                     f"{r['phi']:.3f} | {100 * r['saving_one_f']:.1f} % | {100 * r['saving_auto']:.1f} % | "
                     f"{100 * r['ceiling_one_f']:.2f} % / {100 * r['ceiling_fwd']:.1f} % | "
                     f"{'yes' if r['saving_one_f'] >= PAPER_SAVING else 'no'} |")
    return "\n".join(lines) + "\n"
