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

# Hybrid linear + sliding-window attention (hybrid_linear.md): operators, recurrent decode, Hedgehog, SSD
from ._hybrid import HybridParts as HybridParts
from ._hybrid import causal_linear_attention as causal_linear_attention
from ._hybrid import causal_linear_attention_recurrent as causal_linear_attention_recurrent
from ._hybrid import hybrid_attention as hybrid_attention
from ._hybrid import hybrid_attention_recurrent as hybrid_attention_recurrent
from ._hybrid import hybrid_from_parts as hybrid_from_parts
from ._hybrid import hybrid_parts as hybrid_parts
from ._hybrid import window_weight as window_weight
from ._hybrid_features import hedgehog_features as hedgehog_features
from ._hybrid_features import hedgehog_init as hedgehog_init
from ._hybrid_features import ssd_draws as ssd_draws
from ._hybrid_features import ssd_schedule as ssd_schedule

# SAE steering (sae_steering.md): JumpReLU SAE, clamp / additive steering, feature selection
from ._sae import JumpReLUSAE as JumpReLUSAE
from ._sae import clamp_feature as clamp_feature
from ._sae import feature_scores as feature_scores
from ._sae import jumprelu as jumprelu
from ._sae import sae_decode as sae_decode
from ._sae import sae_encode as sae_encode
from ._sae import sae_error as sae_error
from ._sae import steer_additive as steer_additive
from ._sae import validate_sae as validate_sae
from ._sae_planted import planted_mean_difference as planted_mean_difference

# FAL / FAL+ (fal.md): block stacks, Megatron tensor parallelism, all-reduce counting
from ._fal import FALConfig as FALConfig
from ._fal import fal_forward as fal_forward
from ._fal import fal_init as fal_init
from ._fal import fal_param_specs as fal_param_specs
from ._fal_counts import allreduce_counts as allreduce_counts
from ._fal_counts import iter_eqns as iter_eqns
from ._fal_counts import matmul_flops as matmul_flops
from ._fal_counts import tp_forward as tp_forward
# gated attention classifiers of 2-D points (gating_curvature.md, issue 4)
from .gated_classifier import GATES as GATES
from .gated_classifier import ClassifierConfig as ClassifierConfig
from .gated_classifier import cast_params as cast_params
from .gated_classifier import classifier_logits as classifier_logits
from .gated_classifier import classifier_representation as classifier_representation
from .gated_classifier import init_classifier as init_classifier
