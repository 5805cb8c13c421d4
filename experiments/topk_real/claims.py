r"""Claims ``topk.real_*``: the paper's Top-k figures (``topk_tv`` §4) re-measured on real attention.

Data:

- **MiniLM-L6**: :func:`.study.verify_real` runs :data:`.protocol.REAL_VERIFY` once per process
  (16 prose sequences at each of $n=128, 256$; certified-selection soundness on 1 + 1 sequences;
  MC-Search on 8 query rows per head of one sequence at $n=128$), the same at every ``ctx.scale``.
- **MPNet-base**: the cached full run :data:`.study.MPNET_CACHE` (``REAL_FULL``: 64 sequences per
  $n$), written by ``attnverify experiment topk-real`` and checked against the recorded SHA-256 of the
  model zip. Loading MPNet alone takes about 30 s, more than ``verify`` can spend.
- ``topk.real_rule_vs_predictor`` reads the cached full MiniLM run :data:`.study.MINILM_CACHE`: its
  effect (≈ 0.002 in k/n) needs the 64 sequences per $n$ to decide.

Empirical claims state their protocol before the data: effect, units (**sequences**), $n$, rule, and a
95 % BCa bootstrap interval over sequences (:mod:`proofs_numeric` ``Decision``). The paper measured
MC-Search scored keys on bert-base; we measure the oracle $k_\varepsilon$ (a lower bound on any
certified method's scored keys) on other models and data, so a figure that disagrees is
``not reproduced``, with both figures side by side.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from attnverify.proofs_numeric import Context, Evidence, claim, decide_all, decide_direction, decide_equivalence, minimal_detectable_effect
from attnverify.proofs_numeric.reference import load_reference_run

from .protocol import MODELS, PAPER, TV_SLACK
from .study import MINILM_CACHE, MPNET_CACHE, verify_real

PAPER_SETTING = "bert-base-uncased attention, MC-Search scored keys, data unstated (topk_tv §4)"


def _minilm(ctx: Context) -> dict[str, Any]:
    return verify_real(ctx.seed)["models"]["minilm"]


REFERENCE_COMMAND = "attnverify experiment topk-real --out DIR, then copy DIR/{name} to experiments/topk_real/"


def _reference(path: Any, name: str) -> dict[str, Any]:
    """One model's part of a committed full run, with its provenance under ``"reference_run"``."""
    ref = load_reference_run(path, command=REFERENCE_COMMAND.format(name=path.name))
    return {**ref.data[name], "reference_run": ref.provenance()}


def _mpnet(ctx: Context) -> dict[str, Any]:
    from attnverify.attention import MPNET_ZIP_SHA256

    run = _reference(MPNET_CACHE, "mpnet")
    if run.get("zip_sha256") != MPNET_ZIP_SHA256:
        raise ValueError(f"{MPNET_CACHE.name} was measured on another MPNet zip ({run.get('zip_sha256')}); "
                         "re-run `attnverify experiment topk-real` and copy its mpnet_full.json here")
    return run


LOADERS = {"minilm": _minilm, "mpnet": _mpnet}


def _our_setting(name: str, r: dict[str, Any]) -> str:
    src = ", ".join(f"{s} ({v['rows']})" for s, v in r["corpus"]["sources"].items())
    return f"{MODELS[name]}; oracle k_eps of every row; prose sequences: {src}"


def _soundness_cells(ctx: Context) -> list[dict[str, Any]]:
    return _minilm(ctx)["soundness"]["per_n_eps"]


@claim(
    "topk.real_certified_tv",
    paper="topk_tv", equation="C15, §3.1 (Thm 7.2)",
    statement=r"\mathrm{TV}(P,\widehat P^{\,\rm cert})\le\varepsilon\ \text{on every MiniLM-L6 attention row},\ \varepsilon\in\{10^{-3},10^{-2},0.05,0.1\}",
    provenance="paper", tolerance=TV_SLACK, error="TV - eps (direct half-l1 sum)",
)
def _(ctx: Context) -> Evidence:
    """Certified selection meets its TV budget on every real attention row: TV is recomputed directly
    as half the l1 distance between P and the renormalised kept set (allowance 1e-12 for that sum)."""
    cells = _soundness_cells(ctx)
    per = {f"n={c['n']}, eps={c['eps']}": f"{c['tv_ok']}/{c['tv_rows']}" for c in cells}
    worst = max(c["max_tv_minus_eps"] for c in cells)
    return Evidence(max(worst, 0.0) if all(c["tv_ok"] == c["tv_rows"] for c in cells) else max(worst, 1.0),
                    n_random=sum(c["tv_rows"] for c in cells), details={"rows_tv_le_eps": per})


