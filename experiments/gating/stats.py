r"""Gating study, statistics: paired $t$-tests, correlations and the four claims' decision rules.

Spec ``gating_curvature`` §4; the decision rules are our documented choices (:func:`claim_statistics`).

Example::

    st = claim_statistics(run_study(quick_config(), seed=0))
    st["nonlinear_advantage"]["holds"]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .curvature import StudyResult
from .tasks import LINEAR_TASKS

__all__ = ["ALPHA", "LINEAR_MARGIN", "PRIMARY_GATE", "paired_runs", "paired_test", "claim_statistics"]


#: significance level of every decision rule, and the linear-task equivalence margin (accuracy)
ALPHA = 0.05
LINEAR_MARGIN = 0.01
PRIMARY_GATE = "elementwise"


def paired_runs(res: StudyResult, gate: str, tasks: tuple[str, ...], metric: str = "accuracy") -> tuple[np.ndarray, np.ndarray]:
    """``(gated, ungated)`` values of ``metric`` over the (depth, task, seed) pairs of ``tasks``, aligned."""
    r = res.runs
    key = lambda m: {(int(d), str(t), int(s)): float(v) for d, t, s, v in zip(r["depth"][m], r["task"][m], r["seed"][m], r[metric][m])}
    a, b = key(res.select(gate=gate, task=tasks)), key(res.select(gate="none", task=tasks))
    common = sorted(set(a) & set(b))
    return np.array([a[k] for k in common]), np.array([b[k] for k in common])


def paired_test(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    r"""Paired $t$-test of $a-b$ across seeds (``scipy.stats.ttest_rel``): mean, std, $t$, two-sided
    and one-sided ($a>b$) $p$. Identical samples give $p=1$ (no evidence of a difference)."""
    from scipy import stats

    d = np.asarray(a, float) - np.asarray(b, float)
    out = {"n": int(d.size), "mean_diff": float(d.mean()), "std_diff": float(d.std(ddof=1)) if d.size > 1 else float("nan")}
    if d.size < 2 or np.allclose(d, d[0]) and d[0] == 0:
        return out | {"t": 0.0, "p_two_sided": 1.0, "p_greater": 1.0 if d.size == 0 or d[0] <= 0 else 0.5}
    t = stats.ttest_rel(a, b)
    p_greater = float(t.pvalue / 2 if t.statistic > 0 else 1 - t.pvalue / 2)
    return out | {"t": float(t.statistic), "p_two_sided": float(t.pvalue), "p_greater": p_greater}


def _corr(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from scipy import stats

    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return {"n": int(ok.sum()), "pearson_r": float("nan"), "pearson_p": float("nan"), "spearman_rho": float("nan"), "spearman_p": float("nan")}
    pr, sr = stats.pearsonr(x[ok], y[ok]), stats.spearmanr(x[ok], y[ok])
    return {"n": int(ok.sum()), "pearson_r": float(pr.statistic), "pearson_p": float(pr.pvalue),
            "spearman_rho": float(sr.statistic), "spearman_p": float(sr.pvalue)}


def claim_statistics(res: StudyResult) -> dict[str, Any]:
    r"""The four empirical claims' statistics and decision rules (our choices, documented here).

    * ``nonlinear_advantage``: paired $t$-test of gated − ungated test accuracy over all (depth,
      nonlinear task, seed) pairs; holds iff the mean difference of the primary gate
      (``elementwise``) is $>0$ with one-sided $p<0.05$.
    * ``linear_no_difference``: the same on linear tasks; holds unless the primary gate differs
      significantly (two-sided $p<0.05$) *and* by more than 1 accuracy point.
    * ``curvature_accuracy_correlation``: Pearson $r$ between the proxy $\hat\rho$ and test accuracy
      across all runs (also Spearman, curvature density (b), per-task $r$, and (a) vs (b)); holds iff
      $r>0$ with $p<0.05$ (the paper reports $r\approx0.79$).
    * ``depth_growth``: Spearman $\rho$ between depth and curvature density (b) over the primary
      gate's runs; holds iff $\rho>0$ with $p<0.05$. Means per depth, gate and measure are reported.
    """
    cfg, r = res.config, res.runs
    lin = tuple(t for t in cfg.tasks if t in LINEAR_TASKS)
    nonlin = tuple(t for t in cfg.tasks if t not in LINEAR_TASKS)
    gated = [g for g in cfg.gates if g != "none"]
    out: dict[str, Any] = {"primary_gate": PRIMARY_GATE, "alpha": ALPHA}

    def comparison(tasks):
        per = {g: paired_test(*paired_runs(res, g, tasks)) for g in gated}
        per_task = {g: {t: {D: paired_test(*paired_runs(_restrict(res, D), g, (t,))) for D in cfg.depths} for t in tasks} for g in gated}
        return per, per_task

    per, per_task = comparison(nonlin)
    p = per[PRIMARY_GATE]
    out["nonlinear_advantage"] = {"tasks": nonlin, "pooled": per, "per_task_depth": per_task,
                                  "holds": bool(p["mean_diff"] > 0 and p["p_greater"] < ALPHA)}
    per, per_task = comparison(lin)
    p = per[PRIMARY_GATE]
    out["linear_no_difference"] = {"tasks": lin, "pooled": per, "per_task_depth": per_task, "margin": LINEAR_MARGIN,
                                   "holds": bool(not (p["p_two_sided"] < ALPHA and abs(p["mean_diff"]) > LINEAR_MARGIN))}
    acc = r["accuracy"]
    per_task_r = {t: _corr(r["proxy"][res.select(task=t)], acc[res.select(task=t)])["pearson_r"] for t in cfg.tasks}
    corr = {
        "proxy_vs_accuracy": _corr(r["proxy"], acc),
        "density_vs_accuracy": _corr(r["curv_density"], acc),
        "proxy_vs_density": _corr(r["proxy"], r["curv_density"]),
        "proxy_vs_accuracy_per_task_pearson": per_task_r,
        "paper_r": 0.79,
    }
    c = corr["proxy_vs_accuracy"]
    corr["holds"] = bool(c["pearson_r"] > 0 and c["pearson_p"] < ALPHA)
    out["curvature_accuracy_correlation"] = corr
    depth: dict[str, Any] = {"means": {}}
    for g in cfg.gates:
        depth["means"][g] = {m: {int(D): float(np.nanmean(r[m][res.select(gate=g, depth=D)])) for D in cfg.depths}
                             for m in ("curv_density", "proxy", "accuracy")}
        sel = res.select(gate=g)
        depth[g] = {"density": _corr(r["depth"][sel].astype(float), r["curv_density"][sel]),
                    "proxy": _corr(r["depth"][sel].astype(float), r["proxy"][sel])}
    d = depth[PRIMARY_GATE]["density"]
    depth["holds"] = bool(d["spearman_rho"] > 0 and d["spearman_p"] < ALPHA)
    out["depth_growth"] = depth
    finite = np.isfinite(r["accuracy"]) & np.isfinite(r["proxy"]) & np.isfinite(r["curv_density"])
    out["frac_nonfinite_runs"] = float(1 - finite.mean())
    out["mean_frac_degenerate_probes"] = float(np.mean(r["frac_degenerate"]))
    return out


def _restrict(res: StudyResult, depth: int) -> StudyResult:
    m = res.select(depth=depth)
    return StudyResult(res.config, res.seed, {k: v[m] for k, v in res.runs.items()}, res.seconds)
