r"""Validators of the pinned evidence files (one per ``schema`` name in ``evidence_manifest.json``).

Run by :mod:`proofs_numeric.evidence` on every file before a claim reads it; a violation makes every
claim that reads the file ``failed`` with the file and the field named (:mod:`proofs_numeric.validate`).
Each checks what its claims decide from: required keys, the seeds and the protocol; rates and
accuracies in :math:`[0, 1]`, counts non-negative integers, losses finite and :math:`> 0`; rates equal
to counts over totals; per-seed (per-unit) arrays as long as the seed (unit) list; and, where the file
stores both, a derived figure equal to its recomputation from the raw per-unit data.

To pin a new kind of file: add a ``@schema("study.kind")`` function here and name it in the pin
(``attnverify promote RUN_FILE DEST --schema study.kind``).
"""

from __future__ import annotations

import math
from itertools import product

from attnverify.proofs_numeric.validate import Fields, schema

__all__ = ["c10_effects"]


@schema("gating.results")
def _gating_trained(f: Fields) -> None:
    """The trained gating study (``config.steps > 0``): see :func:`_gating`."""
    f.count("config.steps")
    if f.get("config.steps") == 0:
        f.fail("config.steps", "= 0: an untrained run cannot stand for the trained study (schema gating.untrained)")
    _gating(f)


@schema("gating.untrained")
def _gating_untrained(f: Fields) -> None:
    """The untrained gating arm (``config.steps == 0``): see :func:`_gating`."""
    f.equals("config.steps", 0)
    _gating(f)


def _gating(f: Fields) -> None:
    """The gating study: 360 runs (task x gate x depth x seed), each once; accuracies and curvature shares in [0, 1]."""
    f.require("seed", "quick", "config.tasks", "config.gates", "config.depths", "config.n_seeds", "runs")
    f.equals("quick", False)
    cfg = f.get("config")
    f.count("config.n_seeds")
    n = len(cfg["tasks"]) * len(cfg["gates"]) * len(cfg["depths"]) * cfg["n_seeds"]
    cols = ("task", "gate", "depth", "seed", "accuracy", "proxy", "curv_density", "abs_K", "frac_K_positive", "frac_degenerate")
    f.require(*(f"runs.{c}" for c in cols))
    f.length("runs.*", n)
    for c in ("accuracy", "frac_K_positive", "frac_degenerate"):
        f.rate(f"runs.{c}")
    if cfg["steps"] > 0:  # a trained study records its final training loss (the untrained arm has none)
        f.loss("runs.final_loss")
    f.count("runs.seed")
    f.count("runs.depth")
    f.numbers("runs.proxy")
    f.numbers("runs.curv_density", 0.0, what="a finite non-negative density")
    f.numbers("runs.abs_K", 0.0, what="a finite non-negative |K|")
    runs = f.get("runs")
    seen = list(zip(runs["task"], runs["gate"], runs["depth"], runs["seed"]))
    want = set(product(cfg["tasks"], cfg["gates"], cfg["depths"], range(cfg["n_seeds"])))
    if set(seen) != want or len(seen) != len(want):
        f.fail("runs.task/gate/depth/seed", f"do not list every (task, gate, depth, seed) of the config exactly once ({len(set(seen) & want)} of {len(want)})")


def _obcache(f: Fields, at: str, budgets: str, ratios: str) -> None:
    """The per-head OBCache arrays under ``at``: one log error ratio (per host and score: ``ratios``) and one
    recall@10 % per head, budgets and recalls in [0, 1], mean errors per budget non-negative."""
    f.require(*(f"{at}{k}" for k in ("heads", "keep_all_error", "log_ratio_per_head", "recall10_per_head", "errors_mean")), budgets)
    f.equals("quick", False)
    f.count(f"{at}heads")
    heads = f.get(f"{at}heads")
    f.rate(budgets)
    f.numbers(f"{at}keep_all_error", 0.0, what="a finite non-negative error")
    f.length(f"{at}log_ratio_per_head{ratios}", heads)
    f.numbers(f"{at}log_ratio_per_head{ratios}")
    f.length(f"{at}recall10_per_head.*", heads)
    f.rate(f"{at}recall10_per_head.*")
    f.length(f"{at}errors_mean.*", len(f.get(budgets)))
    f.numbers(f"{at}errors_mean.*", 0.0, what="a finite non-negative relative error")


@schema("kv_eviction.summary")
def _kv(f: Fields) -> None:
    """OBCache on MiniLM (one protocol's summary)."""
    f.require("quick", "seed", "minilm.recall10_per_head.obc-k", "minilm.recall10_per_head.obc-vk")
    for c in ("minilm.n_prompt", "minilm.n_future"):
        f.count(c)
    _obcache(f, "minilm.", "minilm.budgets", "")


