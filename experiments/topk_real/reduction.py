r"""The paper's reduction figures on real attention: $k_\varepsilon$ of every row, per sequence, layer and head.

For a model, a length $n$ and ``count`` sequences of the multi-source prose corpus
(:func:`attention.prose_corpus`), every attention row $s$ (sequence $b$, layer $\ell$, head $h$,
query $i$; the model's float32 logits, relative position bias included for MPNet, cast exactly to
float64) gets $k_\varepsilon$ for each $\varepsilon\in\{0.001,0.01,0.05,0.1\}$ (:func:`.keps.keps_rows`),
its spread $\hat\sigma$, the asymptotic rule and the finite-$n$ predictor (C13, C14). Two averages of
the reduction are reported (``topk_tv`` §4):

$$\rho_{\rm paper}=\frac{n}{\overline{k_\varepsilon}}\quad(\text{e.g. }128/58.8=2.18),\qquad
\rho_{\rm row}=\overline{n/k_\varepsilon}\ \ (\ge\rho_{\rm paper}\text{ by Jensen}).$$

The unit of independence is the **sequence**: per-sequence means are kept so that claims can
bootstrap 95 % intervals over sequences (:func:`reduction_interval`). MC-Search
(:func:`bounds.mc_search`, ball cells of each head's keys, §3.6) runs on ``mc_rows`` seeded query rows
per head of the first ``mc_sequences`` sequences at $\varepsilon=0.01$, on float64 logits recomputed
from $Q,K$ (plus the exact relative bias for MPNet), next to $k_\varepsilon$ of the same rows.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np

from .keps import keps_rows
from .rows import finite_n_predictor

__all__ = ["measure_reduction", "reduction_interval", "mc_search_rows"]

QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)


def _bias(model: Any, n: int) -> np.ndarray | None:
    """MPNet's relative position bias ``[H, n, n]`` in float64 (``None`` for BERT)."""
    from attnverify.attention import MPNetConfig, relative_position_bucket

    cfg = model.config
    if not isinstance(cfg, MPNetConfig):
        return None
    bucket = relative_position_bucket(np.arange(n)[None, :] - np.arange(n)[:, None], cfg.relative_attention_num_buckets,
                                      cfg.relative_attention_max_distance)
    return np.asarray(model.params["rel_bias"], np.float64)[bucket].transpose(2, 0, 1)


def mc_search_rows(q: np.ndarray, k: np.ndarray, bias: np.ndarray | None, rows: np.ndarray, eps: float) -> dict[str, np.ndarray]:
    r"""MC-Search on query rows ``rows`` of one head (``q``, ``k`` ``[n, d]`` float64, ``bias`` ``[n, n]``).

    Cell bounds: Cauchy–Schwarz ball bounds (:func:`bounds.ball_upper_bounds`) plus, per query and
    cell, the largest bias over the cell's keys, plus $4u(|U|+|\beta|)$ for the float64 addition.
    Returns per row ``scored``, ``kept`` ($|H|$), ``k_eps`` (of the same float64 logits) and ``tau_upper``.
    """
    from attnverify import bounds

    n, d = k.shape
    scale = 1.0 / math.sqrt(d)
    cells = bounds.ball_cells(k)
    qs = q[rows]
    logits = scale * (qs @ k.T)
    upper = bounds.ball_upper_bounds(qs, cells, scale)
    if bias is not None:
        b = bias[rows]
        logits = logits + b
        bmax = np.full((len(rows), upper.shape[1]), -np.inf)
        np.maximum.at(bmax.T, cells.assign, b.T)
        bmax = np.where(np.isfinite(bmax), bmax, 0.0)
        upper = upper + bmax + 4 * np.finfo(np.float64).eps * (np.abs(upper) + np.abs(bmax))
    res = bounds.mc_search(logits, eps, np.broadcast_to(cells.assign, logits.shape), upper)
    k_eps, _ = keps_rows(logits, [eps])
    return {"scored": res.scored, "kept": res.k, "k_eps": k_eps[:, 0], "tau_upper": res.tau_upper}


