"""proofs_numeric: the claim registry, the runner and the reports of attnverify.

Public API::

    from attnverify.proofs_numeric import claim, Context, Evidence, run_claims, enable_x64
    from attnverify.proofs_numeric import Decision, Verdict, decide_direction, decide_equivalence, bootstrap_ci

Empirical claims return ``Evidence(..., decision=Decision(...))``: a protocol stated before the
data (effect, units of independence, sample size, decision rule) and its result (estimate, 95 %
CI, outcome); see :mod:`proofs_numeric._decision` and ``docs/verdicts.md``.

``experiment_tasks()`` / ``plot_tasks()`` list the registered experiments and plots (the
top-level package :mod:`experiments` holds the experiments themselves).

Importing this package does **not** change JAX's precision; call :func:`enable_x64` (process-wide:
the CLI and the test suite do), or run float64 code inside the scoped :func:`x64` (``with x64(): ...``
or ``@x64()``).

Errors
------
* :func:`require_x64` raises ``RuntimeError`` when float64 is off; the scalar validators of
  :mod:`proofs_numeric.precision` (``check_choice``, ``check_int``, ``check_real``), shared by every
  package, raise ``TypeError`` for a wrong type (``2.0`` where an integer is needed) and ``ValueError``
  for a value out of range, both naming the argument.
* The CLI exits 2 on a usage error **before any work**: ``--seed`` not an integer ``>= 0``, ``--scale``
  not finite and ``> 0`` (``nan``, ``inf``, ``0``), an unknown name, or an unusable output path
  (a directory given as the file, a read-only directory, a file used as a parent, a missing README for
  ``--update-readme``), in one line. An ``OSError`` while writing (a full disk) is one line, exit 1.
* Writes are atomic (:mod:`proofs_numeric.io`): the file gets the mode of a plain write (umask, or the
  replaced file's mode), and a temporary file left by a killed writer is removed by the next write.
* Pinned evidence (:mod:`proofs_numeric.evidence`): :func:`read_pinned` raises :class:`EvidenceError` (a
  ``ValueError``) naming the file when it is missing, not pinned, changed since it was pinned (both
  SHA-256s) or invalid (the field, :mod:`proofs_numeric.validate`); every claim reading it is ``failed``.
"""

from ._claim import Claim as Claim
from ._claim import Context as Context
from ._claim import Evidence as Evidence
from ._claim import Provenance as Provenance
from ._claim import Verdict as Verdict
from ._decision import DECISION_OUTCOMES as DECISION_OUTCOMES
from ._decision import Decision as Decision
from ._decision import bootstrap_ci as bootstrap_ci
from ._decision import decide_direction as decide_direction
from ._decision import decide_equivalence as decide_equivalence
from ._decision import decide_interval as decide_interval
from ._decision import decide_proportion as decide_proportion
from ._decision import minimal_detectable_effect as minimal_detectable_effect
from ._decision import decide_all as decide_all
from ._decision import with_controls as with_controls
from ._decision import sign_flip_can_pass as sign_flip_can_pass
from ._decision import leave_one_out as leave_one_out
from ._decision import paired_differences as paired_differences
from ._decision import proportion_ci as proportion_ci
from ._decision import t_ci as t_ci
from ._registry import AREAS as AREAS
from ._registry import claim as claim
from ._registry import claims as claims
from ._registry import discover as discover
from ._registry import experiment as experiment
from ._registry import experiments as experiment_tasks
from ._registry import get_claim as get_claim
from ._registry import plot as plot
from ._registry import plots as plot_tasks
from ._registry import register as register
from ._registry import unregister as unregister
from ._runner import ClaimResult as ClaimResult
from ._runner import Report as Report
from ._runner import run_claim as run_claim
from ._runner import run_claims as run_claims
from .environment import environment as environment
from .evidence import EvidenceError as EvidenceError
from .evidence import read_pinned as read_pinned
from .html_report import write_html_report as write_html_report
from .io import atomic_write_json as atomic_write_json
from .io import atomic_write_text as atomic_write_text
from .io import save_figure as save_figure
from .precision import enable_x64 as enable_x64
from .precision import require_x64 as require_x64
from .precision import x64 as x64
from .progress import progress as progress

__all__ = [
    "AREAS", "Claim", "ClaimResult", "Context", "DECISION_OUTCOMES", "Decision", "Evidence", "Provenance",
    "Report", "Verdict", "atomic_write_json", "atomic_write_text", "bootstrap_ci", "claim", "claims",
    "decide_direction", "decide_equivalence", "decide_interval", "decide_proportion", "minimal_detectable_effect", "decide_all", "with_controls", "leave_one_out", "sign_flip_can_pass", "discover", "enable_x64", "environment", "experiment",
    "experiment_tasks", "get_claim", "paired_differences", "plot", "proportion_ci", "plot_tasks", "progress", "register",
    "require_x64", "run_claim", "run_claims", "save_figure", "t_ci", "unregister", "x64", "EvidenceError", "read_pinned",
    "write_html_report",
]
