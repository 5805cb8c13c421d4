r"""Claims on certified Top-k selection (``docs/papers/topk_tv.md``, C15): soundness, minimality, exact
agreement with the sort-based reference, the §3.5 prefilter sandwich and the §3.4 top-p equivalence.

The independent truth is computed in extended precision (numpy ``longdouble``, 64-bit mantissa on
x86) from the float64 logits; the certified routine's rounding band is ~1e-14 relative, far above
the extended-precision error, so a soundness violation cannot be masked by the check itself.
"""

from __future__ import annotations

import functools

import numpy as np

from attnverify.proofs_numeric import Context, Evidence, claim
from attnverify.proofs_numeric.instances import adversarial_logit_rows

from ._certified import certified_topk
from ._certified_reference import certified_topk_reference
from ._claims_support import FULL, _shared_rows


def wide_span_rows(rng: np.random.Generator, n_max: int = 64) -> np.ndarray:
    r"""Adversarial rows, padded with ``-inf`` to ``n_max``: logit spans up to
    :math:`\pm1.79\cdot10^{308}` (where :math:`s_i-m` overflows), Hugging Face ``finfo.min`` and ``-1e30``
    masks mixed with ordinary logits, and rows in which every entry but one is such a mask."""
    big, lo = np.finfo(np.float64).max, np.finfo(np.float64).min
    rows = [np.array([0.0, 0.0, -1e16]), np.array([0.0, -1e16]), np.array([big, lo]), np.array([big, lo, 0.0, 1e308]),
            np.array([lo, 0.0, lo, 1.0]), np.array([-1e30, 0.0, 0.5, -1e30]), np.array([1.0, lo, lo]),
            np.array([big, big, lo, lo]), np.array([0.0, -2.0**53, -2.0**54, -1.0]), np.array([1e300, -1e300, 1e300])]
    for span in (1e16, 1e30, 1e100, 1e200, 1e300, big):
        r = rng.uniform(-1, 1, n_max) * span
        r[0] = rng.choice([big, lo, -big / 2, span])
        rows.append(r)
    for mask in (lo, -1e30):
        for _ in range(6):  # masks mixed with ordinary logits
            r = rng.normal(0, rng.uniform(0.5, 4), n_max)
            r[rng.random(n_max) < rng.uniform(0.1, 0.9)] = mask
            rows.append(r)
        for n in (2, 5, n_max):  # all masked but one
            r = np.full(n, mask)
            r[int(rng.integers(n))] = rng.normal(0, 3)
            rows.append(r)
    out = np.full((len(rows), n_max), -np.inf)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _eps(rng: np.random.Generator, m: int) -> np.ndarray:
    e = 10 ** rng.uniform(-15, np.log10(0.9), m)
    e[rng.random(m) < 0.1] = 0.0
    return e


@functools.lru_cache(maxsize=2)
def _run(seed: int, count: int) -> dict:
    """Certified selection on the shared random rows (columns shuffled: unsorted input) and on the
    adversarial rows at several eps; the extended-precision truth for each row; evaluated once."""
    rng = Context(seed=seed, claim_id="topk.certified_instances").rng
    rows = [(rng.permuted(x, axis=1), _eps(rng, len(x))) for x, _ in _shared_rows(seed, count)]
    chunk = min(5000, min(len(x) for x, _ in rows))
    # chunks of equal shape: the bisection loop runs to the slowest row of its chunk, and the jitted
    # core compiles once per width; the adversarial rows form one more chunk, padded with masked
    # keys and fully masked rows (k = 0), which are excluded from the evidence
    batches, is_adv = [], []
    for x, e in rows:
        for s in range(0, len(x), chunk):
            batches.append((x[s:s + chunk], e[s:s + chunk]))
            is_adv.append(np.zeros(len(batches[-1][0]), bool))
    xa, _ = adversarial_logit_rows(rng)
    xa = np.concatenate([xa, wide_span_rows(rng, xa.shape[1])])
    ea = np.array([0.0, 1e-300, 1e-18, 5e-18, 1e-12, 0.01, 0.1, 0.25, 0.5, 0.7, 0.9])
    xa, ea = np.repeat(xa, len(ea), axis=0), np.tile(ea, len(xa))
    width = rows[-1][0].shape[1]
    for s in range(0, len(xa), chunk):
        pad = np.full((chunk, width), -np.inf)
        part = xa[s:s + chunk]
        pad[: len(part), : xa.shape[1]] = part
        batches.append((pad, np.concatenate([ea[s:s + chunk], np.zeros(chunk - len(part))])))
        is_adv.append(np.r_[np.ones(len(part), bool), np.zeros(chunk - len(part), bool)])
    keep = np.concatenate([m | ~np.isneginf(x).all(1) & ~m for (x, _), m in zip(batches, is_adv)])
    errs = {"unsound": [], "not_minimal": [], "mismatch": [], "sandwich": [], "top_p": [], "bounds": []}
    n_cert = n_rows = 0
    for x, e in batches:
        mism = np.zeros(len(x), bool)
        for tie in ("group", "index"):  # the tie rule is a runtime argument: one compilation per shape
            r = certified_topk(x, e, tie=tie)
            ref = certified_topk_reference(x, e, tie=tie)
            mism |= (np.asarray(r.k) != ref.k) | (np.asarray(r.kept) != ref.kept).any(-1) | (np.asarray(r.n_kept) != ref.n_kept)
        errs["mismatch"].append(mism)
        _truth(x, e, r, errs)  # tie="index": the kept set has exactly k keys
        n_cert += int(np.asarray(r.minimal_certified).sum())
        n_rows += len(x)
    adv = np.concatenate(is_adv)
    out = {}
    for kind, sel in (("random", ~adv & keep), ("adversarial", adv)):
        out[kind] = {key: np.concatenate(v)[sel].astype(float) for key, v in errs.items()}
        out[kind]["fraction_minimal_certified"] = n_cert / n_rows
    return out


