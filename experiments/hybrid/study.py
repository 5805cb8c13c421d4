r"""``attnverify experiment hybrid [--quick]``: the collapse toy of spec ``hybrid_linear.md`` (C9, C10).

One softmax teacher is trained on MQAR (short and long set mixed); then, per seed, four students start
from its weights: ``mse`` (LoLCATs output transfer, LoRA stage 2), ``hedgecats`` (attention-weight
transfer, short LoRA with early stopping), ``ssd`` (output transfer, stage 2 with scheduled
sliding-window dropout) and ``linear_only`` (weight transfer, LA-only stage 2; C10 evaluates it with
the hybrid formula, $\gamma=\lambda=1$). Every arm gets the same stage-2 budget. Each student is
evaluated under every component ablation on both sets, with $r_n$ by distance bucket and $\gamma_h$.

Writes ``collapse.json`` / ``collapse.md`` and two figures to ``out_dir``; a non-quick run also writes
``collapse_<protocol>.json`` there, the file the claims read once it is promoted to evidence
(``attnverify promote OUT/collapse_full.json experiments/hybrid/results/collapse_full.json``). Nothing is
written into the package tree.
The toy runs the ``reduced`` protocol by default (the spec-scale ``full`` one does not fit the 30-minute
budget on 2 cores; ``ATTNVERIFY_HYBRID_PROTOCOL=full`` runs it, on an accelerator in about 2 minutes, and
``ATTNVERIFY_HYBRID_TEACHER_STEPS`` overrides its teacher budget; ``ATTNVERIFY_HYBRID_CACHE=0`` skips the
promotable file, for a replication); then the real-model part
(:mod:`.real_model`, Gemma 3 270M; a tiny random Gemma with ``--quick``; ``ATTNVERIFY_HYBRID_REAL=0``
skips it).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from attnverify import proofs_numeric as pn
from attnverify.proofs_numeric.environment import environment
from attnverify.attention.hybrid import attention_transfer, finetune_lora, recall_batch, train_teacher
from attnverify.attention.hybrid.toy_model import COMPONENTS

from .decisions import TEACHER_MIN, c9_decision, c10_decision, c10_short_decision, collapse_gap_decision, teacher_ready
from .evaluate import distance_buckets, evaluate_student, evaluate_teacher
from .protocol import ARMS, PROTOCOLS, Protocol

__all__ = ["run_collapse", "hybrid_experiment", "write_report", "CACHE_DIR", "cache_path"]

CACHE_DIR = Path(__file__).resolve().parent / "results"


def cache_path(protocol: str) -> Path:
    """The pinned run of ``protocol`` that the claims read (promoted from an experiment's ``--out``)."""
    return CACHE_DIR / f"collapse_{protocol}.json"


def run_collapse(protocol: Protocol, seed: int = 0, teacher: dict | None = None,
                 teacher_note: str = "", teacher_cycles: list | None = None) -> dict[str, Any]:
    """Teacher (trained here unless ``teacher`` is given; ``teacher_note`` says how it was trained and
    ``teacher_cycles`` lists its training cycles), then every arm for ``protocol.seeds`` seeds; a
    JSON-serialisable result."""
    t0 = time.perf_counter()
    task, cfg, train = protocol.task, protocol.model, protocol.train
    rng = np.random.default_rng(99_000 + seed)
    sets = {k: recall_batch(rng, protocol.eval_sequences, task, k) for k in ("short", "long")}
    t_hist = {"loss": [], "note": teacher_note, "cycles": list(teacher_cycles or [])}
    if teacher is None and protocol.teacher_cycle:
        teacher, t_hist = train_teacher_in_cycles(protocol, seed, curriculum=teacher_curriculum())
    elif teacher is None:
        teacher, t_hist = train_teacher(task, cfg, train, seed)
    res: dict[str, Any] = {"protocol": protocol.to_dict(), "seed": seed, "chance": task.chance,
                           "buckets": [f"[{a},{b})" for a, b in distance_buckets(task)],
                           "distances": {k: [int(b.distance[b.distance >= 0].min()), int(b.distance[b.distance >= 0].max())] for k, b in sets.items()},
                           "teacher": {"accuracy": evaluate_teacher(teacher, cfg, sets), "loss": t_hist["loss"],
                                       "note": t_hist.get("note", ""), "cycles": t_hist.get("cycles", [])}, "arms": {}}
    for arm, (objective, mode, early) in ARMS.items():
        runs = []
        for s in pn.progress(range(protocol.seeds), desc=f"hybrid: {arm}"):
            st1, h1 = attention_transfer(teacher, task, cfg, train, objective=objective, seed=1000 * seed + s)
            st2, h2 = finetune_lora(teacher, st1, task, cfg, train, mode=mode, seed=1000 * seed + s, early_stopping=early)
            run = {"seed": s, "stage1": {"loss": h1["loss"], "gamma_trace": h1["trace"]},
                   "stage2": {k: h2[k] for k in ("loss", "validation", "stopped_at", "ssd_draw_rate")},
                   "eval": evaluate_student(teacher, st2, task, cfg, sets)}
            if arm == "linear_only":
                run["eval_hybridised"] = evaluate_student(teacher, st2, task, cfg, sets, gamma=1.0)
            runs.append(run)
        res["arms"][arm] = runs
    res["seconds"] = time.perf_counter() - t0
    res["environment"] = environment()
    return res


def teacher_curriculum() -> tuple[int, ...]:
    """``$ATTNVERIFY_HYBRID_TEACHER_CURRICULUM`` (e.g. ``2,4,8``): the numbers of key-value pairs the teacher
    is trained on in turn, the last one the protocol's; empty (no curriculum) when unset."""
    raw = os.environ.get("ATTNVERIFY_HYBRID_TEACHER_CURRICULUM", "").strip()
    if not raw:
        return ()
    try:
        ks = tuple(int(k) for k in raw.split(","))
    except ValueError:
        raise ValueError(f"ATTNVERIFY_HYBRID_TEACHER_CURRICULUM must be comma-separated integers, got {raw!r}") from None
    if any(k < 1 for k in ks) or list(ks) != sorted(ks):
        raise ValueError(f"ATTNVERIFY_HYBRID_TEACHER_CURRICULUM must be increasing positive integers, got {raw!r}")
    return ks


def train_teacher_in_cycles(protocol: Protocol, seed: int = 0, target: float = 0.995,
                            curriculum: tuple[int, ...] = (),
                            on_cycle: Callable[[dict, dict], None] | None = None) -> tuple[dict, dict]:
    r"""The teacher, in cosine cycles of ``protocol.teacher_cycle`` steps (data seed ``200 + cycle``) until
    its accuracy on 256 fresh sequences per set reaches ``target`` or ``train.teacher_steps`` are spent.

    With a ``curriculum`` of pair counts $K_1<K_2<\dots$ (same length, vocabulary and model), each stage
    trains on $K_j$ pairs from the previous stage's weights, with its own budget of ``train.teacher_steps``,
    and the protocol's $K$ comes last (appended if missing). Each cycle's record (steps so far, accuracy,
    $K$, wall seconds) goes to ``hist["cycles"]``; ``on_cycle(teacher, record)``, if given, is called after
    each one (a long run can checkpoint there)."""
    if any(k > protocol.task.n_pairs for k in curriculum):
        raise ValueError(f"curriculum {curriculum} goes beyond the protocol's {protocol.task.n_pairs} pairs")
    stages = [dataclasses.replace(protocol.task, n_pairs=k) for k in curriculum if k != protocol.task.n_pairs] + [protocol.task]
    cyc = dataclasses.replace(protocol.train, teacher_steps=protocol.teacher_cycle)
    teacher, hist, done = None, {"loss": [], "cycles": []}, 0
    for j, task in enumerate(stages):
        rng = np.random.default_rng(123 + seed + 7919 * j * (len(stages) > 1))
        sets = {k: recall_batch(rng, 256, task, k) for k in ("short", "long")}
        for c in range(max(1, protocol.train.teacher_steps // protocol.teacher_cycle)):
            t0 = time.perf_counter()
            teacher, h = train_teacher(task, protocol.model, cyc, 200 + c + 1000 * seed + 100_000 * j * (len(stages) > 1), init=teacher)
            acc = evaluate_teacher(teacher, protocol.model, sets)
            hist["loss"] += [(t + done, v) for t, v in h["loss"]]
            done += protocol.teacher_cycle
            hist["cycles"].append({"steps": done, "accuracy": acc, "n_pairs": task.n_pairs,
                                   "seconds": time.perf_counter() - t0})
            if on_cycle is not None:
                on_cycle(teacher, hist["cycles"][-1])
            if min(acc.values()) >= target:
                break
    hist["note"] = f"{done} steps in cosine cycles of {protocol.teacher_cycle}" + (
        f", curriculum over K = {[t.n_pairs for t in stages]}" if len(stages) > 1 else "")
    return teacher, hist


def _mean_ci(x: list[float]) -> str:
    x = np.asarray(x)
    if len(x) < 2 or np.all(x == x[0]):
        return f"{x.mean():.3f}"
    m, lo, hi, _ = pn.t_ci(x)
    return f"{m:.3f} [{lo:.2f}, {hi:.2f}]"


def _table(res: dict[str, Any]) -> str:
    lines = ["| arm | set | " + " | ".join(COMPONENTS) + " |", "|---|---|" + "---|" * len(COMPONENTS)]
    for arm, runs in res["arms"].items():
        for key in ("eval", "eval_hybridised"):
            if key not in runs[0]:
                continue
            for set_name in ("short", "long"):
                label = arm + (" (hybridised, γ=1)" if key == "eval_hybridised" else "")
                lines.append(f"| {label} | {set_name} | " + " | ".join(_mean_ci([r[key]["accuracy"][set_name][c] for r in runs]) for c in COMPONENTS) + " |")
    r_lines = ["| arm | set | layer | " + " | ".join(res["buckets"]) + " |", "|---|---|---|" + "---|" * len(res["buckets"])]
    for arm, runs in res["arms"].items():
        for set_name in ("short", "long"):
            for layer in runs[0]["eval"]["r_buckets"][set_name]:
                cells = []
                for b in res["buckets"]:
                    vals = [r["eval"]["r_buckets"][set_name][layer][b] for r in runs]
                    cells.append("–" if any(v is None for v in vals) else _mean_ci(vals))
                r_lines.append(f"| {arm} | {set_name} | {layer} | " + " | ".join(cells) + " |")
    gam = {arm: np.round(np.mean([r["eval"]["gamma"] for r in runs], axis=0), 3).tolist() for arm, runs in res["arms"].items()}
    return ("Accuracy at query positions, mean over seeds [95 % t interval]; chance "
            f"{res['chance']:.3f}. Teacher: short {res['teacher']['accuracy']['short']:.3f}, long {res['teacher']['accuracy']['long']:.3f}.\n\n"
            + "\n".join(lines) + "\n\n$r_n$ (linear-mass fraction, hybrid forward, mean over heads) by distance bucket δ:\n\n"
            + "\n".join(r_lines) + "\n\nγ_h = σ(ω_h) per layer and head (mean over seeds): " + str(gam) + "\n")


def _plots(res: dict[str, Any], out_dir: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    arms = list(res["arms"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    width = 0.8 / len(arms)
    for ax, set_name in zip(axes, ("short", "long")):
        for j, arm in enumerate(arms):
            runs = res["arms"][arm]
            key = "eval_hybridised" if arm == "linear_only" else "eval"
            acc = np.array([[r[key]["accuracy"][set_name][c] for c in COMPONENTS] for r in runs])
            ax.bar(np.arange(len(COMPONENTS)) + (j - (len(arms) - 1) / 2) * width, acc.mean(0), width,
                   yerr=acc.std(0, ddof=1) if len(runs) > 1 else None, label=arm + (" (γ=1)" if arm == "linear_only" else ""), capsize=2)
        ax.axhline(res["chance"], color="k", ls=":", lw=0.8, label="chance")
        ax.set_xticks(range(len(COMPONENTS)), ["hybrid", "SWA-only", "LA-only", "sinks-only", "none"])
        ax.set_title(f"{set_name} set (δ in {res['distances'][set_name]})", fontsize=9)
    axes[0].set_ylabel("query accuracy (mean ± sd over seeds)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    files = pn.save_figure(fig, out_dir, "hybrid_accuracy_by_ablation")
    plt.close(fig)
    layers = list(res["arms"]["mse"][0]["eval"]["r_buckets"]["long"])
    fig, axes = plt.subplots(1, len(layers), figsize=(4.2 * len(layers), 3.4), sharey=True, squeeze=False)
    for ax, layer in zip(axes[0], layers):
        for arm in arms:
            runs = res["arms"][arm]
            for set_name, ls in (("short", "--"), ("long", "-")):
                xs, ys = [], []
                for i, b in enumerate(res["buckets"]):
                    vals = [r["eval"]["r_buckets"][set_name][layer][b] for r in runs]
                    if all(v is not None for v in vals):
                        xs.append(i), ys.append(np.mean(vals))
                ax.plot(xs, ys, ls, marker="o", label=f"{arm}, {set_name}")
        ax.set_xticks(range(len(res["buckets"])), res["buckets"], fontsize=8)
        ax.set(xlabel="distance δ (value → query)", title=f"layer {layer}")
    axes[0][0].set_ylabel("r_n (linear-mass fraction)")
    axes[0][-1].legend(fontsize=6)
    fig.tight_layout()
    files += pn.save_figure(fig, out_dir, "hybrid_rn_vs_distance")
    plt.close(fig)
    return files


@pn.experiment("hybrid", help="hybrid SWA + LA collapse toy: MQAR teacher, MSE / HedgeCATs / SSD / linear-only students, ablations, r_n")
def hybrid_experiment(out_dir: Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Run the protocol (``quick``, else ``full`` or ``$ATTNVERIFY_HYBRID_PROTOCOL``); write tables, figures, the cache."""
    name = "quick" if quick else os.environ.get("ATTNVERIFY_HYBRID_PROTOCOL", "reduced")
    if name not in PROTOCOLS:
        raise ValueError(f"ATTNVERIFY_HYBRID_PROTOCOL must be one of {sorted(PROTOCOLS)}, got {name!r}")
    cache = not quick and os.environ.get("ATTNVERIFY_HYBRID_CACHE", "1") != "0"
    out = write_report(run_collapse(_with_teacher_budget(PROTOCOLS[name]), seed), Path(out_dir), cache=cache)
    if os.environ.get("ATTNVERIFY_HYBRID_REAL", "1") != "0":
        from .real_model import REAL_PROTOCOLS, run_real
        from .real_report import write_real_report

        real = write_real_report(run_real(REAL_PROTOCOLS["quick" if quick else "full"]), Path(out_dir), cache=not quick)
        out["files"] += real["files"]
        out["table"] += "\n\n" + real["table"]
        out["decisions"]["hybrid.collapse_real_gemma"] = real["decision"]
    return out


def _with_teacher_budget(protocol: Protocol) -> Protocol:
    """``$ATTNVERIFY_HYBRID_TEACHER_STEPS`` (an integer >= 1) replaces the protocol's teacher budget; the
    result records the budget it ran with (``protocol.train.teacher_steps``)."""
    raw = os.environ.get("ATTNVERIFY_HYBRID_TEACHER_STEPS")
    if raw is None:
        return protocol
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"ATTNVERIFY_HYBRID_TEACHER_STEPS must be an integer >= 1, got {raw!r}")
    return dataclasses.replace(protocol, train=dataclasses.replace(protocol.train, teacher_steps=int(raw)))


def write_report(res: dict[str, Any], out_dir: Path, *, cache: bool) -> dict[str, Any]:
    """Decisions, ``collapse.{json,md}``, the two figures, and (``cache``) ``collapse_<protocol>.json`` to promote."""
    name = res["protocol"]["name"]
    decisions = {}
    for cid, fn in (("hybrid.collapse_toy", c9_decision), ("hybrid.collapse_gap_toy", collapse_gap_decision),
                    ("hybrid.inference_time_hybridisation", c10_decision), ("hybrid.inference_time_hybridisation_short", c10_short_decision)):
        d, fig = fn(res)
        decisions[cid] = {"decision": d.to_dict(), "figures": fig}
    res["decisions"] = decisions
    ready = "" if teacher_ready(res) else (f"\n**The teacher is below {TEACHER_MIN:.0%} on a set, so the claims report `inconclusive`; "
                                           "the decisions below are what the rules give on these figures.**\n")
    md = (f"# Hybrid SWA + LA: component collapse on MQAR ({name} protocol, {res['seconds']:.0f} s)\n\n" + _table(res) + ready + "\n"
          + "\n".join(f"- `{cid}`: {v['decision']['effect']} = {v['decision']['estimate']:.3f} [{v['decision']['ci'][0]:.3f}, "
                      f"{v['decision']['ci'][1]:.3f}] -> **{v['decision']['outcome']}**" for cid, v in decisions.items()) + "\n")
    files = [pn.atomic_write_json(out_dir / "collapse.json", res), pn.atomic_write_text(out_dir / "collapse.md", md)]
    if cache:
        files.append(pn.atomic_write_json(out_dir / cache_path(name).name, res))  # promote it to change the evidence
    files += _plots(res, out_dir)
    return {"protocol": name, "decisions": decisions, "files": [str(f) for f in files], "table": md}
