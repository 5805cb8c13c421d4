r"""Δ-attention experiment: cosine similarity to full attention vs stride γ (spec ``delta_attention.md`` C9, C11).

Per query, $\cos(\hat y_i,y_i)$ for sink+window attention alone and with the Δ correction
(paper version, 0-based anchors), $\gamma\in\{4,8,16,32,64\}$, plus the recompute baseline, on

- **T-iid** (i.i.d. Gaussian queries; the spec warns that Δ can hurt here) and **T-AR(ρ)**,
  ρ ∈ {0, 0.9, 0.99, 0.999} (locally correlated queries), the spec's fixtures;
- **MiniLM-L6**, causal, $N=512$ (its maximum), all 6 layers x 12 heads, isolated mode (each
  layer's own dense $Q,K,V$), real text; sink 4, window 64, rows $\ge w+n_{\rm sink}$ scored
  (earlier rows are exact for every method).

The paper version has no dense tail, so no method gets one (pitfall 2). Run:
``attnverify experiment delta [--quick] --out DIR`` (quick mode: two heads per fixture, two MiniLM
sequences; full: eight of each). ``delta_cosine.json`` holds the claims' decisions on the run's units.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from attnverify import proofs_numeric as pn
from attnverify.proofs_numeric import Context, Evidence
from attnverify.proofs_numeric.reference import load_reference_run

from .fixtures import GAMMAS, RHOS, ar_fixture, cosine_study, helps, iid_fixture, minilm_fixture, summarise

IID = {"window": 64, "n_sink": 4, "last": 128}
AR = {"window": 128, "n_sink": 4, "last": 512}
MINILM = {"window": 64, "n_sink": 4, "n": 512}


def _run_iid(heads: int, seed: int, gammas=GAMMAS, recompute: bool = True) -> dict[str, Any]:
    q, k, v = iid_fixture(heads, seed)
    return cosine_study(q, k, v, window=IID["window"], n_sink=IID["n_sink"], gammas=gammas, score_from=q.shape[-2] - IID["last"], recompute=recompute)


def _run_ar(rho: float, heads: int, seed: int, gammas=GAMMAS, n: int = 2048, recompute: bool = True) -> dict[str, Any]:
    q, k, v = ar_fixture(rho, heads, seed, n=n)
    return cosine_study(q, k, v, window=AR["window"], n_sink=AR["n_sink"], gammas=gammas, score_from=n - AR["last"], recompute=recompute)


def _run_minilm(count: int, gammas=GAMMAS, recompute: bool = True) -> tuple[dict[str, Any], int]:
    """The MiniLM study on ``count`` sequences (all layers and heads)."""
    q, k, v, layers = minilm_fixture(count, MINILM["n"])
    w, s = MINILM["window"], MINILM["n_sink"]
    return cosine_study(q, k, v, window=w, n_sink=s, gammas=gammas, score_from=w + s, recompute=recompute), layers


def _table(summaries: dict[str, dict[str, Any]], gammas) -> str:
    head = "| data | nbr-cos | sparse | " + " | ".join(f"Δ γ={g}" for g in gammas) + " | " + " | ".join(f"recompute γ={g}" for g in gammas) + " |"
    lines = [head, "|" + "---|" * (3 + 2 * len(gammas))]
    for name, s in summaries.items():
        per = s["per_gamma"]
        lines.append(f"| {name} | {s['nbr_cos']:.3f} | {s['sparse']:.4f} | " + " | ".join(f"{per[g]['delta']:.4f}" for g in gammas)
                     + " | " + " | ".join(f"{per[g].get('recompute', float('nan')):.4f}" for g in gammas) + " |")
    lines += ["", "Non-anchor rows only (sparse → Δ, and the fraction of queries where Δ is closer to full attention):", "",
              "| data | " + " | ".join(f"γ={g}" for g in gammas) + " |", "|" + "---|" * (1 + len(gammas))]
    for name, s in summaries.items():
        per = s["per_gamma"]
        lines.append(f"| {name} | " + " | ".join(f"{per[g]['sparse_non_anchor']:.4f} → {per[g]['delta_non_anchor']:.4f} ({100 * per[g]['delta_wins_non_anchor']:.0f} %)" for g in gammas) + " |")
    return "\n".join(lines) + "\n"


def _plot(summaries: dict[str, dict[str, Any]], gammas, out_dir: Path, per_layer: dict[str, list[float]] | None) -> list[Path]:
    import matplotlib.pyplot as plt

    names = list(summaries)
    ncol = len(names) + (1 if per_layer else 0)
    fig, axes = plt.subplots(1, ncol, figsize=(3.2 * ncol, 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        s, per = summaries[name], summaries[name]["per_gamma"]
        ax.axhline(s["sparse"], color="k", ls="--", label="sparse (sink+window)")
        ax.plot(gammas, [per[g]["delta"] for g in gammas], "o-", label="Δ, all rows")
        ax.plot(gammas, [per[g]["delta_non_anchor"] for g in gammas], "s:", label="Δ, non-anchor rows")
        ax.plot(gammas, [per[g]["recompute"] for g in gammas], "^-", label="recompute (Eq. 5)")
        ax.set_xscale("log", base=2)
        ax.set_title(f"{name} (nbr-cos {s['nbr_cos']:.2f})", fontsize=9)
        ax.set_xlabel("stride γ")
        ax.set_ylabel("mean cos to full attention")
    if per_layer:
        ax = axes[0][-1]
        for label, vals in per_layer.items():
            ax.plot(range(len(vals)), vals, "o-", label=label)
        ax.set_xlabel("MiniLM layer")
        ax.set_ylabel("mean cos to full attention")
        ax.set_title("MiniLM per layer", fontsize=9)
        ax.legend(fontsize=7)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return pn.save_figure(fig, out_dir, "delta_cosine_vs_gamma")


def _plot_gains(gains: dict[str, dict[int, Any]], gammas, out_dir: Path) -> list[Path]:
    """Box plots of the per-query gain cos(Δ) − cos(sparse) on non-anchor rows, per data set and γ."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(gains), figsize=(3.2 * len(gains), 3.0), squeeze=False, sharey=False)
    for ax, (name, per) in zip(axes[0], gains.items()):
        ax.boxplot([per[g] for g in gammas], showfliers=False)
        ax.set_xticks(range(1, len(gammas) + 1), [str(g) for g in gammas])
        ax.axhline(0.0, color="k", lw=0.8, ls="--", label="no change")
        ax.set(title=name, xlabel="stride γ", ylabel="per-query gain in cos (Δ − sparse)")
        ax.title.set_fontsize(9)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return pn.save_figure(fig, out_dir, "delta_per_query_gain")


