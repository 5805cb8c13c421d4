r"""SAE language steering on Gemma 3 270M (issue 13 §2): Django catalogues, cached activations, own
JumpReLU SAEs, steering sweep, controls, heads, meaning proxy, language-ID gate.

**Text.** :func:`attention.data.po_catalogues.po_pairs` for zh_Hans, ja, es, fr (SHA-256 recorded).
A seeded split gives per language a *selection* set (activations, SAE training, feature choice) and a
*held-out* set (prompts, references, the C10 gate). English texts are the msgids of the selection
sets; prompts are held-out msgids translated in all four catalogues and of the modal token length
(one compiled program serves them all).

**Steering.** At each layer of ``layers`` and for each target, $j^\star$ by ``meandiff`` over all
non-BOS positions, $c=\kappa\mu^+$ over the $\kappa$ grid (clamp-with-error). Controls at the best
(layer, $\kappa>0$): the matched random feature, $\kappa=0$, the unsteered model, additive steering
($\alpha=\kappa\mu^+$) and head ablation (C8). Success = language ID of the continuation (``new``
tokens, decoded, never the prompt) equal to the target; continuations under 32 characters count
as failures (C10). Fluency and meaning: :func:`attention.sae.miniature.word_validity` with the
``wordfreq`` top-5000 lists, :func:`attention.sae.meaning.chrf` against the reference translation.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from attnverify import proofs_numeric as pn
from attnverify.attention.data.po_catalogues import LANGUAGES, po_pairs
from attnverify.attention.sae.activations import cache_key, cached_array
from attnverify.attention.sae.jumprelu import JumpReLUSAE, sae_encode
from attnverify.attention.sae.langid import detect_language, detect_language_lingua, gate_accuracy
from attnverify.attention.sae.meaning import chrf
from attnverify.attention.sae.miniature import word_lists, word_validity
from attnverify.attention.sae.selection import head_attribution, matched_random_feature, mu_plus, rank_of, select_feature
from attnverify.attention.sae.steering import Steer, make_steer, no_steer
from attnverify.attention.sae.training import sae_stats, train_sae

from .blocks import ablation_masks
from .gemma_lm import gemma_head_contributions, gemma_residuals, gemma_steered_generate

__all__ = ["GEMMA", "build_saes", "run_gemma_track"]

GEMMA = dict(layers=(3, 9, 14), n_select=160, max_tokens=24, width=1024, lam=1e-2, sae_eps=0.05, theta0=0.2, sae_lr=3e-3, sae_steps=600,
             sae_batch=256, prompts=16, new=32, kappas=(0.0, 4.0, 16.0), temperature=0.5, gate_n=200, heads_k=2, random_draws=5,
             batch=64, targets=("zh", "es"), sae_languages=("zh", "es"), steer_layers=None, controls=True)
"""The full run's settings (one sampling seed; SAE hyper-parameters chosen on the earlier 1.4k-activation
cache for L0 near the spec's [5, 64] gate: lam 0.01, theta0 0.2, lr 3e-3 gave L0 60, FVU 0.13 at layer 9)."""
_ISO = tuple(LANGUAGES.values())


def _split(seed: int) -> tuple[dict, dict]:
    pairs, shas = {}, {}
    for loc, iso in LANGUAGES.items():
        p, shas[iso] = po_pairs(loc)
        perm = np.random.default_rng([seed, 7, len(iso)]).permutation(len(p))
        pairs[iso] = [p[i] for i in perm]
    return pairs, shas


def _ids(model, text: str) -> list[int]:
    """Token ids with exactly one leading BOS (the GGUF tokenizer prepends it)."""
    ids = model.tokenizer.encode(text).ids
    return ids if ids and ids[0] == model.bos_id else [model.bos_id] + ids


def _batched(model, texts: list[str], layers, key_parts, max_tokens: int, batch: int = 32) -> np.ndarray:
    """``[len(layers), n_tokens, D]`` activations at the non-BOS positions of ``texts`` (cached). Texts
    are cut to ``max_tokens`` and right-padded to it (causal attention: padding never reaches the
    kept positions), so one compiled forward serves them all."""
    def compute():
        out = [[] for _ in layers]
        for i in pn.progress(range(0, len(texts), batch), desc="gemma: activations", leave=False):
            rows = [_ids(model, t)[:max_tokens] for t in texts[i:i + batch]]
            ids = np.zeros((batch, max_tokens), np.int32)
            for r, row in enumerate(rows):
                ids[r, : len(row)] = row
            hid = np.asarray(gemma_residuals(model.params, jnp.asarray(ids), cfg=model.config, layers=tuple(layers)))
            for li in range(len(layers)):
                out[li] += [hid[li, r, 1:len(row)] for r, row in enumerate(rows)]
        return np.stack([np.concatenate(o) for o in out]).astype(np.float32)

    return cached_array(cache_key(*key_parts), compute)


