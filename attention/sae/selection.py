r"""Choosing a language feature, its clamp value, its controls, and the heads that write it (C8).

For SAE activations $f$ over target-language positions $\mathcal S_L$ and English positions
$\mathcal S_{\rm En}$ (:func:`attention.sae.feature_scores` gives ``meandiff``/``welch``/``rate``):

* the feature $j^\star=\arg\max_j s_j$ (:func:`select_feature`);
* its clamp value $c=\kappa\,\mu^+_{L,j}$, $\mu^+_{L,j}=\mathbb E[f_j\mid f_j>0]$ over $\mathcal S_L$
  (:func:`mu_plus`; spec ``c_mode="kappa_mean"``);
* the matched control: a random feature $k\ne j^\star$ whose firing rate $\Pr(f_k>0)$ over
  $\mathcal S_L\cup\mathcal S_{\rm En}$ is among the ``pool`` closest to that of $j^\star$ and whose own
  score is not in the top ``exclude_top`` (:func:`matched_random_feature`);
* the head attribution (C8, O7) $a_h=\mathbb E_{t\in\mathcal S_L}\big[(z_{h,t}W_O^h)\cdot W_{\rm enc}[:,j^\star]\big]$
  for heads of layers $\le\ell$ (:func:`head_attribution`): the direct contribution of head $h$ to
  the feature's pre-activation.
"""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp
import numpy as np

from attnverify.proofs_numeric.precision import check_int

from .._finite import check_finite
from ._args import check_feature, check_matrix
from .jumprelu import feature_scores

__all__ = ["select_feature", "mu_plus", "matched_random_feature", "head_attribution", "rank_of"]


def _two_d(name: str, f) -> np.ndarray:
    if isinstance(f, str):
        raise TypeError(f"{name} must be an array of feature activations, got str")
    f = np.asarray(f, np.float64)
    check_matrix(name, f, min_rows=2)
    return f


def select_feature(f_target, f_english, stat: Literal["meandiff", "welch", "rate"] = "meandiff") -> tuple[int, np.ndarray]:
    """``(j_star, scores)``: the argmax of the chosen statistic and all scores ``[m]``."""
    ft, fe = _two_d("f_target", f_target), _two_d("f_english", f_english)
    if ft.shape[1] != fe.shape[1]:
        raise ValueError(f"f_target and f_english must have the same width, got {ft.shape[1]} and {fe.shape[1]}")
    s = np.asarray(feature_scores(jnp.asarray(ft), jnp.asarray(fe), stat))
    return int(np.argmax(s)), s


def rank_of(scores, j: int) -> int:
    """1-based rank of feature ``j`` under ``scores`` (1 = largest)."""
    s = np.asarray(scores)
    return int((s > s[j]).sum()) + 1


def mu_plus(f_target, j: int) -> float:
    r"""$\mu^+_{L,j}$: the mean of $f_j$ over target positions where it fires (0 if it never fires)."""
    f = _two_d("f_target", f_target)
    col = f[:, check_feature(j, f.shape[1])]
    on = col > 0
    return float(col[on].mean()) if on.any() else 0.0


def matched_random_feature(f_all, j: int, scores, rng: np.random.Generator, pool: int = 10, exclude_top: int = 10) -> int:
    """A random feature with a firing rate matched to ``j`` (see the module docstring)."""
    f = _two_d("f_all", f_all)
    j = check_feature(j, f.shape[1])
    s = np.asarray(scores, np.float64)
    if s.shape != (f.shape[1],) or np.isnan(s).any():
        raise ValueError(f"scores must be [m={f.shape[1]}] without NaN, got shape {s.shape}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    pool, exclude_top = check_int(pool, "pool", minimum=1), check_int(exclude_top, "exclude_top", minimum=0)
    rate = (f > 0).mean(0)
    banned = set(np.argsort(-np.asarray(scores))[:exclude_top].tolist()) | {int(j)}
    order = [k for k in np.argsort(np.abs(rate - rate[j]), kind="stable").tolist() if k not in banned and rate[k] > 0]
    if not order:
        raise ValueError("no feature that fires is left to serve as the matched random control")
    return int(rng.choice(order[:pool]))


def head_attribution(contributions, enc_column) -> np.ndarray:
    r"""$a_{\ell,h}=\mathbb E_t[(z_{h,t}W_O^h)\cdot w]$ from ``contributions [layers, n, heads, d]``
    (positions flattened into ``n``) and ``w`` $=W_{\rm enc}[:,j^\star]$ ``[d]``; returns ``[layers, heads]``."""
    c = np.asarray(contributions, np.float64)
    w = np.asarray(enc_column, np.float64)
    if w.ndim != 1:
        raise ValueError(f"enc_column must be [d], got shape {w.shape}")
    if c.ndim != 4 or c.shape[-1] != w.shape[-1] or c.shape[1] == 0:
        raise ValueError(f"contributions must be [layers, n >= 1, heads, d={w.shape[-1]}], got shape {c.shape}")
    check_finite("contributions", c)
    check_finite("enc_column", w)
    return np.einsum("lnhd,d->lh", c, w) / c.shape[1]
