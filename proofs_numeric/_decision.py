"""Decisions for empirical claims: a protocol stated before the data, and its outcome.

An empirical claim does not say "the paper holds" because a point estimate fell on the right side
of a line. It states, before looking at the data,

* its **effect measure** (``"mean gated - ungated accuracy"``),
* its **units of independence** (``"seeds"``, ``"sequences"``; never rows of one sequence),
* its **sample size** (how many units),
* its **decision rule** (``"verified if the 95 % CI of the mean lies above 0"``),

and reports the effect with a 95 % confidence interval. The outcome follows from where the interval
lies relative to the decision boundary:

=======================================  ==============================================
interval                                  outcome
=======================================  ==============================================
entirely on the paper's side              ``verified``
entirely on the opposite side             ``refuted`` (paper's setting) or
                                          ``not reproduced`` (our setting differs)
touches or straddles the boundary         ``inconclusive`` (a tie never decides)
=======================================  ==============================================

A "no difference" claim is an **equivalence** claim: it needs a margin ``m`` stated in advance and is
``verified`` only when the whole interval lies inside ``(-m, m)`` (two one-sided tests); a test of
difference that fails to reject is *not* evidence of no difference.

Public helpers: :class:`Decision`, :func:`bootstrap_ci`, :func:`t_ci`, :func:`paired_differences`,
:func:`proportion_ci`, :func:`decide_interval`, :func:`decide_direction`, :func:`decide_proportion`,
:func:`decide_equivalence`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from ._claim import Verdict
from ._intervals import _finite, _samples
from ._intervals import bootstrap_ci as bootstrap_ci
from ._intervals import paired_differences as paired_differences
from ._intervals import proportion_ci as proportion_ci
from ._intervals import t_ci as t_ci

__all__ = [
    "Decision",
    "bootstrap_ci",
    "t_ci",
    "paired_differences",
    "proportion_ci",
    "decide_interval",
    "decide_proportion",
    "decide_direction",
    "decide_equivalence",
    "minimal_detectable_effect",
    "decide_all",
    "with_controls",
    "leave_one_out",
    "sign_flip_can_pass",
    "DECISION_OUTCOMES",
]

#: the verdicts a decision rule can return (``erratum`` and ``failed`` are never statistical outcomes)
DECISION_OUTCOMES = (Verdict.VERIFIED, Verdict.REFUTED, Verdict.NOT_REPRODUCED, Verdict.INCONCLUSIVE)

Direction = Literal["greater", "less"]


def _text(name: str, x: Any, *, required: bool = True) -> str:
    if x is None and not required:
        return ""
    if not isinstance(x, str) or (required and not x.strip()):
        raise ValueError(f"{name} must be a non-empty string, got {x!r}")
    return x


@dataclasses.dataclass(frozen=True)
class Decision:
    """An empirical verdict's pre-stated protocol and its result.

    **Protocol** (stated before the data): ``effect`` (the effect measure's name), ``units`` (the units
    of independence: ``"seeds"``, ``"sequences"``), ``n_units``, ``rule`` (the decision rule in
    words), ``boundary`` (the value the interval is compared with; for an equivalence test the
    margin), ``method`` (how the interval was obtained: ``"bootstrap (10 000 resamples)"``, ``"t"``,
    ``"TOST margin 0.02"``...).

    **Result**: ``estimate``, ``ci = (lo, hi)`` at ``level`` (0.95), ``outcome`` (a
    :class:`~proofs_numeric.Verdict`: verified, refuted, not reproduced or inconclusive).

    **Setting** (optional; required for ``not reproduced``): ``paper_figure`` (the paper's number, in
    words), ``paper_setting`` and ``our_setting`` (model, data, scale or metric), shown side by side
    in the report.
    """

    effect: str
    units: str
    n_units: int
    rule: str
    boundary: float
    estimate: float
    ci: tuple[float, float]
    method: str
    outcome: Verdict
    level: float = 0.95
    test: str = "direction"  #: "direction" (greater/less than the boundary) or "equivalence"
    direction: str = "greater"  #: the paper's side of the boundary ("greater", "less", "within")
    paper_figure: str | None = None
    paper_setting: str | None = None
    our_setting: str | None = None
    p_value: float | None = None
    #: smallest true effect (distance from ``boundary``) this protocol detects with 80 % power
    #: (:func:`minimal_detectable_effect`); ``None`` when not computed
    detectable_effect: float | None = None
    #: component decisions the outcome combines (per host, per n: :func:`decide_all`), name -> ``to_dict()``
    parts: dict[str, Any] | None = None
    #: negative controls (placebos) run through the same rule, name -> ``to_dict()`` with ``outcome`` "passes" or
    #: "does not pass" and ``can_pass`` (:func:`with_controls`); a claim is not ``verified`` while any control passes
    controls: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        _text("effect", self.effect)
        _text("units", self.units)
        _text("rule", self.rule)
        _text("method", self.method)
        if isinstance(self.n_units, bool) or not isinstance(self.n_units, (int, np.integer)) or int(self.n_units) < 1:
            raise ValueError(f"n_units must be a positive integer, got {self.n_units!r}")
        object.__setattr__(self, "n_units", int(self.n_units))
        object.__setattr__(self, "boundary", _finite("boundary", self.boundary))
        object.__setattr__(self, "estimate", _finite("estimate", self.estimate))
        try:
            lo, hi = self.ci
        except (TypeError, ValueError):
            raise ValueError(f"ci must be a pair (lo, hi), got {self.ci!r}") from None
        lo, hi = _finite("ci[0]", lo), _finite("ci[1]", hi)
        if lo > hi:
            raise ValueError(f"ci must satisfy lo <= hi, got ({lo}, {hi})")
        object.__setattr__(self, "ci", (lo, hi))
        level = _finite("level", self.level)
        if not 0.5 <= level < 1:
            raise ValueError(f"level must be in [0.5, 1), got {level}")
        object.__setattr__(self, "level", level)
        try:
            outcome = Verdict(self.outcome)
        except ValueError:
            raise ValueError(f"outcome must be a Verdict, got {self.outcome!r}") from None
        if outcome not in DECISION_OUTCOMES:
            raise ValueError(f"outcome must be one of {[v.value for v in DECISION_OUTCOMES]}, got {outcome.value!r}")
        object.__setattr__(self, "outcome", outcome)
        if self.test not in ("direction", "equivalence"):
            raise ValueError(f"test must be 'direction' or 'equivalence', got {self.test!r}")
        if self.direction not in ("greater", "less", "within"):
            raise ValueError(f"direction must be 'greater', 'less' or 'within', got {self.direction!r}")
        for name in ("paper_figure", "paper_setting", "our_setting"):
            _text(name, getattr(self, name), required=False)
        if outcome is Verdict.NOT_REPRODUCED and not (self.paper_setting and self.our_setting):
            raise ValueError("a 'not reproduced' decision must name paper_setting and our_setting")
        if self.p_value is not None:
            p = _finite("p_value", self.p_value)
            if not 0 <= p <= 1:
                raise ValueError(f"p_value must be in [0, 1], got {p}")
            object.__setattr__(self, "p_value", p)
        if self.detectable_effect is not None:
            mde = float(self.detectable_effect)
            if not (math.isnan(mde) or mde >= 0):
                raise ValueError(f"detectable_effect must be >= 0 or nan, got {mde}")
            object.__setattr__(self, "detectable_effect", mde)

    @property
    def setting_differs(self) -> bool:
        return bool(self.our_setting and self.paper_setting)

    def summary(self) -> str:
        """One line: ``effect = est [lo, hi] (95 % CI, method; n units; MDE) -> outcome``."""
        lo, hi = self.ci
        mde = "" if self.detectable_effect is None else f"; detectable effect {self.detectable_effect:.3g}"
        return (
            f"{self.effect} = {self.estimate:.4g} [{lo:.4g}, {hi:.4g}] "
            f"({self.level:.0%} CI, {self.method}; n = {self.n_units} {self.units}{mde}) -> {self.outcome.value}"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary (the verdict as its string value)."""
        d = dataclasses.asdict(self)
        d["ci"] = [self.ci[0], self.ci[1]]
        d["outcome"] = self.outcome.value
        return d