def _truth(x: np.ndarray, eps: np.ndarray, r, errs: dict) -> None:
    with np.errstate(invalid="ignore", divide="ignore"):  # fully masked padding rows give NaN (no violation)
        _truth_rows(x, eps, r, errs)


def _truth_rows(x: np.ndarray, eps: np.ndarray, r, errs: dict) -> None:
    xl = x.astype(np.longdouble)
    fin = np.isfinite(x)
    m = np.max(np.where(fin, xl, -np.inf), axis=1, keepdims=True)
    e = np.where(fin, np.exp(xl - m), 0)
    z = e.sum(1)
    kept = np.asarray(r.kept)
    k = np.asarray(r.k)
    tail = np.where(kept, 0, e).sum(1)
    epsl = eps.astype(np.longdouble)
    # the kept set's true tail exceeds eps; with eps = 0 any dropped finite key does (its exact mass
    # is > 0 even where longdouble underflows, e.g. spans of 1e308)
    errs["unsound"].append((tail > epsl * z) | ((eps == 0) & (fin & ~kept).any(1)))
    # tau_{k-1}: drop the smallest kept key as well (k = n_kept for tie="index")
    smallest = np.min(np.where(kept, e, np.inf), axis=1)
    prev = np.where(k > 1, tail + smallest, z)
    exact_pos = (eps == 0) & (k >= 1)  # eps = 0: tau_{k-1} > 0 exactly, whatever longdouble gives
    errs["not_minimal"].append(np.asarray(r.minimal_certified) & (prev <= epsl * z) & ~exact_pos)
    errs["bounds"].append((np.asarray(r.tau_upper) > eps) | (np.asarray(r.tau_lower_prev) > (prev / z) * (1 + 1e-15)))
    n = fin.sum(1)
    p = e / z[:, None]
    kstar_ok = np.asarray(r.minimal_certified)
    above = (p > epsl[:, None]).sum(1)
    at_least = (p >= (epsl / np.maximum(n, 1))[:, None]).sum(1)
    errs["sandwich"].append(kstar_ok & (n > 0) & ((above > k) | (k > at_least)))
    # top-p: the smallest head with mass >= 1 - eps (eps >= 1e-3, where fl(1 - eps) keeps the digits)
    order = np.argsort(-x, axis=1, kind="stable")
    head = np.cumsum(np.take_along_axis(e, order, axis=1), axis=1)
    nucleus = 1 + np.sum(head < (1 - epsl)[:, None] * z[:, None], axis=1)
    errs["top_p"].append(kstar_ok & (eps >= 1e-3) & (n > 0) & (nucleus != k))


def _evidence(ctx: Context, keys: tuple[str, ...]) -> Evidence:
    res = _run(ctx.seed, ctx.count(FULL))
    rand = np.max([res["random"][k_] for k_ in keys], axis=0)
    adv = np.max([res["adversarial"][k_] for k_ in keys], axis=0)
    details = {f"violations_{k_}": int(res["random"][k_].sum() + res["adversarial"][k_].sum()) for k_ in keys}
    details["fraction_minimal_certified"] = res["random"]["fraction_minimal_certified"]
    return Evidence.from_errors(rand, adv, details=details)


