r"""Claims C12-C14 of spec ``topk_tv`` (Gaussian score model) and our finite-:math:`n` predictor."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from attnverify.proofs_numeric import Context, Evidence, claim

from ._claims_support import FULL, rel
from ._gaussian import gaussian_kept_fraction, gaussian_tail_mass, keps_monte_carlo, keps_rule, keps_rule_sensitivities
from ._keps_finite import keps_finite_n

# spec C13 table: rule k_eps/n for eps (rows) x sigma (columns)
RULE_TABLE_SIGMA = (1.0, 2.0, 2.5, 3.0, 4.0)
RULE_TABLE = {0.001: (.9817, .8622, .7225, .5359, .1815), 0.01: (.9076, .6279, .4311, .2503, .0471),
              0.05: (.7405, .3612, .1962, .0877, .0093), 0.1: (.6109, .2362, .1115, .0429, .0033)}
# spec C14 table: MC mean of k/n, columns (sigma, eps)
MC_COLUMNS = ((1.0, .01), (2.0, .01), (2.5, .01), (3.0, .01), (2.5, .05), (3.0, .05))
MC_TABLE = {128: (.9132, .6449, .4762, .3320, .2458, .1567), 256: (.9102, .6383, .4581, .3086, .2266, .1349),
            1024: (.9084, .6310, .4405, .2801, .2071, .1112), 4096: (.9079, .6281, .4358, .2635, .2016, .0984),
            65536: (.9077, .6279, .4313, .2512, .1965, .0887)}


def _c12_symbolic():
    """d/dt of the closed form is the integrand e^t N(t; mu, sigma^2), and it vanishes as t -> -inf
    (fundamental theorem of calculus; faster than ``sympy.integrate``); dividing by E[e^s] gives
    Phi(u - sigma) with u = (t - mu)/sigma."""
    s, mu, t = sp.symbols("s mu t", real=True)
    sig = sp.symbols("sigma", positive=True)
    dens = lambda x: sp.exp(-(x - mu) ** 2 / (2 * sig**2)) / (sig * sp.sqrt(2 * sp.pi))  # noqa: E731
    cdf = lambda x: (1 + sp.erf(x / sp.sqrt(2))) / 2  # noqa: E731
    rhs = sp.exp(mu + sig**2 / 2) * cdf((t - mu - sig**2) / sig)
    integrand = sp.exp(t) * dens(t)
    d_ok = sp.simplify(sp.expand(sp.powsimp((sp.diff(rhs, t) - integrand) / integrand, force=True))) == 0
    x = sp.symbols("x", real=True)
    lim_ok = sp.limit(cdf(x), x, -sp.oo) == 0  # rhs = (t-free factor) * cdf(linear in t, slope 1/sigma > 0)
    u = (t - mu) / sig
    ratio = sp.powsimp(rhs / sp.exp(mu + sig**2 / 2))  # = cdf((t - mu - sigma^2)/sigma)
    ratio_ok = ratio.has(sp.erf) and sp.simplify(ratio - cdf(u - sig)) == 0
    return d_ok and lim_ok and ratio_ok


@jax.jit
def _quad_tail(u: jax.Array, sig: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Simpson quadrature of int_{-inf}^u e^{sigma z - sigma^2/2} phi(z) dz and of int_u^inf phi(z) dz."""
    g = jnp.linspace(0.0, 1.0, 4001)
    w = jnp.where((jnp.arange(4001) % 2) == 1, 4.0, 2.0).at[0].set(1.0).at[-1].set(1.0) / 3.0
    lo = jnp.minimum(u, sig) - 14.0
    z = lo[:, None] + (u - lo)[:, None] * g[None, :]
    f = jnp.exp(-0.5 * (z - sig[:, None]) ** 2) / jnp.sqrt(2 * jnp.pi)
    hi = jnp.maximum(u, 0.0) + 14.0
    z2 = u[:, None] + (hi - u)[:, None] * g[None, :]
    f2 = jnp.exp(-0.5 * z2**2) / jnp.sqrt(2 * jnp.pi)
    h1, h2 = (u - lo) / 4000, (hi - u) / 4000
    return h1 * (f @ w), h2 * (f2 @ w)


@claim("topk.gaussian_truncated_moment", paper="topk_tv", equation="C12 (closed form derived)",
       statement=r"E[e^s\mathbf 1\{s<t\}]=e^{\mu+\sigma^2/2}\Phi\big(\tfrac{t-\mu-\sigma^2}\sigma\big);\ "
                 r"\text{tail share }\Phi(u-\sigma),\ \text{kept fraction }\Phi_c(u)",
       provenance="paper", tolerance=1e-10, error="abs", symbolic=_c12_symbolic, symbolic_kind="derivation")
