"""The shared figure style (issue 25): one colour scale for comparable panels, legends and captions off the data."""

from __future__ import annotations

import numpy as np

from attnverify.proofs_numeric.plotstyle import (PALETTE, VERDICT_COLOURS, caption, figure, label, legend_outside, rasterise,
                                                 symmetric_norm)


def test_symmetric_norm_covers_every_panel_with_one_scale():
    norm = symmetric_norm([np.array([-9.0, 0.1]), np.array([0.025, np.nan])])
    assert norm.vmin == -9.0 and norm.vmax == 9.0  # the largest |value| of all panels, NaN ignored
    assert symmetric_norm([np.zeros(3)]).vmax == 1.0  # an all-zero set still gives a usable scale


def test_legend_and_caption_stay_off_the_data_and_axes_name_units():
    fig, ax = figure(1, 1, width=4)
    (line,) = ax.plot([0, 1], [0, 1], label="data")
    rasterise(line)
    label(ax, "sequence length n", "tokens", "tail mass", None)
    leg = legend_outside(ax)
    caption(fig, "MiniLM-L6, n = 16 sequences")
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    axes_box, legend_box = ax.get_window_extent(r), leg.get_window_extent(r)
    assert legend_box.x0 >= axes_box.x1  # beside the axes, not over the data
    assert fig.texts[-1].get_window_extent(r).y1 <= min(axes_box.y0, ax.xaxis.label.get_window_extent(r).y0)
    assert ax.get_xlabel() == "sequence length n (tokens)" and ax.get_ylabel() == "tail mass"
    assert line.get_rasterized() and set(VERDICT_COLOURS) >= {"verified", "refuted", "not reproduced"} and len(PALETTE) == 8
