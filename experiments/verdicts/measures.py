r"""Effect measures of the verdict forest plot: which axis a decision's effect belongs on, in which units.

A forest plot compares intervals by eye only when every row of a panel is the *same quantity, in the same
units, against the same reference point*. A decision names its effect in words (``"NLL(fal) - NLL(baseline)
(nats/char)"``, ``"n / mean k_0.01 minus 3"``), so :func:`measure_of` classifies it:

- by **quantity and unit**, the first of :data:`MEASURES` whose pattern matches the effect's name (a
  correlation, a log ratio, a ratio, a difference of proportions, a proportion, ...);
- by **reference point**: an effect shifted by a constant (``"... minus 3"``) is the quantity $x - c$,
  whose zero means $x = c$; it gets its own group (:func:`shift_of`), never the axis of the unshifted $x$;
- an effect that matches no measure is a group of its own (its name is its axis), so unrelated rows never
  share a scale.

The paper's figure is drawn in the axis' units (:func:`paper_value`): a percentage on a proportion axis is
divided by 100 (``"up to 90 %"`` is 0.9), a factor ``"1.18x"`` on a log-ratio axis is $\ln 1.18$, on a
shifted ratio axis $1.18 - c$; a figure that cannot be put in the axis' units (a range, several numbers, a
percentage on a ratio axis) is not drawn; a figure written as a derivation ending in ``= value``
(``"58.8 scored keys of 128 = 2.177x"``) is read from its last ``=``. An effect of its own (no measure)
is labelled with its name and ``(unit not stated)`` unless the name ends in a parenthesised unit (at most
three words: ``(nats/char)``, not ``(the weaker of the two fixes)``). A row whose effect was not measured (no data: the interval is
the whole range) is not an estimate and is left out of the panels (:func:`not_measured`).
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["MEASURES", "Measure", "measure_of", "shift_of", "paper_value", "not_measured"]

#: (quantity, axis label with unit and reference point, pattern on the effect's name, kind); the first
#: match names the group. ``kind`` says how a paper's figure converts: ``prop`` (a fraction 0-1), ``diff``
#: (a difference, zero = equal), ``ratio`` (1 = equal), ``log`` (natural log of a ratio), ``corr``.
MEASURES: tuple[tuple[str, str, str, str], ...] = (
    ("Correlation", "Pearson or Spearman r (unitless, -1 to 1; 0 = none)",
     r"\bpearson\b|\bspearman\b|\bcorrelation\b", "corr"),
    ("Change of a log ratio, trained - initial", "difference of natural logs (unitless; 0 = no change)",
     r"\blog\s*\(.*trained\s*-\s*initial", "diff"),
    ("Log ratio", "natural log of a ratio (unitless; 0 = equal)", r"\blog\s*\(|\blog ratio\b|\blog-ratio\b", "log"),
    ("Slope against depth", "slope per layer of a natural log (unitless; 0 = flat)", r"\bslope\b", "diff"),
    ("Difference of negative log-likelihood", "nats per character (0 = equal)", r"\bd?nll\b", "diff"),
    ("Difference of CKA similarities", "CKA difference (unitless; 0 = no change)", r"\bcka\b", "diff"),
    ("Difference of chrF scores", "chrF difference (fraction, 0 to 1 scale; 0 = equal)", r"\bchrf\b", "diff"),
    ("Difference of cosine similarities", "cosine difference (unitless; 0 = equal)", r"\bcos\s*\(|cosine", "diff"),
    ("Difference of absolute errors in k/n", "fraction of the n keys (0 = equal)", r"k/n units", "diff"),
    ("Difference of the curvature proxy", "proxy units (0 = equal)", r"curvature proxy", "diff"),
    ("Ratio", "ratio (unitless; 1 = equal)", r"\s/\s|\bratio\b", "ratio"),
    ("Difference of proportions", "accuracy, recall, agreement or success difference (fraction; 0 = equal)",
     r"^(?=.*(accuracy|recall|agreement|rate|fraction|success|share))(?=.*(\bminus\b|\s-\s|difference|\bgap\b))", "diff"),
    ("Proportion", "accuracy, recall, rate or share (fraction, 0 to 1)",
     r"accuracy|recall|fraction|\brate\b|agreement|proportion|success|\bshare\b", "prop"),
)

Measure = tuple[str, str, str]  #: (quantity, axis label, kind)

_SHIFT = re.compile(r"\bminus\s+([-+]?\d+(?:\.\d+)?)(?![\w.])(?!\s*[A-Za-z_])")
_NUMBER = re.compile(r"(?<![\w.])([-+\u2212]?\d+(?:\.\d+)?)\s*(%|x\b|\u00d7)?(?![\w.])")
_RANGE = re.compile(r"\d\s*[-\u2013]\s*\d")


def shift_of(effect: str) -> float:
    """The constant ``c`` of an effect stated as ``x minus c`` (``"n / mean k minus 3 (pooled)"`` -> 3.0), else 0."""
    m = _SHIFT.search(effect)
    return float(m.group(1)) if m else 0.0


def not_measured(d: dict[str, Any]) -> bool:
    """The decision records no measurement: its effect says ``NOT MEASURED`` or its units are ``none (no data)``."""
    return "not measured" in str(d.get("effect", "")).lower() or str(d.get("units", "")).startswith("none (no data)")


def measure_of(d: dict[str, Any]) -> Measure:
    """``(quantity, axis label, kind)`` of a decision: its ``measure`` field when present (its own axis),
    else the first of :data:`MEASURES` matching its effect's name, with the reference point of a shifted
    effect (:func:`shift_of`) in both names; an effect matching none is its own measure (kind ``other``)."""
    effect = str(d.get("effect", ""))
    if d.get("measure"):
        return str(d["measure"]), str(d["measure"]), "other"
    for quantity, label, pattern, kind in MEASURES:
        if re.search(pattern, effect.lower()):
            c = shift_of(effect)
            if c:
                return (f"{quantity} minus {c:g}", f"{label.split(' (')[0]} minus {c:g} (unitless; 0 = a {quantity.lower()} of {c:g})",
                        f"{kind}-shifted")
            return quantity, label, kind
    unit = re.search(r"\(([^()]*)\)\s*$", effect)  # a unit is short: "(nats/char)", "(k/n units)", not a remark
    label = effect if unit and len(unit.group(1).split()) <= 3 and len(unit.group(1)) <= 24 else f"{effect} (unit not stated)"
    return f"Other: {effect}", label, "other"


def paper_value(d: dict[str, Any], measure: Measure | None = None) -> float | None:
    """The paper's figure in the units of the decision's axis (``measure``, default :func:`measure_of`), when
    ``paper_figure`` states exactly one number that converts (see the module docstring), else ``None``."""
    text = str(d.get("paper_figure") or "").rsplit("=", 1)[-1]  # "58.8 of 128 = 2.177x": the result
    if _RANGE.search(text):
        return None
    nums = _NUMBER.findall(text)
    if len(nums) != 1:
        return None
    value, unit = float(nums[0][0].replace("\u2212", "-")), nums[0][1]
    kind = (measure or measure_of(d))[2]
    base, shifted = kind.removesuffix("-shifted"), kind.endswith("-shifted")
    if unit == "%":
        return value / 100 if base in ("prop", "diff") and not shifted else None
    if unit in ("x", "\u00d7"):
        if base == "log" and value > 0:
            return math.log(value)
        if base == "ratio":
            return value - shift_of(str(d.get("effect", ""))) if shifted else value
        return None
    if base == "prop" and not 0 <= value <= 1:
        return None
    return None if shifted else value
