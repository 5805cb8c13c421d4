r"""Empirical claims ``topk.real_*``: the paper's Top-k figures re-measured on MiniLM-L6 attention.

All five claims read one cached run of the reduced protocol (:func:`.topk_real.verify_summary`:
one sequence of standard-library docstrings at each of $n=128$ and $n=256$, every row of every
layer and head, 384 sampled rows per $(n,\varepsilon)$ for the output bounds; the same at every
``ctx.scale``). The full protocol is ``attnverify experiment topk-real``. Each check has an independent
part that can fail (direct TV sums, a minimality test, closed forms), and the comparison with
the paper sets ``statement_holds``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from proofs_numeric import Context, Evidence, claim

from .protocol import PAPER, TV_SLACK
from .study import _cell, _summary

PAPER_SLACK = 0.9  #: "reproduced" means our oracle reduction reaches 90% of the paper's figure


def _rows(s: dict[str, Any]) -> int:
    return sum(c["rows"] for c in s["per_n_eps"])


@claim(
    "topk.real_certified_tv",
    paper="topk_tv", equation="C15, §3.1 (Thm 7.2)",
    statement=r"\mathrm{TV}(P,\widehat P^{\,\rm cert})\le\varepsilon\ \text{on 100\% of MiniLM-L6 attention rows},\ \varepsilon\in\{10^{-3},10^{-2},0.05,0.1\}",
    provenance="paper", tolerance=TV_SLACK, error="violation", empirical=True,
)
def _(ctx: Context) -> Evidence:
    """Certified selection meets its TV budget on every real attention row: TV is recomputed
    directly as half the l1 distance between P and the renormalised kept set and counted against
    eps (allowance 1e-12 for the float64 sum)."""
    s = _summary(ctx)
    cells = s["per_n_eps"]
    ok, rows = sum(c["tv_ok"] for c in cells), sum(c["tv_rows"] for c in cells)
    worst = max(0.0, max(c["max_tv_minus_eps"] for c in cells))
    per = {f"n={c['n']}, eps={c['eps']}": f"{c['tv_ok']}/{c['tv_rows']}" for c in cells}
    return Evidence(worst, n_random=rows, statement_holds=ok == rows,
                    details={"rows_tv_le_eps": ok, "rows": rows, "per_n_eps": per, "protocol": s["protocol"]})


def _minimal_k_errors(s: dict[str, Any]) -> int:
    return sum(c["minimality_violations"] for c in s["per_n_eps"])


@claim(
    "topk.real_reduction_vs_paper",
    paper="topk_tv", equation="§4 (bert-base, eps=0.01)",
    statement=r"n/\overline{k_{0.01}}\approx2.18\ (n=128),\ 2.38\ (n=256)\ \text{(paper: 58.8 and 107.8 scored keys)}",
    provenance="paper", tolerance=0.0, error="count", empirical=True,
)
def _(ctx: Context) -> Evidence:
    """The paper's BERT reduction at eps=0.01 (2.18x at n=128, 2.38x at n=256) is not reached on
    MiniLM-L6: the minimal certified k_eps of every row, which bounds any certified method from
    below, gives only about 1.5-1.6x on average (layers 1-2 alone reach about 2.1-2.3x). Reproduced
    would mean our reduction reaches 90% of the paper's; the check counts rows whose certified-minimal k is not minimal (dropping the lowest
    kept key must break TV <= eps)."""
    s = _summary(ctx)
    ours = {n: _cell(s, n, 0.01)["reduction_n_over_mean_k"] for n in (128, 256)}
    table = {n: {"paper_scored_keys": PAPER["scored_keys"][n], "paper_reduction": PAPER["reduction"][n],
                 "ours_mean_k": _cell(s, n, 0.01)["mean_k"], "ours_reduction": ours[n],
                 "ours_mean_n_over_k": _cell(s, n, 0.01)["mean_n_over_k"]} for n in ours}
    holds = all(ours[n] >= PAPER_SLACK * PAPER["reduction"][n] for n in ours)
    per_layer = {f"n={n}": {layer: len(hs) / sum(h["mean_k_over_n"] for h in hs) for layer in sorted({h["layer"] for h in s["per_head"]})
                            for hs in [[h for h in s["per_head"] if (h["n"], h["eps"], h["layer"]) == (n, 0.01, layer)]]}
                 for n in ours}
    return Evidence(float(_minimal_k_errors(s)), n_random=_rows(s), statement_holds=holds,
                    details={"eps": 0.01, "table": table, "paper_model": PAPER["model"], "ours_model": "MiniLM-L6 (oracle k_eps)",
                             "increases_with_n": ours[256] > ours[128], "per_layer_reduction": per_layer})


@claim(
    "topk.real_headline_2_4x",
    paper="topk_tv", equation="§4 headline",
    statement=r"2\le n/\overline{k_{\varepsilon}}\le4\ \text{averaged over layers and heads at}\ \varepsilon=0.01",
    provenance="paper", tolerance=0.0, error="count", empirical=True,
)
def _(ctx: Context) -> Evidence:
    """"2-4x fewer scored keys on average" at eps=0.01 does not hold on MiniLM-L6 with the paper's
    own averaging (n over the mean number of keys); it does for eps in {0.05, 0.1}, and the mean of
    per-row speed-ups n/k_eps (dominated by peaked rows) exceeds 4x, so the headline depends on
    which average is meant."""
    s = _summary(ctx)
    red = {f"n={c['n']}, eps={c['eps']}": (c["reduction_n_over_mean_k"], c["mean_n_over_k"]) for c in s["per_n_eps"]}
    at01 = [c["reduction_n_over_mean_k"] for c in s["per_n_eps"] if c["eps"] == 0.01]
    band = sorted({c["eps"] for c in s["per_n_eps"] if 2.0 <= c["reduction_n_over_mean_k"] <= 4.0})
    return Evidence(float(_minimal_k_errors(s)), n_random=_rows(s), statement_holds=all(2.0 <= r <= 4.0 for r in at01),
                    details={"n_over_mean_k, mean_n_over_k": red, "eps_in_2_4_band": band})


@claim(
    "topk.real_rule_vs_predictor",
    paper="topk_tv", equation="C13, C14",
    statement=r"\text{per head: }|\overline{k}_{\rm finite\text{-}n}-\overline{k_\varepsilon}|<|n\Phi_c(\hat\sigma+z_\varepsilon)-\overline{k_\varepsilon}|\ \text{on average}",
    provenance="derived", tolerance=1e-12, error="abs", empirical=True,
)
def _(ctx: Context) -> Evidence:
    """On real attention the finite-n Gaussian predictor is not consistently closer to k_eps than
    the asymptotic rule: both miss the per-head mean k_eps/n by about 0.02-0.05, and the predictor
    wins only some (n, eps) cells (see details), because real rows are not i.i.d. Gaussian (heavy
    upper tails, attention sinks), so the finite-n correction of C14 does not transfer. Both are evaluated at
    each row's logit spread and averaged per head; the numeric part checks bounds.keps_rule
    against the closed form Phi_c(sigma + z_eps) (scipy) at the measured spreads."""
    from scipy.stats import norm

    from bounds import keps_rule

    s = _summary(ctx)
    heads = s["per_head"]
    sig = np.array([h["mean_sigma"] for h in heads])
    eps = np.array([h["eps"] for h in heads])
    err = np.abs(np.asarray(keps_rule(sig, eps), np.float64) - norm.sf(sig + norm.ppf(eps)))
    mae = {}
    for key in ("rule_k_over_n", "predictor_k_over_n"):
        mae[key] = {f"n={n}, eps={e}": float(np.mean([abs(h[key] - h["mean_k_over_n"]) for h in heads if h["n"] == n and h["eps"] == e]))
                    for n, e in sorted({(h["n"], h["eps"]) for h in heads})}
    wins = {k: mae["predictor_k_over_n"][k] < mae["rule_k_over_n"][k] for k in mae["rule_k_over_n"]}
    bias = {f"n={c['n']}, eps={c['eps']}": {"k_eps": c["mean_k"], "rule": c["rule_mean_k"], "finite_n": c["predictor_mean_k"]}
            for c in s["per_n_eps"]}
    return Evidence.from_errors(err, details={"mean_abs_error_k_over_n": mae, "predictor_closer": wins, "mean_k": bias},
                                statement_holds=sum(wins.values()) > len(wins) / 2)


@claim(
    "topk.real_output_bounds",
    paper="topk_tv", equation="C11 (Thm 5.6)",
    statement=r"\|\mathrm{Attn}-\mathrm{Attn}_k\|_2\le\min\{\tau\,\mathrm{diam}_{H,T},\sqrt{D_{\chi^2}\mathrm{Var}_P(V)},2C\tau\}\ \text{on real values}",
    provenance="paper", tolerance=1e-9, error="rel violation", empirical=True,
)
def _(ctx: Context) -> Evidence:
    """Each output bound holds on sampled MiniLM-L6 rows with the model's own value vectors; the
    actual error is computed directly. Details give the distribution of bound / actual per eps and
    how often each bound is the tightest."""
    s = _summary(ctx)
    cells = s["per_n_eps"]
    worst = max(max(c["max_relative_violation"].values()) for c in cells)
    viol = sum(sum(c["bound_violations"].values()) for c in cells)
    ratios = {f"n={c['n']}, eps={c['eps']}": {b: q.get("median") for b, q in c["ratio_bound_over_actual"].items()} for c in cells}
    active = {f"n={c['n']}, eps={c['eps']}": c["active_fraction"] for c in cells}
    return Evidence(worst, n_random=sum(c["bound_rows"] for c in cells), statement_holds=viol == 0,
                    details={"median_ratio_bound_over_actual": ratios, "active_fraction": active, "violations": viol})