@schema("kv_eviction.files")
def _kv_files(f: Fields) -> None:
    """OBCache over files: one prompt per file."""
    f.require("quick", "seed", "protocol.files", "files")
    f.count("protocol.files")
    f.length("files", f.get("protocol.files"))
    _obcache(f, "", "protocol.budgets", ".*.*")


@schema("delta.files")
def _delta_files(f: Fields) -> None:
    """Delta attention over files: one gain per layer and file for each method and gamma; the anchor rows exact."""
    f.require("quick", "seed", "protocol.files", "protocol.gammas", "files", "layers", "gain_per_layer_file", "anchor_error")
    f.equals("quick", False)
    f.count("protocol.files")
    f.count("layers")
    f.length("files", f.get("protocol.files"))
    f.length("gain_per_layer_file.*.*", f.get("layers"))
    f.length("gain_per_layer_file.*.*.*", f.get("protocol.files"))
    f.numbers("gain_per_layer_file.*.*", -2.0, 2.0, what="a gain in [-2, 2] (a difference of two cosines)")
    f.numbers("anchor_error", 0.0, 1e-9, what="an anchor-row error at rounding level (<= 1e-9)")


def c10_effects(seed_record: dict) -> dict[str, float]:
    r"""FAL C10 effects of one trained baseline from its raw measurements (``fal.md`` C10):
    (a) :math:`\overline{\mathrm{CKA}}(U_i,U_j)-\overline{\mathrm{CKA}}(A_i,A_j)` over block pairs :math:`i<j`;
    (b) :math:`\log(\|\partial L/\partial A_1\|/\max_{i>1}\|\partial L/\partial A_i\|)`;
    (c) :math:`\Delta\mathrm{NLL}(A_1\equiv0)-\max_{i>1}\Delta\mathrm{NLL}(A_i\equiv0)`."""
    u, a = seed_record["cka_mlp_inputs"], seed_record["cka_attn"]
    pairs = [(i, j) for i in range(len(u)) for j in range(i + 1, len(u))]
    g, d = seed_record["grad_norms"], seed_record["ablation_delta_nll"]
    return {"effect_a": sum(u[i][j] for i, j in pairs) / len(pairs) - sum(a[i][j] for i, j in pairs) / len(pairs),
            "effect_b": math.log(g[0] / max(g[1:])), "effect_c": d[0] - max(d[1:])}


@schema("fal.results")
def _fal(f: Fields) -> None:
    """FAL: NLLs per variant and seed, C10 raw measurements per seed (CKA in [0, 1], gradient norms > 0),
    stored effects equal to their recomputation, C8 timing blocks consistent."""
    f.require("quick", "protocol_name", "protocol.seeds", "protocol.n_blocks", "corpus.sha256", "val_nll", "c10.per_seed",
              "c8.effect_log_speedup", "c8.block_medians_s.baseline", "c8.block_medians_s.fal")
    f.equals("quick", False)
    seeds, blocks = f.get("protocol.seeds"), f.get("protocol.n_blocks")
    f.count("protocol.seeds")
    f.length("val_nll.*", len(seeds))
    f.loss("val_nll.*")
    f.length("c10.per_seed", len(seeds))
    for i, s in enumerate(seeds):
        p = f"c10.per_seed.{i}"
        f.equals(f"{p}.seed", s)
        for m in ("cka_mlp_inputs", "cka_attn"):
            f.length(f"{p}.{m}", blocks)
            f.length(f"{p}.{m}.*", blocks)
            f.numbers(f"{p}.{m}", 0.0, 1.0 + 1e-6, what="a linear CKA in [0, 1]")
        f.length(f"{p}.grad_norms", blocks)
        f.loss(f"{p}.grad_norms")
        f.length(f"{p}.ablation_delta_nll", blocks)
        f.numbers(f"{p}.ablation_delta_nll")
        f.loss(f"{p}.clean_nll")
        rec = f.get(p)
        for k, v in c10_effects(rec).items():
            if k in rec and abs(rec[k] - v) > 1e-9 * max(1.0, abs(v)):
                f.fail(f"{p}.{k}", f"= {rec[k]!r} differs from its recomputation from the raw measurements ({v!r})")
    n = len(f.get("c8.effect_log_speedup"))
    f.length("c8.block_medians_s.*", n)
    f.loss("c8.block_medians_s.*")
    med = f.get("c8.block_medians_s")
    for i, (b, a, e) in enumerate(zip(med["baseline"], med["fal"], f.get("c8.effect_log_speedup"))):
        if abs(e - math.log(b / a)) > 1e-9:
            f.fail(f"c8.effect_log_speedup.{i}", f"= {e!r} is not log(baseline/FAL) of its block medians ({math.log(b / a)!r})")


