r"""Pre-stated decision rules for a judged Gemma run (``format: cells-v2``).

Success is :mod:`attention.sae.success` (label, not degenerate, valid words; NaN fails). Units: for a
rate against the paper's figure, the **continuations** (prompts x sampling seeds; Clopper-Pearson through
:func:`proofs_numeric.decide_proportion`); for a difference, the **prompts** (the per-prompt mean over seeds
and targets; bootstrap BCa, the t-based minimal detectable effect filled by
:func:`proofs_numeric.decide_direction`). Every decision carries a negative control run through the same
rule, which must **not** pass (:func:`must_fail`), and every steering decision depends on the C10 gate
(:func:`gated`): it cannot be ``verified`` while the gate is not, nor ``not reproduced`` while the gate's
recall is not.

* **C10** every (target, set) of the gate -- recall on clean text, specificity on punctuation, loops and
  other-language text -- has its Clopper-Pearson interval above 0.9 (:func:`proofs_numeric.decide_all`);
  control: the shuffled-label recall (another language judged as the target) must not pass.
* **C6 vs paper** the best j* cell's success rate (over targets, layers, kappa > 0) against 0.9; control:
  the rate-matched random feature at the same cell.
* **C6 controls** per prompt $\frac1{|T|}\sum_L[s_L(j^\star)-\max\{s_L(\text{random}),s_L(\kappa{=}0),s_L(\text{unsteered})\}]$
  at each target's best cell among those whose random cell was run (controls that were not run are
  left out of the max; the run's settings say which); control: the random feature's same statistic.
* **C7** per prompt $s(\ell^\star_{\rm later})-s(\ell_{\rm first})$, each layer at the best kappa among those
  run at every compared layer; control: the same statistic judged for the *other* target's language.
* **C8** per prompt, the drop from ablating the top-k heads minus the mean drop over the random draws,
  **and** the top-k drop itself, both above 0; control: the first random draw in place of the top heads.
* **C9** per prompt chrF(steered) - max(chrF unsteered, chrF random); control: chrF(random) - chrF(unsteered).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from attnverify.proofs_numeric import (Decision, Verdict, decide_all, decide_direction, decide_interval, decide_proportion, minimal_detectable_effect,
                                       with_controls)

from .scoring import best_cell, find, gate_table, judged, per_prompt, unsteered

__all__ = ["mde_proportion", "must_fail", "gated", "c10_gate", "c6_paper", "c6_controls", "c7_layers", "c8_heads", "c9_meaning",
           "PAPER_SETTING", "missing"]

PAPER_SETTING = "Gemma-2 2B/9B, Gemma Scope residual SAEs (16k), FastText LID, LaBSE, Tatoeba-like prompts"
_BOOT = 4000


@functools.lru_cache(maxsize=256)
def mde_proportion(n: int, boundary: float = 0.9, direction: str = "less", level: float = 0.95, power: float = 0.8) -> float:
    r"""Smallest distance $\delta$ from ``boundary`` such that a true rate ``boundary`` $\mp\delta$ puts the
    Clopper-Pearson ``level`` interval of $n$ draws entirely on that side with probability ``power``
    (exact binomial; ``direction="less"``: below the boundary). NaN when no rate in [0, 1] reaches it."""
    from scipy import stats

    def ci(k):
        r = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
        return r.low, r.high

    ks = np.arange(n + 1)
    side = np.asarray([ci(int(k))[1] < boundary if direction == "less" else ci(int(k))[0] > boundary for k in ks])
    for d in np.linspace(0.0, boundary if direction == "less" else 1 - boundary, 2001)[1:]:
        p = boundary - d if direction == "less" else boundary + d
        if stats.binom.pmf(ks, n, p)[side].sum() >= power:
            return float(d)
    return float("nan")


def _diff(samples, **kw) -> Decision:
    """:func:`proofs_numeric.decide_direction` over prompts; where the per-prompt values have no spread
    (e.g. success 0 everywhere) the t-based detectable effect is undefined, so the one at the worst-case
    per-prompt standard deviation 0.5 is reported instead (and said so)."""
    d = decide_direction(samples, **kw)
    if d.detectable_effect is None or not np.isfinite(d.detectable_effect):
        d = dataclasses.replace(d, detectable_effect=minimal_detectable_effect(sd=0.5, n=d.n_units),
                                rule=d.rule + " (no spread in the per-prompt values: detectable effect at the worst-case sd 0.5)")
    return d


def missing(effect: str, why: str, lo: float = -1.0, boundary: float = 0.0) -> Decision:
    """Inconclusive over the whole range: the cells this decision needs were not run (``why``)."""
    return decide_interval(0.5 * (lo + 1.0), (lo, 1.0), boundary=boundary, effect=effect + " -- NOT MEASURED", units="none (no data)",
                           n_units=1, rule=why, method="none (no data)", setting_differs=True, paper_setting=PAPER_SETTING,
                           our_setting="Gemma 3 270M")


def must_fail(d: Decision, controls: dict[str, Decision]) -> Decision:
    """Attach ``controls`` (:func:`proofs_numeric.with_controls`); a control that is itself ``verified``
    makes a ``verified`` decision ``inconclusive`` (the statistic passes on a placebo)."""
    out = with_controls(d, controls)
    passing = [k for k, c in controls.items() if c.outcome is Verdict.VERIFIED]
    if passing and out.outcome is Verdict.VERIFIED:
        out = dataclasses.replace(out, outcome=Verdict.INCONCLUSIVE, rule=out.rule + f"; inconclusive: the negative control(s) {', '.join(passing)} pass")
    return out


def gated(d: Decision, gate: Decision, recall_ok: bool) -> Decision:
    """No ``verified`` while the C10 gate is not verified; no ``not reproduced`` / ``refuted`` while its
    recall parts are not (a gate that misses real target text could make success look low)."""
    if d.outcome is Verdict.VERIFIED and gate.outcome is not Verdict.VERIFIED:
        return dataclasses.replace(d, outcome=Verdict.INCONCLUSIVE, rule=d.rule + f"; inconclusive: the C10 gate is {gate.outcome.value}")
    if d.outcome in (Verdict.NOT_REPRODUCED, Verdict.REFUTED) and not recall_ok:
        return dataclasses.replace(d, outcome=Verdict.INCONCLUSIVE, rule=d.rule + "; inconclusive: the C10 gate's recall is not verified")
    return d


def _setting(res) -> dict:
    s = res["settings"]
    return dict(setting_differs=True, paper_setting=PAPER_SETTING,
                our_setting=f"Gemma 3 270M, own JumpReLU SAEs, {res['n_prompts']} random held-out Django prompts x {len(res['seeds'])} seeds, "
                            f"protocol '{s.get('cells')}', success = label + degeneracy gate + word validity")


_GATE_MEMO: dict[int, tuple] = {}


def c10_gate(res: dict[str, Any]) -> tuple[Decision, bool, dict]:
    """``(decision, recall verified for every target, table)`` (memoised per judged run)."""
    rule, cells = judged(res)
    if id(cells) not in _GATE_MEMO:
        _GATE_MEMO[id(cells)] = _c10(res, rule)
    return _GATE_MEMO[id(cells)]


def _c10(res, rule) -> tuple[Decision, bool, dict]:
    table = gate_table(res, rule)
    parts, ctrl = {}, {}
    for t, sets in table.items():
        for name, r in sets.items():
            d = decide_proportion(r["k"], r["n"], boundary=0.9, units=f"held-out strings ({t}, {name})",
                                  rule="verified if the Clopper-Pearson 95 % interval lies above 0.9", effect=f"{name} of the success rule ({t})")
            (ctrl if name == "shuffled_label" else parts)[f"{t}:{name}"] = d
    d = decide_all(parts, rule="verified only if recall (clean target text) and specificity (punctuation, loops, other-language text) "
                               "of the success rule all have Clopper-Pearson 95 % intervals above 0.9, for every target")
    recall_ok = all(parts[f"{t}:recall"].outcome is Verdict.VERIFIED for t in table)
    d = dataclasses.replace(d, detectable_effect=mde_proportion(d.n_units, 0.9, "greater"))  # a true rate 0.9 + this passes with 80 %
    return must_fail(d, ctrl), recall_ok, table


def c6_paper(res: dict[str, Any], gate=None) -> tuple[Decision, dict]:
    _, cells = judged(res)
    best = max((best_cell(cells, t) for t in res["targets"]), key=lambda c: float(np.mean(c["judged"][c["target"]]["success"])))
    t = best["target"]
    succ, lab = best["judged"][t]["success"], best["judged"][t]["label_success"]
    n = int(succ.size)
    where = f"target {t}, layer {best['layer']}, kappa {best['kappa']}"
    d = decide_proportion(int(succ.sum()), n, boundary=0.9, units=f"continuations ({res['n_prompts']} prompts x {len(res['seeds'])} seeds; {where})",
                          rule="verified if the Clopper-Pearson 95 % interval of the best success rate lies above 0.9; not reproduced if below "
                               "(the best cell is chosen on the same data: optimistic for the paper)",
                          effect="best success rate (label + not degenerate + valid words)", paper_figure="up to 90 % (FastText LID)", **_setting(res))
    d = dataclasses.replace(d, detectable_effect=mde_proportion(n, 0.9, "less"))
    rnd = find(cells, target=t, layer=best["layer"], feature="random", kappa=best["kappa"])
    ctrl = {}
    if rnd is not None:
        r = rnd["judged"][t]["success"]
        ctrl["random feature (same cell)"] = decide_proportion(int(r.sum()), int(r.size), boundary=0.9, units="continuations",
                                                               rule="the same rule", effect="random-feature success rate", **_setting(res))
    extra = {"cell": where, "label_rate": float(lab.mean()), "label_k": int(lab.sum()), "n": n,
             "mde_above_0.9": mde_proportion(n, 0.9, "greater")}
    d = must_fail(d, ctrl)
    return (d if gate is None else gated(d, *gate)), extra


def _best_pair(cells, res, t):
    best = best_cell(cells, t, need_random=True)
    ctrls = [find(cells, target=t, layer=best["layer"], feature="random", kappa=best["kappa"]),
             find(cells, target=t, layer=best["layer"], feature="j*", kappa=0.0), unsteered(cells)]
    return best, [c for c in ctrls if c is not None]


def c6_controls(res: dict[str, Any], gate=None, seed: int = 0) -> tuple[Decision, dict]:
    _, cells = judged(res)
    eff, ctl, table = [], [], {}
    for t in res["targets"]:
        best, ctrls = _best_pair(cells, res, t)
        s = {id(c): per_prompt(c, t) for c in [best] + ctrls}
        eff.append(s[id(best)] - np.max([s[id(c)] for c in ctrls], 0))
        others = [c for c in ctrls if c["feature"] != "random"]
        ctl.append(s[id(ctrls[0])] - np.max([s[id(c)] for c in others], 0))
        table[t] = {"layer": best["layer"], "kappa": best["kappa"], "success": float(s[id(best)].mean()),
                    "controls": {f"{c['feature'] or 'unsteered'} kappa {c['kappa']}": float(s[id(c)].mean()) for c in ctrls},
                    "label_rate": float(per_prompt(best, t, "label_success").mean())}
    kw = dict(units="prompts (mean over seeds and targets)", n_boot=_BOOT, seed=seed, **_setting(res))
    d = _diff(np.mean(eff, 0), rule="verified if the 95 % CI of the mean lies above 0", effect="success(j*) - max(controls)", **kw)
    c = _diff(np.mean(ctl, 0), rule="the same rule", effect="success(random) - max(kappa=0, unsteered)", **kw)
    d = must_fail(d, {"random feature in place of j*": c})
    return (d if gate is None else gated(d, *gate)), table


def _layer_curve(cells, t, layer, kappas, wrong=False):
    cs = [find(cells, target=t, layer=layer, feature="j*", kappa=k) for k in kappas]
    vals = [per_prompt(c, t, wrong=False) if not wrong else per_prompt(c, next(iter(c["wrong"])), wrong=True) for c in cs]
    return vals[int(np.argmax([v.mean() for v in vals]))]


def c7_layers(res: dict[str, Any], gate=None, seed: int = 0) -> tuple[Decision, dict]:
    _, cells = judged(res)
    eff, ctl, profile = [], [], {}
    for t in res["targets"]:
        run = [c for c in cells if c["target"] == t and c["feature"] == "j*" and c.get("mask") is None and c["kappa"] > 0]
        layers = sorted({c["layer"] for c in run})
        if len(layers) < 2:
            return missing("success(later) - success(first layer)", "fewer than two layers were run"), {}
        common = sorted(set.intersection(*({c["kappa"] for c in run if c["layer"] == lay} for lay in layers)))
        first, later = layers[0], layers[1:]
        best = max(later, key=lambda lay: float(_layer_curve(cells, t, lay, common).mean()))
        eff.append(_layer_curve(cells, t, best, common) - _layer_curve(cells, t, first, common))
        ctl.append(_layer_curve(cells, t, best, common, True) - _layer_curve(cells, t, first, common, True))
        profile[t] = {"kappas": common, "success_by_layer": {lay: float(_layer_curve(cells, t, lay, common).mean()) for lay in layers}}
    kw = dict(units="prompts (mean over seeds and targets)", n_boot=_BOOT, seed=seed, **_setting(res))
    d = _diff(np.mean(eff, 0), rule="verified if the 95 % CI lies above 0 (best later layer vs the first layer, at a kappa run at both)",
                         effect="success(best later layer) - success(first layer)", **kw)
    c = _diff(np.mean(ctl, 0), rule="the same rule", effect="the same, judged for the other target's language", **kw)
    d = must_fail(d, {"shuffled target language": c})
    return (d if gate is None else gated(d, *gate)), profile


def c8_heads(res: dict[str, Any], gate=None, seed: int = 0) -> tuple[Decision, dict]:
    _, cells = judged(res)
    if not any(c.get("mask") == "top" for c in cells):
        return missing("drop(top-k heads) - mean drop(random k heads)", "no head-ablation cells in this run (protocol "
                       f"'{res['settings'].get('cells')}'); run the full protocol"), {}
    eff, top_drop, ctl, table = [], [], [], {}
    for t in res["targets"]:
        top = find(cells, target=t, mask="top")
        base = per_prompt(find(cells, target=t, layer=top["layer"], feature="j*", kappa=top["kappa"]), t)
        rand = [per_prompt(c, t) for c in cells if c["target"] == t and str(c.get("mask")).startswith("random:")]
        drops = [base - r for r in rand]
        eff.append((base - per_prompt(top, t)) - np.mean(drops, 0))
        top_drop.append(base - per_prompt(top, t))
        ctl.append(drops[0] - np.mean(drops[1:], 0))
        table[t] = {"layer": top["layer"], "kappa": top["kappa"], "top_heads": top.get("heads"), "draws": len(rand),
                    "drop_top": float(top_drop[-1].mean()), "drop_random_mean": float(np.mean(drops))}
    kw = dict(units="prompts (mean over seeds and targets)", n_boot=_BOOT, seed=seed, **_setting(res))
    d = decide_all({"top - random": _diff(np.mean(eff, 0), rule="CI above 0", effect="drop(top) - mean drop(random)", **kw),
                    "top drop itself": _diff(np.mean(top_drop, 0), rule="CI above 0", effect="drop(top)", **kw)},
                   rule="verified only if the top-k drop exceeds the mean random drop AND the top-k drop itself exceeds 0 (95 % CIs)")
    c = _diff(np.mean(ctl, 0), rule="the same rule", effect="drop(random draw 0) - mean drop(other draws)", **kw)
    d = must_fail(d, {"a random draw in place of the top heads": c})
    return (d if gate is None else gated(d, *gate)), table


def c9_meaning(res: dict[str, Any], gate=None, seed: int = 0) -> Decision:
    _, cells = judged(res)
    eff, ctl = [], []
    for t in res["targets"]:
        best, ctrls = _best_pair(cells, res, t)
        rnd = next((c for c in ctrls if c["feature"] == "random"), None)
        chr_ = lambda c: np.asarray(c["chrf"][t], np.float64).mean(0)  # noqa: E731
        base = chr_(unsteered(cells))
        eff.append(chr_(best) - (np.maximum(base, chr_(rnd)) if rnd is not None else base))
        ctl.append((chr_(rnd) if rnd is not None else base) - base)
    kw = dict(units="prompts (mean over seeds and targets)", n_boot=_BOOT, seed=seed, **_setting(res))
    d = _diff(np.mean(eff, 0), rule="verified if the 95 % CI lies above 0", effect="chrF(steered) - max(chrF unsteered, chrF random)", **kw)
    c = _diff(np.mean(ctl, 0), rule="the same rule", effect="chrF(random) - chrF(unsteered)", **kw)
    d = must_fail(d, {"random feature in place of j*": c})
    return d if gate is None else gated(d, *gate)
