r"""Charts with known curvature that approach their degenerate sets (the accuracy-contract suite).

Each :class:`KnownChart` has a mean map $\mu:\mathbb R^2\to\mathbb R^d$ ($\Sigma=I$), the exact Gaussian
curvature $K(\theta)$ of its pullback metric (a closed form, independent of the engine), and points at a
distance $\delta\in[10^{-16},10^{-2}]$ from the set where $\operatorname{rank}J<2$ (for a gate, where its
derivative $\sigma(1-\sigma)$ equals $\delta$). Used by ``tests/test_curvature_accuracy.py`` and
``benchmarks/bench_curvature_accuracy.py``: every finite curvature output must be within the contract
of :mod:`geometry._accuracy`.

* flat maps $\mathbb R^2\to\mathbb R^2$ ($K=0$): the issue's sigmoid-gated softmax map (a vanishing
  column at $t_0=0$), the fold $(x,y^2)$, the cusp fold $(x,y^3+xy)$, polar coordinates at $r=0$,
  a saturating gate times a unit vector $\sigma(t_1)(\cos t_0,\sin t_0)$;
* curved surfaces in degenerating charts: the unit sphere near its pole ($K=1$), the saddle $z=xy$
  in polar coordinates ($K=-1/(1+r^2)^2$), the sphere graph in the chart $y=s^3$ ($K=1$);
* a gated saddle $(t_0,\sigma(t_1),t_0\sigma(t_1))$ whose gate saturates ($K=-1/(1+x^2+y^2)^2$);
* an exactly flat chart, the affine plane $(1+t_0+t_1/2,\ 2t_1-0.3,\ 0.7)$: $\partial^2\mu=0$, so
  $\mathrm{II}=0$ and $c_0=0$; its value must be certified $0$ through the absolute floor of the
  tolerance (:mod:`geometry._accuracy`). It has no degenerate set: ``near(delta, s)`` is the point
  $(s,\delta)$.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["KnownChart", "KNOWN_CHARTS", "DISTANCES", "chart_points", "any_chart", "suite"]

DISTANCES = tuple(10.0**-k for k in range(2, 17))  # 1e-2 ... 1e-16
V3 = jnp.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])


@dataclass(frozen=True)
class KnownChart:
    """``mu`` ``(2,) -> (d,)``; ``k_true(theta)`` in numpy; ``near(delta, s)`` a point ``delta`` from the
    degenerate set, ``s`` in ``[-1, 1]`` moving along it."""

    name: str
    mu: Callable[[jax.Array], jax.Array]
    k_true: Callable[[np.ndarray], float]
    near: Callable[[float, float], np.ndarray]


def _logit_of_gate_slope(delta: float) -> float:
    """$t>0$ with $\\sigma(t)(1-\\sigma(t))=\\delta$ ($\\delta\\le1/4$)."""
    return float(2.0 * np.arccosh(0.5 / np.sqrt(delta)))


def _sphere(t):
    return jnp.stack([jnp.sin(t[0]) * jnp.cos(t[1]), jnp.sin(t[0]) * jnp.sin(t[1]), jnp.cos(t[0])])


def _polar_saddle(t):
    x, y = t[0] * jnp.cos(t[1]), t[0] * jnp.sin(t[1])
    return jnp.stack([x, y, x * y])


def _sphere_graph(t):
    x, y = t[0], t[1] ** 3
    return jnp.stack([x, y, jnp.sqrt(1.0 - x**2 - y**2)])


def _gated_saddle(t):
    s = jax.nn.sigmoid(t[1])
    return jnp.stack([t[0], s, t[0] * s])


def _saddle_k(x: float, y: float) -> float:
    return -1.0 / (1.0 + x * x + y * y) ** 2


def _sigmoid(t: float) -> float:
    return float(1.0 / (1.0 + np.exp(-t)))


KNOWN_CHARTS: tuple[KnownChart, ...] = (
    KnownChart("gated_softmax", lambda t: jax.nn.sigmoid(t[1]) * (jax.nn.softmax(jnp.stack([0.0, t[0], -t[0]])) @ V3),
               lambda t: 0.0, lambda d, s: np.array([d, 2.0 * s])),
    KnownChart("fold", lambda t: jnp.stack([t[0], t[1] ** 2]), lambda t: 0.0, lambda d, s: np.array([s, d])),
    KnownChart("cusp_fold", lambda t: jnp.stack([t[0], t[1] ** 3 + t[0] * t[1]]), lambda t: 0.0,
               lambda d, s: np.array([-3.0 * (0.5 * s) ** 2 + d, 0.5 * s])),
    KnownChart("polar", lambda t: jnp.stack([t[0] * jnp.cos(t[1]), t[0] * jnp.sin(t[1])]), lambda t: 0.0, lambda d, s: np.array([d, 3.0 * s])),
    KnownChart("saturating_gate", lambda t: jax.nn.sigmoid(t[1]) * jnp.stack([jnp.cos(t[0]), jnp.sin(t[0])]), lambda t: 0.0,
               lambda d, s: np.array([3.0 * s, _logit_of_gate_slope(d) * (1.0 if s >= 0 else -1.0)])),
    KnownChart("sphere_pole", _sphere, lambda t: 1.0, lambda d, s: np.array([d, 3.0 * s])),
    KnownChart("polar_saddle", _polar_saddle, lambda t: _saddle_k(t[0] * np.cos(t[1]), t[0] * np.sin(t[1])), lambda d, s: np.array([d, 3.0 * s])),
    KnownChart("sphere_graph_cubed", _sphere_graph, lambda t: 1.0, lambda d, s: np.array([0.5 * s, d])),
    KnownChart("gated_saddle", _gated_saddle, lambda t: _saddle_k(t[0], _sigmoid(t[1])),
               lambda d, s: np.array([s, _logit_of_gate_slope(d) * (1.0 if s >= 0 else -1.0)])),
    KnownChart("affine_plane", lambda t: jnp.stack([1.0 + t[0] + 0.5 * t[1], 2.0 * t[1] - 0.3, 0.7 + 0.0 * t[0]]), lambda t: 0.0,
               lambda d, s: np.array([s, d])),
)


def chart_points(chart: KnownChart, distances: tuple[float, ...] = DISTANCES, along: tuple[float, ...] = (-0.7, 0.3, 0.9)) -> np.ndarray:
    """``[len(distances) * len(along), 2]`` points, each ``delta`` from the chart's degenerate set."""
    return np.array([chart.near(d, s) for d in distances for s in along])


def any_chart(index: jax.Array, theta: jax.Array) -> jax.Array:
    """``KNOWN_CHARTS[index].mu(theta)`` padded to ``d = 3`` (a zero third output for the planar maps),
    as one traceable function: the whole suite compiles once (``params=index`` in ``curvature_field``)."""

    def pad(mu):
        return lambda t: jnp.concatenate([mu(t), jnp.zeros(3 - jax.eval_shape(mu, t).shape[0], t.dtype)])

    return jax.lax.switch(index, [pad(c.mu) for c in KNOWN_CHARTS], theta)


def suite(distances: tuple[float, ...] = DISTANCES, along: tuple[float, ...] = (-0.7, 0.3, 0.9)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(index [N], points [N, 2], K [N])`` over every chart of :data:`KNOWN_CHARTS`."""
    idx, pts, k = [], [], []
    for i, c in enumerate(KNOWN_CHARTS):
        p = chart_points(c, distances, along)
        idx += [i] * len(p)
        pts.append(p)
        k += [c.k_true(x) for x in p]
    return np.array(idx, np.int32), np.concatenate(pts), np.array(k)
