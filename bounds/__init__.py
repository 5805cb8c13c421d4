r"""Top-k / total-variation theory (spec ``topk_tv``, Tzachristas et al., arXiv:2512.07647).

Tail mass = TV = 1 - exp(-KL), gap and blockwise bounds from ordered logits, output-error
certificates, the Gaussian score model with the asymptotic and a finite-n k_eps predictor, and
certified Top-k selection. Claims are registered as ``topk.*`` (see ``attnverify list``).

Example::

    from attnverify.proofs_numeric import enable_x64; enable_x64()
    import jax.numpy as jnp
    from attnverify.bounds import certified_topk, tail_mass
    r = certified_topk(jnp.array([[3., 3, 1, 1, 1]]), 0.1)   # k = 4, tau = 0.1125...

Errors
------
Every rule lives once, in :mod:`bounds._validate` (scalars: :mod:`proofs_numeric.precision`); checks
run on concrete arrays at the Python boundary (inside ``jit`` values are not inspected). Messages
name the argument and, for batches, the first offending row and index.

* ``ValueError``: ``logits`` with NaN or ``+inf`` (``-inf`` masks a key), a scalar, or ``n = 0`` keys;
  ``k`` outside ``[1, n]``; ``eps`` outside ``(0, 1)``; ``sigma`` not finite and ``> 0``; ``t``, ``mu``,
  ``u`` not finite; ``values`` not ``logits.shape + (d_v,)``; ``assume_sorted=True`` on a row that is not
  descending (an O(n) check; unchecked inside ``jit``); ``p``/``q`` of the divergences of different
  shapes (no broadcasting), non-finite, negative, or not summing to 1 (``n * 1e-9``); an output-bound
  ``C`` that is not finite or below $\max_j\|v_j\|$ (a smaller ``C`` would give "bounds" below the
  error); ``n_blocks < 1`` or block ids outside ``[0, n_blocks)``; ``cuts`` not non-decreasing from
  ``k`` to ``n``; an unknown ``variant``.
* ``TypeError``: a non-integer ``k``, ``n``, ``n_rep``, ``n_blocks`` (``2.0`` included) or block ids.
* ``NotImplementedError``: :func:`mst_partition_bound` (Thm 5.8 is open in the spec).
* Zero rows (``logits`` of shape ``(0, n)``) are valid and give empty results.
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
    "plot_keps",
]


def __getattr__(name: str):
    """``plot_keps`` (the ``attnverify plot keps`` figure) is imported on first use: its module registers the plot."""
    if name == "plot_keps":
        from ._plot import plot_keps

        return plot_keps
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
