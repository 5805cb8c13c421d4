r"""KV-eviction experiment (OBCache, ``docs/papers/obcache.md``: C7, C13 and the paper's experiments).

Every eviction policy of :mod:`attention.kv.eviction` (H2O, TOVA, SnapKV hosts x accumulated-attention,
OBCache value/key/joint and the exact-removal oracle scores) evicts a prompt of $n$ tokens at budgets
of 5, 10, 20 and 40 % of $n$ (4 attention sinks and the last 5 % of the budget always kept; TOVA moves
its recent tokens into the heavy budget). We measure the relative output error
$\|\hat O-O\|_F/\|O\|_F$ of the $f$ *future* queries (positions $n..n+f-1$, causal, future keys never
evicted) per (layer, head), and of the scoring window (the last 16 prompt rows: the objective the
scores approximate; our choice: report both), on

- **MiniLM-L6** attention with a causal mask, all 6 layers x 12 heads, on the real-text corpus
  (:func:`attention.text_corpus`, standard-library docstrings), $Q,K,V$ computed in float32 and upcast to
  float64 before scoring (spec pitfall 12);
- **synthetic attention**: a shared query direction with AR(1) drift (locally correlated queries),
  heavy-hitter keys aligned with it, a sinusoidal locality term, an attention sink with a small value,
  log-normal value norms.

It also reports the rank agreement (Spearman, top-$B$ recall) of every score with the exact
single-token removal error $E^{\rm rm}$ on the SnapKV window (C7), because the OBCache scores are a
second-order proxy for *zeroing*, not the removal error.

Run: ``attnverify experiment kv-eviction [--quick] --out DIR`` (quick mode < 60 s). Its ``summary.json``
keeps the hosts-pooled decisions of the consecutive-chunk protocol; since 2026-12-07 the MiniLM claims
decide per host from one prompt per file (:mod:`.files`, ``attnverify experiment kv-eviction-files``).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import numpy as np

from attnverify import proofs_numeric as pn
from attnverify.proofs_numeric.reference import load_reference_run

from .core import BUDGETS as BUDGETS
from .core import HOSTS
from .core import N_SINKS as N_SINKS
from .core import RECENT_FRAC as RECENT_FRAC
from .core import WINDOW as WINDOW
from .core import compare_to_host as compare_to_host
from .core import evaluate_policies as evaluate_policies
from .core import keep_all_error as keep_all_error
from .core import minilm_qkv as minilm_qkv
from .core import rank_agreement as rank_agreement
from .core import run_dataset as run_dataset
from .core import synthetic_qkv as synthetic_qkv
from .core import verdict_output_aware as verdict_output_aware
from .files import per_file

__all__ = [
    "kv_eviction_experiment", "t1_fixture", "BUDGETS", "WINDOW", "N_SINKS", "RECENT_FRAC", "synthetic_qkv", "minilm_qkv",
    "evaluate_policies", "keep_all_error", "rank_agreement", "compare_to_host", "verdict_output_aware", "run_dataset",
]


@pn.experiment("kv-eviction", help="OBCache vs accumulated-attention eviction: error vs budget on MiniLM and synthetic attention")
def kv_eviction_experiment(out_dir: Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Run the protocol of the module docstring. Quick: two MiniLM chunks of 256 tokens (224-token prompt + 32
    future queries; 144 heads) and 24 synthetic heads; full: 8 chunks of 512 (448 + 64; 576 heads) and 96
    synthetic heads. Writes per-dataset tables (``errors_*.md``/``.json``), plots (``error_vs_budget_*``)
    and ``summary.json`` with the claims' decisions on this protocol (units: MiniLM sequences, synthetic
    heads); returns ``{"files": [...], "synthetic": ..., "minilm": ..., "decisions": ...}``."""
    out_dir = Path(out_dir)
    n, f, count, heads = (224, 32, 2, 24) if quick else (448, 64, 8, 96)
    syn = run_dataset("synthetic", synthetic_qkv(np.random.default_rng(seed), heads, n + f), n, out_dir)
    real = run_dataset("minilm", minilm_qkv(n + f, count), n, out_dir)
    decisions = {  # the same pre-stated decisions as the claims of `attnverify verify`, on this protocol's units
        "output_aware_beats_attention_minilm": output_aware_decision("minilm", real, count, seed=seed).to_dict(),
        "output_aware_beats_attention_synthetic": output_aware_decision("synthetic", syn, heads, seed=seed).to_dict(),
        "scores_rank_removal_error": all_of({"minilm": rank_decision("minilm", real, count, seed=seed),
                                             "synthetic": rank_decision("synthetic", syn, heads, seed=seed)}).to_dict(),
    }
    summary = {"quick": quick, "seed": seed, "synthetic": syn, "minilm": real, "decisions": decisions}
    pn.atomic_write_json(out_dir / "summary.json", summary)
    return {"files": syn["files"] + real["files"] + [str(out_dir / "summary.json")], "synthetic": syn, "minilm": real, "decisions": decisions}