@claim("topk.certified_topk_sound", paper="topk_tv", equation="§3.1-3.2 (C15 certificate)",
       statement=r"\tau(\texttt{kept})\le\varepsilon\ \text{always};\ \tau^{\rm up}\le\varepsilon;\ "
                 r"\texttt{minimal\_certified}\Rightarrow\tau_{k-1}>\varepsilon\ (k=k^*)",
       provenance="derived", tolerance=0.0, error="violations (count per instance)")
def certified_sound(ctx: Context) -> Evidence:
    """Certified Top-k never keeps a set whose true (extended-precision) tail exceeds eps, its bounds are
    rigorous, and when it certifies minimality dropping one more key would exceed eps."""
    return _evidence(ctx, ("unsound", "not_minimal", "bounds"))


@claim("topk.certified_topk_matches_reference", paper="topk_tv", equation="§3.3, §3.5",
       statement=r"k,\ \texttt{kept},\ n_{\rm kept}\ \text{of the sort-free bisection}=\text{those of the sort-based reference (ties, masks)}",
       provenance="derived", tolerance=0.0, error="mismatches")
def certified_matches(ctx: Context) -> Evidence:
    """The int64-key threshold bisection agrees exactly with the float64 sort-based reference, for the
    index and group tie rules, on random unsorted rows with masks and on adversarial rows."""
    return _evidence(ctx, ("mismatch",))


@claim("topk.prefilter_sandwich", paper="topk_tv", equation="§3.5 (prefilter)",
       statement=r"\#\{p_i>\varepsilon\}\le k^*\le\#\{p_i\ge\varepsilon/n\}",
       provenance="derived", tolerance=0.0, error="violations")
def prefilter(ctx: Context) -> Evidence:
    """Every key with p_i > eps is kept, and keys with p_i < eps/n are never needed (rows where k = k*)."""
    return _evidence(ctx, ("sandwich",))


@claim("topk.top_p_equivalence", paper="topk_tv", equation="§3.4",
       statement=r"k^*=\min\{k:\textstyle\sum_{i\le k}p_{(i)}\ge1-\varepsilon\}\ (\text{nucleus set for }p=1-\varepsilon)",
       provenance="derived", tolerance=0.0, error="mismatches")
def top_p(ctx: Context) -> Evidence:
    """The certified set is the nucleus (top-p) set for p = 1 - eps (checked for eps >= 1e-3, where
    1 - eps is representable; for smaller eps pass eps itself)."""
    return _evidence(ctx, ("top_p",))


@claim("topk.delta_k_search_sound", paper="topk_tv", equation="§3.6 (Delta_k-Search, reconstructed)",
       statement=r"\tau_{k_\Delta}\le\varepsilon\ \text{and}\ k_\Delta\ge k^*\ (\text{cost }k_\Delta+1\text{ scored keys})",
       provenance="derived", tolerance=1e-12, error="violation (rel)")
def delta_k_sound(ctx: Context) -> Evidence:
    """Stopping on the C5-tight bound is sound: the kept set's tail never exceeds eps, so k_Delta >= k*.
    Details: mean k_Delta / k* (the price of sorted access without scoring the tail)."""
    from ._claims_support import sorted_batches, violation
    from ._search import delta_k_search
    from ._tv import tail_mass

    rng = ctx.rng
    rand, ratio = [], []
    for xs, n, _ in sorted_batches(ctx):
        eps = 10 ** rng.uniform(-6, np.log10(0.5), len(n))
        r = delta_k_search(xs, eps, assume_sorted=True)
        k = np.asarray(r.k)
        tau = np.asarray(tail_mass(xs, k, assume_sorted=True))
        ref = certified_topk_reference(xs, eps)  # k* where its minimality is certified
        kstar = ref.k
        rand += [violation(tau, eps), ((k < kstar) & ref.minimal_certified).astype(float)]
        ratio.append(k / kstar)
    xa, _ = adversarial_logit_rows(rng)
    ea = np.array([1e-300, 1e-18, 1e-6, 0.01, 0.1, 0.5, 0.9])
    xa, ea = np.repeat(xa, len(ea), axis=0), np.tile(ea, len(xa))
    r = delta_k_search(xa, ea)
    k = np.asarray(r.k)
    ref = certified_topk_reference(xa, ea)
    adv = [violation(np.asarray(tail_mass(xa, k)), ea), ((k < ref.k) & ref.minimal_certified).astype(float)]
    return Evidence.from_errors(np.concatenate(rand), np.concatenate(adv),
                                details={"mean_k_delta_over_k_cert": float(np.mean(np.concatenate(ratio)))})
