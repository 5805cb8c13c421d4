r"""Report of the real-model part: tables, the decision, two figures, the claims' cache.

A non-quick ``attnverify experiment hybrid --out DIR`` writes ``DIR/gemma_real_<protocol>.json``; promoted
(``attnverify promote``) to the pinned ``experiments/hybrid/results/gemma_real_<protocol>.json``, it is what
the claim ``hybrid.collapse_real_gemma`` reads (hash-checked against the manifest) and records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from attnverify import proofs_numeric as pn
from attnverify.proofs_numeric.reference import load_reference_run

from .decisions import real_decision

__all__ = ["real_cache_path", "load_real", "write_real_report", "real_tables"]

_RESULTS = Path(__file__).resolve().parent / "results"


def real_cache_path(protocol: str = "full") -> Path:
    """The pinned real-model run that the claim reads (promoted from an experiment's ``--out``)."""
    return _RESULTS / f"gemma_real_{protocol}.json"


def load_real(protocol: str = "full") -> tuple[dict[str, Any], str] | None:
    """The cached result and the SHA-256 of its file (read by :func:`proofs_numeric.reference.load_reference_run`), or None."""
    p = real_cache_path(protocol)
    if not p.is_file():
        return None
    run = load_reference_run(p, command="attnverify experiment hybrid", full=False)
    return run.data, run.sha256


def _cell(x) -> str:
    x = np.asarray(x, float)
    if len(x) < 2 or np.all(x == x[0]):
        return f"{x.mean():.3f}"
    m, lo, hi, _ = pn.t_ci(x)
    return f"{m:.3f} [{lo:.3f}, {hi:.3f}]"


def real_tables(res: dict[str, Any]) -> str:
    """Markdown: agreement per variant and position bucket, r_n per arm, layer and bucket (t intervals over sequences)."""
    b = res["buckets"]
    rows = ["| arm / component | " + " | ".join(b) + " | n >= w |", "|---|" + "---|" * (len(b) + 1)]
    for k, v in res["agreement"].items():
        rows.append(f"| {k} | " + " | ".join(_cell(v[x]) if x in v else "–" for x in b) + " | "
                    + _cell(res["agreement_beyond_window"][k]) + " |")
    r_rows = ["| arm | layer | " + " | ".join(b) + " |", "|---|---|" + "---|" * len(b)]
    for arm, layers in res["r_buckets"].items():
        for l, v in layers.items():
            r_rows.append(f"| {arm} | {l} | " + " | ".join(_cell(v[x]) for x in b) + " |")
    loss = {a: (h["loss"][0][1], h["loss"][-1][1]) for a, h in res["training"].items()}
    gam = {a: {l: np.round(g, 3).tolist() for l, g in h["gamma"].items()} for a, h in res["training"].items()}
    return ("Next-token (arg-max) agreement with the original model, every converted layer running the component; "
            "mean over held-out sequences [95 % t interval], by query-position bucket:\n\n" + "\n".join(rows)
            + "\n\n$r_n$ (linear-mass fraction of the hybrid, teacher inputs, mean over heads) by query position:\n\n"
            + "\n".join(r_rows) + f"\n\nStage-1 loss (first, last logged): {loss}\n\nγ_h after stage 1: {gam}\n")


def _plots(res: dict[str, Any], out_dir: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    b = res["buckets"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for k, v in res["agreement"].items():
        axes[0].plot(range(len(b)), [np.mean(v[x]) for x in b], marker="o",
                     label="SWA-only (no trained weights)" if k.endswith("/swa") else k)
    axes[0].set_xticks(range(len(b)), b, fontsize=8)
    axes[0].set(xlabel="query position n", ylabel="next-token agreement", title="Gemma: agreement with the original")
    axes[0].legend(fontsize=7)
    for arm, layers in res["r_buckets"].items():
        for l, v in layers.items():
            axes[1].plot(range(len(b)), [np.mean(v[x]) for x in b], ls="-" if arm == "mse" else "--", marker="o",
                         label=f"{arm}, layer {l}")
    axes[1].set_xticks(range(len(b)), b, fontsize=8)
    axes[1].set(xlabel="query position n", ylabel="r_n (linear-mass fraction)", title="Gemma: r_n by position")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    files = pn.save_figure(fig, out_dir, "hybrid_gemma_agreement_rn")
    plt.close(fig)
    return files


def write_real_report(res: dict[str, Any], out_dir: Path, *, cache: bool) -> dict[str, Any]:
    """Decision, ``gemma_real.{json,md}``, the figure and (``cache``) ``gemma_real_<protocol>.json`` to promote."""
    d, figures = real_decision(res)
    res["decision"] = {"decision": d.to_dict(), "figures": figures}
    md = (f"# Hybrid SWA + LA on a converted Gemma 3 ({res['model']['name']}, {res['protocol']['name']} protocol, {res['seconds']['total']:.0f} s)\n\n"
          + real_tables(res) + f"\n- `hybrid.collapse_real_gemma`: {d.effect} = {d.estimate:.4f} [{d.ci[0]:.4f}, {d.ci[1]:.4f}] "
          f"-> **{d.outcome.value}** (headroom 1 - SWA-only: {figures['headroom_1_minus_swa']['mean']:.3f})\n")
    files = [pn.atomic_write_json(out_dir / "gemma_real.json", res), pn.atomic_write_text(out_dir / "gemma_real.md", md)]
    if cache:
        files.append(pn.atomic_write_json(out_dir / real_cache_path(res["protocol"]["name"]).name, res))  # promote it to change the evidence
    files += _plots(res, out_dir)
    return {"decision": res["decision"], "files": [str(f) for f in files], "table": md}
