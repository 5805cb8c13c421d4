r"""C8 cells on Gemma 3 270M: head ablation at a target's best configuration.

The clamp at layer $\ell$ sets $f_{j^\star}=c$ whatever the heads at or below $\ell$ wrote (the edit is
$x+(c-f_{j^\star}(x))d_{j^\star}$), so ablating those heads cannot remove the feature the clamp sets;
they only change the rest of the stream. The heads that can *amplify* the steered feature read the
edited stream: those **above** $\ell$. Attribution (spec O7, applied above the steered layer):
$a_h=\mathbb E_{t\in\mathcal S_L}\big[(z_{h,t}W_O^h)\cdot W_{\rm enc}[:,j^\star]\big]$ for the heads of
layers $\ell+1,\dots,L-1$ on target-language text; the top-$k$ are ablated (zero $z_h$) during steering,
against ``random_draws`` (>= 20) distinct random $k$-subsets of the other heads above $\ell$
(:func:`experiments.sae_steering.blocks.ablation_masks`, never a top head).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from attnverify.attention.sae.selection import head_attribution

from .blocks import ablation_masks
from .cells import cell, prompt_ids as _ids
from .gemma_lm import gemma_head_contributions

__all__ = ["head_cells"]


def head_cells(model, cells, feats_by, saes, layers, s, seed, sel, targets) -> list[dict]:
    """One cell per mask (``"top"``, ``"random:i"``) at each target's best (layer, kappa > 0) of ``cells``
    by the success rule (:func:`experiments.sae_steering.scoring.best_cell`)."""
    from .scoring import best_cell

    cfg = model.config
    out = []
    for t in targets:
        best = best_cell(cells, t)
        layer, f = best["layer"], feats_by[t, best["layer"]]
        rows = [_ids(model, x)[: s["max_tokens"]] for x in sel[t][:8]]
        ids = np.zeros((len(rows), s["max_tokens"]), np.int32)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = row
        full = np.asarray(gemma_head_contributions(model.params, jnp.asarray(ids), cfg=cfg, upto=cfg.num_layers - 1))
        contrib = np.concatenate([full[:, r, 1:len(row)] for r, row in enumerate(rows)], axis=1)
        attr = head_attribution(contrib, np.asarray(saes[layers.index(layer)].w_enc[:, f["j"]]))
        eligible = np.zeros(attr.shape, bool)
        eligible[layer + 1:] = True
        masks, _ = ablation_masks(attr, s["heads_k"], s["random_draws"], (cfg.num_layers, cfg.num_heads),
                                  np.random.default_rng([seed, 6, len(t)]), eligible=eligible)
        for i, m in enumerate(masks):
            c = cell(t, layer, "j*", best["kappa"], mask="top" if i == 0 else f"random:{i - 1}")
            c.update(mask_array=m, heads=np.flatnonzero(m.ravel() == 0).tolist(), attribution=attr.tolist() if i == 0 else None)
            out.append(c)
    return out
