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
