r"""``attnverify plot curvature``: Gaussian-curvature heatmaps (ungated, gated K>0, gated K<0) and curvature vs depth."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attnverify.proofs_numeric import atomic_write_json, plot, save_figure

from ._claims_depth import homothety_curvatures, stacked_curvatures, stacked_params
from ._depth import MAX_DEPTH
from ._field import curvature_field
from ._gated_constructions import bernoulli_saddle_mean, gate_times_affine_mean, gated_sphere_mean, two_gates_mean

__all__ = ["curvature_grids", "curvature_vs_depth", "plot_curvature"]


def curvature_grids(n: int = 41) -> dict:
    """Gaussian curvature on an ``n x n`` grid for four surfaces: ungated input chart (C3 saddle),
    gated sphere (C4, K > 0), gate x affine (C7b, K < 0) and two stacked gates (C7c, both signs)."""
    lin = np.linspace(-2.0, 2.0, n)
    xx, yy = np.meshgrid(lin, lin)
    pts = np.stack([xx.ravel(), yy.ravel()], 1)
    m = len(pts)
    rep = lambda v: np.repeat(np.asarray(v, float)[None], m, 0)  # noqa: E731
    cases = {
        "ungated input chart (C3)": (bernoulli_saddle_mean, {"z": np.zeros(m)}, pts),
        "gated sphere r=2.5 (C4, K>0)": (gated_sphere_mean, {"r": np.full(m, 2.5)}, pts * 0.8),
        "gate x affine (C7b, K<0)": (gate_times_affine_mean, {"w": rep([1.3, -0.7]), "b": np.full(m, 0.2), "d": rep([0.4, 0.9]), "c": np.ones(m)}, pts),
        "two stacked gates (C7c)": (two_gates_mean, {"w1": rep([1.0, 0.2]), "w2": rep([-0.3, 1.1]), "b1": np.full(m, 1.5), "b2": np.full(m, 1.5), "A": np.full(m, 2.0)}, pts),
    }
    out = {}
    for name, (fn, p, x) in cases.items():
        out[name] = {"x": x[:, 0].reshape(n, n), "y": x[:, 1].reshape(n, n), "K": np.asarray(curvature_field(fn, x, params=p, kind="gaussian", route="extrinsic")).reshape(n, n)}
    return out


def curvature_vs_depth(seed: int = 0, count: int = 16) -> dict:
    """Median K_L, L = 0/1..6, for the homothety regime (gamma = 0.8, r = 2), aligned Hessians at x*
    (identical layers: L^2 law) and identical layers off the critical point (the failing case)."""
    rng = np.random.default_rng(seed)
    depths = list(range(1, MAX_DEPTH + 1))
    hom = [float(homothety_curvatures(np.array([2.0]), np.full((1, MAX_DEPTH), np.log(4.0)), np.array([[0.3, 0.4]]), L)[0]) for L in [0] + depths]
    p = stacked_params(rng, count, identical=True)
    k_at = np.stack([stacked_curvatures(p, p["x0"], L) for L in depths], 1)
    x_off = p["x0"] + 0.9
    k_off = np.stack([stacked_curvatures(p, x_off, L) for L in depths], 1)
    return {"depths": depths, "homothety": hom, "aligned_at_critical_point": np.median(k_at / k_at[:, :1], 0).tolist(),
            "identical_off_critical_point": np.median(k_off / np.abs(k_off[:, :1]), 0).tolist()}


@plot("curvature", help="Gaussian-curvature heatmaps (ungated, gated K>0, gated K<0) and curvature vs depth (spec gating_curvature)")
def plot_curvature(out_dir: Path, *, quick: bool, seed: int) -> dict:
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    grids = curvature_grids(21 if quick else 81)
    fig, axes = plt.subplots(1, len(grids), figsize=(4.6 * len(grids), 4.0), layout="constrained")
    for ax, (name, gr) in zip(axes, grids.items()):
        k = gr["K"]
        lim = max(float(np.nanmax(np.abs(k))), 1e-12)
        im = ax.pcolormesh(gr["x"], gr["y"], k, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -lim, lim), shading="auto")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        fig.colorbar(im, ax=ax, label="Gaussian curvature $K$", shrink=0.9)
    files = save_figure(fig, out_dir, "curvature_heatmaps")
    dep = curvature_vs_depth(seed, 8 if quick else 32)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    a1.plot(range(MAX_DEPTH + 1), dep["homothety"], "o-", label=r"homothety: engine $K_L$")
    a1.plot(range(MAX_DEPTH + 1), [0.25 * 0.8 ** (-2 * L) for L in range(MAX_DEPTH + 1)], "k--", label=r"law $K_0\gamma^{-2L}$")
    a1.set_xlabel("depth $L$")
    a1.set_ylabel("Gaussian curvature $K_L$")
    a1.set_yscale("log")
    a1.legend()
    a2.plot(dep["depths"], dep["aligned_at_critical_point"], "o-", label=r"aligned Hessians at $x^*$: $K_L/K_1$")
    a2.plot(dep["depths"], [L**2 for L in dep["depths"]], "k--", label=r"$L^2$")
    a2.plot(dep["depths"], dep["identical_off_critical_point"], "s-", label=r"same layers off $x^*$: $K_L/|K_1|$")
    a2.set_xlabel("depth $L$")
    a2.set_ylabel("curvature ratio (median)")
    a2.legend(fontsize=8)
    files += save_figure(fig, out_dir, "curvature_vs_depth")
    atomic_write_json(Path(out_dir) / "curvature_vs_depth.json", dep)
    return {"files": [str(f) for f in files] + [str(Path(out_dir) / "curvature_vs_depth.json")], "depth": dep}
