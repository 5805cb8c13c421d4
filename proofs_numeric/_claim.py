"""Data model of a registered claim: what is asserted, how it is checked, what was found.

A *claim* is one numbered statement of a paper specification (``../shared/papers/*.md``) or one
finding of ours. Its check returns :class:`Evidence`; the runner turns evidence into a
:class:`Verdict`:

* ``verified`` -- the check passed (worst error within tolerance) and the statement holds;
* ``refuted``  -- the check passed, and what it checked is our counterexample to the paper's
  statement as stated (``expect="refuted"``), or an empirical claim whose measured outcome
  disagrees with the paper (``Evidence.statement_holds is False``);
* ``failed``   -- the check did not hold, raised, or the symbolic derivation did not reduce:
  a bug to fix.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np

__all__ = ["Provenance", "Verdict", "Evidence", "Context", "Claim", "SymbolicCheck"]


class Provenance(str, enum.Enum):
    """Where a statement comes from (the spec's tags)."""

    PAPER = "paper"  #: stated in the paper
    DERIVED = "derived"  #: consistent with the paper, derived and checked independently
    FINDING = "finding"  #: our own finding (counterexample, scope limit, empirical outcome)


class Verdict(str, enum.Enum):
    VERIFIED = "verified"
    REFUTED = "refuted"
    FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class Evidence:
    """What a numeric check measured.

    **Fields:**

    - ``worst_error``: the largest error over all instances, in the unit named by the claim's
      ``error`` field (absolute, relative, violation margin, ...). Compared with the tolerance;
      NaN counts as a failure.
    - ``n_random`` / ``n_adversarial``: instance counts (seeded random, adversarial).
    - ``details``: JSON-serialisable figures for the report (tables, statistics).
    - ``counterexample``: the instance that refutes a paper statement, when there is one.
    - ``statement_holds``: for empirical claims only -- ``False`` when the measured outcome
      disagrees with the paper (verdict ``refuted``), ``True``/``None`` otherwise.
    """

    worst_error: float
    n_random: int = 0
    n_adversarial: int = 0
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    counterexample: Mapping[str, Any] | None = None
    statement_holds: bool | None = None

    @property
    def n_instances(self) -> int:
        return int(self.n_random) + int(self.n_adversarial)

    @staticmethod
    def from_errors(
        random_errors: Any,
        adversarial_errors: Any = (),
        **kwargs: Any,
    ) -> "Evidence":
        """Build evidence from arrays of per-instance errors (NaN propagates to a failure)."""
        r = np.asarray(random_errors, dtype=np.float64).ravel()
        a = np.asarray(adversarial_errors, dtype=np.float64).ravel()
        both = np.concatenate([r, a])
        worst = float(np.max(both)) if both.size else float("nan")
        if both.size and np.isnan(both).any():
            worst = float("nan")
        details = dict(kwargs.pop("details", {}))
        if r.size:
            details.setdefault("worst_random", float(np.max(r)))
        if a.size:
            details.setdefault("worst_adversarial", float(np.max(a)))
        return Evidence(worst, int(r.size), int(a.size), details=details, **kwargs)


@dataclasses.dataclass(frozen=True)
class Context:
    """Run settings handed to every check.

    ``scale`` multiplies instance counts: ``1.0`` in ``attnverify verify`` (the issue's
    >= 1e5 random instances per claim), smaller in the test suite. ``rng`` is a numpy
    generator seeded from ``(seed, claim id)``, so a claim's instances do not depend on which
    other claims ran.
    """

    seed: int = 0
    scale: float = 1.0
    claim_id: str = ""

    @property
    def rng(self) -> np.random.Generator:
        digest = hashlib.sha256(f"{self.seed}:{self.claim_id}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    @property
    def jax_key(self) -> Any:
        import jax

        return jax.random.PRNGKey(int(self.rng.integers(0, 2**31 - 1)))

    def count(self, full: int, minimum: int = 16) -> int:
        """Instance count: ``full`` at ``scale=1``, never below ``minimum``."""
        return max(int(minimum), int(round(full * self.scale)))


SymbolicCheck = Callable[[], Any]
"""A sympy derivation: returns ``True`` (or a sympy expression equal to ``0``/``True``) when the
identity simplifies or the inequality is proved; anything else is a failure."""


@dataclasses.dataclass(frozen=True)
class Claim:
    """A registered claim. See :func:`proofs_numeric.claim` for the fields."""

    id: str
    paper: str
    equation: str
    statement: str
    provenance: Provenance
    tolerance: float
    check: Callable[[Context], Evidence]
    error: str = "abs"
    symbolic: SymbolicCheck | None = None
    expect: Literal["holds", "refuted"] = "holds"
    empirical: bool = False
    notes: str = ""

    @property
    def area(self) -> str:
        return self.id.split(".", 1)[0]
