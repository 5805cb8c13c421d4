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

__all__ = [
    "ALPHA", "LINEAR_MARGIN", "PRIMARY_GATE", "paired_runs", "paired_test", "claim_statistics", "claim_decisions",
    "per_seed_paired", "per_seed_depth_slope", "seed_cluster_correlation", "per_seed_correlation", "fisher_t_interval",
    "RULE_HISTORY",
]


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


# ------------------------------------------------------------------------------------ decisions

#: what the paper reports and in which setting; our protocol (quick or full) is a small reconstruction
PAPER_SETTING = "the paper's gated-attention classifiers (training protocol, steps and data not published)"
PAPER_FIGURES = {
    "nonlinear_advantage": "gated > ungated accuracy on nonlinear-boundary tasks",
    "linear_no_difference": "no consistent difference on linear-boundary tasks",
    "curvature_accuracy_correlation": "Pearson r ≈ 0.79 between curvature and accuracy",
    "depth_growth": "curvature of trained gated models grows with depth (in a structured regime)",
}


def our_setting(cfg) -> str:
    """Our protocol in words, for the side-by-side of a ``not reproduced`` verdict."""
    return (f"{cfg.n_seeds} seeds x tasks {', '.join(cfg.tasks)} x depths {', '.join(map(str, cfg.depths))}; width {cfg.width}, "
            f"{cfg.seq_len} tokens, {cfg.steps} Adam steps of batch {cfg.batch}, float32")


def per_seed_paired(res: StudyResult, tasks: tuple[str, ...], gate: str = PRIMARY_GATE, metric: str = "accuracy") -> np.ndarray:
    """Per seed (the unit of independence), the mean over ``tasks`` and depths of gated − ungated ``metric``."""
    out = []
    for s in np.unique(res.runs["seed"]):
        a, b = paired_runs(_restrict_seed(res, s), gate, tasks, metric)
        out.append(float(np.mean(a - b)) if a.size else np.nan)
    return np.array(out)


def per_seed_depth_slope(res: StudyResult, gate: str = PRIMARY_GATE, metric: str = "curv_density") -> np.ndarray:
    """Per seed, the mean over tasks of the least-squares slope of ``log metric`` against depth (depth 1-2:
    the log ratio D2/D1)."""
    r = res.runs
    out = []
    for s in np.unique(r["seed"]):
        slopes = []
        for t in res.config.tasks:
            m = res.select(gate=gate, task=t, seed=s)
            d, y = r["depth"][m].astype(float), np.log(r[metric][m])
            ok = np.isfinite(y)
            if ok.sum() >= 2 and np.ptp(d[ok]) > 0:
                slopes.append(np.polyfit(d[ok], y[ok], 1)[0])
        out.append(float(np.mean(slopes)) if slopes else np.nan)
    return np.array(out)


def seed_cluster_correlation(res: StudyResult, x: str = "proxy", y: str = "accuracy", *, n_boot: int = 10_000, seed: int = 0) -> tuple[float, float, float]:
    """Pearson r across runs and its 95 % CI by a cluster bootstrap over seeds (runs of one seed share data
    and initial weights across gates, so seeds, not runs, are the independent units). Vectorised: a resample
    is a vector of multinomial cluster counts, and r follows from the weighted per-cluster sums."""
    r = res.runs
    ok = np.isfinite(r[x]) & np.isfinite(r[y])
    xs, ys, ss = r[x][ok].astype(float), r[y][ok].astype(float), r["seed"][ok].astype(int)
    est = float(np.corrcoef(xs, ys)[0, 1])
    uniq = np.unique(ss)
    # per-cluster sums of 1, x, y, x^2, y^2, xy
    sums = np.array([[m.sum(), xs[m].sum(), ys[m].sum(), (xs[m] ** 2).sum(), (ys[m] ** 2).sum(), (xs[m] * ys[m]).sum()]
                     for m in (ss == u for u in uniq)])
    w = np.random.default_rng(seed).multinomial(len(uniq), np.full(len(uniq), 1 / len(uniq)), size=n_boot)
    n, sx, sy, sxx, syy, sxy = (w @ sums).T
    cov, vx, vy = sxy - sx * sy / n, sxx - sx**2 / n, syy - sy**2 / n
    good = (vx > 1e-300) & (vy > 1e-300)
    boots = cov[good] / np.sqrt(vx[good] * vy[good])
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return est, float(min(lo, est)), float(max(hi, est))


