"""KV eviction hosts (H2O, TOVA, SnapKV) with accumulated-attention and OBCache scores (obcache.md)."""

from .study import kv_eviction_experiment as kv_eviction_experiment
from .study import t1_fixture as t1_fixture
from .files import kv_files_experiment as kv_files_experiment