def truncated_moment(ctx: Context) -> Evidence:
    """The Gaussian tilting identity: numeric quadrature of the defining integrals matches the closed
    forms (random mu, sigma in [0.05, 5], t; adversarial far tails and extreme sigma)."""
    rng = ctx.rng
    m = ctx.count(FULL)
    mu, sig = rng.normal(0, 3, m), rng.uniform(0.05, 5, m)
    t = mu + sig * rng.normal(0, 2.5, m)
    errs = []
    for a in range(0, m, 20000):
        sl = slice(a, a + 20000)
        u = (t[sl] - mu[sl]) / sig[sl]
        q1, q2 = _quad_tail(jnp.asarray(u), jnp.asarray(sig[sl]))
        errs += [np.abs(np.asarray(q1) - np.asarray(gaussian_tail_mass(t[sl], mu[sl], sig[sl]))),
                 np.abs(np.asarray(q2) - np.asarray(gaussian_kept_fraction(t[sl], mu[sl], sig[sl])))]
    sa = np.array([0.01, 0.01, 10.0, 10.0, 1.7, 1.0, 3.0])
    ua = np.array([-8.0, 8.0, -8.0, 8.0, (2 - 0.3) / 1.7, 0.7, 0.0])
    q1, q2 = _quad_tail(jnp.asarray(ua), jnp.asarray(sa))
    adv = [np.abs(np.asarray(q1) - np.asarray(gaussian_tail_mass(ua * sa, 0.0, sa))),
           np.abs(np.asarray(q2) - np.asarray(gaussian_kept_fraction(ua * sa, 0.0, sa)))]
    return Evidence.from_errors(np.concatenate(errs), np.concatenate(adv))


def _c13_symbolic():
    sig, z = sp.symbols("sigma z", real=True)
    phi = lambda x: sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi)  # noqa: E731
    rule = (1 - sp.erf((sig + z) / sp.sqrt(2))) / 2  # Phi_c(sigma + z)
    d_sig = sp.simplify(sp.diff(rule, sig) + phi(sig + z))
    d_eps = sp.simplify(sp.diff(rule, z) / phi(z) + sp.exp(-sig * z - sig**2 / 2))  # dz/deps = 1/phi(z)
    return d_sig == 0 and d_eps == 0


@claim("topk.keps_asymptotic_rule", paper="topk_tv", equation="C13 (design rule)",
       statement=r"k_\varepsilon/n\approx\Phi_c(\sigma+z_\varepsilon);\ \partial_\sigma=-\varphi(\sigma+z_\varepsilon),\ "
                 r"\partial_\varepsilon=-e^{-\sigma z_\varepsilon-\sigma^2/2}",
       provenance="paper", tolerance=1e-9, error="rel (grads) / excess over 4-digit rounding (tables)",
       symbolic=_c13_symbolic, symbolic_kind="derivation")
def keps_asymptotic(ctx: Context) -> Evidence:
    """The rule reproduces the spec's table (4 digits) and its 2x/3x/4x speed-up sigmas; autodiff of the
    rule matches the closed-form sensitivities; k/n = 1/2 exactly at sigma = Phi^{-1}(1-eps)."""
    rng = ctx.rng
    m = ctx.count(FULL)
    sig, eps = rng.uniform(0.1, 5, m), 10 ** rng.uniform(-4, np.log10(0.5), m)
    gs = _rule_grad(jnp.asarray(sig), jnp.asarray(eps))
    cs = keps_rule_sensitivities(sig, eps)
    rand = [rel(np.asarray(gs[0]), np.asarray(cs[0])), rel(np.asarray(gs[1]), np.asarray(cs[1]))]
    half = np.asarray(keps_rule(jax.scipy.special.ndtri(1 - eps), eps))
    rand.append(np.abs(half - 0.5))
    adv = []
    for e, row in RULE_TABLE.items():
        got = np.asarray(keps_rule(np.array(RULE_TABLE_SIGMA), e))
        adv.append(np.maximum(np.abs(got - np.array(row)) - 5.0001e-5, 0.0))
    got = np.asarray(keps_rule(np.array([2.3263, 2.7571, 3.0008]), 0.01))
    adv.append(np.maximum(np.abs(1 / got - np.array([2.0, 3.0, 4.0])) - 1e-3, 0.0))
    return Evidence.from_errors(np.concatenate(rand), np.concatenate(adv))


