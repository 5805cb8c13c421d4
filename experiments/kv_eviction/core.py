r"""KV-eviction study helpers (OBCache, ``docs/papers/obcache.md``: C7, C13 and the paper's experiments).

The data (:func:`synthetic_qkv`, :func:`minilm_qkv`), the evaluation of every eviction policy of
:mod:`attention.kv.eviction` at the budgets :data:`BUDGETS` (relative output error
$\|\hat O-O\|_F/\|O\|_F$ of the future queries and of the scoring window), the rank agreement of the
scores with the exact removal error $E^{\rm rm}$, and the per-dataset tables and plots
(:func:`run_dataset`). The protocol is described in :mod:`.kv_eviction`, which registers the
experiment and the claims and re-exports this module's public names.

Example::

    qkv = synthetic_qkv(np.random.default_rng(0), heads=24, length=80)
    res = run_dataset("synthetic", qkv, n=64, out_dir=None)
    res["claim_holds"], res["rank_agreement"]["obc-k"]["recall@10%"]
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from attnverify import proofs_numeric as pn
from attnverify.attention.kv.eviction import EvictionPolicy

__all__ = [
    "BUDGETS", "WINDOW", "N_SINKS", "RECENT_FRAC", "synthetic_qkv", "minilm_qkv", "evaluate_policies", "keep_all_error",
    "rank_agreement", "rank_agreement_per_head", "output_aware_log_ratio", "host_log_ratios", "HOSTS", "SquaredAttention", "compare_to_host", "verdict_output_aware",
    "run_dataset",
]

BUDGETS = (0.05, 0.10, 0.20, 0.40)
HOSTS = ("h2o", "tova", "snapkv")
WINDOW = 16
N_SINKS = 4
RECENT_FRAC = 0.05


def synthetic_qkv(rng: np.random.Generator, heads: int, length: int, d: int = 32, rho: float = 0.95) -> tuple[np.ndarray, ...]:
    r"""Synthetic attention heads: ``q, k, v`` float64 [heads, length, d].

    $q_t=\sqrt d\,\mu+0.7u_t+P_t$ with $u_t$ AR(1) ($\rho$), $k_j=\gamma_j\mu+\xi_j+P_j$ with 8 % heavy
    hitters ($\gamma=4$), $P$ sinusoidal (logit $\approx3$ at distance 0), token 0 a sink ($\gamma=8$,
    value norm 0.1), values $s_j\eta_j$ with $\log s_j\sim N(0,0.5^2)$.
    """
    mu = rng.normal(size=(heads, 1, d))
    mu /= np.linalg.norm(mu, axis=-1, keepdims=True)
    eps = rng.normal(size=(heads, length, d))
    u = np.empty_like(eps)
    u[:, 0] = eps[:, 0]
    for t in range(1, length):
        u[:, t] = rho * u[:, t - 1] + np.sqrt(1 - rho**2) * eps[:, t]
    m = 4
    omega = np.geomspace(0.02, 0.3, m)
    c = np.sqrt(3.0 * np.sqrt(d) / m)
    pos = np.zeros((1, length, d))
    ang = np.arange(length)[:, None] * omega[None, :]
    pos[0, :, :m], pos[0, :, m : 2 * m] = c * np.cos(ang), c * np.sin(ang)
    gamma = np.where(rng.random((heads, length, 1)) < 0.08, 4.0, rng.normal(0, 0.5, (heads, length, 1)))
    gamma[:, 0] = 8.0
    q = np.sqrt(d) * mu + 0.7 * u + pos
    k = gamma * mu + rng.normal(size=(heads, length, d)) + pos
    s = np.exp(rng.normal(0, 0.5, (heads, length, 1)))
    s[:, 0] = 0.1 / np.sqrt(d)
    return q, k, s * rng.normal(size=(heads, length, d))


def minilm_qkv(n_tokens: int, count: int) -> tuple[np.ndarray, ...]:
    """MiniLM-L6 causal ``q, k, v`` of ``count`` corpus chunks, float64 [layers*count*heads, n_tokens, d_h]."""
    from attnverify import attention

    model = attention.load_bert()
    out = attention.bert_forward(model, attention.text_corpus(model, n_tokens, count), causal=True)
    return tuple(np.asarray(x, np.float64).reshape((-1,) + x.shape[-2:]) for x in (out.q, out.k, out.v))


@dataclasses.dataclass(frozen=True)
class SquaredAttention(EvictionPolicy):
    r"""Placebo score $S^{a^2}_p=\sum_{i\in\mathcal W}A_{ip}^2$: no values, no logits (a control for the OBCache
    scores, which weight $a_i^2$ by value and logit terms)."""

    label: ClassVar[str] = "sq-attn"

    def score(self, att, v):
        import jax.numpy as jnp

        return jnp.sum(att.probs**2, -2)


def _policies(scores: tuple | None = None):
    from attnverify.attention.kv.eviction import SCORES, RemovalOracle, eviction_policies

    return eviction_policies(WINDOW, SCORES + (SquaredAttention, RemovalOracle) if scores is None else scores)


@functools.lru_cache(maxsize=1)
def _window_error_fn():
    import jax
    import jax.numpy as jnp

    from attnverify.attention.kv.perturbation import _attend, causal_mask

    @jax.jit
    def window_error(q, k, v, keep):
        """Relative error of the last ``q.shape[-2]`` prompt rows (the scoring window) after eviction."""
        n, w = k.shape[-2], q.shape[-2]
        both = jnp.stack([jnp.ones_like(keep), keep])
        mask = jnp.broadcast_to(causal_mask(n, jnp.arange(n - w, n)), both.shape[:-1] + (w, n)) & both[..., None, :]
        qe, ke, ve = (jnp.broadcast_to(x, both.shape[:-2] + x.shape) for x in (q, k, v))
        out = _attend(qe, ke, ve, mask).out
        return jnp.linalg.norm(out[1] - out[0], axis=(-2, -1)) / jnp.linalg.norm(out[0], axis=(-2, -1))

    return window_error


@functools.lru_cache(maxsize=16)
def _host_scores_fn(policies: tuple):
    """Compiled scores ``[len(policies), ..., n]`` of one host's policies (same window), computed once for
    every budget (``keep_masks`` would rescore per budget; the selection is the same ``select_tokens``)."""
    import jax
    import jax.numpy as jnp

    from attnverify.attention.kv.perturbation import causal_mask, window_attention

    @jax.jit
    def scores(q, k, v):
        n = k.shape[-2]
        w = n if policies[0].window is None else policies[0].window
        att = window_attention(q[..., n - w :, :], k, v, causal_mask(n, jnp.arange(n - w, n)))
        return jnp.stack([p.score(att, v) for p in policies])

    return scores


def evaluate_policies(q, k, v, n: int, budgets=BUDGETS, *, chunk: int = 24, desc: str = "", scores: tuple | None = None,
                      window: bool = True) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Relative error [len(budgets), heads] per policy name of the future queries and of the scoring
    window (last :data:`WINDOW` prompt rows, the objective the scores approximate); ``q, k, v`` [heads, n+f, d].
    ``scores``: the score classes combined with every host (default: the four scores and the removal oracle);
    ``window=False`` skips the scoring-window errors (left at 0)."""
    import jax.numpy as jnp

    from attnverify.attention.kv.eviction import budget_count, eviction_error, select_tokens

    pols = _policies(scores)
    hosts: dict[str, list] = {}
    for p in pols:
        hosts.setdefault(p.host, []).append(p)
    out = {p.name: np.zeros((len(budgets), q.shape[0])) for p in pols}
    win = {p.name: np.zeros((len(budgets), q.shape[0])) for p in pols}
    for s in pn.progress(range(0, q.shape[0], chunk), desc=desc or "kv-eviction"):
        qc, kc, vc = (jnp.asarray(x[s : s + chunk]) for x in (q, k, v))
        for host, group in hosts.items():
            if len({(p.window, p.pool) for p in group}) != 1:
                raise ValueError(f"host {host}: policies with different windows or pooling")
            scores = _host_scores_fn(tuple(group))(qc[:, :n], kc[:, :n], vc[:, :n])
            for bi, b in enumerate(budgets):
                nb = budget_count(b, n)
                recent = 0 if host == "tova" else max(1, round(RECENT_FRAC * nb))
                keep = select_tokens(scores, nb, n_recent=recent, n_sinks=min(N_SINKS, nb - recent), pool=int(group[0].pool))
                err = np.asarray(eviction_error(qc[:, n:], kc, vc, keep))
                werr = np.asarray(_window_error_fn()(qc[:, n - WINDOW : n], kc[:, :n], vc[:, :n], keep)) if window else np.zeros(keep.shape[:-1])
                for p, e, we in zip(group, err, werr):
                    out[p.name][bi, s : s + chunk] = e
                    win[p.name][bi, s : s + chunk] = we
    return out, win


