r"""Claims C1-C4 of spec ``topk_tv``: TV = tail mass, Top-k optimality, TV-KL identity, :math:`\chi^2` form."""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

from attnverify.proofs_numeric import Context, Evidence, claim

from ._claims_support import FULL, adversarial_all_k, rel_above_one, sorted_batches
from ._tv import chi2_divergence, kl_divergence, tail_mass, topk_distributions, tv_distance

def softmax_topk_symbolic(n: int = 4, k: int = 2):
    """Symbolic softmax weights from the definitions: ``a_i = exp(z_i) > 0``, ``P_i = a_i / Z``, the renormalised
    Top-k ``P_hat_i = a_i / Z_H`` (head: the first ``k``) and the tail mass ``tau = Z_T / Z``."""
    a = sp.symbols(f"a1:{n + 1}", positive=True)
    z, zh = sum(a), sum(a[:k])
    p = [x / z for x in a]
    ph = [x / zh for x in a[:k]] + [sp.Integer(0)] * (n - k)
    return p, ph, sum(a[k:]) / z, k


def _c1_symbolic():
    """Derivation from the definitions: 1/2 sum |P_i - P_hat_i| of softmax and its renormalised Top-k is tau."""
    p, ph, tau, _ = softmax_topk_symbolic()
    tv = sp.Rational(1, 2) * sum(sp.Abs(sp.factor(a - b)) for a, b in zip(p, ph))
    return sp.cancel(tv - tau) == 0


def _pairs(ctx: Context):
    """(P, P_hat, tau) for random sorted batches and adversarial rows (unsorted path)."""
    for xs, _, k in sorted_batches(ctx):
        p, ph = topk_distributions(xs, k, assume_sorted=True)
        yield "random", np.asarray(p), np.asarray(ph), np.asarray(tail_mass(xs, k, assume_sorted=True))
    xa, ka = adversarial_all_k(ctx, k_max_offset=0)
    p, ph = topk_distributions(xa, ka)
    yield "adversarial", np.asarray(p), np.asarray(ph), np.asarray(tail_mass(xa, ka))


def _collect(ctx: Context, err_fn) -> Evidence:
    out = {"random": [], "adversarial": []}
    for kind, p, ph, tau in _pairs(ctx):
        out[kind].append(err_fn(p, ph, tau))
    return Evidence.from_errors(np.concatenate(out["random"]), np.concatenate(out["adversarial"]))


@claim("topk.tv_equals_tail_mass", paper="topk_tv", equation="Lemma 4.1 (C1)",
       statement=r"\mathrm{TV}(P,\widehat P)=\tfrac12\sum_i|P_i-\widehat P_i|=\sum_{i>k}p_i=\tau_k",
       provenance="paper", tolerance=1e-14, error="abs", symbolic=_c1_symbolic, symbolic_kind="derivation")
def tv_equals_tail_mass(ctx: Context) -> Evidence:
    """TV of renormalised Top-k equals the discarded mass (half l1; the l1 pitfall is off by 2).

    Also checks the derived extension to any kept set S: TV(P, P^S) = P(S^c), on random kept sets.
    """
    ev = _collect(ctx, lambda p, ph, tau: np.abs(np.asarray(tv_distance(p, ph)) - tau))
    rng = ctx.rng
    errs = []
    for xs, n, _ in sorted_batches(ctx):  # random kept sets S on the same rows
        fin = np.isfinite(xs)
        keep = (rng.random(xs.shape) < rng.random((len(n), 1))) & fin
        keep[np.arange(len(n)), 0] = True  # S nonempty
        e = np.where(fin, np.exp(xs - xs[:, :1]), 0.0)
        p = e / e.sum(1, keepdims=True)
        ps = np.where(keep, p, 0.0) / np.where(keep, p, 0.0).sum(1, keepdims=True)
        errs.append(np.abs(np.asarray(tv_distance(p, ps)) - np.asarray(tail_mass(xs, kept=keep))))
    e2 = np.concatenate(errs)
    return Evidence(max(ev.worst_error, float(e2.max())), ev.n_random + len(e2), ev.n_adversarial,
                    details={**ev.details, "worst_any_kept_set": float(e2.max()), "n_any_kept_set": len(e2)})


@claim("topk.topk_optimal_for_its_size", paper="topk_tv", equation="C2",
       statement=r"\min_{|S|=k}P(S^c)=\tau_k\ (\text{so Top-}k\text{ minimises TV and KL among size-}k\text{ sets})",
       provenance="derived", tolerance=1e-15, error="violation")
