"""Review of the curvature certificate and the two-pass ``curvature_field``: charts beyond the known-chart suite.

* the flat gated softmax map $\\mathbb R^m\\to\\mathbb R^m$ ($S=0$), $m=3$, at $10^{-16}..10^{-2}$ from its vanishing
  gate column, with the gate at $\\pm40$ (saturated) and scaled by $10^{\\pm100}$: every finite $S$ of both routes
  satisfies $|\\hat S|\\le\\mathrm{rtol}\\,c_0$, $c_0$ recomputed here from ``jax.jacfwd``/``jax.hessian`` of the
  unscaled chart (times $s^{-2}$);
* the concrete two-pass path (certificate over all points, then the estimate over the uncertified ones) gives the
  same values and reason codes as ``batch_size=1``, ``batch_size=7`` and the ``jax.jit`` (``lax.cond``) path on a
  mixed batch of regular and degenerate points.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnverify import geometry as G

M = 3
V = np.vstack([np.eye(M), -np.ones((1, M))])  # rows sum to 0: the softmax mean vanishes at t' = 0


def gated(t: jax.Array) -> jax.Array:
    """$\\sigma(t_{m-1})\\,\\mathrm{softmax}(0,t_0,..,t_{m-2},-\\sum t)\\,V$: a cone over an (m-1)-dim family, flat."""
    logits = jnp.concatenate([jnp.zeros(1), t[:-1], -jnp.sum(t[:-1])[None]])
    return jax.nn.sigmoid(t[-1]) * (jax.nn.softmax(logits) @ jnp.asarray(V))


def _points() -> np.ndarray:
    pts = []
    for d in (5.55e-17, 1e-12, 1e-8, 1e-4, 1e-2, 0.5):
        for gate in (-40.0, -2.0, 0.0, 2.0, 40.0):
            p = np.full(M, d)
            p[-1] = gate
            pts.append(p)
    return np.array(pts)


def _c0(mu, t):
    """$m(m-1)\\max(\\|\\partial^2\\mu\\|_F^2,c_\\varepsilon\\varepsilon\\|\\mu\\|^2)/\\|J\\|_F^4$ (floor only where $J$ is resolved)."""
    j, h = jax.jacfwd(mu)(t), jax.hessian(mu)(t)
    c_eps, y2, j2 = 16.0 * 2.0**-52, jnp.sum(mu(t) ** 2), jnp.sum(j**2)
    return M * (M - 1) * jnp.where(j2 >= c_eps * y2, jnp.maximum(jnp.sum(h**2), c_eps * y2), jnp.sum(h**2)) / j2**2


@pytest.mark.parametrize("s", (1.0, 1e-100, 1e100))
def test_flat_gated_map_is_zero_or_nan(s):
    pts = jnp.asarray(_points())
    c0 = np.asarray(jax.vmap(lambda t: _c0(gated, t))(pts)) / s**2
    fn = gated if s == 1.0 else (lambda t: s * gated(t))
    for route in ("extrinsic", "intrinsic"):
        v, c = (np.asarray(a) for a in G.curvature_field(fn, pts, kind="scalar", route=route, return_reasons=True))
        fin = np.isfinite(v)
        assert np.array_equal(fin, c == 0), (route, c)
        off = fin & ~(np.abs(v) <= G.DEFAULT_RTOL * c0)
        assert not off.any(), (route, s, pts[off], v[off], c0[off])
        assert not fin[np.asarray(pts[:, 0]) < 1e-8].any(), "at most 1e-8 from the vanishing column: never finite"
        assert fin.any(), "the regular points are resolved"


def test_two_pass_matches_batch_and_jit_paths():
    pts = jnp.asarray(_points())
    for route in ("extrinsic", "intrinsic"):
        ref_v, ref_c = (np.asarray(a) for a in G.curvature_field(gated, pts, route=route, return_reasons=True))
        assert (ref_c == 0).any() and (ref_c != 0).any(), "a mixed batch"
        runs = {bs: G.curvature_field(gated, pts, route=route, batch_size=bs, return_reasons=True) for bs in (1, 7)}
        runs["jit"] = jax.jit(lambda x: G.curvature_field(gated, x, route=route, return_reasons=True))(pts)
        for key, (v, c) in runs.items():
            np.testing.assert_array_equal(np.asarray(c), ref_c, err_msg=f"{route} {key}")
            np.testing.assert_allclose(np.asarray(v), ref_v, rtol=1e-12, atol=0, err_msg=f"{route} {key}")
