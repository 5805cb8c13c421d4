r"""``attnverify plot curvature``: Gaussian-curvature heatmaps (ungated, gated K>0, gated K<0) and curvature vs depth."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attnverify.proofs_numeric import atomic_write_json, plot, save_figure

from ._claims_depth import homothety_curvatures, stacked_curvatures, stacked_params
from ._depth import MAX_DEPTH
from ._field import curvature_field
from ._gated_constructions import bernoulli_saddle_mean, gate_times_affine_mean, gated_sphere_mean, two_gates_mean

__all__ = ["curvature_grids", "curvature_vs_depth", "draw_curvature_heatmaps", "draw_curvature_vs_depth", "plot_curvature", "PANEL_TITLES"]


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


#: words for the panels (the spec's claim numbers stay in the data keys and the caption)
PANEL_TITLES = {
    "ungated input chart (C3)": "Ungated input chart: a saddle (K < 0)",
    "gated sphere r=2.5 (C4, K>0)": "Gated sphere, r = 2.5: K = 1/r² everywhere",
    "gate x affine (C7b, K<0)": "Gate times an affine map (K < 0)",
    "two stacked gates (C7c)": "Two stacked gates (both signs)",
}


def draw_curvature_heatmaps(grids: dict):
    """2 x 2 heatmaps of :func:`curvature_grids` on **one** symmetric-log colour scale (the four surfaces span
    |K| from 1e-4 to 9, so a linear shared scale would flatten three panels; the log scale keeps one scale
    and the sign). Rasterised meshes keep the SVG small. Returns the figure."""
    from matplotlib.colors import SymLogNorm

    from attnverify.proofs_numeric.plotstyle import DIVERGING, figure, label, rasterise

    ks = [np.asarray(g["K"]) for g in grids.values()]
    vmax = max(float(np.nanmax(np.abs(k))) for k in ks)
    norm = SymLogNorm(linthresh=1e-3, linscale=0.5, vmin=-vmax, vmax=vmax, base=10)
    fig, axes = figure(2, 2, width=7.0, height=6.2)
    for ax, (name, gr) in zip(axes.ravel(), grids.items()):
        im = ax.pcolormesh(gr["x"], gr["y"], gr["K"], cmap=DIVERGING, norm=norm, shading="auto")
        rasterise(im)
        ax.set_title(PANEL_TITLES.get(name, name), fontsize=9)
        ax.set_aspect("equal")
        label(ax, "input coordinate x₁", None, "input coordinate x₂", None)
    cb = fig.colorbar(im, ax=axes, shrink=0.8, label="Gaussian curvature K (1/input unit²; symmetric log, linear within ±10⁻³)")
    cb.ax.tick_params(labelsize=7)
    return fig


def draw_curvature_vs_depth(dep: dict):
    r"""Three panels: the homothety law $K_0\gamma^{-2L}$, aligned Hessians at $x^*$ ($K_L/K_1$ against $L^2$),
    and identical layers off $x^*$ ($K_L/|K_1|$): each panel names its own ratio."""
    from attnverify.proofs_numeric.plotstyle import figure, label

    fig, (a1, a2, a3) = figure(1, 3, width=7.5, height=2.9)
    depths0 = list(range(MAX_DEPTH + 1))
    a1.plot(depths0, dep["homothety"], "o-", label="engine")
    a1.plot(depths0, [0.25 * 0.8 ** (-2 * L) for L in depths0], "k--", label=r"law $K_0\gamma^{-2L}$")
    a1.set_yscale("log")
    a1.set_title("Homothety, γ = 0.8, r = 2", fontsize=9)
    label(a1, "depth L", "layers", "Gaussian curvature $K_L$", None)
    a2.plot(dep["depths"], dep["aligned_at_critical_point"], "o-", label="engine (median)")
    a2.plot(dep["depths"], [L**2 for L in dep["depths"]], "k--", label="$L^2$")
    a2.set_title("Aligned Hessians at $x^*$", fontsize=9)
    label(a2, "depth L", "layers", "$K_L / K_1$", None)
    a3.plot(dep["depths"], dep["identical_off_critical_point"], "s-", color="#D55E00", label="engine (median)")
    a3.axhline(0, color="#999999", lw=0.6)
    a3.set_title("Identical layers off $x^*$", fontsize=9)
    label(a3, "depth L", "layers", "$K_L / |K_1|$ (keeps the sign)", None)
    for ax, where in ((a1, "upper left"), (a2, "upper left"), (a3, "lower left")):  # the empty corner of each panel
        ax.legend(loc=where, fontsize=7)
    return fig


@plot("curvature", help="Gaussian-curvature heatmaps (ungated, gated K>0, gated K<0) and curvature vs depth")
def plot_curvature(out_dir: Path, *, quick: bool, seed: int) -> dict:
    from attnverify.proofs_numeric.plotstyle import caption

    grids = curvature_grids(21 if quick else 81)
    fig = draw_curvature_heatmaps(grids)
    caption(fig, f"Closed-form constructions of the gating-curvature paper's claims (C3, C4, C7b, C7c), {len(grids['ungated input chart (C3)']['x'])}² grid points each; "
                 "K from the extrinsic curvature engine in float64.")
    files = save_figure(fig, out_dir, "curvature_heatmaps")
    count = 8 if quick else 32
    dep = curvature_vs_depth(seed, count)
    fig = draw_curvature_vs_depth(dep)
    caption(fig, f"Median over {count} random stacks of identical layers (seed {seed}); the gating-curvature paper's depth claims (C8).")
    files += save_figure(fig, out_dir, "curvature_vs_depth")
    atomic_write_json(Path(out_dir) / "curvature_vs_depth.json", dep)
    return {"files": [str(f) for f in files] + [str(Path(out_dir) / "curvature_vs_depth.json")], "depth": dep}
