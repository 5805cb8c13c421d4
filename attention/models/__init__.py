"""Models in pure JAX: the BERT/MiniLM-L6 and MPNet (all-mpnet-base-v2) encoders (loader, forward, tokenizer, pooling), the
Gemma 3 270M decoder, and the gated attention classifiers of 2-D points.

The three real models share one interface (:mod:`.interface`): ``load_model("minilm" | "mpnet" | "gemma-3-270m")``,
``encode(model, texts)`` and ``forward(model, ids, mask, attention=True)`` (hidden states and every layer's and
head's attention probabilities). The model-specific functions stay, and reject another family's model with a
``TypeError`` that names the function that fits (:func:`.kinds.check_model`).
"""

from .bert import BertOutputs as BertOutputs
from .bert import bert_forward as bert_forward
from .bert_load import BertConfig as BertConfig
from .bert_load import BertModel as BertModel
from .bert_load import ModelLoadError as ModelLoadError
from .bert_load import default_model_dir as default_model_dir
from .bert_load import load_bert as load_bert
from .bert_text import mean_pool as mean_pool
from .bert_text import sentence_embedding as sentence_embedding
from .bert_text import tokenize as tokenize
from .mpnet import encoder_forward as encoder_forward
from .mpnet import mpnet_forward as mpnet_forward
from .mpnet import mpnet_position_ids as mpnet_position_ids
from .mpnet import mpnet_sentence_embedding as mpnet_sentence_embedding
from .mpnet import relative_position_bucket as relative_position_bucket
from .mpnet_load import MPNET_PACKAGES as MPNET_PACKAGES
from .mpnet_load import MPNET_ZIP_SHA256 as MPNET_ZIP_SHA256
from .mpnet_load import MPNetConfig as MPNetConfig
from .mpnet_load import load_mpnet as load_mpnet
from .mpnet_load import mpnet_zip_parts as mpnet_zip_parts
from .mpnet_load import read_mpnet_zip as read_mpnet_zip
from .gated_classifier import GATES as GATES
from .gated_classifier import ClassifierConfig as ClassifierConfig
from .gated_classifier import cast_params as cast_params
from .gated_classifier import classifier_logits as classifier_logits
from .gated_classifier import classifier_representation as classifier_representation
from .gated_classifier import init_classifier as init_classifier
from .gemma import AttentionInputs as AttentionInputs
from .gemma import GemmaOutputs as GemmaOutputs
from .gemma import gemma_attention as gemma_attention
from .gemma import gemma_block as gemma_block
from .gemma import gemma_forward as gemma_forward
from .gemma import rms_norm as rms_norm
from .gemma import rope as rope
from .gemma_config import GemmaConfig as GemmaConfig
from .gemma_generate import gemma_decode_step as gemma_decode_step
from .gemma_generate import gemma_prefill as gemma_prefill
from .gemma_generate import generate as generate
from .gemma_generate import generate_batch as generate_batch
from .gemma_generate import init_kv_cache as init_kv_cache
from .gemma_load import GemmaModel as GemmaModel
from .gemma_load import default_gguf_path as default_gguf_path
from .gemma_load import load_gemma as load_gemma
from .gemma_load import random_gemma as random_gemma
from .gguf_file import cache_dir as cache_dir
from .tokenizer_gguf import gguf_tokenizer as gguf_tokenizer
from .tokenizer_gguf import spm_encode_reference as spm_encode_reference
from .gemma import attend_with_probs as attend_with_probs
from .gemma import gemma_attention_probs as gemma_attention_probs
from .interface import MODEL_NAMES as MODEL_NAMES
from .interface import ModelOutputs as ModelOutputs
from .interface import encode as encode
from .interface import forward as forward
from .interface import load_model as load_model
from .kinds import check_model as check_model
from .kinds import model_kind as model_kind

__all__ = ['MODEL_NAMES', 'ModelOutputs', 'encode', 'forward', 'load_model', 'check_model', 'model_kind',
           'attend_with_probs', 'gemma_attention_probs', 'AttentionInputs', 'GemmaConfig', 'GemmaModel', 'GemmaOutputs', 'cache_dir', 'default_gguf_path',
           'gemma_attention', 'gemma_block', 'gemma_decode_step', 'gemma_forward', 'gemma_prefill', 'generate', 'generate_batch', 'gguf_tokenizer',
           'init_kv_cache', 'load_gemma', 'random_gemma', 'rms_norm', 'rope', 'spm_encode_reference',
           'BertConfig', 'BertModel', 'BertOutputs', 'ClassifierConfig', 'GATES', 'ModelLoadError', 'bert_forward', 'cast_params', 'classifier_logits', 'classifier_representation', 'default_model_dir', 'init_classifier', 'load_bert', 'mean_pool', 'sentence_embedding', 'tokenize', 'encoder_forward', 'mpnet_forward', 'mpnet_position_ids', 'mpnet_sentence_embedding', 'relative_position_bucket', 'MPNET_PACKAGES', 'MPNET_ZIP_SHA256', 'MPNetConfig', 'load_mpnet', 'mpnet_zip_parts', 'read_mpnet_zip']
