r"""The fast track's steering sweep: success, fluency, controls, layers and heads (spec §5, C6-C8, C10).

For every target $L\in\{\rm fr,es,zh,ja\}$ and layer $\ell$: $j^\star$ by ``meandiff`` over positions
$t\ge t_0$ (welch rank and ``rate`` recorded), clamp values $c=\kappa\mu^+_{L,j^\star}$ over the
$\kappa$ grid, and the matched random feature clamped to $\kappa\mu^+_{L,k}$. Prompts are held-out English
prefixes of 16 characters; each is continued by ``new`` characters at temperature 0.5 for each seed.
Success is the pre-registered rule (:mod:`attnverify.attention.sae.success`) on the continuation only (never the prompt): language ID equal to $L$, not
degenerate (thresholds calibrated on the unsteered continuations), valid words; fluency is
:func:`attention.sae.miniature.word_validity`. Per-prompt values are means over seeds: the prompts are
the independent units of every interval.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from attnverify import proofs_numeric as pn
from attnverify.attention.sae.charlm import charlm_generate_many, head_contributions
from attnverify.attention.sae.langid import detect_language_lingua, gate_accuracy
from attnverify.attention.sae.miniature import sample_documents, word_validity
from attnverify.attention.sae.selection import head_attribution, matched_random_feature, mu_plus, rank_of, select_feature
from attnverify.attention.sae.steering import Steer, make_steer, no_steer
from attnverify.attention.sae.success import calibrate_degeneracy, judge, language_label

from .blocks import ablation_masks, padded_blocks
from .fast_track import FastTrack

__all__ = ["TARGETS", "run_sweep", "lid_gate"]

TARGETS = ("fr", "es", "zh", "ja")
_TOP_K_HEADS, _RANDOM_DRAWS, _BLOCK, _EXAMPLES = 2, 20, 10, 5


def _generate(ft: FastTrack, prompts: np.ndarray, steers: list[Steer], masks: np.ndarray | None, seed: int) -> list[list[str]]:
    """Continuations ``[config][prompt]`` of every steer (and head mask) for one sampling seed."""
    cfg = ft["cfg"]
    keys = jnp.stack([jax.random.PRNGKey(seed)] * _BLOCK)  # the same sampling noise for every configuration
    out = []
    for st, hm in padded_blocks(steers, masks, cfg.d, (cfg.layers, cfg.heads), _BLOCK):
        out += list(np.asarray(charlm_generate_many(ft["params"], cfg, jnp.asarray(prompts), ft["settings"]["new"], keys, 0.5, st, hm)))
    return [[ft["tok"].decode(row) for row in block] for block in out[:len(steers)]]


def _score(ft: FastTrack, texts: list[str], target: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Success by the pre-registered rule (:func:`attnverify.attention.sae.success.judge`, thresholds calibrated on the
    unsteered continuations: ``ft["rule"]``), the spec's fluency (word validity) and the judged parts."""
    j = judge(texts, [list(t) for t in texts], target, ft["rule"])
    flu = np.asarray([word_validity(t, target, ft["lists"]) for t in texts], np.float64)
    return j["success"], flu, j


def _calibrate(ft: FastTrack, prompts: np.ndarray) -> None:
    """``ft["rule"]``: the success rule's thresholds from the unsteered continuations of every seed; and
    ``ft["unsteered_labels"]``: their guarded language labels, counted (the spec's stay-in-language gate)."""
    texts = [t for s in range(ft["settings"]["seeds"]) for t in _generate(ft, prompts, [no_steer(ft["cfg"].d)], None, 1000 * ft["seed"] + s)[0]]
    ft["rule"] = calibrate_degeneracy(texts, [list(t) for t in texts])
    labels = language_label(texts)
    ft["unsteered_labels"] = {lab: labels.count(lab) for lab in sorted(set(labels))}