# ----------------------------------------------------------------------------------------------
# Claims: the proxy is not the removal error (C5, C8 findings), rank agreement (C7, C13), and the
# paper's claim that output-aware scores beat accumulated attention (§4), on the reduced protocol.


def t1_fixture() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spec fixture T1: ``Q`` [8,16], ``K``, ``V`` [40,16] float64, no mask (token ``p = 7``)."""
    rng = np.random.default_rng(0)
    k, v = rng.normal(size=(40, 16)), rng.normal(size=(40, 16))
    return 1.5 * rng.normal(size=(8, 16)), k, v


def _t1_all():
    from attnverify.attention.kv.perturbation import exact_errors, obcache_scores, perturbation_errors_bruteforce, window_attention

    q, k, v = t1_fixture()
    att = window_attention(q, k, v)
    s, e = obcache_scores(att, v), exact_errors(att, v)
    bf = {kind: np.asarray(perturbation_errors_bruteforce(q, k, v, None, kind)) for kind in ("key", "joint", "removal")}
    return q, k, v, att, s, e, bf


@pn.claim(
    "obcache.score_is_not_removal_error", paper="obcache", equation="§2.1-2.3, C5; pitfall 2",
    statement=r"S^K_p,\ S^{VK}_p\ \text{are second-order zeroing proxies, not eviction errors: }S^K_p\ne E^K_p,\ S^{VK}_p\ne E^{\rm rm}_p\ "
              r"(\text{T1},\ p=7:\ S^K/E^K\approx4.4,\ S^{VK}/E^{\rm rm}\approx7.5);\ \text{only }S^V_p=E^V_p",
    provenance="finding", tolerance=1e-12, error="rel",
)
def _score_not_removal(ctx: pn.Context) -> pn.Evidence:
    r"""Finding: the OBCache key and joint scores are second-order Taylor terms of *zeroing* a token's key (and
    value), as the paper presents them, so they are proxies, neither the exact zeroing error nor the true removal
    error. On spec fixture T1 (token 7) $S^K$ is 4.4x $E^K$ and $S^{VK}$ is 7.5x $E^{\rm rm}$; only $S^V=E^V$ is
    exact. The paper never claims equality; this records how far the proxy is from the quantity eviction changes.
    The check confirms the exact errors by brute force and that the ratios are off 1 by more than 10 %."""
    *_, s, e, bf = _t1_all()
    p = 7
    err = max(abs(float(e[i][p]) - bf[kind][p]) / bf[kind][p] for i, kind in ((1, "key"), (2, "joint"), (3, "removal")))
    ratios = {"S^K/E^K": float(s.key[p] / e.key[p]), "S^VK/E^VK": float(s.joint[p] / e.joint[p]), "S^VK/E^rm": float(s.joint[p] / e.removal[p])}
    if min(abs(r - 1) for r in ratios.values()) < 0.1:
        err = float("inf")  # the finding would not hold here
    frac = float(np.mean(np.abs(np.asarray(s.key) / np.asarray(e.key) - 1) > 0.1))
    ex = {"fixture": "T1", "token": p, **{n: float(getattr(s, n)[p]) for n in ("value", "key", "joint")},
          "E_K": float(e.key[p]), "E_VK": float(e.joint[p]), "E_rm": float(e.removal[p]), **ratios}
    return pn.Evidence(err, 0, 1, details={"tokens_with_SK_off_EK_by_10pct": frac, "example": ex})


@pn.claim(
    "obcache.key_score_shift_dependent", paper="obcache", equation="§2.2, C8; pitfall 6",
    statement=r"z\mapsto z+c\mathbf 1\ \text{leaves }A,\ S^V,\ E^{\rm rm}\ \text{unchanged but rescales }S^K_p\ \ (\text{T1},\ c=2:\ S^K_7\times\approx4)",
    provenance="finding", tolerance=1e-12, error="rel",
)
def _key_shift(ctx: pn.Context) -> pn.Evidence:
    r"""Finding: the key score depends on the absolute logit level, which attention itself ignores. Adding 2 to
    every logit (an extra key coordinate 1 and query coordinate $2\sqrt{16}$, scale kept at $1/\sqrt{16}$) leaves
    $A$, $S^V$ and $E^{\rm rm}$ unchanged but multiplies $S^K_7$ on T1 by about 4, so key and cross scores, hence
    joint rankings, change under a shift that changes no output. The paper does not claim shift invariance."""
    import jax.numpy as jnp

    from attnverify.attention.kv.perturbation import exact_errors, obcache_scores, window_attention

    q, k, v = t1_fixture()
    q2 = np.concatenate([q, np.full((8, 1), 2 * np.sqrt(16))], 1) * np.sqrt(17 / 16)
    k2 = np.concatenate([k, np.ones((40, 1))], 1)
    a1, a2 = window_attention(q, k, v), window_attention(q2, k2, v)
    s1, s2, e1, e2 = obcache_scores(a1, v), obcache_scores(a2, v), exact_errors(a1, v), exact_errors(a2, v)
    err = max(float(jnp.max(jnp.abs(a2.probs - a1.probs))), float(jnp.max(jnp.abs(s2.value / s1.value - 1))),
              float(jnp.max(jnp.abs(e2.removal / e1.removal - 1))))
    change = float(s2.key[7] / s1.key[7])
    if abs(change - 1) < 0.1:
        err = float("inf")
    return pn.Evidence(err, 0, 1, details={"example": {"fixture": "T1+2", "token": 7, "S_K_before": float(s1.key[7]),
                                                       "S_K_after": float(s2.key[7]), "ratio": change}})


#: reduced protocols of ``attnverify verify`` (and ``small``: the test suite, scale < 0.1). MiniLM: sequences of
#: ``n`` prompt + ``f`` future tokens, each sequence one independent unit (all 72 heads: subsets of heads are not
#: representative, the effect changes sign across layers); synthetic: independent heads. The full experiment
#: uses 8 sequences of 448 + 64 tokens: its verdict is reported next to this one (the sign depends on the
#: prompt length).
REDUCED = {"minilm": {"n": 160, "f": 32, "units": 3}, "synthetic": {"n": 160, "f": 32, "units": 48}}
REDUCED_SMALL = {"minilm": {"n": 64, "f": 16, "units": 2}, "synthetic": {"n": 64, "f": 16, "units": 24}}
MINILM_LAYERS_HEADS = (6, 12)

PAPER_SETTING = "Llama-3.1-8B-Instruct, RULER-4K average accuracy, query-aware and query-agnostic hosts (paper §4)"
PAPER_FIGURE = "+OBCache-K/VK over the host: H2O +10.3, TOVA +2.2, SnapKV +1.5 accuracy points (query-aware)"
OUR_SETTING_MINILM = ("MiniLM-L6 (a 6-layer encoder) under an imposed causal mask, standard-library docstrings, prompts of "
                      "{n} tokens, {h} heads per layer, relative output error of {f} future queries; budgets 5-40 %")


def _protocol(dataset: str, small: bool) -> dict[str, int]:
    return (REDUCED_SMALL if small else REDUCED)[dataset]


@functools.lru_cache(maxsize=8)
def _reduced_data(dataset: str, seed: int, small: bool = False):
    pr = _protocol(dataset, small)
    n, f, units = pr["n"], pr["f"], pr["units"]
    if dataset == "synthetic":
        return synthetic_qkv(np.random.default_rng(seed), units, n + f), n
    return minilm_qkv(n + f, units), n


@functools.lru_cache(maxsize=8)
def _reduced(dataset: str, seed: int, small: bool = False) -> dict[str, Any]:
    """Reduced protocol for ``attnverify verify`` (:data:`REDUCED`; ``small``: :data:`REDUCED_SMALL`)."""
    qkv, n = _reduced_data(dataset, seed, small)
    return run_dataset(dataset, qkv, n, None)


def per_unit(dataset: str, per_head: np.ndarray, units: int) -> tuple[np.ndarray, str]:
    """Average per-head values over the independent units: MiniLM heads ``[layers, sequences, heads]``
    (layer-major, :func:`minilm_qkv`) to one value per sequence; synthetic heads are their own units."""
    x = np.asarray(per_head, np.float64)
    if dataset == "minilm":
        layers = MINILM_LAYERS_HEADS[0]
        return x.reshape(layers, units, -1).mean(axis=(0, 2)), "sequences"
    return x, "synthetic heads (independent draws)"


def output_aware_decision(dataset: str, res: dict[str, Any], units: int, *, seed: int = 0) -> pn.Decision:
    """The pre-stated decision of the output-aware claim on one data set (also used by the experiment): Student t
    over the few MiniLM sequences, BCa bootstrap over the synthetic heads."""
    x, unit_name = per_unit(dataset, res["log_ratio_per_head"], units)
    differs = dataset == "minilm"
    return pn.decide_direction(
        x, direction="less", units=unit_name, seed=seed, method="t" if dataset == "minilm" else "bootstrap",
        effect="mean log(err[host+S^K or S^VK] / err[host+S^A]) over H2O/TOVA/SnapKV, both scores, budgets 5-40 %",
        rule="verified if the 95 % CI of the mean log error ratio lies below 0 (OBCache scores evict better); "
             "entirely above 0: refuted (not reproduced where the setting differs from the paper's); otherwise inconclusive",
        setting_differs=differs, paper_figure=PAPER_FIGURE if differs else None,
        paper_setting=PAPER_SETTING if differs else None,
        our_setting=OUR_SETTING_MINILM.format(n=res["n_prompt"], f=res["n_future"], h=res["heads"] // (units * MINILM_LAYERS_HEADS[0]))
        if differs else None,
    )


def rank_decision(dataset: str, res: dict[str, Any], units: int, *, seed: int = 0) -> pn.Decision:
    """Decision of the rank-agreement claim on one data set: per unit, the smaller top-10 % recall of S^K, S^VK."""
    rec = np.minimum(res["recall10_per_head"]["obc-k"], res["recall10_per_head"]["obc-vk"])
    x, unit_name = per_unit(dataset, rec, units)
    return pn.decide_direction(
        x, boundary=0.8, units=unit_name, seed=seed, method="t" if dataset == "minilm" else "bootstrap", effect="mean top-10 % recall of E^rm by min(S^K, S^VK)",
        rule="verified if the 95 % CI of the mean recall lies above 0.8; entirely below: refuted; otherwise inconclusive")


def _oracle_check(dataset: str, seed: int, small: bool = False, heads: int = 4) -> float:
    r"""Largest relative error of the closed-form $E^{\rm rm}$ against brute-force removal on a few heads."""
    from attnverify.attention.kv.perturbation import causal_mask, exact_errors, perturbation_errors_bruteforce, window_attention

    (q, k, v), n = _reduced_data(dataset, seed, small)
    q, k, v = q[:heads, n - WINDOW : n], k[:heads, :n], v[:heads, :n]
    m = np.broadcast_to(np.asarray(causal_mask(n, np.arange(n - WINDOW, n))), q.shape[:-1] + (n,))
    closed = np.asarray(exact_errors(window_attention(q, k, v, m), v).removal)
    brute = np.asarray(perturbation_errors_bruteforce(q, k, v, m, "removal"))
    return float(np.max(np.abs(closed - brute) / np.maximum(brute, 1e-6 * brute.max())))


def rank_decisions(rec: dict[str, np.ndarray], units: str, *, minilm: bool, seed: int = 0) -> pn.Decision:
    """The rank claim on one data set from per-unit top-10 % recalls (``obc``: min(S^K, S^VK); ``attn``: S^A;
    ``sq-attn``: the placebo S^{a^2}): the recall must lie above 0.8 **and** above S^A's (paired difference
    above 0); S^A and S^{a^2} against 0.8 are the placebos (S^A alone passes 0.8)."""
    how = dict(method="t" if minilm else "bootstrap", seed=seed, units=units)
    thr = lambda x, what: pn.decide_direction(x, boundary=0.8, effect=f"mean top-10 % recall of E^rm by {what}", **how,  # noqa: E731
                                              rule="verified if the 95 % CI of the mean recall lies above 0.8; entirely below: refuted; otherwise inconclusive")
    diff = pn.decide_direction(
        rec["obc"] - rec["attn"], effect="paired difference of top-10 % recall: min(S^K, S^VK) - S^A", **how,
        rule="verified if the 95 % CI of the mean paired recall difference lies above 0 (the OBCache scores rank the "
             "removal error better than accumulated attention); entirely below: refuted; otherwise inconclusive")
    contrast = lambda x, what: pn.decide_direction(  # noqa: E731
        x, effect=f"paired difference of top-10 % recall: {what}", **how,
        rule="verified if the 95 % CI of the mean paired recall difference lies above 0; entirely below: refuted; otherwise inconclusive")
    # guide's rule: not verified while any placebo passes. The paired difference with S^A gets its own placebo
    # (sum_i a_i^2 - S^A), and the placebo-controlled contrast min(S^K, S^VK) - sum_i a_i^2 is decided as well.
    parts = {"recall >= 0.8": pn.with_controls(thr(rec["obc"], "min(S^K, S^VK)"),
                                                {"S^A recall vs 0.8": thr(rec["attn"], "S^A (placebo)"),
                                                 "S^{a^2} recall vs 0.8": thr(rec["sq-attn"], "sum_i a_i^2 (placebo)")}),
             "better than S^A": pn.with_controls(diff, {"S^{a^2} - S^A (placebo)": contrast(rec["sq-attn"] - rec["attn"], "sum_i a_i^2 - S^A (placebo)")}),
             "better than S^{a^2}": contrast(rec["obc"] - rec["sq-attn"], "min(S^K, S^VK) - sum_i a_i^2 (placebo-controlled contrast)")}
    return pn.decide_all(parts)


def _synthetic_recalls(res: dict[str, Any]) -> dict[str, np.ndarray]:
    r = {k: np.asarray(v, np.float64) for k, v in res["recall10_per_head"].items()}
    return {"obc": np.minimum(r["obc-k"], r["obc-vk"]), "attn": r["attn"], "sq-attn": r["sq-attn"]}


def _file_recalls(run: dict[str, Any]) -> dict[str, np.ndarray]:
    r, nf = run["recall10_per_head"], run["protocol"]["files"]
    return {"obc": per_file(np.minimum(r["obc-k"], r["obc-vk"]), nf), "attn": per_file(r["attn"], nf), "sq-attn": per_file(r["sq-attn"], nf)}


_RANK_HISTORY = ("Until 2026-12-07 the MiniLM part was decided live on 3 consecutive chunks of one file (abc.py, "
                 "160-token prompts) against 0.8 only; the re-analysis found that plain accumulated attention also passes "
                 "0.8 (0.820 [0.813, 0.827]). The rule now also requires the paired difference with S^A above 0, and the "
                 "MiniLM units are 16 files (one 448 + 64-token prompt each) of the committed run; this rule was set after "
                 "that re-analysis, before the new run.")


@pn.claim(
    "obcache.scores_rank_removal_error", paper="obcache", equation="C7, C13",
    statement=r"\mathrm{top}_B(S^K),\ \mathrm{top}_B(S^{VK})\approx\mathrm{top}_B(E^{\rm rm})\ \text{(mean top-10\% recall}\ge0.8\text{ and above }S^A)",
    provenance="paper", tolerance=1e-9, error="rel", empirical=True,
)
def _rank_agreement_claim(ctx: pn.Context) -> pn.Evidence:
    r"""The scores are a proxy: their rankings are compared with the exact single-token removal error
    $E^{\rm rm}$ (closed form, checked against brute-force removal) on the SnapKV window (last 16 rows) of
    MiniLM heads (causal, real text; units: 16 files of the committed run, :mod:`.files`) and of synthetic heads
    (units: heads, live). Verified when, on both data sets, the 95 % CI of the mean top-10 % recall of
    $\min(S^K,S^{VK})$ lies above 0.8, the paired difference with $S^A$ lies above 0 and the paired difference
    with the placebo $\sum_ia_i^2$ lies above 0. Controls, under the guide's rule (the claim is not ``verified``
    while any control passes, whatever its strength): $S^A$ and $\sum_ia_i^2$ against 0.8, and
    $\sum_ia_i^2-S^A$ against 0 for the paired difference."""
    small = ctx.scale < 0.1
    syn = _reduced("synthetic", ctx.seed, small)
    run, source = reference_files()
    decisions = {"minilm (files)": rank_decisions(_file_recalls(run), f"files ({run['heads'] // run['protocol']['files']} heads each)", minilm=True, seed=ctx.seed),
                 "synthetic": rank_decisions(_synthetic_recalls(syn), "synthetic heads (independent draws)", minilm=False, seed=ctx.seed)}
    err = max(_oracle_check(ds, ctx.seed, small) for ds in ("minilm", "synthetic"))
    details = {"synthetic": {"rank_agreement": syn["rank_agreement"]}, "minilm_files": {"files": run["files"], "eligible_files": run["eligible_files"]},
               "reference_run": source, "rule_history": _RANK_HISTORY}
    d = pn.decide_all(decisions)
    return pn.Evidence(err, syn["heads"] + run["heads"], 0, details=details, decision=d)


def all_of(decisions: dict[str, pn.Decision]) -> pn.Decision:
    """One decision for a claim that must hold on every data set: refuted if any is refuted, verified if all
    are, else inconclusive; the decision shown is the data set with the least favourable interval."""
    V = pn.Verdict
    outs = [d.outcome for d in decisions.values()]
    worst = min(decisions.values(), key=lambda d: d.ci[0] - d.boundary)
    outcome = V.REFUTED if V.REFUTED in outs else V.VERIFIED if all(o is V.VERIFIED for o in outs) else V.INCONCLUSIVE
    return dataclasses.replace(worst, outcome=outcome, rule=worst.rule + f" (on every data set: {', '.join(decisions)}; shown: the least favourable)")


def _beats_evidence(dataset: str, res: dict[str, Any], units: int, seed: int, **extra: Any) -> pn.Evidence:
    """Evidence of an output-aware claim from one protocol's results (worst error: the keep-everything control)."""
    keys = ("rel_change_by_score", "rel_change_by_score_window", "vs_host", "errors_mean", "budgets", "heads", "n_prompt", "n_future")
    details = {**extra, **{k: res[k] for k in keys}, "holds_on_window": res["claim_holds_window"]}
    return pn.Evidence(res["keep_all_error"], res["heads"], 0, details=details, decision=output_aware_decision(dataset, res, units, seed=seed))


