"""Certified Top-k, k_eps and output bounds on real encoder attention (topk_tv.md §4)."""

from .protocol import FULL as FULL
from .protocol import PAPER as PAPER
from .protocol import QUICK as QUICK
from .protocol import VERIFY as VERIFY
from .protocol import Protocol as Protocol
from .protocol import finite_n_predictor as finite_n_predictor
from .protocol import measure as measure
from .study import keps_figure as keps_figure
from .study import keps_markdown as keps_markdown
from .study import keps_real_plot as keps_real_plot
from .study import topk_real_experiment as topk_real_experiment
