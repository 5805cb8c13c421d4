"""Models in pure JAX: the BERT/MiniLM-L6 encoder (loader, forward, tokenizer, pooling) and the gated
attention classifiers of 2-D points (gating_curvature.md).
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
from .gated_classifier import GATES as GATES
from .gated_classifier import ClassifierConfig as ClassifierConfig
from .gated_classifier import cast_params as cast_params
from .gated_classifier import classifier_logits as classifier_logits
from .gated_classifier import classifier_representation as classifier_representation
from .gated_classifier import init_classifier as init_classifier

__all__ = ['BertConfig', 'BertModel', 'BertOutputs', 'ClassifierConfig', 'GATES', 'ModelLoadError', 'bert_forward', 'cast_params', 'classifier_logits', 'classifier_representation', 'default_model_dir', 'init_classifier', 'load_bert', 'mean_pool', 'sentence_embedding', 'tokenize']
