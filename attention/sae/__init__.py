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
