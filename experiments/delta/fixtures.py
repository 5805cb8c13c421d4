r"""Measurements behind the Δ-attention experiment: per-query cosine to full attention.

For queries ``q, k, v`` ``[heads, N, d]`` (float64) the study computes full causal attention $y$,
sink+window attention $y^*$, Δ attention $\hat y$ (paper version, :func:`attention.delta_attention`)
(all strides in one pass, :func:`attention.delta_attention_strides`) and the recompute
baseline (Eq. 5) for each stride $\gamma$, and the per-query cosine
$\cos(\cdot_i, y_i)$ on the scored rows. Non-anchor rows ($i\bmod\gamma\ne0$) are reported
separately, since anchor rows are exact by construction (C2, C5). The locality diagnostic
nbr-cos is the mean $\cos(\Delta_i,\Delta_{i+1})$ of the true difference $\Delta=y-y^*$ (Fig. 6b).

Fixtures follow the spec (§3): **T-iid** (``default_rng(0)``, $N=512$, $d=32$, sink 4, window 64,
last 128 rows) and **T-AR(ρ)** (``default_rng(1)`` per ρ, $N=2048$, $d=32$, $V+0.5$, sink 4,
window 128, last 512 rows). Extra heads use the next seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

GAMMAS = (4, 8, 16, 32, 64)
RHOS = (0.0, 0.9, 0.99, 0.999)


def iid_fixture(heads: int = 1, seed: int = 0, n: int = 512, d: int = 32) -> tuple[np.ndarray, ...]:
    """T-iid: head ``h`` draws ``Q, K, V = rng.normal(size=(n, d))`` with ``default_rng(1000 seed + h)``."""
    out = []
    for h in range(heads):
        rng = np.random.default_rng(1000 * seed + h)
        out.append([rng.normal(size=(n, d)) for _ in range(3)])
    return tuple(np.stack(x) for x in zip(*out))


def ar_fixture(rho: float, heads: int = 1, seed: int = 0, n: int = 2048, d: int = 32) -> tuple[np.ndarray, ...]:
    r"""T-AR(ρ): $Q_t=\rho Q_{t-1}+\sqrt{1-\rho^2}\,\varepsilon_t$, then $K$, then $V+0.5$; ``default_rng(1 + 1000 seed + h)``."""
    out = []
    for h in range(heads):
        rng = np.random.default_rng(1 + 1000 * seed + h)
        q = np.empty((n, d))
        q[0] = rng.normal(size=d)
        for t in range(1, n):
            q[t] = rho * q[t - 1] + np.sqrt(1 - rho**2) * rng.normal(size=d)
        out.append([q, rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 0.5])
    return tuple(np.stack(x) for x in zip(*out))


def minilm_fixture(count: int = 1, n: int = 512) -> tuple[np.ndarray, ...]:
    """MiniLM-L6 causal attention on the real-text corpus: ``q, k, v`` float64 ``[layers*count*heads, n, d_h]``
    (layer-major) and the layer count."""
    from attnverify import attention

    model = attention.load_bert()
    out = attention.bert_forward(model, attention.text_corpus(model, n, count), causal=True)
    return tuple(np.asarray(x, np.float64).reshape((-1,) + x.shape[-2:]) for x in (out.q, out.k, out.v)) + (int(out.q.shape[0]),)


def running_mean_correction(y: np.ndarray, ys: np.ndarray, gamma: int) -> np.ndarray:
    r"""Placebo of Δ attention with **no locality**: every row gets the running mean of the
    corrections of all anchors so far, $\tilde y_i=y^*_i+\frac{1}{m(i)+1}\sum_{j=0}^{m(i)}\Delta_{j\gamma}$,
    $m(i)=\lfloor i/\gamma\rfloor$, $\Delta_a=y_a-y^*_a$, instead of its own block's $\Delta_{\alpha(i)}$
    (Eq. 7). It uses the same anchors and the same dense rows; what it drops is the assumption that
    $\Delta$ varies slowly, so a gain it shares with Δ is not evidence for that assumption."""
    anchors = np.arange(0, y.shape[-2], gamma)
    d = y[..., anchors, :] - ys[..., anchors, :]
    mean = np.cumsum(d, axis=-2) / np.arange(1, len(anchors) + 1)[:, None]
    return ys + np.repeat(mean, gamma, axis=-2)[..., : y.shape[-2], :]


def cosine_study(q, k, v, *, window: int, n_sink: int, gammas=GAMMAS, score_from: int = 0, recompute: bool = True,
                 placebo: bool = False) -> dict[str, Any]:
    """Per-query cosines to full attention on rows ``score_from..N-1``.

    **Returns:** ``{"sparse": [heads, r], "delta": {γ: [heads, r]}, "recompute": {γ: ...},
    "non_anchor": {γ: bool [r]}, "nbr_cos": [heads], "anchor_error": float}`` where
    ``anchor_error`` is the largest |Δ-output − full| on anchor rows (0 up to rounding, C2);
    with ``placebo``, also ``"running_mean": {γ: [heads, r]}`` (:func:`running_mean_correction`).
    """
    from attnverify.attention.delta.sparse import delta_attention_strides, dense_causal_attention, sink_window_attention
    from attnverify.attention.delta.theory import neighbour_cosine, row_cosine

    y = np.asarray(dense_causal_attention(q, k, v))
    ys = np.asarray(sink_window_attention(q, k, v, window=window, n_sink=n_sink))
    rows = np.arange(score_from, q.shape[-2])
    cos = lambda a: np.asarray(row_cosine(a[..., rows, :], y[..., rows, :]))  # noqa: E731
    out: dict[str, Any] = {"sparse": cos(ys), "delta": {}, "recompute": {}, "non_anchor": {}, "rows": rows, "running_mean": {}}
    out["nbr_cos"] = np.asarray(neighbour_cosine((y - ys)[..., rows, :]))
    anchor_error = 0.0
    corrected = np.asarray(delta_attention_strides(q, k, v, gammas=tuple(gammas), window=window, n_sink=n_sink))
    for g, yh in zip(gammas, corrected):
        anchor_error = max(anchor_error, float(np.max(np.abs(yh[..., ::g, :] - y[..., ::g, :]))))
        out["delta"][g] = cos(yh)
        if recompute:  # Eq. 5: dense anchor rows, sparse elsewhere (the identity of delta.recompute_off_anchors)
            yr = ys.copy()
            yr[..., ::g, :] = y[..., ::g, :]
            out["recompute"][g] = cos(yr)
        out["non_anchor"][g] = rows % g != 0
        if placebo:
            out["running_mean"][g] = cos(running_mean_correction(y, ys, g))
    out["anchor_error"] = anchor_error
    return out


def summarise(study: dict[str, Any]) -> dict[str, Any]:
    """Means over heads and scored rows: all rows and non-anchor rows, per γ; Δ's per-query win rate."""
    s = study["sparse"]
    res: dict[str, Any] = {"sparse": float(s.mean()), "nbr_cos": float(np.nanmean(study["nbr_cos"])), "per_gamma": {}}
    for g, d in study["delta"].items():
        na = study["non_anchor"][g]
        row = {
            "delta": float(d.mean()),
            "delta_non_anchor": float(d[..., na].mean()),
            "sparse_non_anchor": float(s[..., na].mean()),
            "delta_wins_non_anchor": float(np.mean(d[..., na] > s[..., na])),
            "gain_quantiles_non_anchor": dict(zip(("q10", "q50", "q90"), np.quantile(d[..., na] - s[..., na], (0.1, 0.5, 0.9)).tolist())),
        }
        if g in study["recompute"]:
            row["recompute"] = float(study["recompute"][g].mean())
        res["per_gamma"][int(g)] = row
    return res


def helps(summary: dict[str, Any], gammas=None) -> tuple[bool, dict[str, float]]:
    """Whether Δ raises the mean non-anchor cosine over sparse at every γ in ``gammas`` (default all)."""
    per = summary["per_gamma"]
    gains = {str(g): per[g]["delta_non_anchor"] - per[g]["sparse_non_anchor"] for g in (gammas or per)}
    return all(v > 0 for v in gains.values()), gains
