r"""Fisher–Rao geometry of Gaussian mean models and a curvature engine (spec ``gating_curvature``).

For $p(z\mid\theta)=\mathcal N(\mu(\theta),\Sigma)$ with fixed SPD $\Sigma$ the Fisher–Rao metric is
$g=J^\top\Sigma^{-1}J$ (:func:`pullback_metric`). Curvature comes from two independent methods:

* intrinsic (any metric function): :func:`christoffel_symbols`, :func:`riemann_tensor`,
  :func:`ricci_tensor`, :func:`scalar_curvature`, :func:`sectional_curvature`, :func:`gaussian_curvature`;
* extrinsic (Gauss equation, pullback metrics): ``*_extrinsic`` counterparts taking ``(mu_fn, theta, sigma=None)``;
* :func:`sectional_curvature_matrix_free`: one tangent plane with a fixed number of autodiff passes.

Conventions: $R_{ijkl}=\langle R(\partial_k,\partial_l)\partial_j,\partial_i\rangle$; the unit sphere has $K=+1$.
All functions are pure, float64 (``require_x64``), ``jit``/``vmap`` friendly and accept sharded batches.

**Many points.** :func:`curvature_field` evaluates $S$ or $K$ over ``[N, m]`` points in one compiled
``lax.map`` over chunks of :func:`safe_batch_size` points. Use it instead of ``jax.jit(jax.vmap(...))``,
which can wedge XLA:CPU at large ``N`` (``docs/errors.md``).

Errors
------
One rule, one place (:mod:`geometry._validation`, :mod:`proofs_numeric.precision`); checks run on
concrete inputs at the Python boundary, never inside ``jit``/``vmap``.

* ``ValueError`` naming the argument: non-finite or wrongly shaped ``theta``/``points`` (``m = 0``
  included), tangent vectors ``u``, ``v`` of the wrong length, zero, or linearly dependent to working
  precision, or any pair at ``m = 1``; a non-symmetric, non-SPD, non-finite or singular ``Sigma``; a mean map with ``d < m``;
  a metric function not returning ``(m, m)``; an unknown ``kind``/``route``; ``kind="gaussian"`` with
  ``m != 2``; ``params`` leaves of the wrong leading length; ``rtol`` not finite and > 0.
* ``TypeError``: a non-integer ``batch_size`` (``2.0`` included), a non-callable ``fn``.
* ``RuntimeError``: float64 off (``jax_enable_x64``) in any curvature function,
  :func:`metric_is_degenerate` and :func:`metric_condition_number` (float32 would answer wrongly).
* **Accurate or NaN + reason** (documented outcome, also under ``jit``): every curvature
  output $\hat c$ is within ``rtol`` (default :data:`DEFAULT_RTOL` $=10^{-6}$) of the exact value,
  $|\hat c-c|\le\mathrm{rtol}\max(|\hat c|,c_0)$ with $c_0$ the curvature scale of the chart at the
  point, or NaN in every entry. The decision is a first-order error estimate of the actual
  computation (:mod:`geometry._accuracy`: jets perturbed at the rounding level, normwise); the reason
  code (:data:`REASONS`: non-finite, not symmetric, not positive definite, unresolved, ``max_cond``)
  comes from :func:`curvature_diagnostics` or ``curvature_field(..., return_reasons=True)``, and
  :func:`metric_is_degenerate` is ``True`` exactly where :func:`scalar_curvature` is NaN. Nearly
  parallel tangent vectors are exact: sectional curvature contracts with an orthonormal basis of the plane.
* ``N = 0`` points: :func:`curvature_field` returns an empty array.

Example::

    import jax.numpy as jnp
    from attnverify.geometry import gaussian_curvature, gaussian_curvature_extrinsic, pullback_metric
    mu = lambda t: jnp.array([t[0], t[1], t[0] * t[1]])          # saddle z = xy
    gaussian_curvature(pullback_metric(mu), jnp.array([0.5, 0.2]))  # -0.600925425154738
    gaussian_curvature_extrinsic(mu, jnp.array([0.5, 0.2]))         # same, by the Gauss equation
"""