def keep_all_error(q, k, v, n: int) -> float:
    """Control: the future-query error with budget 1.0 (nothing evicted) must be exactly 0."""
    from attnverify.attention.kv.eviction import eviction_error

    keep = np.ones((q.shape[0], n), bool)
    return float(np.max(np.asarray(eviction_error(q[:, n:], k, v, keep))))


def rank_agreement(q, k, v, n: int, budgets=BUDGETS, window: int = WINDOW) -> dict[str, dict[str, float]]:
    r"""Spearman and top-$B$ recall of $S^A,S^V,S^K,S^{VK}$ against $E^{\rm rm}$ on the last ``window`` prompt rows
    (means over heads; ``spearman_min`` the worst head)."""
    per = rank_agreement_per_head(q, k, v, n, budgets, window)
    out: dict[str, dict[str, float]] = {}
    for name, row in per.items():
        out[name] = {"spearman": float(np.mean(row["spearman"])), "spearman_min": float(np.min(row["spearman"]))}
        out[name].update({key: float(np.mean(val)) for key, val in row.items() if key.startswith("recall@")})
    return out


def rank_agreement_per_head(q, k, v, n: int, budgets=BUDGETS, window: int = WINDOW) -> dict[str, dict[str, np.ndarray]]:
    r"""Per head: Spearman and top-$B$ recall of each score against $E^{\rm rm}$ (arrays ``[heads]``)."""
    import jax.numpy as jnp
    from scipy.stats import rankdata

    from attnverify.attention.kv.perturbation import causal_mask, exact_errors, obcache_scores, window_attention

    qj, kj, vj = (jnp.asarray(x[:, :n]) for x in (q, k, v))
    att = window_attention(qj[:, n - window :], kj, vj, causal_mask(n, jnp.arange(n - window, n)))
    sc, oracle = obcache_scores(att, vj), np.asarray(exact_errors(att, vj).removal)
    scores = {"attn": np.asarray(jnp.sum(att.probs, -2)), "obc-v": np.asarray(sc.value), "obc-k": np.asarray(sc.key), "obc-vk": np.asarray(sc.joint),
              "sq-attn": np.asarray(jnp.sum(att.probs**2, -2))}
    ro = rankdata(oracle, axis=-1)
    top_o = np.argsort(-oracle, axis=-1, kind="stable")
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, s in scores.items():
        rs = rankdata(s, axis=-1)
        row = {"spearman": np.array([np.corrcoef(a, b)[0, 1] for a, b in zip(rs, ro)])}
        top_s = np.argsort(-s, axis=-1, kind="stable")
        for b in budgets:
            nb = max(1, round(b * n))
            row[f"recall@{int(round(100 * b))}%"] = np.array([len(np.intersect1d(x[:nb], y[:nb])) / nb for x, y in zip(top_s, top_o)])
        out[name] = row
    return out