# --------------------------------------------------------------------------------------- decisions


def _outcome_direction(lo: float, hi: float, boundary: float, direction: str, setting_differs: bool) -> Verdict:
    if direction == "greater":
        paper_side, other_side = lo > boundary, hi < boundary
    else:
        paper_side, other_side = hi < boundary, lo > boundary
    if paper_side:
        return Verdict.VERIFIED
    if other_side:
        return Verdict.NOT_REPRODUCED if setting_differs else Verdict.REFUTED
    return Verdict.INCONCLUSIVE  # touches or straddles the boundary: a tie never decides


def _setting_kwargs(setting_differs: bool, paper_figure, paper_setting, our_setting) -> dict[str, Any]:
    if not isinstance(setting_differs, bool):
        raise ValueError(f"setting_differs must be a bool, got {setting_differs!r}")
    if setting_differs and not (paper_setting and our_setting):
        raise ValueError("setting_differs=True needs paper_setting and our_setting (name the difference)")
    return dict(paper_figure=paper_figure, paper_setting=paper_setting, our_setting=our_setting)


def decide_interval(
    estimate: float,
    ci: Sequence[float],
    *,
    boundary: float = 0.0,
    direction: Direction = "greater",
    effect: str,
    units: str,
    n_units: int,
    rule: str,
    method: str,
    level: float = 0.95,
    setting_differs: bool = False,
    paper_figure: str | None = None,
    paper_setting: str | None = None,
    our_setting: str | None = None,
    p_value: float | None = None,
) -> Decision:
    """A directional decision from an interval computed elsewhere (Fisher z, Wilson, ``scipy.stats``)."""
    if direction not in ("greater", "less"):
        raise ValueError(f"direction must be 'greater' or 'less', got {direction!r}")
    b = _finite("boundary", boundary)
    try:
        lo, hi = (_finite("ci[0]", ci[0]), _finite("ci[1]", ci[1]))
    except (TypeError, IndexError):
        raise ValueError(f"ci must be a pair (lo, hi), got {ci!r}") from None
    kw = _setting_kwargs(setting_differs, paper_figure, paper_setting, our_setting)
    outcome = _outcome_direction(lo, hi, b, direction, setting_differs)
    return Decision(
        effect=effect, units=units, n_units=n_units, rule=rule, boundary=b, estimate=estimate, ci=(lo, hi),
        method=method, outcome=outcome, level=level, test="direction", direction=direction, p_value=p_value, **kw,
    )