_BEATS = dict(
    paper="obcache", equation="§4 (Table: +OBCache-K/VK over H2O, TOVA, SnapKV)", provenance="paper", tolerance=1e-12, error="abs", empirical=True,
    statement=r"\overline{\log\big(\|\hat O-O\|_{\text{host}+S^{K}\text{ or }S^{VK}}/\|\hat O-O\|_{\text{host}+S^A}\big)}<0\ \ (\text{H2O, TOVA, SnapKV; budgets 5-40 \%})",
)


#: the committed full run the MiniLM comparison decides from (:mod:`proofs_numeric.reference`): the sign of
#: the effect depends on the prompt length, so ``verify``'s 160-token prompts would not give the verdict
#: of the full protocol (8 sequences of 448 + 64 tokens), which costs more than ``verify`` can spend.
REFERENCE = Path(__file__).with_name("reference") / "summary.json"
REFERENCE_COMMAND = "attnverify experiment kv-eviction --out results/kv-eviction"


def reference_minilm() -> tuple[dict[str, Any], dict[str, Any]]:
    """The MiniLM part of the committed full run (:data:`REFERENCE`) and its provenance."""
    run = load_reference_run(REFERENCE, command=REFERENCE_COMMAND)
    return run.data["minilm"], run.provenance()


#: the committed run with independent units (one prompt per file) that the MiniLM claims decide from (since 2026-12-07)
REFERENCE_FILES = Path(__file__).with_name("reference_files") / "files_minilm.json"
REFERENCE_FILES_COMMAND = "attnverify experiment kv-eviction-files --out results/kv-eviction-files"


