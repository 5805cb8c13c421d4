r"""Language-model quality figures for Gemma: per-token negative log-likelihood, perplexity against the
best unigram model, on a hashed text corpus.

For a sequence $t_0 = \langle bos\rangle, t_1, \dots, t_T$ the model's perplexity is
$\exp\big(-\frac{1}{N}\sum_{\text{seqs}}\sum_{i \ge 1} \log p(t_i \mid t_{<i})\big)$ over all $N$
scored tokens. The unigram baseline is the *in-sample* maximum-likelihood unigram
$\hat p(t) = c(t)/N$ fitted on the very tokens it scores: $\exp(-\frac1N\sum_i \log \hat p(t_i))$
is the lowest perplexity any context-free model reaches on that text (Gibbs' inequality), so the
comparison favours the baseline.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .gemma import check_ids, output_logits, run_layers

__all__ = ["PerplexityReport", "corpus_sha256", "perplexity_report", "token_nll", "unigram_nll"]


@functools.partial(jax.jit, static_argnames=("cfg",))
def _nll(params: Any, ids: jax.Array, *, cfg: Any) -> jax.Array:
    h, _, _ = run_layers(cfg, params, ids, 0, None, None, (), False)
    logits = output_logits(cfg, params, h[:, :-1]).astype(jnp.float32)
    picked = jnp.take_along_axis(logits, ids[:, 1:, None], axis=-1)[..., 0]
    return jax.nn.logsumexp(logits, axis=-1) - picked


def token_nll(model: Any, ids: Any) -> np.ndarray:
    r"""$-\log p(t_i \mid t_{<i})$ for $i = 1..T-1$ of ``ids`` $[T]$ or $[B, T]$ (natural log, float32
    numpy, one fewer column than ``ids``), by one jitted full forward."""
    a = check_ids(ids, model.config)
    if a.shape[1] < 2:
        raise ValueError("ids: need at least 2 tokens to score one")
    out = np.asarray(_nll(model.params, a, cfg=model.config))
    return out[0] if np.ndim(ids) == 1 else out


def unigram_nll(ids: Sequence[int]) -> np.ndarray:
    r"""$-\log \hat p(t_i)$ under the in-sample maximum-likelihood unigram $\hat p(t) = c(t)/N$."""
    a = np.asarray(ids)
    _, inv, counts = np.unique(a, return_inverse=True, return_counts=True)
    return -np.log(counts[inv] / a.size)


def corpus_sha256(texts: Sequence[str]) -> str:
    """SHA-256 of the texts, UTF-8, each followed by a NUL byte (the provenance of a corpus)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class PerplexityReport:
    """``model_ppl`` and ``unigram_ppl`` over ``tokens`` scored tokens of ``texts`` sequences, with a
    95 % interval for the model's mean NLL (normal approximation over sequences), and ``sha256``."""

    model_ppl: float
    unigram_ppl: float
    tokens: int
    texts: int
    nll_ci95: tuple[float, float]
    sha256: str


def perplexity_report(model: Any, texts: Sequence[str], *, max_tokens: int = 256) -> PerplexityReport:
    """Score every text (``<bos>`` + at most ``max_tokens - 1`` tokens) with :func:`token_nll`, and the
    same tokens with :func:`unigram_nll`. Texts are scored one at a time (a progress bar)."""
    from attnverify.proofs_numeric.progress import progress

    if not texts:
        raise ValueError("texts must be non-empty")
    per_seq, all_nll, all_ids = [], [], []
    for text in progress(texts, desc="perplexity"):
        ids = model.tokenizer.encode(text).ids[:max_tokens]
        nll = token_nll(model, ids)
        per_seq.append(float(nll.mean()))
        all_nll.append(nll)
        all_ids.extend(ids[1:])
    nll = np.concatenate(all_nll)
    means = np.asarray(per_seq)
    half = 1.96 * means.std(ddof=1) / np.sqrt(len(means)) if len(means) > 1 else float("nan")
    return PerplexityReport(float(np.exp(nll.mean())), float(np.exp(unigram_nll(all_ids).mean())), int(nll.size),
                            len(texts), (float(nll.mean() - half), float(nll.mean() + half)), corpus_sha256(texts))
