r"""The pre-stated decision rules of C9 and C10 (spec ``hybrid_linear.md`` §3), applied to a run's results.

- **C9** (fixes vs MSE): per fix $f\in\{$HedgeCATs, SSD$\}$, effect per seed $=a^{\rm LA}_f-a^{\rm LA}_{\rm MSE}$,
  the long-set LA-only accuracy of the fix over the MSE arm, paired by seed (same teacher, same
  seed-indexed data); the paper's side is $>0$ for *each* fix. Student-$t$ 95 % interval over seeds
  per fix; verified iff both intervals lie above 0, not reproduced if either lies below.
- **C9, the hybrid-SWA gap** (decided on the same data, the same per-fix way): effect per seed
  $=g_f-g_{\rm MSE}$ with $g=a^{\rm hyb}-a^{\rm SWA}$ on the long set; the spec expects a larger gap for
  each fix ($>0$). A larger gap does not by itself show that MSE's hybrid collapses ($g_{\rm MSE}\approx0$):
  that is reported as a figure.
- **C10** (inference-time hybridisation): effect per seed = long-set accuracy of the linear-only student
  evaluated with the hybrid formula ($w=16$, $\gamma=\lambda=1$); "well above chance" is stated in advance
  as $>0.5$ (32x chance for 64 values). Student-$t$ interval over seeds.
- **C10, short set** (the spec's "short-set accuracy $\ge$ linear-only"): non-inferiority, effect per seed
  $a^{\rm short}_{\rm hybridised}-a^{\rm short}_{\rm linear\text{-}only}$, verified if the 95 % interval lies
  above $-$:data:`C10_SHORT_MARGIN` (2 accuracy points, fixed before this decision was computed; the
  interval itself had been published before, so the margin is taken from the 1-2 point scale of the
  real-model rule, not fitted to it).

Every decision carries its minimal detectable effect (80 % power) and negative controls: the same
statistic where the effect is absent by construction (SWA-only on the long set cannot retrieve;
"no attention" cannot match a trained student; the original model cannot collapse onto SWA) and,
for between-arm contrasts, the seeds' effects with every other sign flipped (labels carry nothing).

Both are toy versions of statements the paper makes for 7-8B models: an interval on the opposite side is
``not reproduced`` (setting differs), never ``refuted``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from attnverify.proofs_numeric import Decision, Verdict, decide_direction, sign_flip_can_pass, t_ci, with_controls

__all__ = ["FIXES", "c9_decision", "collapse_gap_decision", "c10_decision", "c10_short_decision", "C10_SHORT_MARGIN", "sign_flip_placebo", "real_decision", "REAL_MARGIN", "REAL_HEADROOM", "no_data_decision", "teacher_ready", "PAPER_SETTING", "C10_BOUNDARY", "TEACHER_MIN"]

PAPER_SETTING = "LoLCATs-style conversions of Mistral-7B, Llama-3-8B and Llama-3.1-8B (paper, arXiv 2510.05901)"
C10_BOUNDARY = 0.5
C10_SHORT_MARGIN = 0.02  #: non-inferiority margin of C10's short-set statement, accuracy points / 100
TEACHER_MIN = 0.99  #: spec C9: the teacher is trained to >= 99 % on both sets before any student is judged


def teacher_ready(res: dict[str, Any]) -> bool:
    """The spec's precondition: teacher accuracy >= 99 % on the short and the long set."""
    return min(res["teacher"]["accuracy"].values()) >= TEACHER_MIN


def _our_setting(res: dict[str, Any]) -> str:
    p = res["protocol"]
    t, m = p["task"], p["model"]
    return (f"MQAR toy ({p['name']} protocol): T={t['length']}, K={t['n_pairs']} pairs, {t['n_values']} values, "
            f"{m['layers']}-layer softmax teacher d={m['d']}, {m['heads']} heads; students w={m['window']}, d'={m['d_prime']}")


def _per_seed(res: dict[str, Any], arm: str, key: str, set_name: str, component: str) -> np.ndarray:
    return np.array([s[key]["accuracy"][set_name][component] for s in res["arms"][arm]])


FIXES = ("hedgecats", "ssd")  #: the two fixes of C9, each contrasted with the MSE arm


