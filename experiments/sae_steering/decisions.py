r"""Pre-stated decision rules for C6-C10 on a sweep's results (either track; arrays or their JSON form).

The independent units are the **prompts**: each per-prompt value is a mean over sampling seeds (and,
where stated, over the four targets, which share the prompts). Intervals are bootstrap BCa 95 %
intervals over prompts (:func:`proofs_numeric.decide_direction`), except C10 (Wilson, per string).

* **C6** effect per prompt: $\frac14\sum_L\big[s_L(j^\star,\kappa^\star)-\max\{s_L(k,\kappa^\star),\,s_L(j^\star,0)\}\big]$
  at each target's best (layer, $\kappa>0$), $k$ the matched random feature. Verified if the interval
  lies above 0. (The best configuration is chosen on the same prompts: an optimistic choice, shared by
  the controls, which are evaluated at the same configuration.)
* **C6 vs paper** effect: the best single target's success rate at its best configuration; boundary
  0.9 (the paper's "up to 90 %"), Wilson interval over prompts; ``not reproduced`` when it lies below.
* **C7** effect per prompt: $\frac14\sum_L[s_L(\ell^\star_{\ge1})-s_L(\ell_0)]$, each layer at its best
  $\kappa>0$, $\ell^\star_{\ge1}$ the best later layer. Verified if above 0.
* **C8** effect per prompt: $\frac14\sum_L[\Delta_{\rm top}-\overline{\Delta_{\rm random}}]$, the success
  drops from ablating the top-$k$ attributed heads and $k$ random heads (mean over draws).
* **C9** effect per prompt: $\frac14\sum_L[\mathrm{chrF}(\text{steered})-\max\{\mathrm{chrF}(\text{unsteered}),\mathrm{chrF}(\text{random})\}]$.
* **C10** effect: the worst language's top-1 accuracy at 32 characters; verified if its Wilson
  interval lies above 0.9.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from attnverify.proofs_numeric import Decision, decide_direction, decide_interval, decide_proportion

from attnverify.attention.sae.langid import wilson_interval

from .sweep import best_config

__all__ = ["c6_controls", "c6_paper", "c7_layers", "c8_heads", "c9_meaning", "c10_gate", "PAPER_SETTING"]

PAPER_SETTING = "Gemma-2 2B/9B, Gemma Scope residual SAEs (16k), FastText LID, LaBSE, Tatoeba-like prompts"
_N_BOOT = 2000


def _nanmean(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Mean over the prompts that have a fluency value: NaN, without a warning, where none has one
    (:func:`attention.sae.miniature.word_validity` is NaN for a continuation with no scorable unit)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        return np.nanmean(x, axis)


def _a(x) -> np.ndarray:
    return np.asarray(x, np.float64)


def _decide(samples, rule: str, effect: str, our_setting: str, seed: int, boundary: float = 0.0) -> Decision:
    return decide_direction(_a(samples), boundary=boundary, units="prompts (mean over seeds and targets)", rule=rule,
                            effect=effect, n_boot=_N_BOOT, seed=seed, setting_differs=True,
                            paper_setting=PAPER_SETTING, our_setting=our_setting)


def _per_target(res: dict[str, Any], fn) -> np.ndarray:
    return np.mean([fn(t) for t in res["targets"]], axis=0)


def _k0(res) -> int:
    return int(np.flatnonzero(_a(res["kappas"]) == 0)[0])


def c6_controls(res: dict[str, Any], our_setting: str, seed: int = 0) -> tuple[Decision, dict]:
    def eff(t):
        li, ki = best_config(res, t)
        s = _a(res["success"][t][li])
        return s[ki] - np.maximum(_a(res["success_random"][t][li])[ki], s[_k0(res)])

    table = {t: {"best_layer": res["layers"][best_config(res, t)[0]], "best_kappa": res["kappas"][best_config(res, t)[1]],
                 "success_by_kappa": _a(res["success"][t][best_config(res, t)[0]]).mean(1).tolist(),
                 "random_by_kappa": _a(res["success_random"][t][best_config(res, t)[0]]).mean(1).tolist(),
                 "fluency_by_kappa": _nanmean(_a(res["fluency"][t][best_config(res, t)[0]]), 1).tolist(),
                 "unsteered_success": float(np.mean(res["unsteered"][t])),
                 "unsteered_fluency": float(_nanmean(_a(res["unsteered_fluency"][t])))} for t in res["targets"]}
    d = _decide(_per_target(res, eff), "verified if the 95 % CI of the mean lies above 0", "success(j*) - max(random feature, kappa=0)", our_setting, seed)
    return d, table


def c6_paper(res: dict[str, Any], our_setting: str, seed: int = 0) -> Decision:
    best = max(res["targets"], key=lambda t: float(np.mean(_a(res["success"][t][best_config(res, t)[0]])[best_config(res, t)[1]])))
    li, ki = best_config(res, best)
    per_prompt = _a(res["success"][best][li])[ki]
    n, rate = per_prompt.size, float(per_prompt.mean())
    return decide_interval(rate, wilson_interval(rate * n, n), boundary=0.9, units=f"prompts (target {best}, layer {res['layers'][li]}, kappa {res['kappas'][ki]})",
                           n_units=n, rule="verified if the Wilson 95 % interval of the best success rate lies above 0.9 (the paper's 'up to 90 %'); not reproduced if below",
                           effect="best success rate", method="Wilson score interval over prompts", setting_differs=True,
                           paper_figure="up to 90 % (FastText LID)", paper_setting=PAPER_SETTING, our_setting=our_setting)


def _layer_success(res, t, li) -> np.ndarray:
    s = _a(res["success"][t][li])
    s[_a(res["kappas"]) == 0] = -np.inf
    return s[int(np.argmax(s.mean(1)))]


def c7_layers(res: dict[str, Any], our_setting: str, seed: int = 0) -> tuple[Decision, dict]:
    def eff(t):
        later = max(range(1, len(res["layers"])), key=lambda li: float(np.mean(_layer_success(res, t, li))))
        return _layer_success(res, t, later) - _layer_success(res, t, 0)

    profile = {t: [float(np.mean(_layer_success(res, t, li))) for li in range(len(res["layers"]))] for t in res["targets"]}
    d = _decide(_per_target(res, eff), f"verified if the 95 % CI lies above 0 (best later layer vs layer {res['layers'][0]})",
                "success(best later layer) - success(first layer)", our_setting, seed)
    return d, profile


def c8_heads(res: dict[str, Any], our_setting: str, seed: int = 0) -> Decision:
    eff = _per_target(res, lambda t: _a(res["heads"][t]["drop_top"]) - _a(res["heads"][t]["drop_random"]).mean(0))
    return _decide(eff, "verified if the 95 % CI lies above 0", "success drop (top-k heads) - mean drop (random k heads)", our_setting, seed)


def c9_meaning(res: dict[str, Any], our_setting: str, seed: int = 0) -> Decision:
    def eff(t):
        li, ki = best_config(res, t)
        return _a(res["meaning"][t][li])[ki] - np.maximum(_a(res["unsteered_meaning"][t]), _a(res["meaning_random"][t][li])[ki])

    return _decide(_per_target(res, eff), "verified if the 95 % CI lies above 0", "chrF(steered) - max(chrF unsteered, chrF random feature)", our_setting, seed)


def c10_gate(gate: dict[str, Any], our_setting: str, languages=None) -> Decision:
    """``languages``: default every language the gate measured. From the raw confusion counts (correct =
    the count of the true label, n = all strings scored), Clopper-Pearson per language (the proportion
    rule of ``docs/verdicts.md``); the worst language's interval decides."""
    at32 = gate["32"]["fasttext_lite"]
    languages = tuple(at32) if languages is None else tuple(languages)
    counts = {lang: (int(at32[lang]["confusion"][lang]), int(sum(at32[lang]["confusion"].values()))) for lang in languages}
    ds = {lang: decide_proportion(k, n, boundary=0.9, effect=f"top-1 LID accuracy at 32 characters (worst language: {lang})",
                                  units="held-out strings", rule="verified if the Clopper-Pearson 95 % interval of the worst language lies above 0.9",
                                  setting_differs=True, paper_setting=PAPER_SETTING, our_setting=our_setting) for lang, (k, n) in counts.items()}
    return min(ds.values(), key=lambda d: d.ci[0])