@schema("fal.c9")
def _fal_c9(f: Fields) -> None:
    """FAL C9 alone (``attnverify experiment fal-c9``): the five variants and the data-order placebo, one NLL per
    seed (finite, > 0), the bigram target, and the summary equal to its recomputation from the per-seed NLLs."""
    f.require("quick", "protocol_name", "protocol.seeds", "corpus.sha256", "preregistered", "count_models.bigram_windows",
              "placebo.val_nll", "summary.variants", "summary.placebo_minus_baseline.mean",
              *(f"val_nll.{v}" for v in ("baseline", "fal", "falplus_A", "falplus_B", "no_connection")))
    f.equals("quick", False)
    n = len(f.get("protocol.seeds"))
    f.count("protocol.seeds")
    for path in ("val_nll.*", "placebo.val_nll"):
        f.length(path, n)
        f.loss(path)
    f.loss("count_models.*")
    f.numbers("summary.variants.*.*")
    nll, bigram = f.get("val_nll"), f.get("count_models.bigram_windows")
    for k, v in nll.items():
        mean = sum(v) / len(v)
        for key, want in (("mean", mean), ("minus_bigram", mean - bigram), ("seeds_below_bigram", sum(x < bigram for x in v))):
            got = f.get(f"summary.variants.{k}.{key}")
            if abs(got - want) > 1e-9:
                f.fail(f"summary.variants.{k}.{key}", f"= {got!r} differs from its recomputation from val_nll ({want!r})")
    pl = sum(a - b for a, b in zip(f.get("placebo.val_nll"), nll["baseline"])) / n
    if abs(f.get("summary.placebo_minus_baseline.mean") - pl) > 1e-9:
        f.fail("summary.placebo_minus_baseline.mean", f"differs from its recomputation from the per-seed NLLs ({pl!r})")


@schema("hybrid.collapse")
def _hybrid(f: Fields) -> None:
    """The collapse toy: one record per arm and seed; teacher and student accuracies, chance and r_n in [0, 1]."""
    f.require("protocol.name", "protocol.seeds", "protocol.eval_sequences", "chance", "teacher.accuracy.short",
              "teacher.accuracy.long", "arms")
    f.count("protocol.seeds")
    f.count("protocol.eval_sequences")
    parts = f.file.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".json").split("_")
    named = parts[1] if len(parts) > 1 and parts[0] == "collapse" else ""  # collapse_full*.json: protocol full
    if named in ("full", "reduced"):
        f.equals("protocol.name", named)
    f.rate("chance")
    f.rate("teacher.accuracy.*")
    f.length("arms.*", f.get("protocol.seeds"))
    for where, runs in f.items("arms.*"):
        for i in range(len(runs)):
            p = f"{where}.{i}"
            f.equals(f"{p}.seed", i)
            for key in ("eval", "eval_hybridised"):
                if key in runs[i]:
                    f.rate(f"{p}.{key}.accuracy.*.*")
                    f.rate(f"{p}.{key}.r_buckets.*.*.*", allow_none=True)


@schema("hybrid.gemma_real")
def _hybrid_real(f: Fields) -> None:
    """Gemma hybridisation: per-sequence agreements in [0, 1], as many as evaluation sequences."""
    f.require("protocol.n_eval", "agreement", "agreement_beyond_window", "r_buckets")
    f.count("protocol.n_eval")
    f.length("agreement_beyond_window.*", f.get("protocol.n_eval"))
    f.rate("agreement_beyond_window.*")
    f.rate("agreement.*.*", allow_none=True)
    f.rate("r_buckets.*.*.*", allow_none=True)


def _lid_gate(f: Fields) -> None:
    """Language-ID gate: counts per predicted label, n = their sum, accuracy = correct / n."""
    for where, cell in f.items("gate.*.*.*"):
        f.count(f"{where}.confusion.*")
        f.count(f"{where}.n")
        lang = where.rsplit(".", 1)[1]
        total = sum(cell["confusion"].values())
        if total != cell["n"]:
            f.fail(f"{where}.n", f"= {cell['n']!r} is not the sum of its confusion counts ({total})")
        if lang not in cell["confusion"]:
            f.fail(f"{where}.confusion.{lang}", "is missing (the correct label's count)")
        f.rate(f"{where}.accuracy")
        f.ratio(f"{where}.accuracy", f"{where}.confusion.{lang}", f"{where}.n")


def _steering(f: Fields, shape: tuple[int, ...]) -> None:
    """Steering success per target x layer x kappa x prompt (rates; fluency may be NaN where nothing was generated)."""
    for t in f.get("targets"):
        for key in ("success", "success_random", "fluency"):
            if key in f.data and f.data[key].get(t) is not None:
                f.length(f"{key}.{t}", shape[0])
                f.length(f"{key}.{t}.*", shape[1])
                f.length(f"{key}.{t}.*.*", shape[2])
                f.rate(f"{key}.{t}", allow_none=key == "fluency")
        f.rate(f"unsteered.{t}", allow_none=True)


