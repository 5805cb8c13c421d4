r"""Gating study, report: the accuracy table, the Markdown results and the three figures.

Spec ``gating_curvature`` §4. Figures go through :func:`proofs_numeric.io.save_figure` (PNG + SVG).

Example::

    res = run_study(quick_config(), seed=0)
    print(results_markdown(res, claim_statistics(res)))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attnverify.attention.models.gated_classifier import GATES

from .curvature import StudyResult
from .tasks import LINEAR_TASKS

__all__ = ["accuracy_table", "results_markdown"]


def accuracy_table(res: StudyResult) -> list[dict[str, Any]]:
    """Rows (task, gate, depth): test accuracy mean ± std over seeds and mean curvature measures."""
    rows, r = [], res.runs
    for t in res.config.tasks:
        for D in res.config.depths:
            for g in res.config.gates:
                m = res.select(task=t, gate=g, depth=D)
                rows.append({"task": t, "linear": t in LINEAR_TASKS, "depth": int(D), "gate": g, "n_seeds": int(m.sum()),
                             "acc_mean": float(r["accuracy"][m].mean()), "acc_std": float(r["accuracy"][m].std(ddof=1)),
                             "proxy_mean": float(np.nanmean(r["proxy"][m])), "density_mean": float(np.nanmean(r["curv_density"][m]))})
    return rows


def _fmt_p(p: float) -> str:
    return f"{p:.2g}" if np.isfinite(p) else "n/a"


def results_markdown(res: StudyResult, st: dict[str, Any], decisions: dict[str, Any] | None = None) -> str:
    """The results table of the study as Markdown (accuracy, curvature, tests, correlations)."""
    cfg = res.config
    lines = [f"# Gating study ({'quick' if cfg.fuse_depths else 'full'} protocol, seed {res.seed})", "",
             f"Wall time {res.seconds:.1f} s; {len(res.runs['accuracy'])} runs; {cfg.n_seeds} seeds; "
             f"{cfg.steps} Adam steps (lr {cfg.lr}, batch {cfg.batch}); n_train {cfg.n_train}, n_test {cfg.n_test}; "
             f"L={cfg.seq_len}, width {cfg.width}, heads {cfg.n_heads}. Protocol: our choice, not the paper's.", "",
             "## Test accuracy (mean ± std over seeds) and curvature", "",
             "| task | depth | gate | accuracy | proxy ρ̂ (a) | curvature density (b) |", "|---|---|---|---|---|---|"]
    for row in accuracy_table(res):
        lines.append(f"| {row['task']} | {row['depth']} | {row['gate']} | {row['acc_mean']:.3f} ± {row['acc_std']:.3f} "
                     f"| {row['proxy_mean']:.4g} | {row['density_mean']:.4g} |")
    lines += ["", "## Paired t-tests, gated − ungated accuracy (pooled over depths, tasks, seeds)", "",
              "| task group | gate | n | mean diff | p (two-sided) | p (gated > ungated) |", "|---|---|---|---|---|---|"]
    for grp in ("nonlinear_advantage", "linear_no_difference"):
        for g, t in st[grp]["pooled"].items():
            lines.append(f"| {'nonlinear' if grp.startswith('non') else 'linear'} | {g} | {t['n']} | {t['mean_diff']:+.4f} "
                         f"| {_fmt_p(t['p_two_sided'])} | {_fmt_p(t['p_greater'])} |")
    c = st["curvature_accuracy_correlation"]
    lines += ["", "## Correlations across runs (paper: r ≈ 0.79 between proxy and accuracy)", "",
              "| pair | Pearson r | p | Spearman ρ | p |", "|---|---|---|---|---|"]
    for name in ("proxy_vs_accuracy", "density_vs_accuracy", "proxy_vs_density"):
        v = c[name]
        lines.append(f"| {name.replace('_', ' ')} | {v['pearson_r']:.3f} | {_fmt_p(v['pearson_p'])} | {v['spearman_rho']:.3f} | {_fmt_p(v['spearman_p'])} |")
    lines += ["", "## Curvature against depth (mean over runs)", "", "| gate | measure | " + " | ".join(f"D={D}" for D in cfg.depths) + " | Spearman ρ (depth) | p |",
              "|---|---|" + "---|" * len(cfg.depths) + "---|---|"]
    for g in cfg.gates:
        for m, key in (("curv_density", "density"), ("proxy", "proxy")):
            vals = " | ".join(f"{st['depth_growth']['means'][g][m][int(D)]:.4g}" for D in cfg.depths)
            cc = st["depth_growth"][g][key]
            lines.append(f"| {g} | {m} | {vals} | {cc['spearman_rho']:.3f} | {_fmt_p(cc['spearman_p'])} |")
    lines += ["", "## Claims (primary gate: elementwise; units: seeds; 95 % CIs)", ""]
    for k in ("nonlinear_advantage", "linear_no_difference", "curvature_accuracy_correlation", "depth_growth"):
        if decisions and k in decisions:
            lines.append(f"- `gating.empirical_{k}`: **{decisions[k].outcome.value}**: {decisions[k].summary()}")
        else:
            lines.append(f"- `gating.empirical_{k}`: statement {'holds' if st[k]['holds'] else 'does NOT hold'} in this run")
    return "\n".join(lines) + "\n"


def _plots(res: StudyResult, out_dir: Any) -> list:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from attnverify.proofs_numeric.io import save_figure

    cfg, r, files = res.config, res.runs, []
    colours = dict(zip(GATES, ("tab:blue", "tab:orange", "tab:green")))
    fig, axes = plt.subplots(1, len(cfg.depths), figsize=(4.5 * len(cfg.depths), 3.6), squeeze=False, sharey=True)
    w = 0.8 / len(cfg.gates)
    for ax, D in zip(axes[0], cfg.depths):
        for j, g in enumerate(cfg.gates):
            m = [r["accuracy"][res.select(task=t, gate=g, depth=D)] for t in cfg.tasks]
            ax.bar(np.arange(len(cfg.tasks)) + (j - (len(cfg.gates) - 1) / 2) * w, [v.mean() for v in m], w,
                   yerr=[v.std(ddof=1) for v in m], color=colours[g], label=g, capsize=2)
        ax.set_xticks(np.arange(len(cfg.tasks)), cfg.tasks, rotation=30, ha="right")
        ax.set_title(f"depth {D}")
        ax.set_ylim(max(0.0, float(np.min(r["accuracy"])) - 0.03), 1.0)
        ax.set_xlabel("task")
    axes[0, 0].set_ylabel("test accuracy (mean ± std over seeds)")
    axes[0, 0].legend(title="gate")
    files += save_figure(fig, out_dir, "accuracy_by_task")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for ax, (m, label) in zip(axes, (("proxy", "proxy ρ̂ (a)"), ("curv_density", "curvature density |K|√det g (b)"))):
        for g in cfg.gates:
            for lin, mk in ((True, "s"), (False, "o")):
                sel = res.select(gate=g, task=tuple(t for t in cfg.tasks if (t in LINEAR_TASKS) == lin))
                ax.scatter(r[m][sel], r["accuracy"][sel], s=14, marker=mk, color=colours[g], alpha=0.7,
                           label=f"{g}, {'linear' if lin else 'nonlinear'}")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy")
    axes[0].legend(fontsize=7)
    files += save_figure(fig, out_dir, "curvature_vs_accuracy")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for ax, (m, label) in zip(axes, (("proxy", "proxy ρ̂ (a)"), ("curv_density", "curvature density (b)"))):
        for g in cfg.gates:
            vals = [r[m][res.select(gate=g, depth=D)] for D in cfg.depths]
            ax.errorbar(cfg.depths, [np.nanmedian(v) for v in vals],
                        yerr=[[np.nanmedian(v) - np.nanpercentile(v, 25) for v in vals], [np.nanpercentile(v, 75) - np.nanmedian(v) for v in vals]],
                        marker="o", capsize=3, color=colours[g], label=g)
        ax.set_yscale("log")
        ax.set_xticks(cfg.depths)
        ax.set_xlabel("depth (attention layers)")
        ax.set_ylabel(label)
        ax.set_title("median and IQR over runs", fontsize=9)
    axes[0].legend(title="gate")
    files += save_figure(fig, out_dir, "curvature_vs_depth")
    return files
