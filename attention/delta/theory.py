r"""Δ attention, the closed forms: tail block split, exact cost, Lemma 1, and the row metrics.

Paper page ``docs/papers/delta_attention.md`` (Willette et al., arXiv:2505.11254), §2.2-2.4.

* **Tail split** (released code, §2.2 and pitfall 3): ``cut_n = s % γ + max(128, γ)``,
  ``s_p = s - cut_n``. That rule leaves $s_p$ indivisible by $\gamma$ when $\gamma\nmid128$ and
  $\gamma<128$ (e.g. $\gamma=48$); the corrected rule ``cut_n = s % γ + γ⌈128/γ⌉`` always gives
  $\gamma\mid s_p$. When $s_p\le0$ every row is dense.
* **Cost** (App. F): the anchor pass computes $\sum_{k<m}(k\gamma+1)=\gamma\,m(m-1)/2+m$ entries,
  $m=\lceil N/\gamma\rceil$, of the $N(N+1)/2$ causal ones ($\to1/\gamma$); the sink+window pass
  $\sum_i|\mathcal S_i|$; total $\approx2(w+n_{\rm sink})/N+1/\gamma$; $w_{\rm eff}=w+N/(2\gamma)$.
* **Lemma 1**: with $H=\sum_{j\notin\mathcal S}e^{Z_j}$, $T=\sum_{j\in\mathcal S}e^{Z_j}$,
  $a^\top v-a^{*\top}v=\sum_{j\notin\mathcal S}a_jv_j+R$, $R=-\frac{H}{H+T}a^{*\top}v$,
  $|R|\le\frac{H}{H+T}\max_{j\in\mathcal S}|v_j|$, for any kept set.

Example::

    >>> delta_cost(2048, 64).anchor_entries, delta_cost(2048, 64).causal_entries
    (31776, 2098176)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._finite import check_int

__all__ = ["TailSplit", "delta_tail_split", "DeltaCost", "delta_cost", "Lemma1Terms", "lemma1_decomposition", "row_cosine", "neighbour_cosine"]


class TailSplit(NamedTuple):
    cut_n: int  #: rows computed densely at the end
    s_p: int  #: rows Δ-corrected (negative: invalid, the released code breaks)
    n_anchors: int  #: anchors 0, γ, ... below s_p
    valid: bool  #: s_p >= 0 and γ | s_p (the released code reshapes s_p rows into blocks of γ)


def delta_tail_split(s: int, gamma: int, min_tail: int = 128, *, released: bool = False) -> TailSplit:
    """The dense-tail split of the released code (``released=True``) or its corrected rule (default)."""
    check_int(gamma, "gamma", minimum=1)
    check_int(s, "s", minimum=1)
    check_int(min_tail, "min_tail", minimum=0)
    block = max(min_tail, gamma) if released else gamma * math.ceil(min_tail / gamma)
    cut_n = s % gamma + block
    s_p = s - cut_n
    return TailSplit(cut_n, s_p, max(0, -(-s_p // gamma)), s_p >= 0 and s_p % gamma == 0)


class DeltaCost(NamedTuple):
    causal_entries: int  #: N(N+1)/2
    anchor_entries: int  #: sum_{k<m} (k γ + 1)
    sparse_entries: int  #: sum_i |S_i|
    anchor_fraction: float  #: anchor / causal  (-> 1/γ)
    total_fraction: float  #: (sparse + anchor) / causal
    approx_fraction: float  #: 2 (w + n_sink) / N + 1/γ  (the spec's formula)
    window_eff: float  #: w + N / (2 γ)


def delta_cost(n: int, gamma: int, window: int = 0, n_sink: int = 0) -> DeltaCost:
    r"""Exact entry counts of the paper version (closed forms, Python integers).

    Sparse entries: rows $i<w$ keep $i+1$ keys; rows $i\ge w$ keep $w+\min(n_{\rm sink},i-w+1)$.
    """
    check_int(gamma, "gamma", minimum=1)
    n = check_int(n, "n", minimum=1)
    check_int(window, "window", minimum=0, maximum=n)
    check_int(n_sink, "n_sink", minimum=0)
    m = -(-n // gamma)
    anchor = gamma * m * (m - 1) // 2 + m
    causal = n * (n + 1) // 2
    rest = n - window  # rows i >= w, t = i - w + 1 in 1..rest
    sinks = rest * (rest + 1) // 2 if rest <= n_sink else n_sink * (n_sink + 1) // 2 + n_sink * (rest - n_sink)
    sparse = window * (window + 1) // 2 + window * rest + sinks
    return DeltaCost(
        causal, anchor, sparse, anchor / causal, (sparse + anchor) / causal,
        2 * (window + n_sink) / n + 1 / gamma, window + n / (2 * gamma),
    )


class Lemma1Terms(NamedTuple):
    difference: jax.Array  #: a·v − a*·v, computed from the two softmaxes
    dropped: jax.Array  #: Σ_{j∉S} a_j v_j
    remainder: jax.Array  #: R = −H/(H+T) a*·v
    ratio: jax.Array  #: H/(H+T)
    bound: jax.Array  #: H/(H+T) max_{j∈S} |v_j|


@jax.jit
def lemma1_decomposition(z: jax.Array, v: jax.Array, kept: jax.Array) -> Lemma1Terms:
    r"""The terms of Lemma 1 for logits ``z [..., n]``, values ``v [..., n]``, kept set ``kept [..., n]``.

    ``kept`` must hold at least one finite logit ($T>0$); ``-inf`` logits are masked keys. The
    difference is computed directly ($a^\top v-a^{*\top}v$, two softmaxes) so that
    ``difference - (dropped + remainder)`` tests the identity. Stable for logits of any range:
    $H/(H+T)=\sigma(\log H-\log T)$ and $a^*$ is normalised by its own maximum.
    """
    log_h = jax.nn.logsumexp(jnp.where(kept, -jnp.inf, z), axis=-1)
    log_t = jax.nn.logsumexp(jnp.where(kept, z, -jnp.inf), axis=-1)
    a = jnp.exp(z - jnp.logaddexp(log_h, log_t)[..., None])
    a_star = jnp.where(kept, jnp.exp(jnp.where(kept, z, -jnp.inf) - log_t[..., None]), 0.0)
    ratio = jax.nn.sigmoid(log_h - log_t)
    mean_kept = jnp.sum(a_star * v, axis=-1)
    return Lemma1Terms(
        difference=jnp.sum(a * v, axis=-1) - mean_kept,
        dropped=jnp.sum(jnp.where(kept, 0.0, a * v), axis=-1),
        remainder=-ratio * mean_kept,
        ratio=ratio,
        bound=ratio * jnp.max(jnp.where(kept, jnp.abs(v), 0.0), axis=-1),
    )


def row_cosine(a: jax.Array, b: jax.Array) -> jax.Array:
    r"""Per-row cosine similarity $\cos(a_i,b_i)$, ``[..., n, d] x [..., n, d] -> [..., n]`` (NaN where a row is zero)."""
    num = jnp.sum(a * b, axis=-1)
    return num / (jnp.linalg.norm(a, axis=-1) * jnp.linalg.norm(b, axis=-1))


def neighbour_cosine(delta: jax.Array, nu: int = 1) -> jax.Array:
    r"""The locality diagnostic of Fig. 6b: mean over rows of $\cos(\Delta_i,\Delta_{i+\nu})$, ``[..., n, d] -> [...]``.

    Pairs with a zero row (no dropped mass, e.g. an exactly underflowed tail) are skipped.
    """
    return jnp.nanmean(row_cosine(delta[..., :-nu, :], delta[..., nu:, :]), axis=-1)
