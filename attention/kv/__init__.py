"""KV eviction (obcache.md): window attention, OBCache closed-form saliency scores, exact perturbation errors,
and the H2O / TOVA / SnapKV eviction hosts.
"""

from .eviction import AccumulatedAttention as AccumulatedAttention
from .eviction import EvictionPolicy as EvictionPolicy
from .eviction import OBCacheJoint as OBCacheJoint
from .eviction import OBCacheKey as OBCacheKey
from .eviction import OBCacheValue as OBCacheValue
from .eviction import RemovalOracle as RemovalOracle
from .eviction import budget_count as budget_count
from .eviction import eviction_error as eviction_error
from .eviction import eviction_policies as eviction_policies
from .eviction import h2o as h2o
from .eviction import keep_mask as keep_mask
from .eviction import keep_masks as keep_masks
from .eviction import max_pool1d as max_pool1d
from .eviction import select_tokens as select_tokens
from .eviction import snapkv as snapkv
from .eviction import tova as tova
from .perturbation import ExactErrors as ExactErrors
from .perturbation import OBCacheScores as OBCacheScores
from .perturbation import WindowAttention as WindowAttention
from .perturbation import causal_mask as causal_mask
from .perturbation import exact_errors as exact_errors
from .perturbation import obcache_scores as obcache_scores
from .perturbation import perturbation_errors_bruteforce as perturbation_errors_bruteforce
from .perturbation import second_order_autodiff as second_order_autodiff
from .perturbation import window_attention as window_attention

__all__ = ['AccumulatedAttention', 'EvictionPolicy', 'ExactErrors', 'OBCacheJoint', 'OBCacheKey', 'OBCacheScores', 'OBCacheValue', 'RemovalOracle', 'WindowAttention', 'budget_count', 'causal_mask', 'eviction_error', 'eviction_policies', 'exact_errors', 'h2o', 'keep_mask', 'keep_masks', 'max_pool1d', 'obcache_scores', 'perturbation_errors_bruteforce', 'second_order_autodiff', 'select_tokens', 'snapkv', 'tova', 'window_attention']
