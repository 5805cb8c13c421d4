"""FAL / FAL+ end to end: trained char-level GPTs, all-reduces of the real TP step, the 44 % tested (fal.md)."""

from .study import fal_experiment as fal_experiment