def _both_fixes(decide, per_fix: dict[str, np.ndarray]) -> tuple[Decision, str]:
    """'Each fix beats MSE' from one decision per fix (``decide(fix, effect)``): verified iff both are,
    not reproduced if either is, else inconclusive; returns the deciding fix's decision and the fix."""
    ds = {f: decide(f, per_fix[f]) for f in FIXES}
    worst = next((f for o in (Verdict.NOT_REPRODUCED, Verdict.INCONCLUSIVE) for f in FIXES if ds[f].outcome is o), None)
    worst = worst or min(FIXES, key=lambda f: ds[f].ci[0])  # (a fix blocked by its control decides: it is inconclusive)
    return ds[worst], worst


def c9_decision(res: dict[str, Any]) -> tuple[Decision, dict[str, Any]]:
    """C9 decision (each fix against MSE; the fix that decides) and the per-arm figures behind it."""
    la = {a: _per_seed(res, a, "eval", "long", "la_full") for a in ("mse", *FIXES)}
    swa_all = {a: _per_seed(res, a, "eval", "long", "swa") for a in ("mse", *FIXES)}

    def decide(fix: str, effect: np.ndarray) -> Decision:
        d = decide_direction(effect, boundary=0.0, direction="greater", units="seeds", method="t",
                             effect=f"long-set LA-only accuracy, {fix} - MSE (the weaker of the two fixes)",
                             rule="per fix (HedgeCATs - MSE, SSD - MSE): verified if both 95 % t intervals over seeds lie above 0; "
                                  "not reproduced if either lies below; else inconclusive (the deciding fix is reported)",
                             setting_differs=True, paper_setting=PAPER_SETTING, our_setting=_our_setting(res),
                             paper_figure="MSE-transferred hybrids bypass LA; HedgeCATs and SSD raise LA-only accuracy (no toy figure)")
        return with_controls(d, {"long-set SWA-only accuracy, same contrast (SWA cannot retrieve beyond the window)":
                                 _control(d, swa_all[fix] - swa_all["mse"]),
                                 "seeds' effects with every other sign flipped": _control(d, sign_flip_placebo(effect))},
                             can_pass={"seeds' effects with every other sign flipped": sign_flip_can_pass(effect.size)})

    d, fix = _both_fixes(decide, {f: la[f] - la["mse"] for f in FIXES})
    figures: dict[str, Any] = {"deciding_fix": fix, **{f"{f}_minus_mse_long_la_only": _ci(la[f] - la["mse"]) for f in FIXES}}
    for arm in ("mse", *FIXES):
        hyb, swa = _per_seed(res, arm, "eval", "long", "hybrid"), _per_seed(res, arm, "eval", "long", "swa")
        figures[arm] = {"long_la_only": _ci(la[arm]), "long_hybrid_minus_swa": _ci(hyb - swa),
                        "short_hybrid": _ci(_per_seed(res, arm, "eval", "short", "hybrid")),
                        "short_swa": _ci(_per_seed(res, arm, "eval", "short", "swa"))}
    return d, figures


def sign_flip_placebo(x: np.ndarray) -> np.ndarray:
    r"""Negative control of a paired contrast: unit $k$'s effect times $(-1)^k$, so it is absent by construction."""
    x = np.asarray(x, float)
    return x * (-1.0) ** np.arange(x.size)


def _fixes_minus_mse(x: dict[str, np.ndarray]) -> np.ndarray:
    return 0.5 * ((x["hedgecats"] - x["mse"]) + (x["ssd"] - x["mse"]))


def _control(d: Decision, samples: np.ndarray) -> Decision:
    """The rule of ``d`` (boundary, side, t interval) applied to a control's per-unit ``samples``."""
    return decide_direction(samples, boundary=d.boundary, direction=d.direction, units=d.units, method="t",
                            effect="negative control", rule=d.rule)


