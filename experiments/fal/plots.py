"""Figures of the FAL study: loss curves of every variant, predicted savings against TP degree and model size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from attnverify import proofs_numeric as pn

from attnverify.attention.fal.comm_model import PAPER_SAVING


def plot_loss_curves(training: dict[str, Any], out_dir: Path) -> list[Path]:
    """Training loss (moving average over 10 steps, mean over seeds) and validation NLL (mean ± sd over seeds) per variant."""
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_v) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, run in training["variants"].items():
        loss = np.asarray(run["train_loss"]).mean(axis=0)
        w = min(10, loss.size)
        smooth = np.convolve(loss, np.ones(w) / w, mode="valid")
        ax_t.plot(np.arange(w, loss.size + 1), smooth, label=name)
        nll = np.asarray(run["val_curve"]["nll"])
        ax_v.errorbar(run["val_curve"]["steps"], nll.mean(axis=0), yerr=nll.std(axis=0, ddof=1) if nll.shape[0] > 1 else None,
                      marker="o", ms=3, capsize=2, label=name)
    ax_t.set(xlabel="step", ylabel="training NLL (nats/char), 10-step mean", title="training loss (mean over seeds)")
    ax_v.set(xlabel="step", ylabel="validation NLL (nats/char)", title=f"validation (mean ± sd, {len(training['protocol']['seeds'])} seeds)")
    ax_v.legend(fontsize=7)
    fig.tight_layout()
    return pn.save_figure(fig, out_dir, "fal_loss_curves")


def plot_savings(grid: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Predicted FAL saving (one f per block) vs TP degree, one panel per link, one line per GPT-2 size; ceilings dashed."""
    import matplotlib.pyplot as plt

    links = list(dict.fromkeys(r["link"] for r in grid))
    models = list(dict.fromkeys(r["model"] for r in grid))
    fig, axes = plt.subplots(1, len(links), figsize=(4.6 * len(links), 3.6), sharey=True, squeeze=False)
    for ax, link in zip(axes[0], links):
        for k, model in enumerate(models):
            rows = [r for r in grid if r["link"] == link and r["model"] == model]
            line, = ax.plot([r["tp"] for r in rows], [100 * r["saving_one_f"] for r in rows], "o-", label=model)
            ax.plot([r["tp"] for r in rows], [100 * r["saving_auto"] for r in rows], "x:", color=line.get_color(),
                    label=f"{model}, default autodiff" if k == 0 else None)
            ax.axhline(100 * rows[0]["ceiling_one_f"], color=line.get_color(), ls="--", lw=0.8)
        ax.axhline(100 * PAPER_SAVING, color="k", lw=1.2, label="paper: up to 44 %")
        ax.set_xscale("log", base=2)
        ax.set(xlabel="TP degree p", title=link)
    axes[0][0].set_ylabel("predicted step-time saving of FAL (%)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return pn.save_figure(fig, out_dir, "fal_predicted_savings")