def _interval(x: np.ndarray, statistic, method: str, level: float, n_boot: int, seed: int):
    if method == "t":
        if statistic is not np.mean:
            raise ValueError("method='t' is the interval of the mean; use statistic=np.mean or method='bootstrap'")
        m, lo, hi, p = t_ci(x, level=level)
        return m, lo, hi, p, "t"
    if method == "bootstrap":
        m, lo, hi = bootstrap_ci(x, statistic, level=level, n_boot=n_boot, seed=seed)
        return m, lo, hi, None, f"bootstrap BCa ({n_boot:,} resamples)".replace(",", " ")
    raise ValueError(f"method must be 'bootstrap' or 't', got {method!r}")


def decide_direction(
    samples: Any,
    *,
    boundary: float = 0.0,
    direction: Direction = "greater",
    units: str,
    rule: str,
    effect: str = "mean",
    statistic: Callable[..., Any] = np.mean,
    method: Literal["bootstrap", "t"] = "bootstrap",
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
    setting_differs: bool = False,
    paper_figure: str | None = None,
    paper_setting: str | None = None,
    our_setting: str | None = None,
) -> Decision:
    """Decide a directional claim ("the effect is greater than ``boundary``") from per-unit samples.

    ``samples`` holds one value per independent unit (seed, sequence). The interval of ``statistic``
    (bootstrap over the units, or Student-t for the mean) decides: entirely on the paper's side of
    ``boundary`` -> verified; entirely on the other side -> refuted (or ``not reproduced`` when
    ``setting_differs``); touching or straddling it -> inconclusive.
    """
    x = _samples(samples)
    if direction not in ("greater", "less"):
        raise ValueError(f"direction must be 'greater' or 'less', got {direction!r}")
    _finite("boundary", boundary)
    m, lo, hi, p, how = _interval(x, statistic, method, level, n_boot, seed)
    d = decide_interval(
        m, (lo, hi), boundary=boundary, direction=direction, effect=effect, units=units, n_units=int(x.size),
        rule=rule, method=how, level=level, setting_differs=setting_differs, paper_figure=paper_figure,
        paper_setting=paper_setting, our_setting=our_setting, p_value=p,
    )
    mde = minimal_detectable_effect(x, level=level) if statistic is np.mean else math.nan  # the mean's t-test MDE
    if math.isfinite(mde):  # none for another statistic or a constant sample
        d = dataclasses.replace(d, detectable_effect=mde)
    return d