def collapse_gap_decision(res: dict[str, Any]) -> tuple[Decision, dict[str, Any]]:
    """Spec C9 'expected' gap contrast: each fix's long-set hybrid-SWA gap against the MSE arm's (both
    must exceed it). A larger gap says the fix's hybrid uses LA more than MSE's does; whether MSE's own
    hybrid collapses onto SWA (gap near 0) is a figure (``mse_long_hybrid_minus_swa``), not decided here."""
    gap = {a: _per_seed(res, a, "eval", "long", "hybrid") - _per_seed(res, a, "eval", "long", "swa") for a in ("mse", *FIXES)}

    def decide(fix: str, effect: np.ndarray) -> Decision:
        d = decide_direction(effect, boundary=0.0, direction="greater", units="seeds", method="t",
                             effect=f"long-set hybrid-minus-SWA-only gap, {fix} - MSE (the weaker of the two fixes)",
                             rule="per fix: verified (each fix's hybrid gains more over SWA-only than MSE's does; this does not "
                                  "by itself show that MSE's hybrid collapses) if both 95 % t intervals over seeds lie above 0; "
                                  "not reproduced if either lies below; else inconclusive",
                             setting_differs=True, paper_setting=PAPER_SETTING, our_setting=_our_setting(res),
                             paper_figure="MSE arm: small hybrid-SWA gap (LA bypassed); HedgeCATs and SSD: a larger gap")
        name = "seeds' effects with every other sign flipped"
        return with_controls(d, {name: _control(d, sign_flip_placebo(effect))}, can_pass={name: sign_flip_can_pass(effect.size)})

    d, fix = _both_fixes(decide, {f: gap[f] - gap["mse"] for f in FIXES})
    short = {a: _per_seed(res, a, "eval", "short", "hybrid") - _per_seed(res, a, "eval", "short", "swa") for a in ("mse", *FIXES)}
    return d, {"deciding_fix": fix, **{f"{a}_long_hybrid_minus_swa": _ci(g) for a, g in gap.items()},
               **{f"{f}_minus_mse_long_gap": _ci(gap[f] - gap["mse"]) for f in FIXES},
               "short_set_same_contrast": _ci(_fixes_minus_mse(short))}


def c10_decision(res: dict[str, Any]) -> tuple[Decision, dict[str, Any]]:
    """C10 decision and the short-set comparison (hybridised vs linear-only)."""
    long_h = _per_seed(res, "linear_only", "eval_hybridised", "long", "hybrid")
    short_gain = (_per_seed(res, "linear_only", "eval_hybridised", "short", "hybrid")
                  - _per_seed(res, "linear_only", "eval", "short", "la_full"))
    d = decide_direction(long_h, boundary=C10_BOUNDARY, direction="greater", units="seeds", method="t",
                         effect="long-set accuracy of the linear-only student run as a hybrid (w=16, gamma=lambda=1)",
                         rule=f"verified if the 95 % t interval over seeds lies above {C10_BOUNDARY} (32x chance); "
                              "not reproduced if below; else inconclusive",
                         setting_differs=True, paper_setting=PAPER_SETTING, our_setting=_our_setting(res),
                         paper_figure="inference-time hybridisation keeps the long-range ability of a linear-only conversion")
    d = with_controls(d, {"long-set SWA-only accuracy of the same student (SWA cannot retrieve beyond the window)":
                          _control(d, _per_seed(res, "linear_only", "eval_hybridised", "long", "swa"))})
    return d, {"short_hybrid_minus_linear_only": _ci(short_gain), "long_hybrid": _ci(long_h),
               "long_linear_only": _ci(_per_seed(res, "linear_only", "eval", "long", "la_full"))}


def c10_short_decision(res: dict[str, Any]) -> tuple[Decision, dict[str, Any]]:
    """C10's short-set half: the hybridised linear-only student is not worse than linear-only by more than the margin."""
    base = _per_seed(res, "linear_only", "eval", "short", "la_full")
    gain = _per_seed(res, "linear_only", "eval_hybridised", "short", "hybrid") - base
    d = decide_direction(gain, boundary=-C10_SHORT_MARGIN, direction="greater", units="seeds", method="t",
                         effect="short-set accuracy: linear-only student run as a hybrid minus run linear-only",
                         rule=f"non-inferiority: verified if the 95 % t interval over seeds lies above -{C10_SHORT_MARGIN} "
                              "(the margin); not reproduced if below it; else inconclusive",
                         setting_differs=True, paper_setting=PAPER_SETTING, our_setting=_our_setting(res),
                         paper_figure="short-set accuracy >= linear-only (spec C10)")
    none = _per_seed(res, "linear_only", "eval_hybridised", "short", "none") - base
    d = with_controls(d, {"short-set accuracy with no attention at all, minus linear-only (must be inferior)": _control(d, none)})
    return d, {"short_hybridised_minus_linear_only": _ci(gain),
               "long_hybridised_minus_linear_only": _ci(_per_seed(res, "linear_only", "eval_hybridised", "long", "hybrid")
                                                        - _per_seed(res, "linear_only", "eval", "long", "la_full"))}


