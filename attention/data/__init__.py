"""Offline corpora of real text, each recorded with its hash.
"""

from .corpus import stdlib_docstrings as stdlib_docstrings
from .corpus import text_corpus as text_corpus
from .corpus import file_chunks as file_chunks
from .corpus import FileChunks as FileChunks
from .prose import PROSE_SOURCES as PROSE_SOURCES
from .prose import ProseCorpus as ProseCorpus
from .prose import django_msgids as django_msgids
from .prose import prose_corpus as prose_corpus

__all__ = ['stdlib_docstrings', 'text_corpus', 'file_chunks', 'FileChunks', 'PROSE_SOURCES', 'ProseCorpus', 'django_msgids', 'prose_corpus']
from .po_catalogues import catalogue_sha256 as catalogue_sha256
from .po_catalogues import parse_po as parse_po
from .po_catalogues import po_pairs as po_pairs

__all__ += ['catalogue_sha256', 'parse_po', 'po_pairs']
