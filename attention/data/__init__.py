"""Offline corpora of real text, each recorded with its hash.
"""

from .corpus import stdlib_docstrings as stdlib_docstrings
from .corpus import text_corpus as text_corpus

__all__ = ['stdlib_docstrings', 'text_corpus']
