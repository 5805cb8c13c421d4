"""Gated vs ungated attention classifiers on 2-D tasks: accuracy, curvature and depth (gating_curvature.md)."""

from .study import cached_study as cached_study
from .study import gating_experiment as gating_experiment
from .tasks import TASKS as TASKS
from .tasks import make_task as make_task
from .untrained import gating_untrained_experiment as gating_untrained_experiment