@claim(
    "topk.real_output_bounds",
    paper="topk_tv", equation="C11 (Thm 5.6)",
    statement=r"\|\mathrm{Attn}-\mathrm{Attn}_k\|_2\le\min\{\tau\,\mathrm{diam}_{H,T},\sqrt{D_{\chi^2}\mathrm{Var}_P(V)},2C\tau\}\ \text{on MiniLM-L6 rows and values}",
    provenance="paper", tolerance=1e-9, error="rel violation",
)
def _(ctx: Context) -> Evidence:
    """Each output bound holds on sampled MiniLM-L6 rows with the model's own value vectors (the
    actual error computed directly); details give the median bound / actual and the active bound."""
    cells = _soundness_cells(ctx)
    worst = max(max(c["max_relative_violation"].values()) for c in cells)
    ratios = {f"n={c['n']}, eps={c['eps']}": {b: q.get("median") for b, q in c["ratio_bound_over_actual"].items()} for c in cells}
    return Evidence(worst, n_random=sum(c["bound_rows"] for c in cells),
                    details={"median_ratio_bound_over_actual": ratios,
                             "active_fraction": {f"n={c['n']}, eps={c['eps']}": c["active_fraction"] for c in cells}})


def _reduction(name: str, n: int):
    paper = PAPER["reduction"][n]

    def check(ctx: Context) -> Evidence:
        m = LOADERS[name](ctx)
        r = m["reduction"][str(n)]
        j = r["eps"].index(PAPER["eps"])
        seq_k = np.asarray(r["per_sequence"]["mean_k"])[:, j]
        d = decide_direction(
            seq_k, boundary=paper, direction="greater", statistic=lambda x, axis=-1: n / np.mean(x, axis=axis),
            units="sequences", effect=f"n / mean k_0.01 (n = {n})", seed=ctx.seed,
            rule=(f"verified if the 95 % CI of n / mean k_eps lies above the paper's {paper:.3f} (the oracle admits the "
                  "paper's reduction); not reproduced if it lies below (no certified method reaches it here); else inconclusive"),
            setting_differs=True, paper_figure=f"{PAPER['scored_keys'][n]} scored keys of {n} = {paper:.3f}x",
            paper_setting=PAPER_SETTING, our_setting=_our_setting(name, r))
        # detectable effect of the ratio n / mean k: that of the mean of the per-sequence ratios (delta method)
        d = dataclasses.replace(d, detectable_effect=minimal_detectable_effect(n / seq_k))
        c = r["per_eps"][j]
        minimal = sum(x["minimality_violations"] for x in m["soundness"]["per_n_eps"])
        return Evidence(float(minimal), n_random=c["rows"], decision=d,
                        details={"paper": {"scored_keys": PAPER["scored_keys"][n], "n_over_keys": paper},
                                 "ours": {"mean_k_eps": c["mean_k"], "n_over_mean_k": c["n_over_mean_k"],
                                          "ci95": c["n_over_mean_k_ci95"], "mean_n_over_k": c["mean_n_over_k"],
                                          "mean_n_over_k_ci95": c["mean_n_over_k_ci95"], "mc_search": r["mc_search"]},
                                 "sequences": r["sequences"], "corpus": r["corpus"],
                                 "source": m.get("reference_run", "live: the verify protocol (experiments.topk_real.protocol.REAL_VERIFY)")})
    return check


