"""SAE language steering (``docs/papers/sae_steering.md``): the character-LM fast track, Gemma 3 270M,
the empirical claims C6-C10 and ``attnverify experiment sae-steering``."""

from . import claims as claims
from .study import sae_steering_experiment as sae_steering_experiment