def output_aware_log_ratio(errors: dict[str, np.ndarray]) -> np.ndarray:
    r"""Per head: the mean over the hosts H2O, TOVA, SnapKV, the key and joint scores and the budgets of
    $\log(e_{\rm host+S}/e_{\rm host})$, the log ratio of the relative future-query errors (negative: the
    OBCache score evicts better than the host's accumulated attention). ``[heads]``."""
    tiny = 1e-12  # both errors ~0 (nothing relevant evicted): ratio 1
    logs = [np.log((errors[f"{h}+{lab}"] + tiny) / (errors[h] + tiny)) for h in HOSTS for lab in ("obc-k", "obc-vk")]
    return np.mean(np.stack(logs), axis=(0, 1))


def host_log_ratios(errors: dict[str, np.ndarray]) -> dict[str, dict[str, list[float]]]:
    r"""Per host and arm, per head: the mean over budgets (and scores) of $\log(e_{\rm host+S}/e_{\rm host})$;
    arms ``obcache`` (mean of $S^K$ and $S^{VK}$), ``obc-k``, ``obc-vk`` and the placebo ``sq-attn``."""
    tiny = 1e-12  # both errors ~0 (nothing relevant evicted): ratio 1

    def ratio(host: str, labels: tuple[str, ...]) -> list[float]:
        logs = [np.log((errors[f"{host}+{lab}"] + tiny) / (errors[host] + tiny)) for lab in labels]
        return np.mean(np.stack(logs), axis=(0, 1)).tolist()

    return {h: {"obcache": ratio(h, ("obc-k", "obc-vk")), "obc-k": ratio(h, ("obc-k",)), "obc-vk": ratio(h, ("obc-vk",)),
                "sq-attn": ratio(h, ("sq-attn",))} for h in HOSTS}