def _texts(pairs, n: int) -> tuple[dict, list[str]]:
    sel = {iso: [t for _, t in pairs[iso][:n]] for iso in _ISO}
    english = sorted({s for iso in _ISO for s, _ in pairs[iso][:n]})[: n]
    return sel, english


def _prompts(model, pairs, n_select: int, count: int) -> list[tuple[str, dict]]:
    """Held-out msgids translated in every catalogue, all of the modal token length."""
    refs = [{s: t for s, t in pairs[iso][n_select:]} for iso in _ISO]
    selected = {s for iso in _ISO for s, _ in pairs[iso][:n_select]}
    common = sorted(set.intersection(*(set(r) for r in refs)) - selected)
    lengths = {s: len(_ids(model, s)) for s in common}
    modal = max(set(lengths.values()), key=lambda L: (sum(v == L for v in lengths.values()), -L))
    chosen = [s for s in common if lengths[s] == modal][:count]
    return [(s, {iso: r[s] for iso, r in zip(_ISO, refs)}) for s in chosen]


def _gate(pairs, n_select: int, n: int, seed: int, targets) -> dict[str, Any]:
    """C10 on held-out strings of the targets (and English msgids) joined to exactly k characters."""
    rng = np.random.default_rng([seed, 8])
    pools = {iso: [t for _, t in pairs[iso][n_select:]] for iso in targets}
    pools["en"] = [s for s, _ in pairs["fr"][n_select:]]
    out = {}
    for k in (8, 16, 32, 64):
        texts = {}
        for lang, pool in pools.items():
            sep = "" if lang in ("zh", "ja") else " "
            docs = []
            for _ in range(n):
                s = ""
                while len(s) < k:
                    s += pool[int(rng.integers(len(pool)))] + sep
                docs.append(s[:k])
            texts[lang] = docs
        out[str(k)] = {"fasttext_lite": gate_accuracy(texts), "lingua": gate_accuracy(texts, detect_language_lingua)}
    return out


def _generate(model, prompts, steers, masks, s, seed) -> list[list[str]]:
    r"""Decoded continuations ``[config][prompt]``. Every (configuration, prompt) pair is one row; rows
    run ``s["batch"]`` at a time in one compiled loop (the last batch padded with unsteered rows), and
    prompt $i$ gets the key $1000\,\mathrm{seed}+i$ in every configuration (common sampling noise)."""
    cfg, B, P = model.config, s["batch"], len(prompts)
    ids = np.asarray([_ids(model, text) for text, _ in prompts], np.int32)
    masks = np.ones((len(steers), cfg.num_layers, cfg.num_heads), np.float32) if masks is None else np.asarray(masks, np.float32)
    rows = [(c, p) for c in range(len(steers)) for p in range(P)]
    rows += [(-1, 0)] * (-len(rows) % B)
    idle, ones = no_steer(cfg.hidden_size), np.ones((cfg.num_layers, cfg.num_heads), np.float32)
    keys = [jax.random.PRNGKey(1000 * seed + p) for p in range(P)]
    out = [[None] * P for _ in steers]
    for i in pn.progress(range(0, len(rows), B), desc="gemma: generate", leave=False):
        chunk = rows[i:i + B]
        st = Steer(*(jnp.stack(xs) for xs in zip(*[steers[c] if c >= 0 else idle for c, _ in chunk])))
        hm = np.stack([masks[c] if c >= 0 else ones for c, _ in chunk])
        new = gemma_steered_generate(model, ids[[p for _, p in chunk]], st, jnp.stack([keys[p] for _, p in chunk]), hm,
                                     s["temperature"], new=s["new"])
        for (c, p), row in zip(chunk, new):
            if c >= 0:
                out[c][p] = model.tokenizer.decode(row.tolist())
    return out


def _score(texts, target, prompts, lists) -> dict[str, np.ndarray]:
    lid = detect_language(texts)
    ok = np.asarray([p == target and len(t.strip()) >= 32 for p, t in zip(lid, texts)], np.float64)
    flu = np.asarray([word_validity(t, target, lists) for t in texts], np.float64)
    mean = np.asarray([chrf(t, refs[target]) for t, (_, refs) in zip(texts, prompts)], np.float64)
    return {"success": ok, "fluency": flu, "meaning": mean, "lid": lid}