def decide_proportion(
    successes: int,
    n: int,
    *,
    boundary: float,
    direction: Direction = "greater",
    units: str,
    rule: str,
    effect: str = "fraction",
    level: float = 0.95,
    setting_differs: bool = False,
    paper_figure: str | None = None,
    paper_setting: str | None = None,
    our_setting: str | None = None,
) -> Decision:
    """Decide a claim about a fraction of ``n`` independent units from its Clopper-Pearson interval."""
    p, lo, hi = proportion_ci(successes, n, level=level)
    return decide_interval(
        p, (lo, hi), boundary=boundary, direction=direction, effect=effect, units=units, n_units=n, rule=rule,
        method="Clopper-Pearson (exact binomial)", level=level, setting_differs=setting_differs,
        paper_figure=paper_figure, paper_setting=paper_setting, our_setting=our_setting,
    )


def decide_equivalence(
    samples: Any,
    *,
    margin: float,
    units: str,
    rule: str,
    effect: str = "mean difference",
    statistic: Callable[..., Any] = np.mean,
    method: Literal["bootstrap", "t"] = "t",
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
    setting_differs: bool = False,
    paper_figure: str | None = None,
    paper_setting: str | None = None,
    our_setting: str | None = None,
) -> Decision:
    """Decide a "no difference" claim by equivalence within ``±margin`` (two one-sided tests).

    Verified when the whole ``level`` interval lies strictly inside ``(-margin, margin)`` (each
    one-sided test then rejects at ``(1 - level) / 2``, a conservative TOST); refuted (or ``not
    reproduced``) when it lies entirely outside, i.e. a difference larger than the margin is
    significant; inconclusive otherwise. The margin must be stated before the data.
    """
    x = _samples(samples)
    m_ = _finite("margin", margin)
    if m_ <= 0:
        raise ValueError(f"margin must be > 0, got {m_}")
    kw = _setting_kwargs(setting_differs, paper_figure, paper_setting, our_setting)
    est, lo, hi, _p, how = _interval(x, statistic, method, level, n_boot, seed)
    if -m_ < lo and hi < m_:
        outcome = Verdict.VERIFIED
    elif lo > m_ or hi < -m_:
        outcome = Verdict.NOT_REPRODUCED if setting_differs else Verdict.REFUTED
    else:
        outcome = Verdict.INCONCLUSIVE
    p_tost = None
    if method == "t" and not np.all(x == x[0]):
        from scipy import stats

        p_lo = stats.ttest_1samp(x, -m_, alternative="greater").pvalue
        p_hi = stats.ttest_1samp(x, m_, alternative="less").pvalue
        p_tost = float(max(p_lo, p_hi))
    mde = minimal_detectable_effect(x, level=level) if statistic is np.mean else math.nan  # distance inside the margin
    return Decision(
        effect=effect, units=units, n_units=int(x.size), rule=rule, boundary=m_, estimate=est, ci=(lo, hi),
        method=f"TOST margin {m_:g}, {how} interval", outcome=outcome, level=level, test="equivalence",
        direction="within", p_value=p_tost, detectable_effect=mde if math.isfinite(mde) else None, **kw,
    )


def minimal_detectable_effect(samples: Any = None, *, sd: float | None = None, n: int | None = None,
                              level: float = 0.95, power: float = 0.8) -> float:
    r"""Smallest true mean distance from a decision boundary that a two-sided ``level`` Student-$t$
    interval over ``n`` units puts on that side with probability ``power`` (80 % by default).

    Exact for normal units: the $\delta$ solving $P\big(T'_{n-1}(\delta\sqrt n/s)>t_{(1+\text{level})/2,\,n-1}\big)=\text{power}$,
    $T'$ non-central $t$, $s$ the units' standard deviation (``samples`` or ``sd`` and ``n``).
    Reported next to a decision: an effect smaller than this is likely to read ``inconclusive``.
    ``nan`` when the spread is 0 or there are fewer than 2 units.
    """
    from scipy import optimize, stats

    if samples is not None:
        x = _samples(samples)
        sd, n = (float(np.std(x, ddof=1)) if x.size > 1 else float("nan")), int(x.size)
    if sd is None or n is None:
        raise ValueError("give samples, or sd and n")
    sd = _finite("sd", sd) if np.isfinite(sd) else float("nan")
    if not (0.5 <= level < 1 and 0 < power < 1):
        raise ValueError(f"need 0.5 <= level < 1 and 0 < power < 1, got level={level}, power={power}")
    if int(n) < 2 or not sd > 0:
        return float("nan")
    df, crit = int(n) - 1, stats.t.ppf((1 + level) / 2, int(n) - 1)
    f = lambda d: stats.nct.sf(crit, df, d * np.sqrt(n) / sd) - power  # noqa: E731
    hi = sd
    while f(hi) < 0:
        hi *= 2
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-12 * sd))