def compare_to_host(errors: dict[str, np.ndarray], budgets=BUDGETS) -> dict[str, Any]:
    """Per host and OBCache score: mean relative change of the error vs the host's accumulated attention
    (negative = better), and the fraction of (budget, head) pairs where the OBCache variant is better."""
    out: dict[str, Any] = {}
    for host in ("h2o", "tova", "snapkv"):
        base = errors[host]
        for lab in ("obc-v", "obc-k", "obc-vk"):
            e = errors[f"{host}+{lab}"]
            per_budget = (e.mean(1) / base.mean(1) - 1.0).tolist()
            out[f"{host}+{lab}"] = {
                "rel_change_per_budget": dict(zip([f"{int(round(100 * b))}%" for b in budgets], per_budget)),
                "rel_change_mean": float(np.mean(per_budget)),
                "cells_better": int(sum(c < 0 for c in per_budget)),
                "pairs_better_frac": float(np.mean(e < base)),
            }
    return out


def verdict_output_aware(cmp: dict[str, Any]) -> tuple[bool, dict[str, float]]:
    """The paper's claim holds when the key and joint scores lower the mean error for every host
    (averaged over budgets). Returns (holds, mean relative change per score)."""
    by_score = {lab: float(np.mean([cmp[f"{h}+{lab}"]["rel_change_mean"] for h in HOSTS])) for lab in ("obc-v", "obc-k", "obc-vk")}
    holds = all(cmp[f"{h}+{lab}"]["rel_change_mean"] < 0 for h in HOSTS for lab in ("obc-k", "obc-vk"))
    return holds, by_score


def _table(errors: dict[str, np.ndarray], budgets) -> str:
    head = "| policy | " + " | ".join(f"{int(round(100 * b))}%" for b in budgets) + " |\n"
    head += "|---" * (len(budgets) + 1) + "|\n"
    rows = []
    for name, e in errors.items():
        sem = e.std(1, ddof=1) / np.sqrt(e.shape[1]) if e.shape[1] > 1 else np.zeros(len(budgets))
        rows.append(f"| {name} | " + " | ".join(f"{m:.4f} ± {s:.4f}" for m, s in zip(e.mean(1), sem)) + " |")
    return head + "\n".join(rows) + "\n"


