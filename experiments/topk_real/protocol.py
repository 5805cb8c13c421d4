r"""Measurements behind ``attnverify experiment topk-real``: certified Top-k on MiniLM-L6 attention.

For every attention row (layer $\ell$, head $h$, sequence, query) of real text, with logits
$s\in\mathbb R^n$ (float32 model output, cast exactly to float64), values $v_i\in\mathbb R^{d_h}$
and each $\varepsilon\in\{0.001,0.01,0.05,0.1\}$ (``topk_tv`` §2 C13–C15, §3, §4):

- the logit spread $\hat\sigma=\mathrm{sd}(s)$ (population sd over the $n$ keys);
- the empirical minimal $k_\varepsilon=\min\{k:\tau_k\le\varepsilon\}$ from
  :func:`bounds.certified_topk` (its certificate $\tau^{\rm up}\le\varepsilon$ and minimality flag);
- the asymptotic rule $n\,\Phi_c(\hat\sigma+z_\varepsilon)$ (:func:`bounds.keps_rule`) and the
  finite-$n$ predictor (:func:`bounds.keps_finite_n`);
- an independent TV check: $\mathrm{TV}(P,\widehat P)=\tfrac12\sum_i|p_i-\widehat p_i|$ computed
  directly from the kept set, counted against $\varepsilon$ on every row;
- on a seeded subsample of rows, the actual output error $\|\mathrm{Attn}-\mathrm{Attn}_k\|_2$
  against each bound of C11 (diameter, variance, $2C\tau$) via :func:`bounds.output_error_bounds`.

The per-row pieces (fixed-shape blocks, tabulated predictors, direct checks) are in
:mod:`._topk_real_rows`. The reduction is reported two ways: $n/\overline{k_\varepsilon}$ (``n / mean k``: the paper's
"scored keys" average, e.g. $128/58.8=2.18$) and $\overline{n/k_\varepsilon}$ (mean of per-row
speed-ups, dominated by peaked rows).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from .rows import bounds_on_sample, certify_rows, finite_n_predictor, minimality_violations, softmax, tv_direct

__all__ = ["EPS", "PAPER", "Protocol", "QUICK", "FULL", "VERIFY", "measure", "attention_layers", "finite_n_predictor"]

EPS = (0.001, 0.01, 0.05, 0.1)
TV_SLACK = 1e-12  #: float64 rounding allowance of the *direct* TV sum (the certificate itself is exact)
PAPER = {
    "model": "bert-base-uncased (12 layers x 12 heads), MC-Search scored keys",
    "eps": 0.01,
    "scored_keys": {128: 58.8, 256: 107.8},
    "reduction": {128: 128 / 58.8, 256: 256 / 107.8},
    "headline": "2-4x fewer scored keys on average",
}


@dataclasses.dataclass(frozen=True)
class Protocol:
    """Sequence lengths, sequences per length, forward batch size and output-bound rows per (n, eps)."""

    name: str
    sequences: dict[int, int]
    batch: int = 2
    bound_rows: int = 64  #: rows per (forward batch, layer, eps) for the output bounds
    eps: tuple[float, ...] = EPS
    predictor_grid: int = 9
    width: int | None = None  #: pad rows to this many keys (-inf) so all n share one compiled program


FULL = Protocol("full", {128: 16, 256: 8, 512: 4}, batch=2, bound_rows=96, predictor_grid=17)
QUICK = Protocol("quick", {128: 2, 256: 1}, batch=2, bound_rows=64, width=256)
VERIFY = Protocol("verify (reduced)", {128: 1, 256: 1}, batch=2, bound_rows=64, predictor_grid=9, width=256)
def attention_layers(model: Any, n: int, count: int, batch: int):
    """Yield ``(layer, logits, values)`` per forward batch of ``count`` corpus chunks of ``n``
    tokens: ``logits`` ``[B,H,n,n]`` and ``values`` ``[B,H,n,d_h]`` as float64 numpy arrays."""
    from attnverify.attention import encoder_forward, prose_corpus

    ids = prose_corpus(model, n, count).input_ids
    for b0 in range(0, count, batch):
        out = encoder_forward(model, ids[b0: b0 + batch])
        logits, values = jax.device_get((out.logits, out.v))
        for layer in range(logits.shape[0]):
            yield layer, np.asarray(logits[layer], np.float64), np.asarray(values[layer], np.float64)


@dataclasses.dataclass
class _Cell:
    """Running sums for one (n, eps): per (layer, head) arrays and output-bound samples."""

    L: int
    H: int
    k: np.ndarray = None
    n_over_k: np.ndarray = None
    sigma: np.ndarray = None
    rule: np.ndarray = None
    pred: np.ndarray = None
    rows: np.ndarray = None
    tv_ok: int = 0
    tv_rows: int = 0
    max_tv_excess: float = -np.inf
    minimal: int = 0
    minimality_violations: int = 0
    actual: list = dataclasses.field(default_factory=list)
    bounds: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for f in ("k", "n_over_k", "sigma", "rule", "pred", "rows"):
            setattr(self, f, np.zeros((self.L, self.H)))


def measure(model: Any, protocol: Protocol, seed: int = 0) -> dict[str, Any]:
    """Run the protocol; returns the JSON-able summary (tables per n, eps, layer and head)."""
    from attnverify.proofs_numeric import progress, require_x64

    require_x64("the topk-real experiment")
    rng = np.random.default_rng(seed)
    L, H = model.config.num_layers, model.config.num_heads
    cells = {(n, e): _Cell(L, H) for n in protocol.sequences for e in protocol.eps}
    batches = sum(-(-c // protocol.batch) for c in protocol.sequences.values()) * L
    it = ((n, layer, s, v) for n, count in protocol.sequences.items()
          for layer, s, v in attention_layers(model, n, count, protocol.batch))
    for n, layer, s, v in progress(it, desc=f"topk-real ({protocol.name})", total=batches):
        B, width = s.shape[0], protocol.width or n
        rows = s.reshape(-1, n)  # row index = (b * H + h) * n + query
        sigma = rows.std(-1)
        p = softmax(rows)
        for eps in protocol.eps:
            c = cells[(n, eps)]
            k, kept, minimal = certify_rows(rows, eps, width)
            per_head = lambda x: x.reshape(B, H, n).sum(axis=(0, 2))  # noqa: E731
            c.k[layer] += per_head(k.astype(np.float64))
            c.n_over_k[layer] += per_head(n / k)
            c.sigma[layer] += per_head(sigma)
            c.rule[layer] += per_head(n * finite_n_predictor(n, eps, 2, which="rule")(sigma))
            c.pred[layer] += per_head(n * finite_n_predictor(n, eps, protocol.predictor_grid)(sigma))
            c.rows[layer] += B * n
            tv = tv_direct(p, kept)
            c.tv_ok += int((tv <= eps + TV_SLACK).sum())
            c.tv_rows += tv.size
            c.max_tv_excess = max(c.max_tv_excess, float((tv - eps).max()))
            c.minimal += int(minimal.sum())
            c.minimality_violations += minimality_violations(p, rows, kept, minimal & (k > 1), eps)
            actual, bnds = bounds_on_sample(rng, rows, v.reshape(-1, n, v.shape[-1]), p, k, kept, protocol.bound_rows, width)
            c.actual.append(actual)
            for name, b in bnds.items():
                c.bounds.setdefault(name, []).append(b)
    return _summarise(cells, protocol)


def _quantiles(x: np.ndarray) -> dict[str, float]:
    if x.size == 0:
        return {}
    q = np.quantile(x, [0.0, 0.05, 0.5, 0.95, 1.0])
    return dict(zip(("min", "p05", "median", "p95", "max"), map(float, q)))


def _summarise(cells: dict, protocol: Protocol) -> dict[str, Any]:
    per_n_eps, per_head = [], []
    for (n, eps), c in sorted(cells.items()):
        rows = c.rows.sum()
        mean_k = c.k.sum() / rows
        actual = np.concatenate(c.actual)
        pos = actual > 0
        bounds = {b: np.concatenate(v) for b, v in c.bounds.items()}
        best = np.minimum.reduce(list(bounds.values()))
        ratios = {b: _quantiles(bounds[b][pos] / actual[pos]) for b in bounds}
        ratios["min of three"] = _quantiles(best[pos] / actual[pos])
        active = {b: float(np.mean(bounds[b][pos] == best[pos])) if pos.any() else None for b in bounds}
        violations = {b: int((bounds[b] < actual * (1 - 1e-9) - 1e-12).sum()) for b in bounds}
        rel_excess = {b: float(np.max((actual[pos] - bounds[b][pos]) / actual[pos], initial=0.0)) for b in bounds}
        per_n_eps.append({
            "n": n, "eps": eps, "rows": int(rows), "sequences": protocol.sequences[n],
            "mean_sigma": float(c.sigma.sum() / rows), "mean_k": float(mean_k),
            "reduction_n_over_mean_k": float(n / mean_k), "mean_n_over_k": float(c.n_over_k.sum() / rows),
            "rule_mean_k": float(c.rule.sum() / rows), "predictor_mean_k": float(c.pred.sum() / rows),
            "tv_rows": c.tv_rows, "tv_ok": c.tv_ok, "max_tv_minus_eps": c.max_tv_excess,
            "minimal_certified_rows": c.minimal, "minimality_violations": c.minimality_violations,
            "bound_rows": int(actual.size), "zero_error_rows": int((~pos).sum()),
            "ratio_bound_over_actual": ratios, "active_fraction": active, "bound_violations": violations,
            "max_relative_violation": rel_excess,
        })
        for layer in range(c.L):
            for h in range(c.H):
                r = c.rows[layer, h]
                per_head.append({
                    "n": n, "eps": eps, "layer": layer, "head": h, "rows": int(r),
                    "mean_sigma": c.sigma[layer, h] / r, "mean_k_over_n": c.k[layer, h] / r / n,
                    "rule_k_over_n": c.rule[layer, h] / r / n, "predictor_k_over_n": c.pred[layer, h] / r / n,
                    "reduction": n * r / c.k[layer, h],
                })
    return {"protocol": dataclasses.asdict(protocol), "paper": PAPER, "per_n_eps": per_n_eps, "per_head": per_head}


@dataclasses.dataclass(frozen=True)
class RealProtocol:
    """The paper-comparison protocol: models, sequences per n for the k_eps reduction (units of the
    bootstrap), the certified-selection soundness protocol per model, and the MC-Search sample."""

    name: str
    models: tuple[str, ...]  #: keys of :data:`MODELS`
    sequences: dict[int, int]  #: n -> sequences of the prose corpus
    soundness: dict[str, Protocol]  #: model -> certified Top-k / TV / output-bound protocol
    batch: int = 4
    mc_sequences: int = 2  #: sequences per n whose heads run MC-Search
    mc_rows: int = 32  #: query rows per head for MC-Search (seeded sample)
    mc_lengths: tuple[int, ...] = (128, 256)


MODELS = {"minilm": "MiniLM-L6 (all-MiniLM-L6-v2: 6 layers x 12 heads, d = 384)",
          "mpnet": "MPNet-base (all-mpnet-base-v2: 12 layers x 12 heads, d = 768, relative position bias)"}
REAL_FULL = RealProtocol("full", ("minilm", "mpnet"), {128: 64, 256: 64},
                         {"minilm": Protocol("full", {128: 4, 256: 2}, batch=2, bound_rows=96, predictor_grid=17, width=256),
                          "mpnet": Protocol("full", {128: 2, 256: 1}, batch=1, bound_rows=96, predictor_grid=17, width=256)})
REAL_QUICK = RealProtocol("quick", ("minilm",), {128: 4}, {"minilm": QUICK}, batch=4, mc_sequences=1, mc_rows=4, mc_lengths=(128,))
REAL_VERIFY = RealProtocol("verify (reduced)", ("minilm",), {128: 16, 256: 16}, {"minilm": VERIFY}, batch=8,
                           mc_sequences=1, mc_rows=8, mc_lengths=(128,))