# --------------------------------------------------------------------- combined decisions and controls


def _margin(d: Decision) -> float:
    """How far the interval lies on the paper's side of the boundary (negative: it touches or crosses it)."""
    lo, hi = d.ci
    if d.direction == "within":
        return min(lo + d.boundary, d.boundary - hi)
    return lo - d.boundary if d.direction == "greater" else d.boundary - hi


def _strength(d: Decision) -> float:
    """Signed distance of the estimate from the boundary, positive on the paper's side."""
    if d.direction == "within":
        return d.boundary - abs(d.estimate)
    return d.estimate - d.boundary if d.direction == "greater" else d.boundary - d.estimate


def decide_all(parts: Mapping[str, Decision], *, rule: str | None = None) -> Decision:
    """One decision for a statement that must hold in every part (every host, every sequence length).

    ``verified`` only if every part is verified; ``refuted`` if any part is refuted, else ``not reproduced``
    if any part is; otherwise ``inconclusive``. The decision shown is the part whose interval is least
    favourable (:func:`_margin`), with all parts under ``parts`` (name -> ``to_dict()``) and every part's
    controls under ``controls``. A pooled
    average over parts that disagree is never the verdict: this is the rule for "for every host".
    """
    if not parts:
        raise ValueError("parts must name at least one decision")
    for name, d in parts.items():
        if not isinstance(d, Decision):
            raise TypeError(f"parts[{name!r}] must be a Decision, got {type(d).__name__}")
    V = Verdict
    outs = [d.outcome for d in parts.values()]
    if all(o is V.VERIFIED for o in outs):
        outcome = V.VERIFIED
    elif V.REFUTED in outs:
        outcome = V.REFUTED
    elif V.NOT_REPRODUCED in outs:
        outcome = V.NOT_REPRODUCED
    else:
        outcome = V.INCONCLUSIVE
    name, worst = min(parts.items(), key=lambda kv: _margin(kv[1]))
    text = rule or (f"{worst.rule} -- decided in every part ({', '.join(parts)}): verified only if all are; refuted or "
                    f"not reproduced if any is; the interval shown is the least favourable part ({name})")
    kw = {}
    if outcome is V.NOT_REPRODUCED and not worst.setting_differs:
        src = next(d for d in parts.values() if d.outcome is V.NOT_REPRODUCED)
        kw = dict(paper_setting=src.paper_setting, our_setting=src.our_setting, paper_figure=src.paper_figure)
    label = lambda part, k: k if k.startswith(part) else f"{part}: {k}"  # noqa: E731
    controls = {label(p, k): v for p, d in parts.items() for k, v in (d.controls or {}).items()} or None
    flat: dict[str, Any] = {}
    for p, d in parts.items():  # a part that combines parts itself (a data set of hosts) shows them too
        flat[p] = {k: v for k, v in d.to_dict().items() if k not in ("parts", "controls")}
        flat.update({label(p, k): v for k, v in (d.parts or {}).items()})
    return dataclasses.replace(worst, outcome=outcome, rule=text, parts=flat, controls=controls, **kw)


def _control_side(c: Decision) -> str:
    """Where a control's interval lies, in control words (never ``refuted``: that word is the paper's)."""
    if c.outcome is Verdict.VERIFIED:
        return "paper's side of the boundary"
    if c.outcome is Verdict.INCONCLUSIVE:
        return "touches or straddles the boundary"
    return "opposite side of the boundary"