for _name in ("minilm", "mpnet"):
    for _n in (128, 256):
        claim(
            f"topk.real_reduction_{_name}_n{_n}",
            paper="topk_tv", equation="§4 (bert-base, eps = 0.01)",
            statement=(rf"n/\overline{{k_{{0.01}}}}\ \text{{on {_name}}},\ n={_n}\ \text{{against the paper's }}"
                       rf"{_n}/{PAPER['scored_keys'][_n]}={PAPER['reduction'][_n]:.2f}\ \text{{(bert-base)}}"),
            provenance="paper", tolerance=0.0, error="minimality violations (count)", empirical=True,
        )(_reduction(_name, _n))


def _headline(name: str):
    def check(ctx: Context) -> Evidence:
        m = LOADERS[name](ctx)
        per_seq = []
        for n, r in m["reduction"].items():
            j = r["eps"].index(PAPER["eps"])
            per_seq += list(int(n) / np.asarray(r["per_sequence"]["mean_k"])[:, j])
        x = np.asarray(per_seq) - 3.0
        d = decide_equivalence(
            x, margin=1.0, method="bootstrap", units="sequences", seed=ctx.seed,
            effect="per-sequence n / mean k_0.01 minus 3 (n = 128 and 256 pooled)",
            rule="verified if the 95 % CI of the per-sequence reduction lies inside (2, 4); not reproduced if entirely outside; else inconclusive",
            setting_differs=True, paper_figure="2-4x fewer scored keys on average", paper_setting=PAPER_SETTING,
            our_setting=_our_setting(name, next(iter(m["reduction"].values()))))
        return Evidence(0.0, n_random=len(per_seq), decision=d, details={"mean_reduction": float(np.mean(per_seq))})
    return check


for _name in ("minilm", "mpnet"):
    claim(
        f"topk.real_headline_2_4x_{_name}",
        paper="topk_tv", equation="§4 headline",
        statement=rf"2<n/\overline{{k_{{0.01}}}}<4\ \text{{per sequence on {_name}, averaged over sequences}}",
        provenance="paper", tolerance=0.0, error="none", empirical=True,
    )(_headline(_name))


@claim(
    "topk.real_rule_vs_predictor",
    paper="topk_tv", equation="C13, C14",
    statement=r"\text{per head: }|\overline{k}_{\rm finite\text{-}n}-\overline{k_\varepsilon}|<|n\Phi_c(\hat\sigma+z_\varepsilon)-\overline{k_\varepsilon}|\ \text{on MiniLM-L6},\ \varepsilon=0.01",
    provenance="derived", tolerance=1e-12, error="abs (keps_rule vs closed form)", empirical=True,
)
def _(ctx: Context) -> Evidence:
    """Is the finite-n predictor (C14) closer than the asymptotic rule (C13) to the per-head mean
    k_eps on real rows? Effect per sequence: mean over heads of |predictor - k| - |rule - k| (in k/n),
    decided separately at n = 128 and n = 256 (t over each n's 64 sequences: non-overlapping chunks of three
    prose sources, several chunks per text, not 64 distinct texts) and required at both;
    the numeric part checks bounds.keps_rule against Phi_c(sigma + z_eps) (scipy)."""
    from scipy.stats import norm

    from attnverify.bounds import keps_rule

    m = _reference(MINILM_CACHE, "minilm")  # 16 sequences per n cannot decide an effect this small
    parts, sig, by_source = {}, [], {}
    for n, r in m["reduction"].items():
        j = r["eps"].index(0.01)
        gaps = np.asarray(r["per_sequence"]["predictor_minus_rule_abs_error"])[:, j]
        src = np.asarray(r["per_sequence"]["source"])
        counts = {str(k): int(np.sum(src == k)) for k in dict.fromkeys(src.tolist())}
        by_source[f"n = {n}"] = {k: {"chunks": c, "mean_effect": float(gaps[src == k].mean())} for k, c in counts.items()}
        per = ", ".join(f"{c} {k}" for k, c in counts.items())
        parts[f"n = {n}"] = decide_direction(
            gaps, boundary=0.0, direction="less",
            units=f"sequences of n = {n}: non-overlapping chunks of {len(counts)} prose sources ({per}); several chunks "
                  "can come from one text, so chunks, not distinct texts, are the units (the run records no text ids)",
            seed=ctx.seed, method="t", effect=f"n = {n}: mean over heads of |finite-n - k| - |rule - k| (k/n units), eps = 0.01",
            rule="verified if the 95 % t-interval lies below 0; not reproduced if above 0; else inconclusive",
            setting_differs=True, paper_figure="C14: the finite-n predictor is closer to k_eps than the rule (Gaussian logits)",
            paper_setting="i.i.d. Gaussian logits (the setting of C13 and C14)",
            our_setting="MiniLM-L6 attention rows of prose (heavy upper tails, attention sinks)")
        sig += r["per_sequence"]["mean_sigma"]
    d = decide_all(parts, rule="decided separately at n = 128 and n = 256 (each over its own 64 sequences, t-interval): "
                               "verified only if both lie below 0; not reproduced if either lies above 0; otherwise inconclusive")
    s = np.asarray(sig)
    err = np.abs(np.asarray(keps_rule(s, 0.01), np.float64) - norm.sf(s + norm.ppf(0.01)))
    return Evidence.from_errors(err, decision=d, details={"reference_run": m["reference_run"], "rule_history": _RULE_VS_PREDICTOR_HISTORY,
                                                          "control": _NO_SHUFFLE_CONTROL,
                                                          "units_by_source": by_source, "units_note": _UNITS_NOTE})