from ._attention_manifolds import coefficient_chart_mean as coefficient_chart_mean
from ._attention_manifolds import elementwise_sigmoid_gate as elementwise_sigmoid_gate
from ._attention_manifolds import gated_attention_mean as gated_attention_mean
from ._attention_manifolds import gated_coefficient_chart_mean as gated_coefficient_chart_mean
from ._attention_manifolds import headwise_sigmoid_gate as headwise_sigmoid_gate
from ._attention_manifolds import input_chart_mean as input_chart_mean
from ._attention_manifolds import softmax_chart_mean as softmax_chart_mean
from ._depth import homothety_mean as homothety_mean
from ._depth import stacked_graph_mean as stacked_graph_mean
from ._extrinsic import gaussian_curvature_extrinsic as gaussian_curvature_extrinsic
from ._extrinsic import ricci_tensor_extrinsic as ricci_tensor_extrinsic
from ._extrinsic import riemann_tensor_extrinsic as riemann_tensor_extrinsic
from ._extrinsic import scalar_curvature_extrinsic as scalar_curvature_extrinsic
from ._extrinsic import second_fundamental_form as second_fundamental_form
from ._extrinsic import sectional_curvature_extrinsic as sectional_curvature_extrinsic
from ._accuracy import DEFAULT_RTOL as DEFAULT_RTOL
from ._accuracy import REASONS as REASONS
from ._field import curvature_diagnostics as curvature_diagnostics
from ._field import curvature_field as curvature_field
from ._field import safe_batch_size as safe_batch_size
from ._gated_constructions import gate_times_affine_mean as gate_times_affine_mean
from ._gated_constructions import gated_sphere_mean as gated_sphere_mean
from ._gated_constructions import two_gates_mean as two_gates_mean
from ._intrinsic import christoffel_symbols as christoffel_symbols
from ._intrinsic import gaussian_curvature as gaussian_curvature
from ._intrinsic import ricci_tensor as ricci_tensor
from ._intrinsic import riemann_tensor as riemann_tensor
from ._intrinsic import scalar_curvature as scalar_curvature
from ._intrinsic import sectional_curvature as sectional_curvature
from ._matrix_free import sectional_curvature_matrix_free as sectional_curvature_matrix_free
from ._metrics import DEFAULT_MAX_COND as DEFAULT_MAX_COND
from ._metrics import PullbackMetric as PullbackMetric
from ._metrics import metric_condition_number as metric_condition_number
from ._metrics import metric_is_degenerate as metric_is_degenerate
from ._metrics import pullback_metric as pullback_metric

__all__ = [
    "DEFAULT_MAX_COND", "DEFAULT_RTOL", "PullbackMetric", "REASONS", "christoffel_symbols", "coefficient_chart_mean", "curvature_diagnostics", "curvature_field", "elementwise_sigmoid_gate",
    "gate_times_affine_mean", "gated_attention_mean", "gated_coefficient_chart_mean", "gated_sphere_mean",
    "gaussian_curvature", "gaussian_curvature_extrinsic", "headwise_sigmoid_gate", "homothety_mean", "input_chart_mean",
    "metric_condition_number", "metric_is_degenerate", "pullback_metric", "ricci_tensor", "ricci_tensor_extrinsic",
    "riemann_tensor", "riemann_tensor_extrinsic", "scalar_curvature", "scalar_curvature_extrinsic",
    "second_fundamental_form", "sectional_curvature", "sectional_curvature_extrinsic", "sectional_curvature_matrix_free",
    "safe_batch_size", "softmax_chart_mean", "stacked_graph_mean", "two_gates_mean",
    "curvatures", "ungated_flatness_errors", "genericity_study", "curvature_grids", "curvature_vs_depth",
    "draw_curvature_heatmaps", "draw_curvature_vs_depth",
]

#: study helpers behind the figures and censuses of the notebooks, imported on first use (their modules
#: register claims and a plot, and import sympy): ``from attnverify.geometry import curvature_grids``
_STUDY_HELPERS = {"curvatures": "._claims_gating", "ungated_flatness_errors": "._claims_gating",
                  "genericity_study": "._claims_gating", "curvature_grids": "._plots", "curvature_vs_depth": "._plots",
                  "draw_curvature_heatmaps": "._plots", "draw_curvature_vs_depth": "._plots"}


def __getattr__(name: str):
    if name in _STUDY_HELPERS:
        import importlib

        return getattr(importlib.import_module(_STUDY_HELPERS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