def reference_files() -> tuple[dict[str, Any], dict[str, Any]]:
    """The committed one-prompt-per-file MiniLM run (:data:`REFERENCE_FILES`) and its provenance."""
    run = load_reference_run(REFERENCE_FILES, command=REFERENCE_FILES_COMMAND)
    return run.data, run.provenance()


def per_host_decision(per_unit: dict[str, dict[str, Any]], *, units: str, method: str, seed: int = 0, **setting: Any) -> pn.Decision:
    """Per host (H2O, TOVA, SnapKV), the output-aware decision over ``per_unit[host]["obcache"]`` with its placebo
    ``per_unit[host]["sq-attn"]`` (the score sum_i a_i^2) run through the same rule; every host must hold."""
    differs = bool(setting.get("setting_differs"))

    def dec(host: str, arm: str, what: str) -> pn.Decision:
        return pn.decide_direction(
            np.asarray(per_unit[host][arm], np.float64), direction="less", method=method, seed=seed, units=units,
            effect=f"{host}: mean log(err[{host}+{what}] / err[{host}+S^A]) over budgets 5-40 %",
            rule="verified if the 95 % interval lies below 0 (the score evicts better than accumulated attention); entirely "
                 f"above 0: {'not reproduced (our setting differs)' if differs else 'refuted'}; otherwise inconclusive", **setting)

    def placebo(h: str) -> tuple[str, pn.Decision, bool]:
        # a placebo whose log ratio is exactly 0 on every unit ranks tokens exactly as the host does (TOVA: one-row
        # window, so sum_i a_i^2 orders as S^A): it can neither pass nor fail, and is recorded as such
        flat = bool(np.all(np.asarray(per_unit[h]["sq-attn"], np.float64) == 0.0))
        name = f"{h}: placebo sum_i a_i^2" + (" (degenerate: ranks exactly as the host, log ratio 0 on every unit; cannot pass or fail)" if flat else "")
        return name, dec(h, "sq-attn", "sum_i a_i^2 (placebo)"), not flat

    parts = {}
    for h in HOSTS:
        name, c, can = placebo(h)
        parts[h] = pn.with_controls(dec(h, "obcache", "S^K or S^VK"), {name: c}, can_pass={name: can})
    return pn.decide_all(parts, rule="decided per host: verified only if H2O, TOVA and SnapKV all are, each with its placebo "
                                  "sum_i a_i^2 not passing (guide's rule; a host whose only placebo is degenerate is not verified); "
                                  "not reproduced (or refuted) if any host's interval lies above 0; otherwise inconclusive. "
                                  "The interval shown is the least favourable host's.")


