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
    """Two panels (n = 128, 1024), three eps each; writes ``keps.png`` and ``keps.svg``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sigmas = np.linspace(0.5, 3.5, 4 if quick else 13)
    eps_list = (0.01, 0.05, 0.1)
    reps = 100 if quick else 2000
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    table = []
    for ax, n in zip(axes, (128, 1024)):
        for color, eps in zip(("C0", "C1", "C2"), eps_list):
            rule = np.asarray(keps_rule(sigmas, eps))
            pred = keps_finite_n(n, sigmas, eps, tol=0.1 if quick else 0.02)
            mc = [keps_monte_carlo(n, float(s), eps, reps, seed) for s in pn.progress(sigmas, desc=f"MC n={n} eps={eps}")]
            ax.plot(sigmas, rule, "--", color=color, label=f"asymptotic rule, eps={eps}")
            ax.plot(sigmas, pred, "-", color=color, label=f"finite-n predictor, eps={eps}")
            ax.errorbar(sigmas, [m.mean for m in mc], yerr=[2 * m.se for m in mc], fmt="o", ms=3, color=color,
                        label=f"Monte Carlo ({reps} reps), eps={eps}")
            table += [{"n": n, "eps": eps, "sigma": float(s), "rule": float(r), "predictor": float(p), "mc": m.mean}
                      for s, r, p, m in zip(sigmas, rule, pred, mc)]
        ax.set_title(f"n = {n}")
        ax.set_xlabel(r"logit scale $\sigma$ (i.i.d. $\mathcal{N}(0,\sigma^2)$ logits)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"$E[k_\varepsilon]/n$ (fraction of keys kept)")
    axes[1].legend(fontsize=7, loc="upper right")
    fig.suptitle(r"Minimal Top-k with TV $\leq\varepsilon$: asymptotic rule $\Phi_c(\sigma+z_\varepsilon)$ vs finite n")
    files = pn.save_figure(fig, out_dir, "keps")
    pn.atomic_write_json(Path(out_dir) / "keps.json", {"table": table, "reps": reps, "seed": seed})
    return {"files": [str(f) for f in files] + [str(Path(out_dir) / "keps.json")]}