@jax.jit
def _rule_grad(sig: jax.Array, eps: jax.Array):
    return jax.vmap(jax.grad(lambda s, e: keps_rule(s, e), argnums=(0, 1)))(sig, eps)


@functools.lru_cache(maxsize=256)
def _mc(n: int, sigma: float, eps: float, n_rep: int, seed: int):
    return keps_monte_carlo(n, sigma, eps, n_rep, seed)


def _reps(n: int, scale: float) -> int:
    full = max(64, min(5200, int(5.2e6 / n)))  # the spec's R, 1.3x (>= 1e5 replicate rows in all)
    return max(int(full * scale), min(full, 1000))


@claim("topk.keps_finite_n_underprediction", paper="topk_tv", equation="C14 (finite-n behaviour)",
       statement=r"E[k_\varepsilon]/n>\Phi_c(\sigma+z_\varepsilon)\ \text{for }\sigma\ge2,\ n\le1024"
                 r"\ (\text{LLN needs }e^{\sigma^2}\ll n)",
       provenance="derived", tolerance=1.0,
       error="MC z-ratio |ours-spec|/(5 sd sqrt(2/R)); inf unless the rule under-predicts by > 2 s.e. (>1 fails)")
def finite_n(ctx: Context) -> Evidence:
    """Monte Carlo of the oracle k_eps reproduces the spec's table within 5 sd sqrt(2/R), and the asymptotic
    rule under-predicts k wherever sigma >= 2 and n <= 1024, each such cell by more than 2 Monte Carlo standard
    errors (a Monte Carlo check of a mathematical statement, with its error budget; not an experiment)."""
    ns = (128, 256, 1024, 4096, 65536) if ctx.scale >= 0.5 else (128, 1024)
    table, z, under_z, rows = [], [], [], 0
    for n in ns:
        for (s, e), spec in zip(MC_COLUMNS, MC_TABLE[n]):
            r = _reps(n, ctx.scale)
            mc = _mc(n, s, e, r, ctx.seed)
            rule = float(keps_rule(s, e))
            z.append(abs(mc.mean - spec) / (5 * mc.sd * np.sqrt(2 / r)))
            if s >= 2 and n <= 1024:
                under_z.append((mc.mean - rule) / mc.se)
            rows += r
            table.append({"n": n, "sigma": s, "eps": e, "rule": rule, "mc": mc.mean, "spec_mc": spec, "sd": mc.sd, "R": r})
    worst = float(max(z)) if min(under_z) > 2 else float("inf")
    return Evidence(worst, rows, 0, details={"table": table, "min_underprediction_z (sigma>=2, n<=1024)": float(min(under_z))})


@claim("topk.keps_finite_n_predictor", paper="topk_tv", equation="C14 (finite-n predictor, ours)",
       statement=r"\Big|\widehat{E[k_\varepsilon]}/E_{MC}[k_\varepsilon]-1\Big|\le3\%\ \text{wherever}\ "
                 r"|\Phi_c(\sigma+z_\varepsilon)/E_{MC}[k_\varepsilon/n]-1|>5\%",
       provenance="derived", tolerance=0.03, error="rel (cells where the rule is off by > 5%)")
def finite_n_predictor(ctx: Context) -> Evidence:
    """Our exchangeability + FFT predictor of E[k_eps]/n (bounds.keps_finite_n) against Monte Carlo on
    n in {128, 256, 1024, 65536}, sigma in {1, 2, 2.5, 3}, eps in {0.01, 0.05}; the table is in details."""
    full = ctx.scale >= 0.5
    ns = (128, 256, 1024, 65536) if full else (128, 1024)
    sigmas = (1.0, 2.0, 2.5, 3.0) if full else (2.5, 3.0)
    table, worst, all_err, rows = [], 0.0, [], 0
    for n in ns:
        for e in (0.01, 0.05):
            for s in sigmas:
                r = _reps(n, ctx.scale)
                mc = _mc(n, s, e, r, ctx.seed)
                rule, pred = float(keps_rule(s, e)), float(keps_finite_n(n, s, e))
                rule_off, pred_off = abs(rule / mc.mean - 1), abs(pred / mc.mean - 1)
                all_err.append(pred_off)
                if rule_off > 0.05:
                    worst = max(worst, pred_off)
                rows += r
                table.append({"n": n, "sigma": s, "eps": e, "mc": mc.mean, "mc_se": mc.se, "rule": rule,
                              "predictor": pred, "rule_rel_err": rule_off, "predictor_rel_err": pred_off})
    return Evidence(worst, rows, 0, details={"table": table, "worst_predictor_rel_err_all_cells": max(all_err)})