def build_saes(model, s: dict, seed: int, clock: dict | None = None):
    """The cached front half of the track: the catalogue split and hashes, activations (cached), one
    JumpReLU SAE per layer (cached) with its statistics, and the SAE features of every language."""
    clock = {} if clock is None else clock
    layers = tuple(s["layers"])
    pairs, shas = _split(seed)
    sel, english = _texts(pairs, s["n_select"])
    corpus = {iso: shas[iso] for iso in _ISO}
    acts = {lang: _batched(model, texts, layers, (model.sha256, f"{corpus}|{lang}|{s['n_select']}|{s['max_tokens']}|{seed}", "|".join(map(str, layers)), "resid_post"), s["max_tokens"])
            for lang, texts in [("en", english)] + [(t, sel[t]) for t in s["sae_languages"]]}
    clock["activations"] = time.perf_counter()
    saes, stats = [], []
    for li, layer in enumerate(pn.progress(layers, desc="gemma: SAEs")):
        x = np.concatenate([acts[lang][li] for lang in acts])
        key = cache_key(model.sha256, str(corpus), layer, f"sae:{s['width']}:{s['lam']}:{s['sae_eps']}:{s['theta0']}:{s['sae_lr']}:{s['sae_steps']}:{s['n_select']}:{seed}:{''.join(s['sae_languages'])}")
        d, m = x.shape[1], s["width"]

        def fit(x=x):
            return np.concatenate([np.asarray(a, np.float32).ravel() for a in train_sae(x, width=m, lam=s["lam"], eps=s["sae_eps"], theta0=s["theta0"], lr=s["sae_lr"], steps=s["sae_steps"], batch=s["sae_batch"], seed=seed)[0]])

        w_enc, b_enc, w_dec, b_dec, theta = np.split(cached_array(key, fit), np.cumsum([d * m, m, m * d, d]))
        saes.append(JumpReLUSAE(jnp.asarray(w_enc.reshape(d, m)), jnp.asarray(b_enc), jnp.asarray(w_dec.reshape(m, d)), jnp.asarray(b_dec), jnp.asarray(theta)))
        stats.append(dict(sae_stats(saes[-1], x)._asdict(), layer=layer))
    feats = {lang: [np.asarray(sae_encode(saes[i], jnp.asarray(acts[lang][i]))) for i in range(len(layers))] for lang in acts}
    return pairs, shas, corpus, sel, acts, saes, stats, feats