def per_seed_correlation(res: StudyResult, x: str = "proxy", y: str = "accuracy", *, shuffle: int | None = None) -> np.ndarray:
    """Per seed, Pearson r across that seed's runs (all tasks, gates, depths). ``shuffle``: a placebo that
    first permutes ``y`` within each seed (``default_rng(shuffle)``), breaking any association."""
    r, out = res.runs, []
    rng = None if shuffle is None else np.random.default_rng(shuffle)
    for s in np.unique(r["seed"]):
        m = (r["seed"] == s) & np.isfinite(r[x]) & np.isfinite(r[y])
        a, b = r[x][m].astype(float), r[y][m].astype(float)
        if rng is not None:
            b = rng.permutation(b)
        out.append(float(np.corrcoef(a, b)[0, 1]))
    return np.array(out)


def fisher_t_interval(rs: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    r"""``(r, lo, hi, mde)``: the mean of per-unit correlations on Fisher's $z=\operatorname{artanh} r$, its
    Student-$t$ interval over units, back-transformed; and the detectable effect (80 % power) as $\tanh$ of
    the one in $z$ units (the detectable $r$ against 0)."""
    from attnverify import proofs_numeric as pn

    z = np.arctanh(np.clip(np.asarray(rs, float), -0.999999, 0.999999))
    m, lo, hi, _ = pn.t_ci(z, level=level)
    return float(np.tanh(m)), float(np.tanh(lo)), float(np.tanh(hi)), float(np.tanh(pn.minimal_detectable_effect(z, level=level)))


#: when and why each gating rule changed: shown in the claims' details
RULE_HISTORY = {
    "curvature_accuracy_correlation": (
        "Until 2026-12-07: Pearson r across all runs, percentile cluster bootstrap over 5 seeds, verified if the CI "
        "lies above 0: inconclusive, [-0.17, 0.12]. Changed after seeing that result: the paper's figure r = 0.79 is now part "
        "of the rule (a CI that excludes it is not reproduced), and the interval is a t-interval over the 5 per-seed "
        "correlations on Fisher's z (5 clusters are too few for a percentile bootstrap)."),
    "depth_growth": (
        "Until 2026-12-07: the gated arm's per-seed slope alone, verified (0.49). The ungated arm passed the same "
        "test more strongly (0.68 [0.52, 0.84]), so the slope was not an effect of gating. Changed after seeing that result: "
        "the claim decides on the per-seed gated - ungated slope; the ungated arm and the untrained models are its controls. "
        "Later on 2026-12-07 (review): the ungated arm's slope is what the contrast subtracts, so it could block any real "
        "effect; the only control is now the untrained gated - ungated slope, and the arms' own slopes are context."),
    "gated_proxy_greater": (
        "Registered on 2026-12-07 from the committed run, after the re-analysis had computed its effect "
        "(-0.011 [-0.021, -0.002]); the rule is the one of the other per-seed paired claims."),
}


def claim_decisions(res: StudyResult, *, seed: int = 0, untrained: StudyResult | None = None) -> dict[str, Any]:
    r"""The four empirical claims' pre-stated decisions (:class:`proofs_numeric.Decision`), with seeds as the
    units of independence; the same rules decide the quick protocol of ``verify`` and the full experiment.

    * ``nonlinear_advantage``: per seed, mean over nonlinear tasks and depths of gated − ungated accuracy;
      verified if the 95 % t-interval lies above 0.
    * ``linear_no_difference``: the same on linear tasks; equivalence within ±:data:`LINEAR_MARGIN`
      (two one-sided tests: the whole 95 % t-interval inside the margin).
    * ``curvature_accuracy_correlation``: Pearson r between the proxy and accuracy across runs, 95 % CI
      by a cluster bootstrap over seeds; verified if the CI lies above 0.
    * ``depth_growth``: per seed, mean over tasks of the slope of log curvature density (b) against depth,
      primary gate **minus ungated**; verified if the 95 % t-interval lies above 0. Control, with
      ``untrained``: the untrained gated - ungated slope (the arms' own slopes: :func:`depth_growth_context`).
    * ``nonlinear_advantage`` gets the untrained models as its control when ``untrained`` is given.
    * ``gated_proxy_greater``: per seed, mean over tasks and depths of gated - ungated curvature proxy;
      verified if the 95 % t-interval lies above 0; control: the same contrast on the untrained models.

    Our protocol differs from the paper's (unpublished) one, so an effect significant in the opposite
    direction is ``not reproduced``, never ``refuted``.
    """
    from attnverify import proofs_numeric as pn

    cfg = res.config
    lin = tuple(t for t in cfg.tasks if t in LINEAR_TASKS)
    nonlin = tuple(t for t in cfg.tasks if t not in LINEAR_TASKS)
    setting = dict(setting_differs=True, paper_setting=PAPER_SETTING, our_setting=our_setting(cfg))
    units = f"seeds (each the mean over {{}} of paired runs)"
    out: dict[str, Any] = {}
    advantage = lambda r, what: pn.decide_direction(  # noqa: E731
        per_seed_paired(r, nonlin), method="t", units=units.format("nonlinear tasks x depths"),
        effect=f"mean gated - ungated test accuracy (elementwise gate), nonlinear tasks{what}",
        rule="verified if the 95 % t-interval over seeds lies above 0; entirely below: not reproduced; otherwise inconclusive",
        paper_figure=PAPER_FIGURES["nonlinear_advantage"], **setting)
    out["nonlinear_advantage"] = advantage(res, "")
    if untrained is not None:  # control: the same contrast before training (same initial weights but the gate's)
        out["nonlinear_advantage"] = pn.with_controls(out["nonlinear_advantage"], {"untrained models": advantage(untrained, ", untrained")})
    out["linear_no_difference"] = pn.decide_equivalence(
        per_seed_paired(res, lin), margin=LINEAR_MARGIN, method="t", units=units.format("linear tasks x depths"),
        effect="mean gated - ungated test accuracy (elementwise gate), linear tasks",
        rule=f"verified if the whole 95 % t-interval over seeds lies within ±{LINEAR_MARGIN} (equivalence, two one-sided "
             "tests); entirely outside: not reproduced; otherwise inconclusive (a failed test of difference is not enough)",
        paper_figure=PAPER_FIGURES["linear_no_difference"], **setting)
    out["curvature_accuracy_correlation"] = _correlation_decision(res, setting, seed)
    slope = lambda r, g: per_seed_depth_slope(r, g)  # noqa: E731
    depth = lambda x, what: _depth_decision(x, what, units, setting)  # noqa: E731
    # the control is the same statistic where the effect should be absent (untrained models); the ungated arm's
    # slope is the very quantity the contrast subtracts, so it is context (depth_growth_context), never a control
    controls = {}
    proxy = lambda r: per_seed_paired(r, tuple(r.config.tasks), metric="proxy")  # noqa: E731
    pcontrols = {}
    if untrained is not None:
        controls["untrained models: gated - ungated slope"] = depth(slope(untrained, PRIMARY_GATE) - slope(untrained, "none"), "untrained, elementwise - ungated")
        pcontrols["untrained models: gated - ungated proxy"] = _proxy_decision(proxy(untrained), units, setting, "untrained models")
    out["depth_growth"] = pn.with_controls(depth(slope(res, PRIMARY_GATE) - slope(res, "none"), "elementwise gate minus ungated"), controls)
    out["gated_proxy_greater"] = pn.with_controls(_proxy_decision(proxy(res), units, setting, "trained"), pcontrols)
    return out


def _depth_decision(x: np.ndarray, what: str, units: str, setting: dict[str, Any]):
    """The depth-growth rule on per-seed slopes ``x``: 95 % t-interval over seeds above 0."""
    from attnverify import proofs_numeric as pn

    return pn.decide_direction(
        x, method="t", units=units.format("tasks (slope against depth)"), effect=f"mean slope of log curvature density (b) against depth, {what}",
        rule="verified if the 95 % t-interval over seeds lies above 0; entirely below: not reproduced; otherwise inconclusive",
        paper_figure=PAPER_FIGURES["depth_growth"], **setting)


def depth_growth_context(res: StudyResult, untrained: StudyResult | None = None) -> dict[str, Any]:
    """Context for ``depth_growth`` (not controls): each arm's own slope of log curvature density (b)
    against depth, trained ungated and (if given) untrained ungated, as ``Decision.to_dict()``. The ungated
    slope is what the gated - ungated contrast subtracts, so it cannot serve as that contrast's control."""
    setting = dict(setting_differs=True, paper_setting=PAPER_SETTING, our_setting=our_setting(res.config))
    units = "seeds (each the mean over {} of paired runs)"
    out = {"trained ungated slope": _depth_decision(per_seed_depth_slope(res, "none"), "ungated", units, setting).to_dict()}
    if untrained is not None:
        out["untrained ungated slope"] = _depth_decision(per_seed_depth_slope(untrained, "none"), "untrained, ungated",
                                                         units, setting).to_dict()
    return out


def _proxy_decision(x: np.ndarray, units: str, setting: dict[str, Any], what: str):
    from attnverify import proofs_numeric as pn

    return pn.decide_direction(
        x, method="t", units=units.format("tasks x depths"), effect=f"mean gated - ungated curvature proxy (elementwise gate), all tasks, {what}",
        rule="verified if the 95 % t-interval over seeds lies above 0; entirely below: not reproduced; otherwise inconclusive",
        paper_figure="gated attention yields higher representation curvature than ungated", **setting)


def _correlation_decision(res: StudyResult, setting: dict[str, Any], seed: int):
    """r between proxy and accuracy: per-seed r, Fisher-z t-interval over seeds; against 0 and the paper's 0.79.
    Control: accuracies permuted within each seed (the same statistic must then fail)."""
    import dataclasses

    from attnverify import proofs_numeric as pn

    paper = 0.79
    n = int(np.unique(res.runs["seed"]).size)

    def decide(rs: np.ndarray, what: str):
        est, lo, hi, mde = fisher_t_interval(rs)
        V = pn.Verdict
        outcome = V.NOT_REPRODUCED if hi < paper or hi < 0 else V.VERIFIED if lo > 0 else V.INCONCLUSIVE
        d = pn.decide_interval(
            est, (lo, hi), effect=f"Pearson r between the curvature proxy and test accuracy within a seed, {what}",
            units="seeds (one r over each seed's runs)", n_units=n, method="t-interval of Fisher z over seeds, back-transformed",
            rule=f"not reproduced if the 95 % CI lies below the paper's r = {paper} (or below 0); verified if it lies above 0 and "
                 "reaches the paper's figure; otherwise inconclusive", paper_figure=PAPER_FIGURES["curvature_accuracy_correlation"], **setting)
        if lo > 0 and hi < paper:
            outcome = V.NOT_REPRODUCED  # positive, but significantly weaker than the paper's figure
        return dataclasses.replace(d, outcome=outcome, detectable_effect=mde)

    return pn.with_controls(decide(per_seed_correlation(res), "trained runs"),
                            {"accuracy permuted within seed": decide(per_seed_correlation(res, shuffle=seed + 1), "accuracy permuted within seed (placebo)")})


def _restrict_seed(res: StudyResult, seed: int) -> StudyResult:
    m = res.select(seed=seed)
    return StudyResult(res.config, res.seed, {k: v[m] for k, v in res.runs.items()}, res.seconds)
