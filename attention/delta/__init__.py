"""Δ attention (delta_attention.md): sink + window sparse attention, the Δ correction, its cost and Lemma 1.
"""

from .sparse import delta_anchor_rows as delta_anchor_rows
from .sparse import delta_attention as delta_attention
from .sparse import delta_attention_strides as delta_attention_strides
from .sparse import dense_causal_attention as dense_causal_attention
from .sparse import recompute_attention as recompute_attention
from .sparse import sink_window_attention as sink_window_attention
from .sparse import sink_window_mask as sink_window_mask
from .theory import DeltaCost as DeltaCost
from .theory import Lemma1Terms as Lemma1Terms
from .theory import TailSplit as TailSplit
from .theory import delta_cost as delta_cost
from .theory import delta_tail_split as delta_tail_split
from .theory import lemma1_decomposition as lemma1_decomposition
from .theory import neighbour_cosine as neighbour_cosine
from .theory import row_cosine as row_cosine

__all__ = ['DeltaCost', 'Lemma1Terms', 'TailSplit', 'delta_anchor_rows', 'delta_attention', 'delta_attention_strides', 'delta_cost', 'delta_tail_split', 'dense_causal_attention', 'lemma1_decomposition', 'neighbour_cosine', 'recompute_attention', 'row_cosine', 'sink_window_attention', 'sink_window_mask']