def host_decisions(run: dict[str, Any], *, seed: int = 0) -> pn.Decision:
    """:func:`per_host_decision` on the one-prompt-per-file MiniLM run: per file (mean over heads), Student t."""
    nf = run["protocol"]["files"]
    setting = dict(setting_differs=True, paper_figure=PAPER_FIGURE, paper_setting=PAPER_SETTING,
                   our_setting=OUR_SETTING_MINILM.format(n=run["protocol"]["n_prompt"], f=run["protocol"]["n_future"], h=MINILM_LAYERS_HEADS[1])
                   + f"; one prompt per file, {nf} of {run['eligible_files']} eligible standard-library files")
    per_unit = {h: {arm: per_file(run["log_ratio_per_head"][h][arm], nf) for arm in ("obcache", "sq-attn")} for h in HOSTS}
    return per_host_decision(per_unit, units=f"files (one prompt each, mean over {run['heads'] // nf} heads)", method="t", seed=seed, **setting)


_BEATS_HISTORY = ("Until 2026-12-07 this claim pooled the three hosts and was decided on 8 consecutive chunks of "
                  "4 files: -0.014 [-0.027, -0.001], verified, although TOVA alone was +0.032 [+0.024, +0.040] (OBCache worse) "
                  "and the placebo sum_i a_i^2 passed more strongly (-0.016 [-0.021, -0.010]). The per-host rule, the placebo "
                  "and the one-prompt-per-file units were set after that re-analysis and before the new run; the old "
                  "protocol's pooled decision is kept under superseded_protocol.")


