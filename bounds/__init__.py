"""Top-k / total-variation theory (spec ``topk_tv``, Tzachristas et al., arXiv:2512.07647).

Tail mass = TV = 1 - exp(-KL), gap and blockwise bounds from ordered logits, output-error
certificates, the Gaussian score model with the asymptotic and a finite-n k_eps predictor, and
certified Top-k selection. Claims are registered as ``topk.*`` (see ``attnverify list``).

Example::

    from proofs_numeric import enable_x64; enable_x64()
    import jax.numpy as jnp
    from bounds import certified_topk, tail_mass
    r = certified_topk(jnp.array([[3., 3, 1, 1, 1]]), 0.1)   # k = 4, tau = 0.1125...
"""

from ._certified import CertifiedTopK as CertifiedTopK
from ._certified import certified_topk as certified_topk
from ._certified_reference import certified_topk_reference as certified_topk_reference
from ._certified_reference import exact_fallback as exact_fallback
from ._gaps import blockwise_bounds as blockwise_bounds
from ._gaps import multi_gap_bound as multi_gap_bound
from ._gaps import single_gap_bound as single_gap_bound
from ._gaussian import KepsMC as KepsMC
from ._gaussian import delta_method_tail_mass as delta_method_tail_mass
from ._gaussian import gaussian_kept_fraction as gaussian_kept_fraction
from ._gaussian import gaussian_tail_mass as gaussian_tail_mass
from ._gaussian import keps_monte_carlo as keps_monte_carlo
from ._gaussian import keps_oracle as keps_oracle
from ._gaussian import keps_rule as keps_rule
from ._gaussian import keps_rule_sensitivities as keps_rule_sensitivities
from ._keps_finite import keps_finite_n as keps_finite_n
from ._keps_finite import kept_probability as kept_probability
from ._mc_search import MCSearchResult as MCSearchResult
from ._mc_search import mc_search as mc_search
from ._mc_search_cells import BallCells as BallCells
from ._mc_search_cells import ball_cells as ball_cells
from ._mc_search_cells import ball_upper_bounds as ball_upper_bounds
from ._mc_search_cells import mc_search_attention as mc_search_attention
from ._output import OUTPUT_BOUND_NAMES as OUTPUT_BOUND_NAMES
from ._output import HeadTail as HeadTail
from ._output import OutputBounds as OutputBounds
from ._output import head_tail_decomposition as head_tail_decomposition
from ._output import mst_partition_bound as mst_partition_bound
from ._output import output_error_bounds as output_error_bounds
from ._search import DeltaKSearch as DeltaKSearch
from ._search import delta_k_search as delta_k_search
from ._tv import chi2_divergence as chi2_divergence
from ._tv import kl_divergence as kl_divergence
from ._tv import tail_mass as tail_mass
from ._tv import topk_distributions as topk_distributions
from ._tv import topk_mask as topk_mask
from ._tv import tv_distance as tv_distance

__all__ = [
    "CertifiedTopK", "DeltaKSearch", "HeadTail", "KepsMC", "OUTPUT_BOUND_NAMES", "OutputBounds", "blockwise_bounds",
    "certified_topk", "certified_topk_reference", "chi2_divergence", "delta_k_search", "delta_method_tail_mass", "exact_fallback", "gaussian_kept_fraction",
    "gaussian_tail_mass", "head_tail_decomposition", "keps_finite_n", "keps_monte_carlo", "keps_oracle",
    "keps_rule", "keps_rule_sensitivities", "kept_probability", "kl_divergence", "mst_partition_bound",
    "multi_gap_bound", "output_error_bounds", "single_gap_bound", "tail_mass", "topk_distributions",
    "topk_mask", "tv_distance",
    "MCSearchResult", "mc_search", "BallCells", "ball_cells", "ball_upper_bounds", "mc_search_attention",
]