def _run(ft: FastTrack, prompts: np.ndarray, steers: list[Steer], target: str, masks=None,
         names: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Success, fluency and the plain label success ``[config, seed, prompt]``. With ``names`` (for the
    first ``len(names)`` steers; ``None`` skips one), up to :data:`_EXAMPLES` successes per configuration (distinct prompts, seeds in order) are
    kept in ``ft["examples"][target]`` with their label."""
    seeds = range(ft["settings"]["seeds"])
    per = [_generate(ft, prompts, steers, masks, 1000 * ft["seed"] + s) for s in seeds]
    scored = [[_score(ft, per[s][c], target) for s in seeds] for c in range(len(steers))]  # each text judged once
    for c, name in enumerate(names or []):
        if name is None:
            continue
        seen: set[int] = set()
        for s in seeds:
            for p in np.flatnonzero(scored[c][s][0]):
                if len(seen) < _EXAMPLES and int(p) not in seen:
                    seen.add(int(p))
                    ft.setdefault("examples", {}).setdefault(target, []).append(
                        {"cell": name, "seed": s, "prompt": int(p), "label": str(scored[c][s][2]["label"][p]), "text": per[s][c][p]})
    return (np.asarray([[x[0] for x in row] for row in scored]), np.asarray([[x[1] for x in row] for row in scored]),
            np.asarray([[x[2]["label_success"] for x in row] for row in scored]))


def lid_gate(ft: FastTrack) -> dict[str, Any]:
    """C10 on the miniature: accuracy of both identifiers on held-out documents of 8-64 characters."""
    rng = np.random.default_rng([ft["seed"], 4])
    out: dict[str, Any] = {}
    for k in (8, 16, 32, 64):
        texts = {lang: sample_documents(ft["lists"], lang, ft["settings"]["gate_n"], k, rng) for lang in ("en",) + TARGETS}
        out[str(k)] = {"fasttext_lite": gate_accuracy(texts), "lingua": gate_accuracy(texts, detect_language_lingua)}
    return out


def run_sweep(ft: FastTrack) -> dict[str, Any]:
    """The whole sweep; see the module docstring. Returns per-prompt arrays (lists) and the features."""
    s, cfg = ft["settings"], ft["cfg"]
    rng = np.random.default_rng([ft["seed"], 3])
    prompts = np.asarray([[0] + ft["tok"].encode(t) for t in sample_documents(ft["lists"], "en", s["prompts"], 16, rng)], np.int32)
    kappas = list(s["kappas"])
    _calibrate(ft, prompts)
    res: dict[str, Any] = {"kappas": kappas, "layers": list(range(cfg.layers)), "targets": list(TARGETS), "n_prompts": len(prompts),
                           "seeds": s["seeds"], "features": {}, "success": {}, "fluency": {}, "success_random": {},
                           "fluency_random": {}, "unsteered": {}, "unsteered_fluency": {}, "additive": {}, "heads": {}, "label_rate": {},
                           "success_rule": dict(ft["rule"]._asdict(), definition="pre-registered: attnverify.attention.sae.success.judge"),
                           "unsteered_labels": ft["unsteered_labels"]}
    for target in pn.progress(TARGETS, desc="fast track: steering"):
        base_s, base_f, _ = _run(ft, prompts, [no_steer(cfg.d)], target)
        res["unsteered"][target], res["unsteered_fluency"][target] = base_s[0].mean(0), np.nanmean(base_f[0], 0)
        for key in ("features", "success", "fluency", "success_random", "fluency_random", "label_rate"):
            res[key][target] = [None] * cfg.layers
        for layer in range(cfg.layers):
            f_t, f_e = ft["feats"][target][layer], ft["feats"]["en"][layer]
            j, scores = select_feature(f_t, f_e, "meandiff")
            _, welch = select_feature(f_t, f_e, "welch")
            _, rate = select_feature(f_t, f_e, "rate")
            k = matched_random_feature(np.concatenate([f_t, f_e]), j, scores, np.random.default_rng([ft["seed"], 5, layer, len(target)]))
            mu_j, mu_k = mu_plus(f_t, j), mu_plus(f_t, k)
            sae = ft["saes"][layer]
            res["features"][target][layer] = {"j": j, "delta": float(scores[j]), "next_delta": float(np.sort(scores)[-2]),
                                              "rank_welch": rank_of(welch, j), "rate": float(rate[j]), "mu_plus": mu_j,
                                              "random_j": k, "random_mu_plus": mu_k, "dec_norm": float(np.linalg.norm(sae.w_dec[j]))}
            steers = [make_steer(sae, layer, j, kap * mu_j) for kap in kappas] + [make_steer(sae, layer, k, kap * mu_k) for kap in kappas]
            names = [f"layer {layer} j* kappa {kap:g}" if kap > 0 else None for kap in kappas]  # kappa = 0 removes the feature: no examples
            succ, flu, lab = _run(ft, prompts, steers, target, names=names)
            n = len(kappas)
            res["label_rate"][target][layer] = lab[:n].mean(1)
            res["success"][target][layer] = succ[:n].mean(1)
            res["fluency"][target][layer] = np.nanmean(flu[:n], 1)
            res["success_random"][target][layer] = succ[n:].mean(1)
            res["fluency_random"][target][layer] = np.nanmean(flu[n:], 1)
            res["features"][target][layer]["success_by_seed"] = succ[:n].mean(2)
        res["additive"][target] = _additive(ft, prompts, target, res)
        res["heads"][target] = _heads(ft, prompts, target, res)
    res["examples"] = ft.get("examples", {})
    return res


def best_config(res: dict[str, Any], target: str) -> tuple[int, int]:
    """``(layer index, kappa index)`` of the highest mean success for ``target`` over kappa > 0
    (ties: earliest); works on the sweep's arrays and on their JSON form."""
    table = np.asarray([[np.mean(v) for v in per_layer] for per_layer in res["success"][target]], np.float64)
    table[:, np.asarray(res["kappas"]) == 0] = -np.inf
    layer, ki = np.unravel_index(int(np.argmax(table)), table.shape)
    return int(layer), int(ki)


def _additive(ft: FastTrack, prompts, target: str, res) -> dict[str, Any]:
    layer, _ = best_config(res, target)
    feat = res["features"][target][layer]
    steers = [make_steer(ft["saes"][layer], layer, feat["j"], kap * feat["mu_plus"], mode="additive") for kap in res["kappas"]]
    succ, flu, _ = _run(ft, prompts, steers, target)
    return {"layer": layer, "success": succ.mean(1), "fluency": np.nanmean(flu, 1),
            "alpha_times_norm": [kap * feat["mu_plus"] * feat["dec_norm"] for kap in res["kappas"]]}


def _heads(ft: FastTrack, prompts, target: str, res) -> dict[str, Any] | None:
    r"""C8: the top-k heads by direct attribution to $W_{\rm enc}[:,j^\star]$ among the heads **at or above**
    the best layer (heads below cannot remove the feature the clamp sets; those at $\ell$ only act through
    the rest of the stream), against ``_RANDOM_DRAWS`` distinct random k-subsets of the other heads there
    (never a top head). ``None`` when too few heads lie there for the draws (e.g. the last layer)."""
    cfg = ft["cfg"]
    layer, ki = best_config(res, target)
    feat = res["features"][target][layer]
    rng = np.random.default_rng([ft["seed"], 6, len(target)])
    docs = np.asarray([[0] + ft["tok"].encode(t) for t in sample_documents(ft["lists"], target, 64, cfg.context - 1, rng)], np.int32)
    contrib = np.asarray(head_contributions(ft["params"], cfg, jnp.asarray(docs)))[:, :, ft["settings"]["t0"]:]
    attr = head_attribution(contrib.reshape(cfg.layers, -1, cfg.heads, cfg.d), np.asarray(ft["saes"][layer].w_enc[:, feat["j"]]))
    eligible = np.zeros(attr.shape, bool)
    eligible[layer:] = True
    try:
        masks, top = ablation_masks(attr, _TOP_K_HEADS, _RANDOM_DRAWS, (cfg.layers, cfg.heads), rng, eligible=eligible)
    except ValueError:
        return None
    steer = make_steer(ft["saes"][layer], layer, feat["j"], res["kappas"][ki] * feat["mu_plus"])
    succ, _, _ = _run(ft, prompts, [steer] * (len(masks) + 1), target, np.stack([np.ones_like(masks[0])] + masks))
    base = succ[0].mean(0)
    return {"layer": layer, "kappa": res["kappas"][ki], "k": _TOP_K_HEADS, "attribution": attr, "top": top.tolist(),
            "drop_top": base - succ[1].mean(0), "drop_random": [base - succ[i].mean(0) for i in range(2, len(masks) + 1)]}