@schema("sae.gemma")
def _sae_gemma(f: Fields) -> None:
    f.require("layers", "kappas", "targets", "n_prompts", "settings", "gate", "success", "success_random", "unsteered", "sae_stats")
    f.count("n_prompts")
    _lid_gate(f)
    _steering(f, (len(f.get("layers")), len(f.get("kappas")), f.get("n_prompts")))
    for t in f.get("targets"):
        if f.data.get("additive", {}).get(t) is not None:
            f.rate(f"additive.{t}.success")
        if f.data.get("heads", {}).get(t) is not None:
            f.length(f"heads.{t}.drop_top", f.get("n_prompts"))
            f.numbers(f"heads.{t}.drop_top", -1.0, 1.0, what="a success difference in [-1, 1]")
            f.numbers(f"heads.{t}.drop_random", -1.0, 1.0, what="a success difference in [-1, 1]")


@schema("sae.gemma.cells")
def _sae_gemma_cells(f: Fields) -> None:
    """The issue-21 Gemma run: every cell holds texts and token ids [seed][prompt] for every seed and
    prompt, an unsteered cell, and the C10 gate sets (texts with their token ids, one length per set)."""
    f.require("format", "targets", "seeds", "n_prompts", "prompts", "settings", "cells", "gate_sets", "sae_stats", "features")
    f.equals("format", "cells-v2")
    f.count("n_prompts")
    n, seeds = f.get("n_prompts"), f.get("seeds")
    f.length("prompts", n)
    f.length("cells.*.texts", len(seeds))
    f.length("cells.*.texts.*", n)
    f.length("cells.*.tokens", len(seeds))
    f.length("cells.*.tokens.*", n)
    if not any(c.get("target") is None for c in f.get("cells")):
        f.fail("cells", "has no unsteered cell (target null): the success rule cannot be calibrated")
    for t in f.get("targets"):
        for name in ("recall", "punctuation", "loops", "other_language", "shuffled_label"):
            f.require(f"gate_sets.{t}.{name}.texts", f"gate_sets.{t}.{name}.tokens")
            f.length(f"gate_sets.{t}.{name}.tokens", len(f.get(f"gate_sets.{t}.{name}.texts")))


@schema("sae.fast")
def _sae_fast(f: Fields) -> None:
    f.require("layers", "kappas", "targets", "n_prompts", "seeds", "seed", "gate", "success", "success_random", "unsteered")
    f.count("n_prompts")
    f.count("seed")
    _lid_gate(f)
    _steering(f, (len(f.get("layers")), len(f.get("kappas")), f.get("n_prompts")))


@schema("topk_real.model")
def _topk(f: Fields) -> None:
    """Top-k on a real encoder: per-sequence mean k in [1, n], one row per sequence, eps in (0, 1)."""
    f.require("protocol.name", "paper")
    f.equals("protocol.name", "full")
    name = next(k for k in f.data if k not in ("protocol", "paper"))
    for where, cell in f.items(f"{name}.reduction.*"):
        n = int(where.rsplit(".", 1)[1])
        f.count(f"{where}.sequences")
        f.rate(f"{where}.eps")
        f.length(f"{where}.per_sequence.*", cell["sequences"])
        f.numbers(f"{where}.per_sequence.mean_k", 1.0, n, what=f"a mean k in [1, {n}]")
        if "predictor_minus_rule_abs_error" in cell.get("per_sequence", {}):
            f.length(f"{where}.per_sequence.predictor_minus_rule_abs_error", cell["sequences"])
            f.numbers(f"{where}.per_sequence.predictor_minus_rule_abs_error", -1.0, 1.0,
                      what="a difference of two absolute errors of a mass in [0, 1]")
        eps, seq_k = f.get(f"{where}.eps"), f.get(f"{where}.per_sequence.mean_k")
        f.length(f"{where}.per_eps", len(eps))
        f.length(f"{where}.per_sequence.mean_k.*", len(eps))
        for j, row in enumerate(f.get(f"{where}.per_eps")):  # the stored summary equals its recomputation from the raw rows
            k = sum(r[j] for r in seq_k) / len(seq_k)
            if not (isinstance(row, dict) and isinstance(row.get("mean_k"), (int, float))) or abs(row["mean_k"] - k) > 1e-9 * max(1.0, k):
                f.fail(f"{where}.per_eps.{j}.mean_k", f"= {row.get('mean_k') if isinstance(row, dict) else row!r} differs from the "
                       f"mean of per_sequence.mean_k[:, {j}] ({k!r})")
