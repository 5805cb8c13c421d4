"""Run registered claims and turn their evidence into verdicts."""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import time
import traceback
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from ._claim import Claim, Context, Evidence, Verdict
from ._decision import Decision
from ._registry import _CLAIMS
from ._registry import claims as _claims
from ._registry import discover
from ._parallel import run_parallel

__all__ = ["ClaimResult", "Report", "run_claim", "run_claims", "package_versions"]


@dataclasses.dataclass(frozen=True)
class ClaimResult:
    """The outcome of one claim: its verdict, the evidence, the symbolic status and timings."""

    claim: Claim
    verdict: Verdict
    evidence: Evidence | None
    symbolic: str  # "proved" (derivation), "identity", "n/a" or "failed"
    seconds: float
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        c, e = self.claim, self.evidence
        return {
            "id": c.id,
            "area": c.area,
            "paper": c.paper,
            "equation": c.equation,
            "statement": c.statement,
            "provenance": c.provenance.value,
            "expect": c.expect,
            "empirical": c.empirical,
            "depends_on": list(c.depends_on),
            "corrected_by": c.corrected_by or None,
            "symbolic_kind": None if c.symbolic is None else c.symbolic_kind,
            "tolerance": c.tolerance,
            "error_kind": c.error,
            "symbolic": self.symbolic,
            "verdict": self.verdict.value,
            "worst_error": None if e is None else e.worst_error,
            "n_random": None if e is None else e.n_random,
            "n_adversarial": None if e is None else e.n_adversarial,
            "details": {} if e is None else dict(e.details),
            "counterexample": None if e is None else e.counterexample,
            "decision": None if e is None or e.decision is None else e.decision.to_dict(),
            "seconds": self.seconds,
            "notes": c.notes,
            "message": self.message,
        }


