r"""Evidence of geometry claims with the instances the accuracy contract flagged.

Under the accuracy contract a curvature value is either within its tolerance or NaN with a reason code
(:mod:`geometry._accuracy`). A claim comparing curvatures therefore sees NaN where the engine declined
to answer (a chart too close to a degenerate set for float64). Such instances are not counted as
passes: they are removed from the error arrays and reported in the evidence, ``details["flagged"]``
(random and adversarial counts). A claim still fails when more than :data:`MAX_FLAGGED` of its random
instances are flagged (the evidence would be too thin), so a NaN bug cannot pass as "flagged".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attnverify.proofs_numeric import Evidence

__all__ = ["MAX_FLAGGED", "flagged_evidence"]

MAX_FLAGGED = 0.25


def flagged_evidence(random_errors: Any, adversarial_errors: Any = (), **kwargs: Any) -> Evidence:
    """:meth:`Evidence.from_errors` over the finite errors, with ``details["flagged"]`` counting the NaN ones (``inf`` is kept: a deliberate failure)."""
    r = np.asarray(random_errors, dtype=np.float64).ravel()
    a = np.asarray(adversarial_errors, dtype=np.float64).ravel()
    fr, fa = np.isnan(r), np.isnan(a)  # inf stays: claims use it to fail on purpose
    details = dict(kwargs.pop("details", {}))
    details["flagged"] = {"random": int(fr.sum()), "adversarial": int(fa.sum()), "random_total": int(r.size), "adversarial_total": int(a.size)}
    if r.size and fr.mean() > MAX_FLAGGED:
        return Evidence.from_errors(r, a, details=details, **kwargs)  # NaN propagates: a failure
    return Evidence.from_errors(r[~fr], a[~fa], details=details, **kwargs)