def run_gemma_track(model, settings: dict | None = None, seed: int = 0, targets: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Run the whole Gemma track (see the module docstring) for ``targets`` (default ``settings["targets"]``:
    zh and es, one CJK and one Latin-script target, to fit the CPU budget); returns a JSON-ready dictionary."""
    s = dict(GEMMA, **(settings or {}))
    targets = tuple(targets or s["targets"])
    if not set(targets) <= set(s["sae_languages"]) or not targets or not set(s["sae_languages"]) <= set(_ISO):
        raise ValueError(f"targets must be a non-empty subset of sae_languages {tuple(s['sae_languages'])} (a subset of {_ISO}), got {targets!r}")
    cfg, clock = model.config, {"start": time.perf_counter()}
    layers = tuple(s["layers"])
    pairs, shas, corpus, sel, acts, saes, stats, feats = build_saes(model, s, seed, clock)
    steer_layers = tuple(s.get("steer_layers") or layers)
    sidx = [layers.index(layer) for layer in steer_layers]
    prompts = _prompts(model, pairs, s["n_select"], s["prompts"])
    lists = word_lists(5000)
    res: dict[str, Any] = {"track": "gemma", "model": "Gemma 3 270M (GGUF Q4_K_M, dequantised to float32)", "model_sha256": model.sha256,
                           "corpus_sha256": corpus, "settings": s, "layers": list(steer_layers), "kappas": list(s["kappas"]),
                           "targets": list(targets), "n_prompts": len(prompts), "prompts": [p for p, _ in prompts], "sae_stats": stats,
                           "n_pairs": {iso: len(pairs[iso]) for iso in _ISO}, "gate": _gate(pairs, s["n_select"], s["gate_n"], seed, targets)}
    for key in ("features", "success", "fluency", "meaning", "success_random", "fluency_random", "meaning_random",
                "unsteered", "unsteered_fluency", "unsteered_meaning", "additive", "heads", "examples"):
        res[key] = {t: [None] * len(sidx) for t in targets}
    configs, slots, n = [no_steer(cfg.hidden_size)], {}, len(s["kappas"])
    for target in targets:  # every configuration of every target and layer in one batched generation
        for pos, li in enumerate(sidx):
            f_t, f_e = feats[target][li], feats["en"][li]
            j, scores = select_feature(f_t, f_e)
            k = matched_random_feature(np.concatenate([f_t, f_e]), j, scores, np.random.default_rng([seed, 5, layers[li], len(target)]))
            mu_j, mu_k = mu_plus(f_t, j), mu_plus(f_t, k)
            res["features"][target][pos] = {"layer": layers[li], "j": j, "delta": float(scores[j]), "next_delta": float(np.sort(scores)[-2]),
                                            "rank_welch": rank_of(select_feature(f_t, f_e, "welch")[1], j), "rate": float(select_feature(f_t, f_e, "rate")[1][j]),
                                            "mu_plus": mu_j, "random_j": k, "random_mu_plus": mu_k, "dec_norm": float(np.linalg.norm(saes[li].w_dec[j]))}
            slots[target, pos] = len(configs)
            configs += [make_steer(saes[li], layers[li], j, kap * mu_j) for kap in s["kappas"]]
            configs += [make_steer(saes[li], layers[li], k, kap * mu_k) for kap in s["kappas"]]
    clock["saes_and_selection"] = time.perf_counter()
    texts = _generate(model, prompts, configs, None, s, seed)
    clock["generation_sweep"] = time.perf_counter()
    res["unsteered_texts"], res["sweep_texts"] = texts[0], texts
    for target in targets:
        base = _score(texts[0], target, prompts, lists)
        res["unsteered"][target], res["unsteered_fluency"][target], res["unsteered_meaning"][target] = base["success"], base["fluency"], base["meaning"]
        for pos in range(len(sidx)):
            start = slots[target, pos]
            sc = [_score(texts[start + c], target, prompts, lists) for c in range(2 * n)]
            for name, part in (("", sc[:n]), ("_random", sc[n:])):
                for metric in ("success", "fluency", "meaning"):
                    res[metric + name][target][pos] = np.stack([c[metric] for c in part])
            res["examples"][target][pos] = [texts[start + c][0] for c in range(n)]
        if s["controls"]:
            res["additive"][target], res["heads"][target] = _additive_and_heads(model, [saes[i] for i in sidx], res, target, prompts, lists, s, seed, sel)
        else:
            res["additive"][target] = res["heads"][target] = None
    clock["additive_and_heads"] = time.perf_counter()
    names = list(clock)
    res["phase_seconds"] = {b: clock[b] - clock[a] for a, b in zip(names, names[1:])}
    res["n_rows_sweep"] = len(configs) * len(prompts)
    return res


def _additive_and_heads(model, saes, res, target, prompts, lists, s, seed, sel) -> tuple[dict, dict]:
    from .sweep import best_config

    cfg = model.config
    li, ki = best_config(res, target)
    layer, feat = res["layers"][li], res["features"][target][li]
    add = [make_steer(saes[li], layer, feat["j"], kap * feat["mu_plus"], mode="additive") for kap in s["kappas"]]
    add_sc = [_score(t, target, prompts, lists) for t in _generate(model, prompts, add, None, s, seed)]
    additive = {"layer": layer, "success": np.stack([c["success"] for c in add_sc]), "fluency": np.stack([c["fluency"] for c in add_sc]),
                "alpha_times_norm": [kap * feat["mu_plus"] * feat["dec_norm"] for kap in s["kappas"]]}
    rows = [_ids(model, t)[: s["max_tokens"]] for t in sel[target][:8]]
    ids = np.zeros((len(rows), s["max_tokens"]), np.int32)
    for r, row in enumerate(rows):
        ids[r, : len(row)] = row
    full = np.asarray(gemma_head_contributions(model.params, jnp.asarray(ids), cfg=cfg, upto=layer))
    contrib = np.concatenate([full[:, r, 1:len(row)] for r, row in enumerate(rows)], axis=1)
    attr = head_attribution(contrib, np.asarray(saes[li].w_enc[:, feat["j"]]))
    rng = np.random.default_rng([seed, 6, len(target)])
    ablate, top = ablation_masks(attr, s["heads_k"], s["random_draws"], (cfg.num_layers, cfg.num_heads), rng)
    masks = [np.ones((cfg.num_layers, cfg.num_heads), np.float32)] + ablate
    steer = make_steer(saes[li], layer, feat["j"], s["kappas"][ki] * feat["mu_plus"])
    sc = [_score(t, target, prompts, lists)["success"] for t in _generate(model, prompts, [steer] * len(masks), np.stack(masks), s, seed)]
    heads = {"layer": layer, "kappa": s["kappas"][ki], "k": s["heads_k"], "attribution": attr, "top": top.tolist(),
             "drop_top": sc[0] - sc[1], "drop_random": [sc[0] - x for x in sc[2:]]}
    return additive, heads