@dataclasses.dataclass(frozen=True)
class Report:
    results: tuple[ClaimResult, ...]
    seed: int
    scale: float
    pattern: str | None
    seconds: float
    started: str

    @property
    def failed(self) -> list[ClaimResult]:
        return [r for r in self.results if r.verdict is Verdict.FAILED]

    def counts(self) -> dict[str, int]:
        out = {v.value: 0 for v in Verdict}
        for r in self.results:
            out[r.verdict.value] += 1
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "tool": "attnverify",
            "started": self.started,
            "seed": self.seed,
            "scale": self.scale,
            "only": self.pattern,
            "seconds": self.seconds,
            "counts": self.counts(),
            "environment": package_versions(),
            "claims": [r.as_dict() for r in self.results],
        }


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("attnverify", "jax", "jaxlib", "numpy", "scipy", "sympy", "matplotlib", "optax"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    try:
        import jax

        out["jax_x64"] = str(bool(jax.config.jax_enable_x64))
        out["jax_devices"] = ", ".join(sorted({d.platform for d in jax.devices()}))
    except Exception:  # pragma: no cover - jax missing
        pass
    return out


def _symbolic_status(c: Claim) -> tuple[str, str]:
    if c.symbolic is None:
        return "n/a", ""
    try:
        out = c.symbolic()
    except Exception:
        return "failed", "symbolic derivation raised:\n" + traceback.format_exc()
    ok = out is True or (hasattr(out, "is_zero") and out.is_zero is True) or (bool(out) is True and not hasattr(out, "free_symbols"))
    if not ok:
        return "failed", f"symbolic derivation did not reduce: {out!r}"
    return ("proved" if c.symbolic_kind == "derivation" else "identity"), ""


def _link_problems(c: Claim) -> str:
    missing = [d for d in (*c.depends_on, *((c.corrected_by,) if c.corrected_by else ())) if d not in _CLAIMS]
    return f"links to unregistered claim(s): {', '.join(missing)}" if missing else ""


def _verdict(c: Claim, evidence: Evidence) -> tuple[Verdict, str]:
    """The verdict of a check whose numeric part passed (error within tolerance)."""
    if c.empirical:
        d = evidence.decision
        if d is None:
            return Verdict.FAILED, (
                "empirical claim returned no Decision: state its effect, units, sample size and decision rule "
                "(proofs_numeric.decide_direction / decide_equivalence)"
            )
        if not isinstance(d, Decision):
            return Verdict.FAILED, f"Evidence.decision must be a Decision, got {type(d).__name__}"
        return d.outcome, ""
    if evidence.decision is not None:
        return Verdict.FAILED, "a mathematical claim carries a Decision; mark the claim empirical=True"
    if c.expect == "refuted":
        if not evidence.counterexample:
            return Verdict.FAILED, "expect='refuted' needs the counterexample in Evidence.counterexample"
        return Verdict.REFUTED, ""
    if c.expect == "erratum":
        return Verdict.ERRATUM, ""
    return Verdict.VERIFIED, ""


def run_claim(c: Claim, seed: int = 0, scale: float = 1.0) -> ClaimResult:
    """Run one claim's symbolic and numeric checks and derive its verdict.

    ``failed``: a pinned evidence file the claim reads is missing, changed or invalid
    (:mod:`proofs_numeric.evidence`), the check raised, returned NaN or an error above the tolerance, the symbolic check
    did not reduce, a linked claim is not registered, or an empirical claim gave no
    :class:`~proofs_numeric.Decision`. Otherwise an empirical claim's verdict is its decision's
    outcome, and a mathematical claim's is ``verified`` (``refuted`` for ``expect="refuted"``,
    ``erratum`` for ``expect="erratum"``).
    """
    from .evidence import EvidenceError, check_claim_evidence, claim_scope

    t0 = time.perf_counter()
    try:  # the pinned files this claim reads: present, unchanged (SHA-256) and valid, before it decides
        sources = check_claim_evidence(c.id)
    except EvidenceError as e:
        return ClaimResult(c, Verdict.FAILED, None, "n/a", time.perf_counter() - t0, str(e))
    sym, msg = _symbolic_status(c)
    evidence: Evidence | None = None
    try:
        with claim_scope(c.id) as read:
            evidence = c.check(Context(seed=seed, scale=scale, claim_id=c.id))
        if not isinstance(evidence, Evidence):
            raise TypeError(f"check of {c.id!r} returned {type(evidence).__name__}, expected Evidence")
        listed = {s.get("replaces", s["file"]) for s in sources}
        sources = sources + [r for f, r in read.items() if f not in listed]  # a user's file with no pin is marked too
        if sources:
            evidence = dataclasses.replace(evidence, details={**evidence.details, "evidence_files": sources})
    except EvidenceError as e:
        evidence, msg = None, (msg + "\n" if msg else "") + str(e)
    except Exception:
        msg = (msg + "\n" if msg else "") + "numeric check raised:\n" + traceback.format_exc()
    seconds = time.perf_counter() - t0
    if evidence is None or sym == "failed":
        return ClaimResult(c, Verdict.FAILED, evidence, sym, seconds, msg)
    link = _link_problems(c)
    if link:
        return ClaimResult(c, Verdict.FAILED, evidence, sym, seconds, link)
    err = float(evidence.worst_error)
    if math.isnan(err) or not err <= c.tolerance:
        why = f"worst {c.error} error {err:.3e} exceeds tolerance {c.tolerance:.1e}"
        return ClaimResult(c, Verdict.FAILED, evidence, sym, seconds, why)
    verdict, why = _verdict(c, evidence)
    return ClaimResult(c, verdict, evidence, sym, seconds, why or msg)


def run_claims(
    pattern: str | None = None,
    seed: int = 0,
    scale: float = 1.0,
    on_result: Callable[[ClaimResult], None] | None = None,
    wrap: Callable[[Sequence[Claim]], Any] | None = None,
    jobs: int = 1,
    evidence: str | Path | None = None,
) -> Report:
    """Run every registered claim whose id matches ``pattern`` (a glob; all when ``None``).

    ``evidence``: a user's run directory that replaces pinned files (``attnverify verify --evidence DIR``;
    :mod:`proofs_numeric.evidence`); every verdict decided from it is marked as from an unpinned local run.
    The environment variable ``ATTNVERIFY_EVIDENCE`` (how the CLI passes the directory to worker processes)
    has the same effect, marked the same way.

    ``wrap`` may wrap the claim list (e.g. in a progress bar; it is advanced once per finished
    claim); ``on_result`` sees each result. ``jobs > 1`` runs the claims in that many worker
    processes (:mod:`proofs_numeric._parallel`), with the same verdicts as ``jobs=1``.
    """
    from .precision import check_int

    check_int(jobs, "jobs", minimum=1)
    discover()
    selected = _claims(pattern)
    if not selected:
        raise ValueError(f"no registered claim matches {pattern!r}")
    if evidence is not None:
        from .evidence import EVIDENCE_ENV

        if not Path(evidence).is_dir():
            raise ValueError(f"evidence: directory {evidence} does not exist (it must hold a run's files)")
        old_env = os.environ.get(EVIDENCE_ENV)
        os.environ[EVIDENCE_ENV] = str(Path(evidence).resolve())
        try:
            return run_claims(pattern, seed, scale, on_result, wrap, jobs)
        finally:
            if old_env is None:
                os.environ.pop(EVIDENCE_ENV, None)
            else:
                os.environ[EVIDENCE_ENV] = old_env
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    t0 = time.perf_counter()
    results = []
    if jobs > 1 and len(selected) > 1:

        ticks = iter(wrap(selected)) if wrap else None

        def seen(r: ClaimResult) -> None:
            if ticks is not None:
                next(ticks, None)
            if on_result:
                on_result(r)

        results = run_parallel(selected, seed=seed, scale=scale, jobs=jobs, run_claim=run_claim,
                               make_result=ClaimResult, on_result=seen)
        if ticks is not None:
            for _ in ticks:  # close the bar
                pass
    else:
        for c in wrap(selected) if wrap else selected:
            r = run_claim(c, seed=seed, scale=scale)
            results.append(r)
            if on_result:
                on_result(r)
    return Report(tuple(results), seed, scale, pattern, time.perf_counter() - t0, started)
