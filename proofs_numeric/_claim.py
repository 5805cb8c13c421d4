"""Data model of a registered claim: what is asserted, how it is checked, what was found.

A *claim* is one numbered statement of a paper (its page: ``docs/papers/``) or one
finding of ours. Its check returns :class:`Evidence`; the runner turns evidence into a
:class:`Verdict`:

* ``verified`` -- mathematics: the check passed (worst error within tolerance); empirical: the
  claim's pre-stated decision rule accepts (its :class:`~proofs_numeric.Decision`);
* ``refuted`` -- the paper's own statement fails in a setting the statement covers: our registered
  counterexample (``expect="refuted"``), or an empirical effect whose confidence interval lies
  entirely on the side opposite to the paper's;
* ``not reproduced`` -- an empirical figure measured in a setting that differs from the paper's
  (model, data, scale or metric), shown side by side with the paper's figure;
* ``inconclusive`` -- the confidence interval touches or straddles the decision boundary;
* ``erratum`` -- a slip at a boundary case of a spec's or a released code's arithmetic
  (``expect="erratum"``); the corrected statement is registered as its own claim
  (``corrected_by``) and verifies;
* ``failed`` -- the check did not hold, raised, returned NaN, an empirical claim gave no decision,
  or the symbolic derivation did not reduce: a bug to fix, and the only verdict that makes
  ``attnverify verify`` exit non-zero.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np

__all__ = ["Provenance", "Verdict", "Evidence", "Context", "Claim", "SymbolicCheck", "SymbolicKind", "Expect"]


class Provenance(str, enum.Enum):
    """Where a statement comes from (the spec's tags)."""

    PAPER = "paper"  #: stated in the paper
    DERIVED = "derived"  #: consistent with the paper, derived and checked independently
    FINDING = "finding"  #: our own finding (counterexample, scope limit, empirical outcome)


class Verdict(str, enum.Enum):
    """The verdict vocabulary (see the module docstring and ``docs/verdicts.md``)."""

    VERIFIED = "verified"
    REFUTED = "refuted"
    NOT_REPRODUCED = "not reproduced"
    INCONCLUSIVE = "inconclusive"
    ERRATUM = "erratum"
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
    - ``counterexample``: the instance that refutes a paper statement (required for
      ``expect="refuted"``) or shows an erratum's boundary case.
    - ``decision``: for empirical claims, the :class:`~proofs_numeric.Decision` (protocol, effect,
      95 % CI, outcome) that gives the verdict; an empirical claim without one fails.
    """

    worst_error: float
    n_random: int = 0
    n_adversarial: int = 0
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    counterexample: Mapping[str, Any] | None = None
    decision: Any = None  # proofs_numeric.Decision | None (typed Any: _decision imports this module)

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
"""A sympy check: returns ``True`` (or a sympy expression equal to ``0``/``True``) when the
identity simplifies or the inequality is proved; anything else is a failure."""

SymbolicKind = Literal["derivation", "identity"]
"""What a sympy check is. ``derivation``: it starts from the model's definitions (the softmax, the
metric, the attention map) and derives the statement; the report says ``proved``. ``identity``: it
confirms an algebraic identity between closed forms that the code states (two expressions of the same
quantity agree); the report says ``identity``, never ``proved``."""

Expect = Literal["holds", "refuted", "erratum"]


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
    expect: Expect = "holds"
    empirical: bool = False
    notes: str = ""
    symbolic_kind: SymbolicKind = "identity"
    depends_on: tuple[str, ...] = ()
    corrected_by: str = ""

    @property
    def area(self) -> str:
        return self.id.split(".", 1)[0]
