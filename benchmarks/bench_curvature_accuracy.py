r"""Issue 23: which per-point test keeps curvature from being confidently wrong? Measured on the suite of
charts with known curvature (``geometry/_known_charts.py``), 15 distances 1e-2 .. 1e-16 from each
degenerate set, 3 positions along it, Gaussian curvature by both routes.

Options, each deciding per point whether to return the raw value or NaN (``none``: always the raw value):

* ``old``: the rule before issue 23 -- ``cond(D^-1/2 g D^-1/2) <= 1e10`` and ``sigma_min(J) > 1e-8 |mu|``;
* ``routes``: the extrinsic and intrinsic values agree to ``rtol * max(|K|, c0)``;
* ``reparam``: the value is invariant, to the same tolerance, under a random linear reparametrisation
  ``theta = A xi`` (``cond(A) <= 10``), recomputed through the chart ``mu o A``;
* ``estimate``: the error estimate of ``geometry/_accuracy.py`` (the engine's rule now).

The *raw* value the first three options decide on is the engine's plain formula with no accuracy check
(:func:`_raw_gaussian`: $K=R_{1212}/\det g$ from the Gauss equation on $\tilde J,\partial^2\tilde\mu$, or from the
lowered Riemann formula on $g,\partial g,\partial^2g$ of the pullback metric). ``curvature_field`` cannot
give it: a tolerance of ``float max`` overflows and every such value is NaN with code 4.

A value is *wrong* when ``|K_hat - K| > rtol * max(|K|, c0)`` (the contract). Usage::

    python benchmarks/bench_curvature_accuracy.py

Writes ``benchmarks/results/curvature_accuracy.json`` and prints, per option and route, the counts
(finite and accurate, finite and wrong, NaN).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attnverify.proofs_numeric import atomic_write_json, enable_x64

enable_x64()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from attnverify.geometry import DEFAULT_RTOL, curvature_field, metric_condition_number, pullback_metric  # noqa: E402
from attnverify.geometry._contractions import gaussian_from_riemann  # noqa: E402
from attnverify.geometry._extrinsic import _gauss_equation  # noqa: E402
from attnverify.geometry._intrinsic import _riemann_core, metric_jets  # noqa: E402
from attnverify.geometry._known_charts import KNOWN_CHARTS, any_chart, suite  # noqa: E402

RTOL = DEFAULT_RTOL
A = np.array([[1.3, 0.4], [-0.2, 0.9]])  # cond(A) ~ 1.9; fixed so that the run is reproducible


def _scale(mu, t):
    """$c_0$ with the documented absolute floor of an exactly flat chart (``geometry._extrinsic``)."""
    j, h = jax.jacfwd(mu)(t), jax.hessian(mu)(t)
    c_eps, y2, j2 = 16.0 * 2.0**-52, jnp.sum(mu(t) ** 2), jnp.sum(j**2)
    return jnp.where(j2 >= c_eps * y2, jnp.maximum(jnp.sum(h**2), c_eps * y2), jnp.sum(h**2)) / j2**2


def _old_ok(mu, t):
    j = jax.jacfwd(mu)(t)
    g = j.T @ j
    d = jnp.sqrt(jnp.diagonal(g))
    gs = g / d[:, None] / d[None, :]
    ev = jnp.linalg.eigvalsh(gs)
    sv = jnp.linalg.svd(j, compute_uv=False)
    return (ev[0] > 0) & (ev[-1] <= 1e10 * ev[0]) & (sv[-1] > 1e-8 * jnp.linalg.norm(mu(t)))


def _raw_gaussian(mu, t, route: str):
    """$K$ by the engine's plain formula of ``route``, no accuracy check and no rescaling (the value before the contract)."""
    if route == "extrinsic":
        return gaussian_from_riemann(*_gauss_equation(jax.jacfwd(mu)(t), jax.hessian(mu)(t)))
    g, dg, d2g = metric_jets(pullback_metric(mu), t)
    return gaussian_from_riemann(g, _riemann_core(g, dg, d2g))


def _raw_field(fn, params, points, route: str) -> np.ndarray:
    """:func:`_raw_gaussian` at every point, in chunks of 64 (``lax.map``: no batched LAPACK call large enough to wedge)."""
    one = lambda px: _raw_gaussian(functools.partial(fn, px[0]), px[1], route)  # noqa: E731
    return np.asarray(jax.jit(lambda p, x: jax.lax.map(one, (p, x), batch_size=64))(params, jnp.asarray(points)))


def main() -> None:
    idx, pts, truth = suite()
    pidx = jnp.asarray(idx)
    scale = np.asarray(jax.vmap(lambda i, t: _scale(functools.partial(any_chart, i), t))(pidx, jnp.asarray(pts)))
    tol = RTOL * np.maximum(np.abs(truth), scale)
    xi = np.linalg.solve(A, pts.T).T
    old_ok = np.asarray(jax.vmap(lambda i, t: _old_ok(functools.partial(any_chart, i), t))(pidx, jnp.asarray(pts)))
    field = lambda fn, x, route, **kw: np.asarray(curvature_field(fn, x, route=route, params=pidx, **kw))  # noqa: E731
    totals: dict = {}
    per_chart: dict = {c.name: {} for c in KNOWN_CHARTS}
    for route, other in (("extrinsic", "intrinsic"), ("intrinsic", "extrinsic")):
        k_raw, k_other = _raw_field(any_chart, pidx, pts, route), _raw_field(any_chart, pidx, pts, other)
        k_rep = _raw_field(_reparametrised, pidx, xi, route)
        k_est = field(any_chart, pts, route, kind="gaussian")
        agree = lambda k2: np.where(np.abs(k_raw - k2) <= RTOL * np.maximum(np.abs(k_raw), scale), k_raw, np.nan)  # noqa: E731
        decisions = {"none": k_raw, "old": np.where(old_ok, k_raw, np.nan), "routes": agree(k_other), "reparam": agree(k_rep), "estimate": k_est}
        for name, k in decisions.items():
            fin = np.isfinite(k)
            wrong = fin & ~(np.abs(k - truth) <= tol)
            key = f"{name}/{route}"
            totals[key] = [int((fin & ~wrong).sum()), int(wrong.sum()), int((~fin).sum())]
            for i, c in enumerate(KNOWN_CHARTS):
                sel = idx == i
                per_chart[c.name][key] = [int((fin & ~wrong & sel).sum()), int((wrong & sel).sum()), int((~fin & sel).sum())]
    out = {"rtol": RTOL, "points_per_chart": int((idx == 0).sum()), "counts": "[finite and accurate, finite and wrong, NaN]",
           "totals": totals, "charts": per_chart}
    g = pullback_metric(KNOWN_CHARTS[0].mu)
    out["issue_example_scaled_cond_at_5.55e-17"] = float(metric_condition_number(g, jnp.array([5.55e-17, -2.0]), scaled=True))
    path = Path(__file__).parent / "results" / "curvature_accuracy.json"
    atomic_write_json(path, out)
    for name, row in per_chart.items():
        print(name, row)
    print("totals [finite and accurate, finite and wrong, NaN]:")
    for k, v in totals.items():
        print(f"  {k:20s} {v}")
    print(f"wrote {path}")


def _reparametrised(i, xi):
    return any_chart(i, jnp.asarray(A) @ xi)


if __name__ == "__main__":
    main()
