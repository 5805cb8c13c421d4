r"""The Gemma track's report, generated from a judged run ("docs from the data").

:func:`gemma_report_markdown` writes every figure of the Gemma section of ``docs/sae_steering.md``
from the pinned run: the success rule and its calibrated thresholds, the SAE gates, the C10 gate
(recall and specificities beside the plain fastText label), each cell's success and label rates, the
decisions with their controls and detectable effects, and example continuations with their labels.
``docs/sae_steering.md`` holds it between :data:`BEGIN` and :data:`END`; a test regenerates it and
compares, so the page cannot drift from the run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from . import verdicts as vd
from .scoring import judged

__all__ = ["gemma_report_markdown", "toy_report_markdown", "success_examples", "rejected_label_successes", "update_docs", "toy_examples", "BEGIN", "TOY_BEGIN", "END"]

BEGIN = "<!-- BEGIN GENERATED: experiments.sae_steering.report.gemma_report_markdown -->"
END = "<!-- END GENERATED -->"


def _name(c: dict) -> str:
    if c["target"] is None:
        return "unsteered"
    m = "" if c.get("mask") is None else f", heads {c['mask']}"
    return f"{c['target']} layer {c['layer']} {c['feature']} kappa {c['kappa']:g}{m}"


def _steered_hits(res: dict[str, Any], target: str, select) -> list[tuple[dict, dict, int, int]]:
    """``(cell, judged, seed, prompt)`` for every continuation of ``target``'s steered cells (no head masks)
    where ``select(judged)`` (a boolean ``[seed, prompt]`` array) holds."""
    _, cells = judged(res)
    return [(c, c["judged"][target], s, p) for c in cells if c["target"] == target and c.get("mask") is None
            for s, p in zip(*np.nonzero(select(c["judged"][target])))]


def success_examples(res: dict[str, Any], target: str, k: int = 5) -> list[tuple[str, str, str]]:
    """Up to ``k`` continuations of ``target``'s steered cells that count as successes: ``(cell, label, text)``."""
    hits = _steered_hits(res, target, lambda j: j["success"])
    return [(_name(c), str(j["label"][s, p]), c["texts"][s][p]) for c, j, s, p in hits[:k]]


def _clip(text: str, n: int = 90) -> str:
    t = " ".join(text.split()).replace("|", "\\|")
    return t if len(t) <= n else t[: n - 1] + "…"


