"""attention: shared attention operators and models.

- MiniLM-L6 / BERT-family encoders in pure JAX (:func:`load_bert`, :func:`bert_forward`,
  :func:`tokenize`, :func:`sentence_embedding`) with every layer's logits, probabilities,
  Q, K, V and head outputs;
- a deterministic offline corpus of real text (:func:`text_corpus`).

Example::

    from attention import load_bert, text_corpus, bert_forward
    model = load_bert()
    out = bert_forward(model, text_corpus(model, 128, 2))
"""

from ._bert import BertOutputs as BertOutputs
from ._bert import bert_forward as bert_forward
from ._bert_load import BertConfig as BertConfig
from ._bert_load import BertModel as BertModel
from ._bert_load import ModelLoadError as ModelLoadError
from ._bert_load import default_model_dir as default_model_dir
from ._bert_load import load_bert as load_bert
from ._bert_text import mean_pool as mean_pool
from ._bert_text import sentence_embedding as sentence_embedding
from ._bert_text import tokenize as tokenize
from ._corpus import stdlib_docstrings as stdlib_docstrings
from ._corpus import text_corpus as text_corpus
# Δ attention (delta_attention.md): sink+window sparse attention, Δ correction, cost, Lemma 1
from ._delta import delta_anchor_rows as delta_anchor_rows
from ._delta import delta_attention as delta_attention
from ._delta import delta_attention_strides as delta_attention_strides
from ._delta import dense_causal_attention as dense_causal_attention
from ._delta import recompute_attention as recompute_attention
from ._delta import sink_window_attention as sink_window_attention
from ._delta import sink_window_mask as sink_window_mask
from ._delta_theory import DeltaCost as DeltaCost
from ._delta_theory import Lemma1Terms as Lemma1Terms
from ._delta_theory import TailSplit as TailSplit
from ._delta_theory import delta_cost as delta_cost
from ._delta_theory import delta_tail_split as delta_tail_split
from ._delta_theory import lemma1_decomposition as lemma1_decomposition
from ._delta_theory import neighbour_cosine as neighbour_cosine
from ._delta_theory import row_cosine as row_cosine

# OBCache (obcache.md): closed-form KV-eviction saliency, exact perturbation errors, eviction policies
from ._eviction import AccumulatedAttention as AccumulatedAttention
from ._eviction import EvictionPolicy as EvictionPolicy
from ._eviction import OBCacheJoint as OBCacheJoint
from ._eviction import OBCacheKey as OBCacheKey
from ._eviction import OBCacheValue as OBCacheValue
from ._eviction import RemovalOracle as RemovalOracle
from ._eviction import budget_count as budget_count
from ._eviction import eviction_error as eviction_error
from ._eviction import eviction_policies as eviction_policies
from ._eviction import h2o as h2o
from ._eviction import keep_mask as keep_mask
from ._eviction import keep_masks as keep_masks
from ._eviction import max_pool1d as max_pool1d
from ._eviction import select_tokens as select_tokens
from ._eviction import snapkv as snapkv
from ._eviction import tova as tova
from ._obcache import ExactErrors as ExactErrors
from ._obcache import OBCacheScores as OBCacheScores
from ._obcache import WindowAttention as WindowAttention
from ._obcache import causal_mask as causal_mask
from ._obcache import exact_errors as exact_errors
from ._obcache import obcache_scores as obcache_scores
from ._obcache import perturbation_errors_bruteforce as perturbation_errors_bruteforce
from ._obcache import second_order_autodiff as second_order_autodiff
from ._obcache import window_attention as window_attention