_RULE_VS_PREDICTOR_HISTORY = (
    "Stated first on the verify protocol (16 sequences per n, pooled over n = 128 and 256): inconclusive, [-0.0042, +0.0002]. "
    "The claim was then switched to the cached 64-sequence run, pooled (verified, -0.0025 [-0.0037, -0.0014]): a switch made "
    "after seeing an inconclusive result. A re-analysis on 2026-12-07 found the two lengths disagree in sign and that the texts of "
    "the two lengths overlap (the same prose stream), so the pooled units were not independent; the claim now decides per n "
    "(each n's sequences are distinct chunks) and requires both. This rule was set after seeing the per-n effects.")
_UNITS_NOTE = ("Units are non-overlapping chunks of n tokens, not distinct texts: a source contributes several chunks of "
               "one text (django-msgids at n = 128: 21 chunks from 2 texts, per the 2026-12-07 review). The run records the "
               "source of each chunk but no text id, so a cluster (by text) interval cannot be computed from it; chunks of "
               "one text are likely positively correlated, so the t-interval over chunks may be too narrow. The per-source "
               "counts and mean effects are under units_by_source.")
_NO_SHUFFLE_CONTROL = ("No shuffled-logit placebo applies: k_eps, the logit spread and both predictions are invariant to a "
                       "permutation of a row's logits, so a shuffled-logit control reproduces the effect exactly and cannot fail.")


@claim(
    "topk.real_mc_search_sound",
    paper="topk_tv", equation="§3.6, C15 (Thm 7.2)",
    statement=r"\text{MC-Search on real rows: }\tau^{\rm up}\le\varepsilon,\ |H|\ge k_\varepsilon,\ \text{scored}\ge k_\varepsilon",
    provenance="derived", tolerance=0.0, error="violating rows (count)",
)
def _(ctx: Context) -> Evidence:
    """MC-Search (bounds.mc_search with ball cells plus MPNet's relative bias) on sampled real rows
    certifies its budget and never scores fewer than k_eps keys (k_eps bounds every certified method
    from below). Details report its scored-key count next to k_eps for MiniLM (live) and MPNet (cached)."""
    out, bad, rows = {}, 0, 0
    for name, load in LOADERS.items():
        for n, r in load(ctx)["reduction"].items():
            mc = r["mc_search"]
            if mc["rows"]:
                bad += mc["scored_below_k_eps"] + mc["kept_below_k_eps"] + mc["tau_upper_above_eps"]
                rows += mc["rows"] if name == "minilm" else 0
                out[f"{name}, n={n}"] = {k: mc[k] for k in ("rows", "mean_scored", "mean_kept", "mean_k_eps")}
    return Evidence(float(bad), n_random=rows, details={"scored_vs_k_eps": out})
