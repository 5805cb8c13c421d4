r"""``attnverify plot keps``: :math:`k_\varepsilon/n` against :math:`\sigma` -- asymptotic rule, finite-n
predictor and Monte Carlo (spec ``topk_tv`` C13-C14)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attnverify import proofs_numeric as pn

from ._gaussian import keps_monte_carlo, keps_rule
from ._keps_finite import keps_finite_n


@pn.plot("keps", help="k_eps/n vs sigma: asymptotic rule, finite-n predictor, Monte Carlo (n=128 and 1024)")
def plot_keps(out_dir: Path, *, quick: bool, seed: int) -> dict:
    r"""Two columns (n = 128, 1024), three eps each: top, :math:`E[k_\varepsilon]/n` by the rule, the finite-n
    predictor and Monte Carlo; bottom, Monte Carlo minus the predictor with :math:`\pm2` standard errors (the
    Monte Carlo error is too small to see on the top scale). Legends sit outside the data. Writes ``keps.{png,svg}``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.lines import Line2D

    from attnverify.proofs_numeric.plotstyle import PALETTE, caption, figure

    sigmas = np.linspace(0.5, 3.5, 4 if quick else 13)
    eps_list = (0.01, 0.05, 0.1)
    colours = dict(zip(eps_list, (PALETTE[5], PALETTE[6], PALETTE[3])))
    reps = 100 if quick else 2000
    fig, axes = figure(2, 2, width=8.2, height=5.0, sharex=True, sharey="row", gridspec_kw={"height_ratios": [2.2, 1]})
    table = []
    for col, n in enumerate((128, 1024)):
        top, bottom = axes[0, col], axes[1, col]
        for eps in eps_list:
            c = colours[eps]
            rule = np.asarray(keps_rule(sigmas, eps))
            pred = np.asarray(keps_finite_n(n, sigmas, eps, tol=0.1 if quick else 0.02))
            mc = [keps_monte_carlo(n, float(s), eps, reps, seed) for s in pn.progress(sigmas, desc=f"MC n={n} eps={eps}")]
            mean, se = np.array([m.mean for m in mc]), np.array([m.se for m in mc])
            top.plot(sigmas, rule, "--", color=c, lw=1.2)
            top.plot(sigmas, pred, "-", color=c, lw=1.2)
            top.plot(sigmas, mean, "o", color=c, ms=3.5)
            dodge = 0.05 * (eps_list.index(eps) - 1)  # side by side, so the three error bars do not overlap
            bottom.errorbar(sigmas + dodge, mean - pred, yerr=2 * se, fmt="o", ms=3, color=c, capsize=2, lw=1)
            table += [{"n": n, "eps": eps, "sigma": float(s), "rule": float(r), "predictor": float(p), "mc": m.mean, "mc_se": m.se}
                      for s, r, p, m in zip(sigmas, rule, pred, mc)]
        bottom.axhline(0, color="black", lw=0.6)
        top.set_title(f"n = {n} keys", fontsize=9)
        if col == 0:
            bottom.set_ylabel("MC − predictor\n(fraction of keys)")
    fig.supxlabel(r"logit scale $\sigma$ (i.i.d. $\mathcal{N}(0,\sigma^2)$ logits)", fontsize=9)
    axes[0, 0].set_ylabel(r"$E[k_\varepsilon]/n$ (fraction of keys kept)")
    handles = [Line2D([], [], color=colours[e], lw=2, label=f"ε = {e}") for e in eps_list]
    handles += [Line2D([], [], color="black", ls="--", label=r"asymptotic rule $\Phi_c(\sigma+z_\varepsilon)$"),
                Line2D([], [], color="black", ls="-", label="finite-n predictor"),
                Line2D([], [], color="black", ls="", marker="o", ms=3.5, label=f"Monte Carlo mean ({reps} draws; ±2 SE below)")]
    fig.legend(handles=handles, loc="outside right center", fontsize=7, frameon=False)
    fig.suptitle("Minimal Top-k with total variation ≤ ε: rule and finite-n predictor against Monte Carlo", fontsize=9)
    caption(fig, f"Spec topk_tv C13-C14; Gaussian logits, seed {seed}, {len(sigmas)} values of σ per curve.")
    files = pn.save_figure(fig, out_dir, "keps")
    pn.atomic_write_json(Path(out_dir) / "keps.json", {"table": table, "reps": reps, "seed": seed})
    return {"files": [str(f) for f in files] + [str(Path(out_dir) / "keps.json")]}
