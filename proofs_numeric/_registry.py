"""The claim, experiment and plot registries.

Adding a claim is one small function plus one decorator, in the module of the mathematics it
checks::

    from attnverify.proofs_numeric import Context, Evidence, claim

    @claim(
        "topk.tv_equals_tail_mass",
        paper="topk_tv", equation="Lemma 4.1 (C1)",
        statement=r"\\mathrm{TV}(P,\\widehat P)=\\sum_{i>k}p_i",
        provenance="paper", tolerance=1e-15, error="abs",
    )
    def _(ctx: Context) -> Evidence:
        ...

Experiments (``attnverify experiment NAME``) and plots (``attnverify plot NAME``) register the
same way with :func:`experiment` and :func:`plot`. :func:`discover` imports every module of the
library packages so that all registrations run.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from ._claim import Claim, Context, Evidence, Provenance, SymbolicCheck

__all__ = [
    "AREAS",
    "PACKAGES",
    "claim",
    "register",
    "unregister",
    "claims",
    "get_claim",
    "experiment",
    "plot",
    "experiments",
    "plots",
    "discover",
    "Task",
    "claim_source",
    "registration_site",
]

AREAS = ("topk", "geometry", "gating", "obcache", "delta", "fal", "sae", "hybrid")
PACKAGES = ("attnverify.bounds", "attnverify.geometry", "attnverify.attention", "attnverify.experiments")

_CLAIMS: dict[str, Claim] = {}
#: claim id -> (source file, line) of the code that registers it (:func:`registration_site`)
_SOURCES: dict[str, tuple[str, int]] = {}


def register(c: Claim) -> Claim:
    """Register a :class:`Claim` object (``claim`` is the decorator form)."""
    if c.area not in AREAS:
        raise ValueError(f"claim id {c.id!r} must start with one of {AREAS} followed by '.'")
    if c.id in _CLAIMS and _CLAIMS[c.id].check is not c.check:
        raise ValueError(f"claim id {c.id!r} is registered twice")
    if not (c.tolerance >= 0):
        raise ValueError(f"claim {c.id!r}: tolerance must be >= 0, got {c.tolerance}")
    if c.expect not in ("holds", "refuted", "erratum"):
        raise ValueError(f"claim {c.id!r}: expect must be 'holds', 'refuted' or 'erratum', got {c.expect!r}")
    if c.empirical and c.expect != "holds":
        raise ValueError(
            f"claim {c.id!r}: an empirical claim's verdict comes from its Decision; expect must stay 'holds'"
        )
    if c.expect == "erratum" and not c.corrected_by:
        raise ValueError(f"claim {c.id!r}: an erratum must name its corrected statement (corrected_by=CLAIM_ID)")
    if c.corrected_by and c.expect != "erratum":
        raise ValueError(f"claim {c.id!r}: corrected_by is only for expect='erratum'")
    if c.symbolic_kind not in ("derivation", "identity"):
        raise ValueError(f"claim {c.id!r}: symbolic_kind must be 'derivation' or 'identity', got {c.symbolic_kind!r}")
    if isinstance(c.depends_on, str) or not all(isinstance(d, str) and "." in d for d in c.depends_on):
        raise ValueError(f"claim {c.id!r}: depends_on must be a tuple of claim ids, got {c.depends_on!r}")
    if c.id in c.depends_on or c.corrected_by == c.id:
        raise ValueError(f"claim {c.id!r} cannot depend on or correct itself")
    _CLAIMS[c.id] = c
    return c


def registration_site(claim_id: str, frame: Any) -> tuple[str, int] | None:
    """``(file, line)`` of the line that registers ``claim_id``, found from ``frame`` (the caller of
    :func:`claim`).

    A claim registered by a factory (a helper that calls :func:`claim` for several claims) is called
    from the factory's body, so the caller's line is the same for all of them. The stack is walked
    outwards from the caller to its module's top level; the innermost frame whose current call spans a
    line holding the claim's id as a string literal gives that line (the factory's call site). When no
    frame names the id literally (an id built in a loop), the caller's own line is kept."""
    import linecache

    first: tuple[str, int] | None = None
    quoted = (f'"{claim_id}"', f"'{claim_id}'")
    while frame is not None:
        path, line = frame.f_code.co_filename, frame.f_lineno
        first = first or (path, line)
        start, end = _call_span(frame)
        for ln in range(start, end + 1):
            if any(q in linecache.getline(path, ln) for q in quoted):
                return path, ln
        if frame.f_code.co_name == "<module>":
            break
        frame = frame.f_back
    return first


def _call_span(frame: Any) -> tuple[int, int]:
    """First and last line of the expression ``frame`` is executing (its call), from the code's positions."""
    import dis

    current = None  # the instruction at f_lasti (the last one at or before it: f_lasti can sit on a CALL's cache)
    for ins in dis.get_instructions(frame.f_code):
        if ins.offset > frame.f_lasti:
            break
        current = ins
    pos = None if current is None else current.positions
    if pos is None or pos.lineno is None:
        return frame.f_lineno, frame.f_lineno
    return pos.lineno, pos.end_lineno or pos.lineno


def claim_source(claim_id: str) -> tuple[str, int] | None:
    """``(absolute file, line)`` recorded when ``claim_id`` was registered with :func:`claim`."""
    return _SOURCES.get(claim_id)


def unregister(claim_id: str) -> None:
    """Remove a claim (used by tests that register deliberately wrong formulas)."""
    _CLAIMS.pop(claim_id, None)


