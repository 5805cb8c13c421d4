"""Hybrid linear + sliding-window attention (hybrid_linear.md): operators, recurrent decode, Hedgehog
features, SSD schedules.
"""

from .operators import HybridParts as HybridParts
from .operators import causal_linear_attention as causal_linear_attention
from .operators import causal_linear_attention_recurrent as causal_linear_attention_recurrent
from .operators import hybrid_attention as hybrid_attention
from .operators import hybrid_attention_recurrent as hybrid_attention_recurrent
from .operators import hybrid_from_parts as hybrid_from_parts
from .operators import hybrid_parts as hybrid_parts
from .operators import window_weight as window_weight
from .features import hedgehog_features as hedgehog_features
from .features import hedgehog_init as hedgehog_init
from .features import ssd_draws as ssd_draws
from .features import ssd_schedule as ssd_schedule

__all__ = ['HybridParts', 'causal_linear_attention', 'causal_linear_attention_recurrent', 'hedgehog_features', 'hedgehog_init', 'hybrid_attention', 'hybrid_attention_recurrent', 'hybrid_from_parts', 'hybrid_parts', 'ssd_draws', 'ssd_schedule', 'window_weight']