def topk_optimal(ctx: Context) -> Evidence:
    """Brute force over every subset of size k for n <= 12: no subset discards less mass than Top-k."""
    rng = ctx.rng
    per_n = max(ctx.count(FULL) // (11 * 6), 4)
    rows, ks, best, kinds = [], [], [], []
    for n in range(2, 13):
        masks = np.array(list(itertools.product([0, 1], repeat=n)), dtype=bool)
        sizes = masks.sum(1)
        x = rng.normal(0, rng.uniform(0.1, 4, (per_n, 1)), (per_n, n))
        x[: per_n // 4] = np.round(x[: per_n // 4])  # ties
        x = np.concatenate([x, np.zeros((1, n))])  # uniform row: every subset of size k is optimal
        e = np.exp(x - x.max(1, keepdims=True))
        drop = (e / e.sum(1, keepdims=True)) @ (~masks).T  # P(S^c) for every subset S
        pad = np.concatenate([x, np.full((len(x), 12 - n), -np.inf)], axis=1)
        for k in range(1, n):
            rows.append(pad)
            ks.append(np.full(len(x), k))
            best.append(drop[:, sizes == k].min(1))
            kinds.append(np.arange(len(x)) == per_n)
    tau = np.asarray(tail_mass(np.concatenate(rows), np.concatenate(ks)))
    err = np.maximum(tau - np.concatenate(best), 0.0)
    adv = np.concatenate(kinds)
    rand, adv = err[~adv], err[adv]
    return Evidence.from_errors(rand, adv, details={"n_range": [2, 12]})


def _c3_symbolic():
    """Derivation from the definitions: KL(P_hat||P) = sum_H P_hat_i log(P_hat_i / P_i) = -log(1 - tau), and
    1 - exp(-KL) = tau."""
    p, ph, tau, k = softmax_topk_symbolic()
    kl = sum(a * sp.expand_log(sp.log(sp.factor(a / b)), force=True) for a, b in zip(ph[:k], p[:k]))
    kl = sp.factor_terms(sp.collect(sp.expand(kl), list(kl.atoms(sp.log))))
    ok = sp.cancel(sp.expand_log(kl + sp.log(sp.factor(1 - tau)), force=True)) == 0
    return ok and sp.cancel(sp.powsimp(1 - sp.exp(-kl)) - tau) == 0


@claim("topk.tv_kl_identity", paper="topk_tv", equation="Thm 4.3 (C3)",
       statement=r"\mathrm{KL}(\widehat P\|P)=\log\tfrac Z{Z_H}=-\log(1-\tau),\quad\mathrm{TV}=1-e^{-\mathrm{KL}}",
       provenance="paper", tolerance=1e-13, error="rel_above_one", symbolic=_c3_symbolic, symbolic_kind="derivation")
def tv_kl_identity(ctx: Context) -> Evidence:
    """The direct KL(P_hat||P) sum equals -log1p(-tau) (error relative above 1, absolute below: KL
    reaches ~1e4 on +-1e4 rows, and the direct sum cannot resolve KL below ~1e-16),
    and Pinsker sqrt(KL/2) and Bretagnolle-Huber sqrt(1-e^{-KL}) are never below tau."""
    weaker = []

    def err(p, ph, tau):
        kl = np.asarray(kl_divergence(ph, p))
        closed = -np.log1p(-tau)
        weaker.append(np.maximum(tau - np.minimum(np.sqrt(closed / 2), np.sqrt(-np.expm1(-closed))), 0))
        return rel_above_one(kl, closed)

    ev = _collect(ctx, err)
    w = float(np.concatenate(weaker).max())
    return Evidence(max(ev.worst_error, w), ev.n_random, ev.n_adversarial,
                    details={**ev.details, "worst_pinsker_bh_violation": w})


def _c4_symbolic():
    """Derivation from the definitions: sum_i (P_hat_i - P_i)^2 / P_i = tau / (1 - tau)."""
    p, ph, tau, _ = softmax_topk_symbolic()
    return sp.factor(sum((a - b) ** 2 / b for a, b in zip(ph, p)) - tau / (1 - tau)) == 0


@claim("topk.chi2_closed_form", paper="topk_tv", equation="C4",
       statement=r"D_{\chi^2}(\widehat P\|P)=(1-\tau)\big(\tfrac{\tau}{1-\tau}\big)^2+\tau=\frac{\tau}{1-\tau}",
       provenance="derived", tolerance=1e-12, error="rel_above_one", symbolic=_c4_symbolic, symbolic_kind="derivation")
def chi2_closed_form(ctx: Context) -> Evidence:
    """The direct chi^2 sum equals tau/(1-tau) (error relative above 1, absolute below: the direct sum
    cancels (P_hat_i - P_i = P_i tau/(1-tau)) and divides by tiny p_i; chi^2 reaches 1e300 when tau -> 1)."""
    def err(p, ph, tau):
        return rel_above_one(np.asarray(chi2_divergence(ph, p)), tau / (1 - tau))

    return _collect(ctx, err)