def claim(
    id: str,
    *,
    paper: str,
    equation: str,
    statement: str,
    provenance: Literal["paper", "derived", "finding"] | Provenance,
    tolerance: float,
    error: str = "abs",
    symbolic: SymbolicCheck | None = None,
    symbolic_kind: Literal["derivation", "identity"] = "identity",
    expect: Literal["holds", "refuted", "erratum"] = "holds",
    empirical: bool = False,
    depends_on: tuple[str, ...] | list[str] = (),
    corrected_by: str = "",
    notes: str = "",
) -> Callable[[Callable[[Context], Evidence]], Callable[[Context], Evidence]]:
    """Decorator registering a numeric check as a claim.

    **Arguments:**

    - ``id``: ``area.name``, area one of :data:`AREAS`.
    - ``paper`` / ``equation``: spec file stem (``topk_tv``) and the paper's equation or claim number.
    - ``statement``: the statement in LaTeX (without ``$``).
    - ``provenance``: ``paper``, ``derived`` or ``finding``.
    - ``tolerance``: the largest acceptable ``Evidence.worst_error``.
    - ``error``: what ``worst_error`` measures (``abs``, ``rel``, ``violation``, ...).
    - ``symbolic``: optional sympy check returning ``True`` when it reduces.
    - ``symbolic_kind``: ``derivation`` when the sympy check derives the statement from the model's
      definitions (reported as ``proved``); ``identity`` (default) when it only confirms an identity
      between closed forms the code states (reported as ``identity``).
    - ``expect``: ``holds``; ``refuted`` when the check verifies *our counterexample* to the paper's
      statement as stated, in a setting the statement covers (the check must return the
      counterexample; verdict ``refuted``); ``erratum`` when it verifies a slip at a boundary case of
      a spec's or a released code's arithmetic (verdict ``erratum``; ``corrected_by`` names the
      registered corrected statement).
    - ``empirical``: the claim is an experimental outcome; its check returns ``Evidence`` with a
      :class:`~proofs_numeric.Decision`, whose outcome is the verdict.
    - ``depends_on``: ids of the claims this one relies on (shown in the report).
    - ``corrected_by``: for an erratum, the id of the corrected statement.

    The line that registers the claim (the decorator, or a factory's call site that names the id:
    :func:`registration_site`) is recorded for the report's source links.
    """
    import sys

    site = registration_site(id, sys._getframe(1))

    def deco(fn: Callable[[Context], Evidence]) -> Callable[[Context], Evidence]:
        register(
            Claim(
                id=id,
                paper=paper,
                equation=equation,
                statement=statement,
                provenance=Provenance(provenance),
                tolerance=float(tolerance),
                check=fn,
                error=error,
                symbolic=symbolic,
                expect=expect,
                empirical=empirical,
                notes=notes or (fn.__doc__ or "").strip().split("\n\n")[0],
                symbolic_kind=symbolic_kind,
                depends_on=tuple(depends_on),
                corrected_by=corrected_by,
            )
        )
        if site is not None:
            _SOURCES[id] = site
        return fn

    return deco


def claims(pattern: str | None = None) -> list[Claim]:
    """Registered claims whose id matches the glob ``pattern``, sorted by id."""
    out = [c for c in _CLAIMS.values() if pattern is None or fnmatch.fnmatchcase(c.id, pattern)]
    return sorted(out, key=lambda c: c.id)


def get_claim(claim_id: str) -> Claim:
    try:
        return _CLAIMS[claim_id]
    except KeyError:
        raise KeyError(f"no claim registered with id {claim_id!r}") from None


@dataclasses.dataclass(frozen=True)
class Task:
    """A registered experiment or plot: ``fn(out_dir, *, quick, seed) -> dict`` of results."""

    name: str
    help: str
    fn: Callable[..., Any]


_EXPERIMENTS: dict[str, Task] = {}
_PLOTS: dict[str, Task] = {}


def _task_decorator(table: dict[str, Task], kind: str, name: str, help: str):
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in table and table[name].fn is not fn:
            raise ValueError(f"{kind} {name!r} is registered twice")
        table[name] = Task(name, help, fn)
        return fn

    return deco


def experiment(name: str, help: str = ""):
    """Register ``fn(out_dir: Path, *, quick: bool, seed: int) -> dict`` as ``attnverify experiment NAME``."""
    return _task_decorator(_EXPERIMENTS, "experiment", name, help)


def plot(name: str, help: str = ""):
    """Register ``fn(out_dir: Path, *, quick: bool, seed: int) -> dict`` as ``attnverify plot NAME``.

    The function writes its figures (PNG and SVG, via :func:`proofs_numeric.io.save_figure`)
    under ``out_dir`` and returns ``{"files": [...], ...}``.
    """
    return _task_decorator(_PLOTS, "plot", name, help)


def experiments() -> dict[str, Task]:
    return dict(sorted(_EXPERIMENTS.items()))


def plots() -> dict[str, Task]:
    return dict(sorted(_PLOTS.items()))


def discover(packages: tuple[str, ...] = PACKAGES) -> None:
    """Import every module of ``packages`` so that all registrations run (idempotent)."""
    for name in packages:
        try:
            pkg = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        path = getattr(pkg, "__path__", None)
        if path is None:
            continue
        for info in pkgutil.walk_packages(path, prefix=name + "."):
            leaf = info.name.rsplit(".", 1)[-1]
            if leaf.startswith("test") or leaf == "__main__":
                continue
            importlib.import_module(info.name)


def _out_dir(path: str | Path) -> Path:
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p
