"""Tables and a figure of the paper comparison (``topk-real``): both averages with 95 % intervals next to
the paper's figures, per layer, per-head quantiles, MC-Search against k_eps, corpus hashes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .protocol import PAPER

__all__ = ["reduction_markdown", "reduction_figure"]


def _t(header: list[str], rows: list[list[Any]]) -> str:
    fmt = lambda x: f"{x:.4g}" if isinstance(x, float) else str(x)  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(fmt(x) for x in r) + " |" for r in rows])


def _ci(x: list[float]) -> str:
    return f"[{x[0]:.3f}, {x[1]:.3f}]"


def reduction_markdown(run: dict[str, Any]) -> str:
    """The Markdown report of :func:`.study.run_real`'s output."""
    ours = "; ".join(m.get("description", name) for name, m in run["models"].items())
    parts = [f"# Top-k on real attention: {ours}, against the paper's {PAPER['model']}",
             f"Protocol `{run['protocol']['name']}`, devices = {run.get('devices', 1)}. Units of independence: "
             "sequences; intervals are 95 % BCa bootstraps over sequences (10 000 resamples). "
             "n / mean k_ε is the paper's average (128 / 58.8 = 2.18×); mean n / k_ε is the mean of per-row speed-ups."]
    rows, paper = [], []
    for name, m in run["models"].items():
        for n, r in m["reduction"].items():
            for c in r["per_eps"]:
                rows.append([name, int(n), c["eps"], r["sequences"], c["rows"], c["mean_k"], c["n_over_mean_k"],
                             _ci(c["n_over_mean_k_ci95"]), c["mean_n_over_k"], _ci(c["mean_n_over_k_ci95"]),
                             c["rule_mean_k"], c["predictor_mean_k"]])
                if c["eps"] == PAPER["eps"] and int(n) in PAPER["scored_keys"]:
                    mc = r["mc_search"]
                    paper.append([int(n), name, PAPER["scored_keys"][int(n)], PAPER["reduction"][int(n)], c["mean_k"],
                                  c["n_over_mean_k"], _ci(c["n_over_mean_k_ci95"]), c["mean_n_over_k"],
                                  mc.get("mean_scored", "not run"), mc.get("n_over_mean_scored", "not run")])
    parts += ["## Against the paper (ε = 0.01)",
              _t(["n", "model", "paper scored keys (bert-base, MC-Search)", "paper n/keys", "ours mean k_ε",
                  "ours n / mean k_ε", "95 % CI", "ours mean n/k_ε", "our MC-Search mean scored (sample)",
                  "ours n / mean scored"], sorted(paper)),
              "## k_ε per (model, n, ε)",
              _t(["model", "n", "ε", "sequences", "rows", "mean k_ε", "n / mean k_ε", "95 % CI", "mean n/k_ε", "95 % CI",
                  "rule mean k", "finite-n mean k"], rows)]
    for name, m in run["models"].items():
        for n, r in m["reduction"].items():
            eps = r["eps"]
            by = {(x["layer"], x["eps"]): x for x in r["per_layer"]}
            layers = sorted({x["layer"] for x in r["per_layer"]})
            parts += [f"## {name}, n = {n}: per layer (n / mean k_ε; mean n/k_ε)",
                      _t(["layer", "mean σ", *[f"ε = {e}" for e in eps]],
                         [[la, by[(la, eps[0])]["mean_sigma"],
                           *[f"{by[(la, e)]['n_over_mean_k']:.3f}; {by[(la, e)]['mean_n_over_k']:.3f}" for e in eps]] for la in layers]),
                      f"Per-head n / mean k_ε, quantiles over the {len(layers)} × {r['architecture']['heads']} heads:",
                      _t(["ε", "min", "p05", "p25", "median", "p75", "p95", "max"],
                         [[float(e), *q.values()] for e, q in r["per_head_reduction_quantiles"].items()])]
    mc = [[name, int(n), x["mc_search"]["sequences"], x["mc_search"]["rows"], x["mc_search"].get("mean_scored", "-"),
           x["mc_search"].get("mean_kept", "-"), x["mc_search"].get("mean_k_eps", "-"), x["mc_search"].get("scored_below_k_eps", "-"),
           x["mc_search"].get("tau_upper_above_eps", "-")]
          for name, m in run["models"].items() for n, x in m["reduction"].items()]
    parts += ["## MC-Search (bounds.mc_search, k-means ball cells, ⌈n/16⌉ cells) at ε = 0.01, sampled query rows",
              _t(["model", "n", "sequences", "rows", "mean scored", "mean kept |H|", "mean k_ε (same rows)",
                  "rows scored < k_ε", "rows τ_up > ε"], mc),
              "k_ε is a lower bound on what any certified method must score.",
              "## Corpus (SHA-256 of the tokenized texts per source)",
              _t(["model", "n", "source", "rows", "texts", "tokens", "sha256"],
                 [[name, int(n), s, v["rows"], v["texts"], v["tokens"], v["sha256"]]
                  for name, m in run["models"].items() for n, x in m["reduction"].items()
                  for s, v in x["corpus"]["sources"].items()])]
    return "\n\n".join(parts) + "\n"


def reduction_figure(run: dict[str, Any], out_dir: Path) -> list[Path]:
    """n / mean k_ε against ε with 95 % intervals, per model and n, and the paper's two points."""
    import matplotlib.pyplot as plt

    from attnverify.proofs_numeric import save_figure

    fig, ax = plt.subplots(figsize=(5.5, 4))
    j = 0
    for name, m in run["models"].items():
        for n, r in m["reduction"].items():
            e = [c["eps"] for c in r["per_eps"]]
            y = [c["n_over_mean_k"] for c in r["per_eps"]]
            err = [[c["n_over_mean_k"] - c["n_over_mean_k_ci95"][0] for c in r["per_eps"]],
                   [c["n_over_mean_k_ci95"][1] - c["n_over_mean_k"] for c in r["per_eps"]]]
            ax.errorbar(e, y, yerr=err, fmt="o-", color=f"C{j}", capsize=3, label=f"{name}, n={n} (oracle k_ε)")
            j += 1
    for n, red in PAPER["reduction"].items():
        ax.plot([PAPER["eps"]], [red], "*", ms=12, color="k" if n == 128 else "0.5", label=f"paper, bert-base, n={n}")
    ax.axhspan(2, 4, color="0.92", label="paper headline 2–4×")
    ax.set(xscale="log", xlabel=r"TV budget $\varepsilon$", ylabel=r"$n/\overline{k_\varepsilon}$ (95 % CI over sequences)")
    ax.legend(fontsize=7)
    return save_figure(fig, out_dir, "reduction_models_vs_paper")