def with_controls(decision: Decision, controls: Mapping[str, Decision], *,
                  can_pass: Mapping[str, bool] | None = None) -> Decision:
    """Attach negative controls (placebos run through the same rule) to ``decision``.

    The developers' guide's rule: an empirical claim reports *a negative control that does not pass*.
    A control **passes** when its interval lies on the paper's side of the boundary (its rule reads
    ``verified``), whatever its strength relative to the claim. While any control passes, a ``verified``
    decision becomes ``inconclusive`` (the rule names the control). Controls are never labelled
    ``refuted``/``verified``: each is recorded under ``controls`` (name -> ``to_dict()``) with
    ``outcome`` ``"passes"`` or ``"does not pass"``, ``passes`` (bool), ``side`` (where its interval lies)
    and ``passes_as_strongly`` (kept for old readers: passes with an estimate at least as far out).

    ``can_pass`` (name -> bool, optional) states before the data whether the control *could* pass at this
    sample size (``False`` for, e.g., seeds with alternating signs at n = 3, which no t interval puts on
    one side); recorded as ``can_pass`` (``None``: not assessed). A control that cannot pass tests nothing,
    so a ``verified`` decision whose controls *all* cannot pass becomes ``inconclusive`` too.
    """
    can_pass = dict(can_pass or {})
    unknown = set(can_pass) - set(controls)
    if unknown:
        raise ValueError(f"can_pass names controls that are not given: {sorted(unknown)}")
    rec: dict[str, Any] = {}
    passing, vacuous = [], []
    for name, c in controls.items():
        if not isinstance(c, Decision):
            raise TypeError(f"controls[{name!r}] must be a Decision, got {type(c).__name__}")
        cp = can_pass.get(name)
        if cp is not None and not isinstance(cp, bool):
            raise TypeError(f"can_pass[{name!r}] must be a bool, got {type(cp).__name__}")
        passes = c.outcome is Verdict.VERIFIED
        strong = passes and _strength(c) >= _strength(decision)
        rec[name] = {**c.to_dict(), "outcome": "passes" if passes else "does not pass", "passes": passes,
                     "side": _control_side(c), "passes_as_strongly": bool(strong), "can_pass": cp}
        if passes:
            passing.append(name)
        if cp is False:
            vacuous.append(name)
    out = dataclasses.replace(decision, controls={**(decision.controls or {}), **rec})
    if decision.outcome is Verdict.VERIFIED and passing:
        out = dataclasses.replace(out, outcome=Verdict.INCONCLUSIVE,
                                  rule=decision.rule + f"; inconclusive: the negative control(s) {', '.join(passing)} "
                                  "pass the same rule (a claim is not verified while any of its controls passes)")
    elif decision.outcome is Verdict.VERIFIED and controls and len(vacuous) == len(controls):
        out = dataclasses.replace(out, outcome=Verdict.INCONCLUSIVE,
                                  rule=decision.rule + f"; inconclusive: the only control(s) {', '.join(vacuous)} "
                                  f"cannot pass at n = {decision.n_units}, so no control tests the rule")
    return out


def sign_flip_can_pass(n: int, level: float = 0.95) -> bool:
    r"""Whether a sign-flip placebo (unit $k$ times $(-1)^k$) of ``n`` same-sign effects *could* pass a two-sided ``level`` t rule.

    For effects of one sign the flipped units have the other sign; the largest $t$ the placebo can reach is
    the limit with the flipped magnitudes $\to0$ and the others equal: $\lceil n/2\rceil$ ones and
    $\lfloor n/2\rfloor$ zeros. ``False`` for $n\le6$ (n = 3: $t = 2 < t_{0.975,2} = 4.30$): the placebo
    then cannot pass whatever the data, so it tests nothing."""
    from scipy import stats

    if n < 2:
        return False
    x = (np.arange(n) % 2 == 0).astype(float)
    t = x.mean() / (x.std(ddof=1) / np.sqrt(n))
    return bool(t > stats.t.ppf((1 + level) / 2, n - 1))


def leave_one_out(samples: Any, decide: Callable[[np.ndarray], Decision]) -> dict[str, Any]:
    """Robustness of a decision to single units: ``decide`` on the samples without each unit in turn.

    Returns ``{"n": n, "outcome": full outcome, "changed": how many omissions change the outcome,
    "outcomes": [outcome without unit i]}``. A verdict that one unit can flip is reported as fragile.
    """
    x = _samples(samples, minimum=3)
    full = decide(x).outcome
    outs = [decide(np.delete(x, i)).outcome for i in range(x.size)]
    return {"n": int(x.size), "outcome": full.value, "changed": int(sum(o is not full for o in outs)), "outcomes": [o.value for o in outs]}