def _fmt(d: dict[str, float]) -> str:
    return ", ".join(f"{k} {100 * v:+.1f} %" for k, v in d.items())


def _plot(errors: dict[str, np.ndarray], budgets, title: str, out_dir: Path, stem: str) -> list[Path]:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    x = 100 * np.asarray(budgets)
    for ax, host in zip(axes, ("h2o", "tova", "snapkv")):
        for name, e in errors.items():
            if name == host or name.startswith(host + "+"):
                ax.plot(x, e.mean(1), marker="o", label=name.replace(host + "+", "") if name != host else "attention (host)")
        ax.set(title=f"{title}: {host}", xlabel="budget (% of prompt tokens kept)", xscale="log", yscale="log")
        ax.set_xticks(x, [f"{v:g}" for v in x])
        ax.minorticks_off()
        ax.legend(fontsize=8)
    axes[0].set_ylabel(r"relative future-query error $\|\hat O-O\|/\|O\|$")
    return pn.save_figure(fig, out_dir, stem)


def run_dataset(name: str, qkv, n: int, out_dir: Path | None, budgets=BUDGETS) -> dict[str, Any]:
    """Evaluate all policies and the rank agreement on one dataset; write tables and plots when ``out_dir``."""
    q, k, v = qkv
    errors, window_errors = evaluate_policies(q, k, v, n, budgets, desc=name)
    res = {
        "dataset": name, "heads": int(q.shape[0]), "n_prompt": n, "n_future": int(q.shape[1] - n), "d": int(q.shape[2]),
        "budgets": list(budgets), "keep_all_error": keep_all_error(q, k, v, n),
        "errors_mean": {p: e.mean(1).tolist() for p, e in errors.items()},
        "window_errors_mean": {p: e.mean(1).tolist() for p, e in window_errors.items()},
        "rank_agreement": rank_agreement(q, k, v, n, budgets), "vs_host": compare_to_host(errors, budgets),
        "log_ratio_per_head": output_aware_log_ratio(errors), "log_ratio_per_host": host_log_ratios(errors),
        "recall10_per_head": {s: r["recall@10%"] for s, r in rank_agreement_per_head(q, k, v, n, (0.10,)).items() if s in ("obc-k", "obc-vk", "attn", "sq-attn")},
        "vs_host_window": compare_to_host(window_errors, budgets),
    }
    res["claim_holds"], res["rel_change_by_score"] = verdict_output_aware(res["vs_host"])
    res["claim_holds_window"], res["rel_change_by_score_window"] = verdict_output_aware(res["vs_host_window"])
    if out_dir is not None:
        files = [pn.atomic_write_json(out_dir / f"errors_{name}.json", res)]
        md = f"# KV eviction on {name}: relative future-query error (mean ± s.e.m. over {q.shape[0]} heads)\n\n" + _table(errors, budgets)
        md += f"\n## Relative error of the scoring window (last {WINDOW} prompt rows: the scores' objective)\n\n" + _table(window_errors, budgets)
        md += "\n## Rank agreement with the exact removal error (SnapKV window)\n\n| score | " + " | ".join(next(iter(res["rank_agreement"].values()))) + " |\n"
        md += "|---" * (1 + len(next(iter(res["rank_agreement"].values())))) + "|\n"
        md += "\n".join(f"| {s} | " + " | ".join(f"{x:.3f}" for x in r.values()) + " |" for s, r in res["rank_agreement"].items()) + "\n"
        md += f"\nOutput-aware (key and joint) scores beat accumulated attention for every host, future queries: **{res['claim_holds']}**; mean relative change of the error by score: {_fmt(res['rel_change_by_score'])}\n"
        md += f"\nSame on the scoring window: **{res['claim_holds_window']}**; {_fmt(res['rel_change_by_score_window'])}\n"
        files.append(pn.atomic_write_text(out_dir / f"errors_{name}.md", md))
        files += _plot(errors, budgets, name, out_dir, f"error_vs_budget_{name}")
        res["files"] = [str(f) for f in files]
    return res