def gemma_report_markdown(res: dict[str, Any], seed: int = 0) -> str:
    """The generated Markdown (module docstring)."""
    from .claims import sae_gates

    rule, cells = judged(res)
    gate, recall_ok, table = vd.c10_gate(res)
    g = (gate, recall_ok)
    L = [f"Run: protocol `{res['settings'].get('cells')}`, {res['n_prompts']} prompts x {len(res['seeds'])} sampling seeds, "
         f"{res['settings']['new']} new tokens at temperature {res['settings']['temperature']}, {res.get('n_rows')} generated rows, "
         f"{res.get('seconds', float('nan')):.0f} s wall on {res.get('environment', {}).get('cpu_count', '?')} CPU cores "
         f"(load average at the end {', '.join(f'{x:.1f}' for x in res.get('load_avg_end', []))}).", "",
         f"Success rule (pre-registered, `attention/sae/success.py`): label = target, >= {rule.min_chars} non-space characters, "
         f"compression ratio >= {rule.min_compression:.3f} and distinct-token share >= {rule.min_distinct:.3f} (the 10th percentiles "
         f"of the unsteered continuations), word validity >= {rule.min_validity} (NaN fails).", "",
         "| layer | width | L0 | FVU | dead | activations | spec gates |", "|---|---|---|---|---|---|---|"]
    gates = sae_gates(res["sae_stats"])
    for st in res["sae_stats"]:
        L.append(f"| {st['layer']} | {st['width']} | {st['l0']:.1f} | {st['fvu']:.3f} | {st['dead']} | {st['n']} | {gates[str(st['layer'])]} |")
    L += ["", "C10 gate (success rule; plain fastText label in brackets):", "", "| target | set | passes | plain label |", "|---|---|---|---|"]
    for t, sets in table.items():
        for name, r in sets.items():
            L.append(f"| {t} | {name} | {r['k']}/{r['n']} | ({r['plain_k']}/{r['n']}) |")
    L += ["", "| cell | success | label rate | mean validity |", "|---|---|---|---|"]
    for c in cells:
        for t, j in c["judged"].items():
            v = np.asarray(j["validity"], np.float64)
            L.append(f"| {_name(c)} ({t}) | {j['success'].mean():.3f} | {j['label_success'].mean():.3f} | "
                     f"{np.nanmean(v) if np.isfinite(v).any() else float('nan'):.2f} |")
    decisions = [("C10 gate", gate), ("C6 vs paper 90 %", vd.c6_paper(res, g)[0]), ("C6 controls", vd.c6_controls(res, g, seed)[0]),
                 ("C7 layers", vd.c7_layers(res, g, seed)[0]), ("C8 heads", vd.c8_heads(res, g, seed)[0]), ("C9 meaning", vd.c9_meaning(res, g, seed))]
    L += ["", "| claim | decision | detectable effect (80 %) | negative control |", "|---|---|---|---|"] + [_decision_row(n, d) for n, d in decisions]
    L += ["", "Examples (first prompt, seed 0, of every cell; label by the guarded language ID):", ""]
    for c in cells:
        t = c["target"] or res["targets"][0]
        j = c["judged"][t]
        L.append(f"- {_name(c)}: `{_clip(c['texts'][0][0])}` -> {j['label'][0, 0]}, success {int(j['success'][0, 0])}")
    for t in res["targets"]:
        ex = success_examples(res, t)
        L += ["", f"Continuations that count as {t} successes ({len(ex)} shown):", ""]
        L += [f"- {cell}: `{_clip(text)}` -> {lab}" for cell, lab, text in ex] or ["- none"]
        rej = rejected_label_successes(res, t)
        L += ["", f"Plain-label {t} successes that the rule rejects ({len(rej)} shown; compression / distinct share / validity):", ""]
        L += [f"- {cell}: `{_clip(text)}` -> {lab}; {r:.2f} / {u:.2f} / {v:.2f}" for cell, lab, text, r, u, v in rej] or ["- none"]
    return "\n".join([BEGIN] + L + [END])


def rejected_label_successes(res: dict[str, Any], target: str, k: int = 3) -> list[tuple]:
    """Up to ``k`` continuations that the plain label counts as ``target`` but the success rule rejects:
    ``(cell, label, text, compression, distinct, validity)``."""
    hits = _steered_hits(res, target, lambda j: (j["label_success"] > 0) & (j["success"] == 0))
    return [(_name(c), str(j["label"][s, p]), c["texts"][s][p], float(j["compression"][s, p]), float(j["distinct"][s, p]),
             float(j["validity"][s, p])) for c, j, s, p in hits[:k]]


TOY_BEGIN = "<!-- BEGIN GENERATED: experiments.sae_steering.report.toy_report_markdown -->"


def toy_report_markdown(res: dict[str, Any], seed: int = 0) -> str:
    """The toy block of the page: the committed **full** fast-track run (:func:`_toy_full_markdown`), or,
    for a quick run, its figures under the old (label-only) success: shown, never deciding."""
    if not res.get("quick", True) and "success_rule" in res:
        return _toy_full_markdown(res, seed)
    from . import decisions as dc
    from .claims import stay_in_language
    from .sweep import best_config

    s = stay_in_language(res)
    L = [f"Quick run: {res['n_prompts']} prompts x {res.get('seeds', '?')} seeds, kappa {res['kappas']}; toy LM stay-in-language "
         f"(upper bound) {s['stay_en_upper_bound']:.3f} against the gate's 0.95.", "",
         "| target | best layer | best kappa | success (label only) | random feature | unsteered |", "|---|---|---|---|---|---|"]
    for t in res["targets"]:
        li, ki = best_config(res, t)
        L.append(f"| {t} | {res['layers'][li]} | {res['kappas'][ki]:g} | {np.mean(res['success'][t][li][ki]):.3f} | "
                 f"{np.mean(res['success_random'][t][li][ki]):.3f} | {np.mean(res['unsteered'][t]):.3f} |")
    rows = [("C6 (not deciding)", dc.c6_controls(res, "toy", seed)[0], dc.c6_control(res, "toy", seed)),
            ("C7 (not deciding)", dc.c7_layers(res, "toy", seed)[0], dc.c7_control(res, "toy", seed)),
            ("C8 (not deciding; draws could equal the top mask)", dc.c8_heads(res, "toy", seed), None),
            ("C10 gate (decides)", dc.c10_gate(res["gate"], "toy"), None)]
    L += ["", "| claim | figure | negative control |", "|---|---|---|"]
    for n, d, c in rows:
        ctl = "-" if c is None else f"{c.effect} = {c.estimate:.3g} [{c.ci[0]:.3g}, {c.ci[1]:.3g}] -> {c.outcome.value}"
        L.append(f"| {n} | {d.effect} = {d.estimate:.3g} [{d.ci[0]:.3g}, {d.ci[1]:.3g}], n = {d.n_units} -> {d.outcome.value} | {ctl} |")
    return "\n".join([TOY_BEGIN] + L + [END])