# ------------------------------------------------------------------ controls and the C8 rule (toy format)


def c6_control(res: dict[str, Any], our_setting: str, seed: int = 0) -> Decision:
    """Negative control of C6: the rate-matched random feature at the best configuration minus j* at kappa = 0."""
    def eff(t):
        li, ki = best_config(res, t)
        return _a(res["success_random"][t][li])[ki] - _a(res["success"][t][li])[_k0(res)]

    return _decide(_per_target(res, eff), "the same rule", "success(random feature) - success(kappa=0)", our_setting, seed)


def c7_control(res: dict[str, Any], our_setting: str, seed: int = 0) -> Decision:
    """Negative control of C7: the layer statistic of the rate-matched random features."""
    rnd = dict(res, success=res["success_random"])
    return _decide(_per_target(rnd, lambda t: _layer_success(rnd, t, max(range(1, len(res["layers"])), key=lambda li: float(np.mean(_layer_success(rnd, t, li)))))
                                - _layer_success(rnd, t, 0)), "the same rule", "random feature: success(best later layer) - success(first layer)", our_setting, seed)


def c8_with_control(res: dict[str, Any], our_setting: str, seed: int = 0) -> tuple[Decision, Decision] | None:
    """``(decision, control)``: verified only if the top-k drop exceeds the mean random drop **and** itself
    exceeds 0; control: the first random draw in place of the top heads. None when a target has no
    head cells (too few heads at or above its best layer for the draws)."""
    from attnverify.proofs_numeric import decide_all

    if any(res["heads"].get(t) is None for t in res["targets"]):
        return None
    top = _per_target(res, lambda t: _a(res["heads"][t]["drop_top"]))
    d = decide_all({"top - random": c8_heads(res, our_setting, seed),
                    "top drop itself": _decide(top, "CI above 0", "success drop (top-k heads)", our_setting, seed)},
                   rule="verified only if the top-k drop exceeds the mean random drop AND the top-k drop itself exceeds 0 (95 % CIs)")
    ctl = _per_target(res, lambda t: _a(res["heads"][t]["drop_random"])[0] - _a(res["heads"][t]["drop_random"])[1:].mean(0))
    return d, _decide(ctl, "the same rule", "drop(random draw 0) - mean drop(other draws)", our_setting, seed)
