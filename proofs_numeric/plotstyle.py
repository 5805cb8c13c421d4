r"""One figure style for every plot of the project (paper-ready: words, units, shared scales, small files).

Every plotting module calls :func:`figure` (or applies :data:`RC` with :func:`style`) and saves through
:func:`proofs_numeric.save_figure`. The conventions it encodes:

* **colours**: the Okabe-Ito palette (safe for colour-blind readers); verdicts have fixed colours
  (:data:`VERDICT_COLOURS`), shared with the HTML report;
* **type**: 9 pt text, 10 pt titles, no title larger than the text it sits over;
* **comparable panels share a colour scale**: :func:`symmetric_norm` gives one diverging norm for a set
  of signed arrays; :func:`shared_colourbar` draws one colour bar for several panels;
* **legends never cover data**: :func:`legend_outside` puts the legend beside the axes;
* **dense images are rasterised** (:func:`rasterise`) so an SVG stays well under 1 MB;
* **axes name a quantity and its unit**: :func:`label` writes ``"quantity (unit)"``.

Example::

    fig, ax = figure(1, 1, width=3.5)
    ax.plot(x, y, color=PALETTE[0]); label(ax, "sequence length n", "tokens", "tail mass", "probability")
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["PALETTE", "VERDICT_COLOURS", "RC", "style", "figure", "label", "legend_outside", "symmetric_norm",
           "shared_colourbar", "rasterise", "caption"]

#: Okabe-Ito: black, orange, sky blue, bluish green, yellow, blue, vermilion, reddish purple
PALETTE = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
VERDICT_COLOURS = {"verified": "#009E73", "refuted": "#D55E00", "not reproduced": "#E69F00", "inconclusive": "#7f7f7f",
                   "erratum": "#CC79A7", "failed": "#000000"}
#: diverging colour map for signed quantities (curvature), sequential for magnitudes
DIVERGING, SEQUENTIAL = "RdBu_r", "viridis"

RC: dict[str, Any] = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "legend.fontsize": 8, "figure.titlesize": 10, "axes.spines.top": False, "axes.spines.right": False,
    "axes.prop_cycle": None, "savefig.dpi": 200, "figure.dpi": 100, "svg.fonttype": "none",
    "image.cmap": SEQUENTIAL, "axes.titlelocation": "left", "legend.frameon": False,
}


def style() -> None:
    """Apply :data:`RC` to matplotlib's global settings (idempotent)."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update({**{k: v for k, v in RC.items() if v is not None},
                         "axes.prop_cycle": cycler(color=[PALETTE[i] for i in (5, 6, 3, 1, 7, 2, 0)])})


def figure(nrows: int = 1, ncols: int = 1, *, width: float = 7.0, height: float | None = None, **kwargs: Any):
    """``(fig, axes)`` in the project's style; ``width`` in inches (7.0: a full column of a two-column
    paper's page width), ``height`` defaults to 0.75 * width / ncols * nrows. ``constrained`` layout."""
    import matplotlib.pyplot as plt

    style()
    if height is None:
        height = max(2.2, 0.75 * width / ncols * nrows)
    kwargs.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, figsize=(width, height), **kwargs)


def label(ax: Any, x: str, x_unit: str | None, y: str, y_unit: str | None) -> None:
    """Axis labels ``"quantity (unit)"``; ``None`` for a dimensionless quantity ("ratio", "count")."""
    ax.set_xlabel(x if not x_unit else f"{x} ({x_unit})")
    ax.set_ylabel(y if not y_unit else f"{y} ({y_unit})")


def legend_outside(ax: Any, **kwargs: Any) -> Any:
    """The legend to the right of ``ax``, outside the data area."""
    kwargs.setdefault("loc", "upper left")
    kwargs.setdefault("bbox_to_anchor", (1.02, 1.0))
    kwargs.setdefault("borderaxespad", 0.0)
    return ax.legend(**kwargs)


def symmetric_norm(arrays: Iterable[Any], *, quantile: float = 1.0):
    """One diverging ``TwoSlopeNorm``-like ``Normalize(-m, m)`` for all ``arrays``: ``m`` is the
    ``quantile`` of their pooled absolute finite values (1.0: the maximum)."""
    from matplotlib.colors import Normalize

    pooled = np.concatenate([np.abs(np.asarray(a, dtype=float)).ravel() for a in arrays])
    pooled = pooled[np.isfinite(pooled)]
    m = float(np.quantile(pooled, quantile)) if pooled.size else 1.0
    return Normalize(-(m or 1.0), m or 1.0)


def shared_colourbar(fig: Any, mappable: Any, axes: Any, label_text: str, **kwargs: Any) -> Any:
    """One colour bar for the panels ``axes`` (all drawn with the same norm), labelled ``label_text``."""
    kwargs.setdefault("shrink", 0.9)
    cb = fig.colorbar(mappable, ax=axes, **kwargs)
    cb.set_label(label_text)
    return cb


def rasterise(*artists: Any) -> None:
    """Rasterise dense artists (images, meshes, scatter clouds) inside a vector file."""
    for a in artists:
        a.set_rasterized(True)


def caption(fig: Any, text: str) -> None:
    """A footnote line under the figure: model, data set, n and anything a reader needs to compare."""
    import textwrap

    width_chars = int(17 * fig.get_figwidth())  # 7 pt text: about 17 characters per inch
    fig.canvas.draw()  # lay out first: the caption goes under everything drawn (outside legends included)
    bottom = fig.get_tightbbox(fig.canvas.get_renderer()).y0 / fig.get_figheight()
    fig.text(0.01, min(bottom, 0.0) - 0.01, textwrap.fill(text, width_chars), fontsize=7, color="#444444", ha="left", va="top")
