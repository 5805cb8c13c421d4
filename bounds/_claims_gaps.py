r"""Claims C5-C7 of spec ``topk_tv``: single-gap, multi-gap and blockwise tail bounds."""

from __future__ import annotations

import numpy as np

from attnverify.proofs_numeric import Context, Evidence, claim

from ._claims_support import adversarial_all_k, rel, sorted_batches, violation
from ._gaps import blockwise_bounds, multi_gap_bound, single_gap_bound
from ._tv import tail_mass


def _two_level_errors(ctx: Context) -> np.ndarray:
    """Equality cases: rows with s_1=...=s_k > s_{k+1}=...=s_n make C5 (and C7) exact."""
    rng = ctx.rng
    m = ctx.count(2000)
    n = rng.integers(2, 64, m)
    k = 1 + np.floor(rng.random(m) * (n - 1)).astype(np.int64)
    hi, gap = rng.normal(0, 3, m), rng.exponential(3, m)
    pos = np.arange(64)[None, :]
    x = np.where(pos < k[:, None], hi[:, None], (hi - gap)[:, None])
    x = np.where(pos < n[:, None], x, -np.inf)
    return rel(np.asarray(single_gap_bound(x, k, assume_sorted=True)), np.asarray(tail_mass(x, k, assume_sorted=True)))


@claim("topk.single_gap_bound", paper="topk_tv", equation="Thm 4.5 (C5)",
       statement=r"\tau_k\le\frac{(n-k)e^{s_{k+1}}}{ke^{s_k}+(n-k)e^{s_{k+1}}}=\Big(1+\tfrac k{n-k}e^{\Delta_k}\Big)^{-1}",
       provenance="paper", tolerance=1e-12, error="violation")
def single_gap(ctx: Context) -> Evidence:
    """C5 never fails (relative violation), is exact on two-level rows (relative gap <= 1e-12), gives
    (n-k)/n at ties, does not overflow for gaps > 750, and the tighter Z_H variant lies in between."""
    rand, adv = [], []
    for xs, _, k in sorted_batches(ctx):
        tau = np.asarray(tail_mass(xs, k, assume_sorted=True))
        b = np.asarray(single_gap_bound(xs, k, assume_sorted=True))
        bt = np.asarray(single_gap_bound(xs, k, variant="tight", assume_sorted=True))
        rand += [violation(tau, bt), violation(bt, b)]
    xa, ka = adversarial_all_k(ctx)
    tau, b = np.asarray(tail_mass(xa, ka)), np.asarray(single_gap_bound(xa, ka))
    adv += [violation(tau, b), np.where(np.isfinite(b), 0.0, np.inf), _two_level_errors(ctx)]
    ties = np.zeros((1, 10))
    adv.append(rel(np.asarray(single_gap_bound(ties, np.array([3]))), np.array([0.7])))
    return Evidence.from_errors(np.concatenate(rand), np.concatenate(adv),
                                details={"checks": "tau <= tight <= paper; two-level equality; ties (n-k)/n"})


@claim("topk.multi_gap_bound", paper="topk_tv", equation="C6 (multi-gap, substance only)",
       statement=r"\tau_k\le\frac A{k+A},\ A=\sum_{r=1}^R(c_r-c_{r-1})\exp\Big(-\sum_{i=k}^{c_{r-1}}\Delta_i\Big)",
       provenance="paper", tolerance=1e-12, error="violation")
def multi_gap(ctx: Context) -> Evidence:
    """The derived multi-gap form holds for default cuts min(n, k+2^r) and random cuts, is never looser
    than C5, and with c_r = k + r equals T / (k e^{s_k} + T) (exact on the tail)."""
    rng = ctx.rng
    rand = []
    for xs, n, k in sorted_batches(ctx):
        tau = np.asarray(tail_mass(xs, k, assume_sorted=True))
        mg = np.asarray(multi_gap_bound(xs, k, assume_sorted=True))
        c5 = np.asarray(single_gap_bound(xs, k, assume_sorted=True))
        inner = np.sort(k[:, None] + np.floor(rng.random((len(k), 6)) * (n - k + 1)[:, None]).astype(np.int64), 1)
        cuts = np.concatenate([k[:, None], inner, n[:, None]], axis=1)
        rc = np.asarray(multi_gap_bound(xs, k, cuts, assume_sorted=True))
        rand += [violation(tau, mg), violation(mg, c5), violation(tau, rc), violation(rc, c5)]
    xa, ka = adversarial_all_k(ctx)
    adv = [violation(np.asarray(tail_mass(xa, ka)), np.asarray(multi_gap_bound(xa, ka)))]
    x = np.array([[2.0, 1.0, 0.0, -1.0, -3.0]])
    e = np.exp(x[0])
    exact = e[2:].sum() / (2 * e[1] + e[2:].sum())
    adv.append(rel(np.asarray(multi_gap_bound(x, np.array([2]), np.array([[2, 3, 4, 5]]))), np.array([exact])))
    return Evidence.from_errors(np.concatenate(rand), np.concatenate(adv))


@claim("topk.blockwise_bounds", paper="topk_tv", equation="eq. (4.4) (C7, substance only)",
       statement=r"\frac L{Z_H+L}\le\tau\le\frac U{Z_H+U},\ L=\sum_b|B_b|e^{\ell_b},\ U=\sum_b|B_b|e^{u_b}",
       provenance="paper", tolerance=1e-12, error="violation")
def blockwise(ctx: Context) -> Evidence:
    """Both sides hold for the default equal-size sorted blocks and for random partitions of the tail;
    with one block per key they are exact."""
    rng = ctx.rng
    rand = []
    for xs, n, k in sorted_batches(ctx):
        tau = np.asarray(tail_mass(xs, k, assume_sorted=True))
        lo, up = (np.asarray(a) for a in blockwise_bounds(xs, k, assume_sorted=True))
        blocks = rng.integers(0, 3, xs.shape)  # a random 3-block partition of the tail
        lo2, up2 = (np.asarray(a) for a in blockwise_bounds(xs, k, n_blocks=3, blocks=blocks, assume_sorted=True))
        rand += [violation(lo, tau), violation(tau, up), violation(lo2, tau), violation(tau, up2)]
    xa, ka = adversarial_all_k(ctx)
    tau = np.asarray(tail_mass(xa, ka))
    lo, up = (np.asarray(a) for a in blockwise_bounds(xa, ka))
    adv = [violation(lo, tau), violation(tau, up)]
    x = np.array([[2.0, 1.0, 0.0, -1.0]])
    lo1, up1 = (np.asarray(a) for a in blockwise_bounds(x, np.array([1]), n_blocks=3))
    t1 = np.asarray(tail_mass(x, np.array([1])))
    adv += [rel(lo1, t1), rel(up1, t1)]
    return Evidence.from_errors(np.concatenate(rand), np.concatenate(adv))