@pn.claim("obcache.output_aware_beats_attention_minilm", **{**_BEATS, "statement": _BEATS["statement"].replace(
    r"(\text{H2O, TOVA, SnapKV;", r"(\text{each of H2O, TOVA, SnapKV;")})
def _beats_minilm(ctx: pn.Context) -> pn.Evidence:
    """Does replacing accumulated attention by the OBCache key or joint score lower the relative output
    error of future queries **for every host** (H2O, TOVA, SnapKV), on MiniLM-L6 causal attention over real
    text (all 72 heads, budgets 5-40 %)? Decided per host on the committed run with one 448 + 64-token
    prompt per standard-library file (16 files, :mod:`.files`), Student t over files, every host required;
    per host, the placebo score sum_i a_i^2 (no values, no logits) runs through the same rule. Worst error:
    the keep-everything control, which must be 0."""
    run, source = reference_files()
    old, old_source = reference_minilm()
    units = old["heads"] // (MINILM_LAYERS_HEADS[0] * MINILM_LAYERS_HEADS[1])
    superseded = {"decision": output_aware_decision("minilm", old, units, seed=ctx.seed).to_dict(), "reference_run": old_source}
    nf = run["protocol"]["files"]
    loo = {h: pn.leave_one_out(per_file(run["log_ratio_per_head"][h]["obcache"], nf),
                               lambda x: pn.decide_direction(x, direction="less", method="t", units="files", rule="t below 0", setting_differs=True,
                                                              paper_setting=PAPER_SETTING, our_setting="MiniLM-L6, files")) for h in HOSTS}
    details = {"files": run["files"], "eligible_files": run["eligible_files"], "protocol": run["protocol"], "errors_mean": run["errors_mean"],
               "leave_one_file_out": {h: {k: v for k, v in r.items() if k != "outcomes"} for h, r in loo.items()},
               "reference_run": source, "rule_history": _BEATS_HISTORY, "superseded_protocol": superseded}
    return pn.Evidence(run["keep_all_error"], run["heads"], 0, details=details, decision=host_decisions(run, seed=ctx.seed))


@pn.claim("obcache.output_aware_beats_attention_synthetic", **{**_BEATS, "statement": _BEATS["statement"].replace(
    r"(\text{H2O, TOVA, SnapKV;", r"(\text{each of H2O, TOVA, SnapKV;")})
def _beats_synthetic(ctx: pn.Context) -> pn.Evidence:
    """The same comparison on synthetic attention heads (locally correlated queries, heavy hitters,
    a sink, log-normal value norms), decided per host like the MiniLM claim (independent heads as units,
    BCa bootstrap; the placebo sum_i a_i^2 per host). The hosts-pooled decision used until 2026-12-07 is
    kept under ``details.superseded_pooled``. Worst error: the keep-everything control, which must be 0."""
    small = ctx.scale < 0.1
    res = _reduced("synthetic", ctx.seed, small)
    pooled = output_aware_decision("synthetic", res, _protocol("synthetic", small)["units"], seed=ctx.seed)
    ev = _beats_evidence("synthetic", res, _protocol("synthetic", small)["units"], ctx.seed, superseded_pooled=pooled.to_dict())
    d = per_host_decision(res["log_ratio_per_host"], units="synthetic heads (independent draws)", method="bootstrap", seed=ctx.seed)
    return dataclasses.replace(ev, decision=d)