def _decision_row(name: str, d) -> str:
    """``| claim | decision | detectable effect | negative control |`` for one :class:`Decision`."""
    ctrl = "; ".join(f"{k}: {v['outcome']} ({v['estimate']:.3g} [{v['ci'][0]:.3g}, {v['ci'][1]:.3g}])" for k, v in (d.controls or {}).items()) or "-"
    mde = "-" if d.detectable_effect is None or not np.isfinite(d.detectable_effect) else f"{d.detectable_effect:.3g}"
    return f"| {name} | {d.effect} = {d.estimate:.3g} [{d.ci[0]:.3g}, {d.ci[1]:.3g}], n = {d.n_units} -> **{d.outcome.value}** | {mde} | {ctrl} |"


def toy_examples(res: dict[str, Any], target: str, k: int = 5) -> list[dict]:
    """Up to ``k`` stored successes of ``target`` (distinct prompts): the best configuration's first, then
    the other configurations in sweep order."""
    from .sweep import best_config

    li, ki = best_config(res, target)
    best = f"layer {res['layers'][li]} j* kappa {res['kappas'][ki]:g}"
    ex = sorted(res.get("examples", {}).get(target, []), key=lambda e: e["cell"] != best)  # stable: sweep order otherwise
    out, seen = [], set()
    for e in ex:
        if e["prompt"] not in seen and len(out) < k:
            seen.add(e["prompt"])
            out.append(e)
    return out


