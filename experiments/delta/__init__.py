"""Sliding window vs sliding window + Δ correction, cosine similarity against γ (delta_attention.md)."""

from .study import delta_experiment as delta_experiment
from .files import delta_files_experiment as delta_files_experiment
