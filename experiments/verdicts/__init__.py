"""Verdicts at a glance: every empirical claim's effect with its 95 % confidence interval.

``attnverify plot verdicts [--quick]`` draws a forest plot grouped by effect measure (one shared x-axis per
group), one row per empirical claim: the estimate, its interval, the decision boundary (or the equivalence
margin), the paper's figure where it is one number, and the verdict. The decisions come from
a verification report (``reports/verify.json``, written by ``attnverify verify``) when one exists, else
from running the empirical claims (``--quick``: at the test suite's scale, cheap claims only). The docs'
notebook reads the committed verdicts of record (``docs/verdicts_of_record.json``: :func:`verdicts_of_record`).
"""

from .forest import DEFAULT_REPORT as DEFAULT_REPORT
from .forest import decisions_from_report as decisions_from_report
from .forest import decisions_from_run as decisions_from_run
from .forest import forest_plot as forest_plot
from .forest import measure_of as measure_of
from .forest import RECORD as RECORD
from .forest import numbers as numbers
from .forest import verdicts_of_record as verdicts_of_record
from .forest import verdicts_plot as verdicts_plot

__all__ = ["DEFAULT_REPORT", "RECORD", "decisions_from_report", "decisions_from_run", "forest_plot", "measure_of",
           "numbers", "verdicts_of_record", "verdicts_plot"]