def measure_reduction(model: Any, name: str, n: int, count: int, *, batch: int = 4, eps: tuple[float, ...] = (0.001, 0.01, 0.05, 0.1),
                      devices: int = 1, mc_sequences: int = 0, mc_rows: int = 32, predictor_grid: int = 9,
                      seed: int = 0) -> dict[str, Any]:
    """Measure one (model, n): per-sequence/layer/head sums, the corpus record and an MC-Search sample."""
    from attnverify.attention import encoder_forward, prose_corpus
    from attnverify.proofs_numeric import progress, require_x64

    require_x64("the topk-real reduction measurement")
    L, H = model.config.num_layers, model.config.num_heads
    E = len(eps)
    corpus = prose_corpus(model, n, count)
    k_sum, nk_sum = np.zeros((count, L, H, E)), np.zeros((count, L, H, E))
    rule_sum, pred_sum, sigma_sum = np.zeros((count, L, H, E)), np.zeros((count, L, H, E)), np.zeros((count, L, H))
    rule = [finite_n_predictor(n, e, 2, which="rule") for e in eps]
    pred = [finite_n_predictor(n, e, predictor_grid) for e in eps]
    rng, bias = np.random.default_rng(seed), _bias(model, n)
    mc: dict[str, list] = {"scored": [], "kept": [], "k_eps": [], "tau_upper": []}
    for b0 in progress(range(0, count, batch), desc=f"topk-real {name} n={n}", total=-(-count // batch)):
        out = encoder_forward(model, corpus.input_ids[b0: b0 + batch])
        logits = np.asarray(jax.device_get(out.logits), np.float64)  # [L, B, H, n, n]
        B = logits.shape[1]
        k, sigma = keps_rows(logits.reshape(-1, n), eps, devices=devices)
        k = k.reshape(L, B, H, n, E).transpose(1, 0, 2, 3, 4)
        sigma = sigma.reshape(L, B, H, n).transpose(1, 0, 2, 3)
        sl = slice(b0, b0 + B)
        k_sum[sl] = k.sum(3)
        nk_sum[sl] = (n / k).sum(3)
        sigma_sum[sl] = sigma.sum(3)
        for j in range(E):
            rule_sum[sl, ..., j] = (n * rule[j](sigma)).sum(3)
            pred_sum[sl, ..., j] = (n * pred[j](sigma)).sum(3)
        for bi in range(B):
            if b0 + bi >= mc_sequences:
                break
            q, kk = (np.asarray(jax.device_get(a[:, bi]), np.float64) for a in (out.q, out.k))
            for layer in range(L):
                for h in range(H):
                    rows = np.sort(rng.choice(n, size=min(mc_rows, n), replace=False))
                    r = mc_search_rows(q[layer, h], kk[layer, h], None if bias is None else bias[h], rows, 0.01)
                    for f in mc:
                        mc[f].append(r[f])
    return _summarise(name, model, n, eps, corpus, k_sum, nk_sum, rule_sum, pred_sum, sigma_sum,
                      {f: np.concatenate(v) if v else np.zeros(0) for f, v in mc.items()}, mc_sequences, mc_rows)


def reduction_interval(per_sequence_mean_k: Any, n: int, *, seed: int = 0) -> tuple[float, float, float]:
    r"""$n/\overline{k_\varepsilon}$ and its 95 % bootstrap interval over sequences (BCa, 10 000 resamples)."""
    from attnverify.proofs_numeric import bootstrap_ci

    return bootstrap_ci(np.asarray(per_sequence_mean_k, np.float64), lambda x, axis=-1: n / np.mean(x, axis=axis), seed=seed)


def _summarise(name, model, n, eps, corpus, k_sum, nk_sum, rule_sum, pred_sum, sigma_sum, mc, mc_sequences, mc_rows):
    from attnverify.proofs_numeric import bootstrap_ci

    S, L, H, E = k_sum.shape
    seq_k = k_sum.sum((1, 2)) / (L * H * n)  # [S, E] per-sequence mean k_eps
    seq_nk = nk_sum.sum((1, 2)) / (L * H * n)
    head_k = k_sum.sum(0) / (S * n)  # [L, H, E]
    # per sequence: mean over heads of |finite-n - k| - |rule - k| (units of k/n), C14 against C13
    pred_gap = (np.abs(pred_sum - k_sum) - np.abs(rule_sum - k_sum)).mean((1, 2)) / (n * n)
    per_eps = []
    for j, e in enumerate(eps):
        red, lo, hi = reduction_interval(seq_k[:, j], n)
        mnk, mlo, mhi = bootstrap_ci(seq_nk[:, j])
        per_eps.append({"eps": e, "rows": int(S * L * H * n), "mean_k": float(seq_k[:, j].mean()), "n_over_mean_k": red,
                        "n_over_mean_k_ci95": [lo, hi], "mean_n_over_k": mnk, "mean_n_over_k_ci95": [mlo, mhi],
                        "rule_mean_k": float(rule_sum[..., j].sum() / (S * L * H * n)),
                        "predictor_mean_k": float(pred_sum[..., j].sum() / (S * L * H * n))})
    per_layer = [{"layer": layer, "eps": e, "n_over_mean_k": float(n / head_k[layer, :, j].mean()),
                  "mean_n_over_k": float(nk_sum[:, layer, :, j].sum() / (S * H * n)),
                  "mean_sigma": float(sigma_sum[:, layer].sum() / (S * H * n))}
                 for j, e in enumerate(eps) for layer in range(L)]
    head_q = {str(e): dict(zip(("min", "p05", "p25", "median", "p75", "p95", "max"),
                               map(float, np.quantile(n / head_k[..., j].ravel(), QUANTILES)))) for j, e in enumerate(eps)}
    rows = int(mc["scored"].size)
    mc_out = {"eps": 0.01, "sequences": min(mc_sequences, S), "rows_per_head": mc_rows, "rows": rows}
    if rows:
        mc_out |= {"mean_scored": float(mc["scored"].mean()), "mean_kept": float(mc["kept"].mean()),
                   "mean_k_eps": float(mc["k_eps"].mean()), "n_over_mean_scored": float(n / mc["scored"].mean()),
                   "n_over_mean_k_eps": float(n / mc["k_eps"].mean()),
                   "scored_below_k_eps": int((mc["scored"] < mc["k_eps"]).sum()),
                   "kept_below_k_eps": int((mc["kept"] < mc["k_eps"]).sum()),
                   "tau_upper_above_eps": int((mc["tau_upper"] > 0.01).sum())}
    cfg = model.config
    return {"model": name, "n": n, "sequences": S, "eps": list(eps),
            "architecture": {"layers": L, "heads": H, "width": cfg.hidden_size, "source": str(model.path)},
            "corpus": corpus.record(), "per_eps": per_eps, "per_layer": per_layer, "per_head_reduction_quantiles": head_q,
            "per_sequence": {"source": list(corpus.source), "mean_k": seq_k.tolist(), "mean_n_over_k": seq_nk.tolist(),
                             "mean_sigma": (sigma_sum.sum((1, 2)) / (L * H * n)).tolist(),
                             "predictor_minus_rule_abs_error": pred_gap.tolist()},
            "mc_search": mc_out}