def _toy_full_markdown(res: dict[str, Any], seed: int = 0) -> str:
    """The full fast-track run: setting and time, success rule, SAE gates, per-target table, the toy
    claims' decisions (n, detectable effect, negative controls) and five counted successes per target."""
    from . import decisions as dc
    from . import verdicts as vd
    from .claims import _TOY, lm_gate, sae_gates, stay_in_language, toy_decision
    from .sweep import best_config

    st, r, tm = res["settings"], res["success_rule"], res.get("timing", {})
    cfg = res.get("config", {})
    L = [f"Full run: {res['n_prompts']} prompts x {res['seeds']} sampling seeds, {st['new']} new characters at temperature 0.5, "
         f"kappa {res['kappas']}, layers {res['layers']}; character LM d = {cfg.get('d')}, {cfg.get('heads')} heads, context {cfg.get('context')}, "
         f"English share {st.get('en_share')}; SAE width {st['sae_width']}.", ""]
    if tm:
        L += [f"Time (2 shared CPU cores, one process): build (LM, activations, SAEs) {tm['build_s']:.0f} s wall / {tm['build_cpu_s']:.0f} s CPU "
              f"(0 when read from the cache), sweep + scoring {tm['sweep_s']:.0f} s wall / {tm['sweep_cpu_s']:.0f} s CPU; load average at the end "
              f"{', '.join(f'{x:.1f}' for x in tm['load_avg_end'])}.", ""]
    L += [f"Success rule (pre-registered, `attention/sae/success.py`): label = target, >= {r['min_chars']} non-space characters, "
          f"compression ratio >= {r['min_compression']:.3f} and distinct-character share >= {r['min_distinct']:.3f} (the 10th percentiles of "
          f"the {res['n_prompts'] * res['seeds']} unsteered continuations), word validity >= {r['min_validity']} (NaN fails).", ""]
    s = stay_in_language(res)
    L += [f"Unsteered labels: {', '.join(f'{k} {v}' for k, v in sorted(s['labels'].items()))} (of {s['n_continuations']}).", "",
          "| layer | width | L0 | FVU | dead | spec gates |", "|---|---|---|---|---|---|"]
    stats = [dict(x, layer=x.get("layer", i)) for i, x in enumerate(res["sae_stats"])]
    gates = sae_gates(stats)
    L += [f"| {x['layer']} | {x['width']} | {x['l0']:.1f} | {x['fvu']:.3f} | {x['dead']} | {gates[str(x['layer'])]} |" for x in stats]
    L += ["", "| target | best layer | best kappa | success | plain label rate | random feature | kappa = 0 | unsteered | fluency (j*) |",
          "|---|---|---|---|---|---|---|---|---|"]
    k0 = int(np.flatnonzero(np.asarray(res["kappas"]) == 0)[0])
    for t in res["targets"]:
        li, ki = best_config(res, t)
        lab = np.mean(res["label_rate"][t][li][ki]) if "label_rate" in res else float("nan")
        L.append(f"| {t} | {res['layers'][li]} | {res['kappas'][ki]:g} | {np.mean(res['success'][t][li][ki]):.3f} | {lab:.3f} | "
                 f"{np.mean(res['success_random'][t][li][ki]):.3f} | {np.mean(res['success'][t][li][k0]):.3f} | {np.mean(res['unsteered'][t]):.3f} | "
                 f"{np.nanmean(np.asarray(res['fluency'][t][li][ki], np.float64)):.2f} |")
    gate = dc.c10_gate(res["gate"], _TOY)
    gate = dataclasses.replace(gate, detectable_effect=vd.mde_proportion(gate.n_units, 0.9, "greater"))
    rows = [("C10 gate (toy)", gate), ("LM stays in language", lm_gate(res))]
    no_heads = [t for t in res["targets"] if res["heads"].get(t) is None]
    why = f"not run for {', '.join(no_heads)}: too few heads at or above the best layer for 20 distinct random 2-subsets"
    c8 = toy_decision(res, "c8", seed) or vd.missing("drop(top-k heads) - mean drop(random k heads)", why)
    rows += [("C6 controls", toy_decision(res, "c6", seed)), ("C7 layers", toy_decision(res, "c7", seed)),
             ("C8 heads" + (f" ({why})" if no_heads else ""), c8)]
    L += ["", "| claim | decision | detectable effect (80 %) | negative control |", "|---|---|---|---|"] + [_decision_row(n, d) for n, d in rows]
    for t in res["targets"]:
        ex = toy_examples(res, t)
        L += ["", f"Continuations that count as {t} successes ({len(ex)} shown; the best configuration first):", ""]
        L += [f"- {e['cell']} (prompt {e['prompt']}, seed {e['seed']}): `{_clip(e['text'])}` -> {e['label']}" for e in ex] or ["- none"]
    return "\n".join([TOY_BEGIN] + L + [END])


def update_docs(path=None) -> None:
    """Rewrite the generated blocks of ``docs/sae_steering.md`` from the pinned runs
    (``python -m attnverify.experiments.sae_steering.report``)."""
    import re
    from pathlib import Path

    from attnverify.proofs_numeric import atomic_write_text

    from .results import fast_results, full_fast_results, gemma_results

    path = Path(path) if path else Path(__file__).resolve().parents[2] / "docs" / "sae_steering.md"
    doc = path.read_text()
    for marker, text in ((BEGIN, gemma_report_markdown(gemma_results())), (TOY_BEGIN, toy_report_markdown(full_fast_results(0) or fast_results(quick=True, seed=0)))):
        placeholder = "GEMMA_BLOCK" if marker == BEGIN else "TOY_BLOCK"
        if placeholder in doc:
            doc = doc.replace(placeholder, text)
        else:
            doc = re.sub(re.escape(marker) + r".*?" + re.escape(END), lambda _m: text, doc, count=1, flags=re.S)
    atomic_write_text(path, doc)


if __name__ == "__main__":
    update_docs()