def _ci(x: np.ndarray) -> dict[str, float]:
    m, lo, hi, _ = t_ci(x) if len(x) > 1 else (float(x[0]),) * 3 + (None,)
    return {"mean": m, "lo": lo, "hi": hi, "per_seed": [float(v) for v in x]}


def no_data_decision(effect: str, boundary: float, reason: str) -> Decision:
    """An ``inconclusive`` decision when no valid run exists (no cache, or a teacher below 99 %): the
    interval is the effect's whole range."""
    return Decision(effect=effect, units="seeds", n_units=1, rule=reason, boundary=boundary, estimate=boundary,
                    ci=(-1.0, 1.0), method="no cached run: the interval is the effect's whole range", outcome=Verdict.INCONCLUSIVE)


# --- a real pretrained model (Gemma 3 270M), stated before its run ---------------------------------

REAL_MARGIN = 0.01  #: "LA adds nothing": the hybrid beats SWA-only by less than 1 point of next-token agreement
REAL_HEADROOM = 0.02  #: precondition: SWA-only must lose at least 2 points of agreement, else collapse is invisible


def real_decision(res: dict[str, Any]) -> tuple[Decision, dict[str, Any]]:
    r"""Component collapse on the converted Gemma layers (MSE arm, the LoLCATs recipe the paper diagnoses).

    Units: held-out sequences. Effect per sequence: next-token agreement with the original model (scored
    positions $n\ge w$) when the converted layers run the hybrid, minus the same when they run SWA-only.
    Collapse (the paper's finding) is a gain below ``REAL_MARGIN``: the 95 % t interval entirely below it
    -> ``verified``; entirely above -> ``not reproduced`` (270M vs 7-8B); else ``inconclusive``. If the
    lower end of SWA-only's disagreement interval is below ``REAL_HEADROOM`` (the window alone already
    reproduces the model, so LA has nothing to add) the verdict is ``inconclusive`` whatever the gain.
    """
    ab = {k: np.asarray(v) for k, v in res["agreement_beyond_window"].items()}
    gain = ab["mse/hybrid"] - ab["mse/swa"]
    p, m = res["protocol"], res["model"]
    our = (f"{m['name']} ({m['layers']} layers), layers {p['convert']['layers']} converted by stage-1 attention transfer "
           f"(w={p['convert']['window']}, d'={p['convert']['d_prime']}, {p['convert']['steps']} steps x {p['convert']['batch']} "
           f"sequences of T={p['length']}), after stage-1 transfer only (no LoRA stage); {p['n_eval']} held-out docstring sequences")
    d = decide_direction(gain, boundary=REAL_MARGIN, direction="less", units="held-out sequences", method="t",
                         effect="next-token agreement with the original model at n >= w: hybrid minus SWA-only (MSE arm)",
                         rule=f"verified (collapse) if the 95 % t interval lies below {REAL_MARGIN}; not reproduced if above; "
                              f"else inconclusive; inconclusive too if SWA-only's disagreement interval reaches below {REAL_HEADROOM}",
                         setting_differs=True, paper_setting=PAPER_SETTING, our_setting=our,
                         paper_figure="SWA-only matches or slightly beats the full hybrid of LoLCATs conversions (7-8B)")
    per_seq = lambda x: {("per_sequence" if k == "per_seed" else k): v for k, v in _ci(x).items()}  # noqa: E731
    headroom = per_seq(1.0 - ab["mse/swa"])
    figures = {"headroom_1_minus_swa": headroom, "hybrid_minus_swa": per_seq(gain),
               **{f"agreement_{k.replace('/', '_')}": per_seq(v) for k, v in ab.items()},
               "xent_hybrid_minus_swa": per_seq(ab["xent/hybrid"] - ab["mse/swa"])}
    d = with_controls(d, {"original model minus SWA-only (no conversion, so no collapse onto SWA)": _control(d, 1.0 - ab["mse/swa"])})
    if headroom["lo"] < REAL_HEADROOM:
        d = dataclasses.replace(d, outcome=Verdict.INCONCLUSIVE,
                                rule=d.rule + f" [precondition failed: 1 - SWA-only agreement CI reaches {headroom['lo']:.3f}]")
    return d, figures