def _gains(study: dict[str, Any]) -> dict[int, Any]:
    return {g: (d - study["sparse"])[..., study["non_anchor"][g]].ravel() for g, d in study["delta"].items()}


@pn.experiment("delta", help="Δ attention: cosine to full attention vs stride γ on i.i.d., AR(ρ) and MiniLM attention")
def delta_experiment(out_dir: Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Run the study; write ``delta_cosine.{md,json}``, ``delta_cosine_vs_gamma.{png,svg}`` (mean cosine vs γ)
    and ``delta_per_query_gain.{png,svg}`` (per-query distributions); return the summaries."""
    pn.require_x64("the Δ-attention experiment")
    out_dir = Path(out_dir)
    heads, count = (2, 2) if quick else (8, 8)
    rhos = (0.99,) if quick else RHOS
    summaries: dict[str, dict[str, Any]] = {}
    gains: dict[str, dict[int, Any]] = {}
    anchor_error = 0.0
    decisions: dict[str, Any] = {}
    for name, fn in pn.progress([("T-iid", lambda: _run_iid(heads, seed))] + [(f"AR ρ={r}", lambda r=r: _run_ar(r, heads, seed)) for r in rhos], desc="delta: synthetic"):
        st = fn()
        summaries[name], anchor_error = summarise(st), max(anchor_error, st["anchor_error"])
        gains[name] = _gains(st)
        if name == "T-iid":
            decisions["delta.needs_locality"] = locality_decision(_head_gains(st, np.max), "heads", seed=seed).to_dict()
        elif name == "AR ρ=0.99":
            decisions["delta.helps_local_queries"] = helps_decision(_head_gains(st), "heads", seed=seed).to_dict()
    st, layers = _run_minilm(count)
    decisions["delta.helps_minilm"] = helps_decision(_minilm_unit_gains(st, count, layers), "sequences", seed=seed, minilm=True).to_dict()
    summaries["MiniLM causal n=512"], anchor_error = summarise(st), max(anchor_error, st["anchor_error"])
    gains["MiniLM causal n=512"] = _gains(st)
    per_layer = {"sparse": st["sparse"].reshape(layers, -1).mean(axis=1).tolist()}
    for g in (8, 64):
        per_layer[f"Δ γ={g}"] = st["delta"][g].reshape(layers, -1).mean(axis=1).tolist()
    verdicts = {name: helps(s) for name, s in summaries.items()}
    result = {"gammas": list(GAMMAS), "quick": quick, "seed": seed, "settings": {"iid": IID, "ar": AR, "minilm": MINILM},
              "summaries": summaries, "minilm_per_layer": per_layer, "anchor_error": anchor_error,
              "delta_helps_at_every_gamma": {k: v[0] for k, v in verdicts.items()}, "gain_non_anchor": {k: v[1] for k, v in verdicts.items()},
              "decisions": decisions}
    md = ("# Δ attention: mean cosine to full attention\n\n"
          f"Paper version (0-based anchors, no dense tail for any method). T-iid: {heads} head(s), sink {IID['n_sink']}, window {IID['window']}, "
          f"last {IID['last']} rows; T-AR(ρ): N = 2048, sink {AR['n_sink']}, window {AR['window']}, last {AR['last']} rows; MiniLM-L6: "
          f"{count} sequence(s) x 6 layers x 12 heads, N = {MINILM['n']}, sink {MINILM['n_sink']}, window {MINILM['window']}, rows >= "
          f"{MINILM['window'] + MINILM['n_sink']}. nbr-cos: mean cos(Δ_i, Δ_(i+1)) of the true correction.\n\n" + _table(summaries, GAMMAS))
    files = [pn.atomic_write_text(out_dir / "delta_cosine.md", md), pn.atomic_write_json(out_dir / "delta_cosine.json", result)]
    files += _plot(summaries, GAMMAS, out_dir, per_layer) + _plot_gains(gains, GAMMAS, out_dir)
    return {**result, "files": [str(f) for f in files], "table": md}


#: reduced protocols of ``attnverify verify``: independent units per claim (``small``: the test suite, scale < 0.1)
UNITS = {"ar": 6, "iid": 16, "minilm": 6}
UNITS_SMALL = {"ar": 4, "iid": 8, "minilm": 4}
CLAIM_GAMMAS = (8, 64)
PAPER_SETTING = "Llama-3.1-8B-Instruct, contexts up to 131K tokens, sliding window 2K-32K with sinks (Table 1, Fig. 3)"
PAPER_FIGURE = "Δ raises the attention-output cosine to full attention (Fig. 3) and RULER accuracy (Table 1)"
OUR_SETTING = ("MiniLM-L6 (6-layer encoder, absolute positions, no RoPE) under a causal mask, N = 512, sink 4 + window 64, "
               "isolated mode; real-text sequences")


def _minilm_unit_gains(study: dict[str, Any], units: int, layers: int, gammas=CLAIM_GAMMAS) -> np.ndarray:
    per_gamma = []
    for g in gammas:
        na = study["non_anchor"][g]
        gain = (study["delta"][g] - study["sparse"])[..., na].mean(axis=-1).reshape(layers, units, -1)
        per_gamma.append(gain.mean(axis=(0, 2)))
    return np.min(np.stack(per_gamma), axis=0)


_EFFECT = "mean over non-anchor rows of cos(Δ, full) - cos(sparse, full), the smaller of γ = 8 and γ = 64"


def helps_decision(gains: np.ndarray, units: str, *, seed: int = 0, minilm: bool = False) -> pn.Decision:
    """Pre-stated decision of the ``delta.helps_*`` claims: the 95 % CI of the mean per-unit gain above 0
    (Student t for the few MiniLM sequences, BCa bootstrap over synthetic heads)."""
    return pn.decide_direction(
        gains, units=units, seed=seed, effect=_EFFECT, method="t" if minilm else "bootstrap",
        rule="verified if the 95 % CI of the mean per-unit gain lies above 0 at both strides; entirely below 0: refuted "
             "(not reproduced where the setting differs from the paper's); otherwise inconclusive",
        setting_differs=minilm, paper_figure=PAPER_FIGURE if minilm else None,
        paper_setting=PAPER_SETTING if minilm else None, our_setting=OUR_SETTING if minilm else None)


def locality_decision(gains: np.ndarray, units: str, *, seed: int = 0) -> pn.Decision:
    """Decision of the finding ``delta.needs_locality``: on i.i.d. queries the gain is negative."""
    return pn.decide_direction(
        gains, direction="less", units=units, seed=seed, effect=_EFFECT.replace("the smaller", "the larger"),
        rule="verified if the 95 % CI of the mean per-head gain lies below 0 at both strides (Δ lowers the cosine without "
             "locality); entirely above 0: refuted; otherwise inconclusive")


def _empirical(study: dict[str, Any], decision: pn.Decision) -> Evidence:
    """Evidence of an empirical claim: the anchor-row error (a sanity check, ~1e-16) and the decision.
    ``n_random`` counts the scored (head, query) pairs."""
    summary = summarise(study)
    _, gains = helps(summary, CLAIM_GAMMAS)
    return Evidence(study["anchor_error"], n_random=int(study["sparse"].size), decision=decision,
                    details={"mean cos": summary, "Δ gain over sparse (non-anchor rows, pooled)": gains,
                             "Δ wins per query (non-anchor rows)": {str(g): summary["per_gamma"][g]["delta_wins_non_anchor"] for g in CLAIM_GAMMAS}})


def _head_gains(study: dict[str, Any], reduce=np.min) -> np.ndarray:
    """Per head (one independent unit each), ``reduce`` over γ of the mean non-anchor gain."""
    per = [(study["delta"][g] - study["sparse"])[..., study["non_anchor"][g]].mean(axis=-1) for g in CLAIM_GAMMAS]
    return reduce(np.stack(per), axis=0)


def _units(ctx: Context) -> dict[str, int]:
    return UNITS_SMALL if ctx.scale < 0.1 else UNITS


_STATEMENT = r"\overline{\cos(\hat y_i,y_i)}>\overline{\cos(y^*_i,y_i)}\ \text{on non-anchor rows}"


@pn.claim("delta.helps_local_queries", paper="delta_attention", equation="Eq. 6-7, locality assumption (C9)",
          statement=_STATEMENT + r",\ \text{T-AR}(\rho=0.99),\ \gamma\in\{8,64\}",
          provenance="paper", tolerance=1e-10, error="anchor-row abs error", empirical=True)
def _local(ctx: Context) -> Evidence:
    """Δ attention brings sparse outputs closer to full attention when queries are locally correlated (spec T-AR(1), ρ = 0.99; independent heads are the units)."""
    n = _units(ctx)["ar"]
    st = _run_ar(0.99, n, ctx.seed, gammas=CLAIM_GAMMAS, recompute=False)
    return _empirical(st, helps_decision(_head_gains(st), "heads (independent T-AR draws)", seed=ctx.seed))


@pn.claim("delta.needs_locality", paper="delta_attention", equation="Eq. 6-7, locality assumption (C9); pitfall 4",
          statement=r"\text{without locality Δ hurts: }\overline{\cos(\hat y_i,y_i)}<\overline{\cos(y^*_i,y_i)}\ \text{on non-anchor rows},\ \text{T-iid (nbr-cos}\approx0.4),\ \gamma\in\{8,64\}",
          provenance="finding", tolerance=1e-10, error="anchor-row abs error", empirical=True)
def _iid(ctx: Context) -> Evidence:
    """Finding: Δ needs locality, as the paper assumes. On i.i.d. Gaussian queries (spec T-iid, nbr-cos about 0.4, outside the paper's assumption) the correction copied from the anchor does not fit the other rows of its block, and Δ lowers the mean non-anchor cosine to full attention below sparse attention alone at both strides (units: independent heads)."""
    n = _units(ctx)["iid"]
    st = _run_iid(n, ctx.seed, gammas=CLAIM_GAMMAS, recompute=False)
    return _empirical(st, locality_decision(_head_gains(st, np.max), "heads (independent T-iid draws)", seed=ctx.seed))


#: the committed one-prompt-per-file run ``delta.helps_minilm`` decides from (:mod:`.files`)
REFERENCE_FILES = Path(__file__).with_name("reference") / "delta_files.json"
REFERENCE_FILES_COMMAND = "attnverify experiment delta-files --out results/delta-files"
_MINILM_HISTORY = ("Until 2026-12-07 this claim ran live on 6 consecutive chunks of 3 files: 0.0075 (t), verified, "
                   "below its detectable effect 0.0091, while a locality-free running-mean correction passed more strongly "
                   "(0.011 [0.003, 0.019]). The units (16 files, one 512-token prompt each), the placebo and the rule that a "
                   "placebo passing as strongly blocks 'verified' were set after that re-analysis and before the new run.")


def minilm_files_decision(res: dict[str, Any], *, seed: int = 0) -> pn.Decision:
    """``delta.helps_minilm`` on the one-prompt-per-file run: Δ's per-file gain, with the running-mean placebo."""
    from .files import unit_gains

    units = f"files (one 512-token prompt each, all {res['heads'] // res['protocol']['files']} heads)"
    return _gains_decision(unit_gains(res, "delta"), unit_gains(res, "running_mean"), units, seed)


def _gains_decision(gains: np.ndarray, placebo_gains: np.ndarray, units: str, seed: int) -> pn.Decision:
    """The claim's rule on per-unit Δ gains, with the running-mean placebo's gains (same units) as its control."""
    d = helps_decision(gains, units, seed=seed, minilm=True)
    placebo = helps_decision(placebo_gains, units, seed=seed, minilm=True)
    placebo = dataclasses.replace(placebo, effect=placebo.effect.replace("cos(Δ, full)", "cos(running-mean placebo, full)"))
    return pn.with_controls(d, {"running mean of past anchors' Δ (no locality)": placebo})


def minilm_leave_one_file_out(res: dict[str, Any], *, seed: int = 0) -> dict[str, Any]:
    """:func:`proofs_numeric.leave_one_out` over files with the claim's own rule, placebo included (each omission
    drops the file from both Δ's and the placebo's gains)."""
    from .files import unit_gains

    g, p = np.asarray(unit_gains(res, "delta")), np.asarray(unit_gains(res, "running_mean"))
    return pn.leave_one_out(np.arange(g.size, dtype=np.float64), lambda i: _gains_decision(
        g[i.astype(int)], p[i.astype(int)], "files", seed))


@pn.claim("delta.helps_minilm", paper="delta_attention", equation="Eq. 6-7, Fig. 3 (C11, isolated mode)",
          statement=_STATEMENT + r",\ \text{MiniLM-L6 causal},\ N=512,\ \gamma\in\{8,64\}",
          provenance="paper", tolerance=1e-10, error="anchor-row abs error", empirical=True)
def _minilm(ctx: Context) -> Evidence:
    """On real MiniLM-L6 attention (causal, N = 512, all layers and heads, sink 4 + window 64), whether Δ attention brings the non-anchor rows closer to full attention than sparse attention alone. Units: 16 standard-library files, one 512-token prompt each (the committed run of :mod:`.files`; Student t over files). Placebo: the running mean of all past anchors' Δ (same anchors, no locality); while it passes the same rule (whatever its strength) the claim is not verified (guide's rule). The leave-one-file-out outcomes use this same rule, placebo included. Per-layer gains are in the details."""
    from .files import CLAIM_GAMMAS as G

    run = load_reference_run(REFERENCE_FILES, command=REFERENCE_FILES_COMMAND)
    res = run.data
    per_layer = {f"{arm} γ={g}": np.asarray(res["gain_per_layer_file"][arm][str(g)]).mean(axis=1).tolist()
                 for arm in ("delta", "running_mean") for g in G}
    from .files import unit_gains

    loo = minilm_leave_one_file_out(res, seed=ctx.seed)  # the claim's rule, placebo included
    details = {"files": res["files"], "eligible_files": res["eligible_files"], "gain per layer (mean over files)": per_layer,
               "leave_one_file_out (claim's rule, placebo included)": {k: v for k, v in loo.items() if k != "outcomes"},
               "reference_run": run.provenance(), "rule_history": _MINILM_HISTORY}
    return Evidence(res["anchor_error"], n_random=res["heads"], decision=minilm_files_decision(res, seed=ctx.seed), details=details)
