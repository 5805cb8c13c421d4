"""SAE steering (sae_steering.md): JumpReLU SAE, clamp / additive steering, feature selection.
"""

from .jumprelu import JumpReLUSAE as JumpReLUSAE
from .jumprelu import clamp_feature as clamp_feature
from .jumprelu import feature_scores as feature_scores
from .jumprelu import jumprelu as jumprelu
from .jumprelu import sae_decode as sae_decode
from .jumprelu import sae_encode as sae_encode
from .jumprelu import sae_error as sae_error
from .jumprelu import steer_additive as steer_additive
from .jumprelu import validate_sae as validate_sae
from .planted import planted_mean_difference as planted_mean_difference

__all__ = ['JumpReLUSAE', 'clamp_feature', 'feature_scores', 'jumprelu', 'planted_mean_difference', 'sae_decode', 'sae_encode', 'sae_error', 'steer_additive', 'validate_sae']

# steering study: training, steering hook, selection, language ID, meaning proxy, cache, miniature
from . import claims_steering as claims_steering
from .activations import array_sha256 as array_sha256
from .activations import cache_key as cache_key
from .activations import cached_array as cached_array
from .langid import detect_language as detect_language
from .langid import detect_language_lingua as detect_language_lingua
from .langid import gate_accuracy as gate_accuracy
from .langid import wilson_interval as wilson_interval
from .meaning import chrf as chrf
from .miniature import word_lists as word_lists
from .miniature import word_validity as word_validity
from .selection import head_attribution as head_attribution
from .selection import matched_random_feature as matched_random_feature
from .selection import mu_plus as mu_plus
from .selection import select_feature as select_feature
from .steering import Steer as Steer
from .steering import make_steer as make_steer
from .steering import no_steer as no_steer
from .steering import residual_hook as residual_hook
from .steering import steer_residual as steer_residual
from .success import SuccessRule as SuccessRule
from .success import calibrate_degeneracy as calibrate_degeneracy
from .success import judge as judge
from .success import language_label as language_label
from .success import target_validity as target_validity
from .training import SAEStats as SAEStats
from .training import jumprelu_ste as jumprelu_ste
from .training import sae_stats as sae_stats
from .training import step_ste as step_ste
from .training import train_sae as train_sae

__all__ += ['SAEStats', 'Steer', 'array_sha256', 'cache_key', 'cached_array', 'chrf', 'detect_language',
            'detect_language_lingua', 'gate_accuracy', 'head_attribution', 'jumprelu_ste', 'make_steer',
            'matched_random_feature', 'mu_plus', 'no_steer', 'residual_hook', 'sae_stats', 'select_feature',
            'steer_residual', 'step_ste', 'train_sae', 'wilson_interval', 'word_lists', 'word_validity',
            'SuccessRule', 'calibrate_degeneracy', 'judge', 'language_label', 'target_validity']
