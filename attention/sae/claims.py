"""Registered claims C1-C5 of ``sae_steering.md`` (JumpReLU SAE steering identities).

Instances: batches of random SAEs (``d=16``, ``m=64``, 8 positions each) in float64, ``vmap``-ed;
adversarial cases add exact threshold ties, ``pi = theta +- 1e-12``, ``c = 0``, ``c = f_j``,
features that are off, and activations of size ``1e4``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from attnverify.proofs_numeric import Context, Evidence, claim, require_x64

from .jumprelu import JumpReLUSAE, clamp_feature, jumprelu, sae_encode, sae_error, steer_additive

_D, _M, _P, _CHUNK = 16, 64, 8, 256


def _random_batch(rng: np.random.Generator, count: int, adversarial: bool = False) -> dict:
    """``count`` random SAEs, activations ``x [count, P, d]``, feature ``j`` and clamp value ``c``."""
    sae = dict(w_enc=rng.normal(0, 1 / np.sqrt(_D), (count, _D, _M)), b_enc=rng.normal(0, 0.1, (count, _M)),
               w_dec=rng.normal(0, 1 / np.sqrt(_D), (count, _M, _D)), b_dec=rng.normal(0, 0.1, (count, _D)),
               theta=rng.uniform(0.01, 1.0, (count, _M)))
    x = rng.normal(0, 1, (count, _P, _D)) * rng.choice([0.5, 1.0, 3.0], (count, 1, 1))
    j = rng.integers(0, _M, count)
    c = rng.uniform(0, 10, count)
    if adversarial:
        x[::3] *= 1e4
        pre = np.einsum("bpd,bdm->bpm", x, sae["w_enc"]) + sae["b_enc"][:, None]
        fj = np.where(pre[np.arange(count), :, j] > sae["theta"][np.arange(count), j][:, None], pre[np.arange(count), :, j], 0)
        c = np.select([np.arange(count) % 4 == 0, np.arange(count) % 4 == 1], [0.0, fj[:, 0]], c)  # c = 0 and c = f_j(x_1)
        sae["theta"][1::4, :] = 1e6  # every feature off
    return dict(sae=sae, x=x, j=j, c=c)


def _sae(b: dict) -> JumpReLUSAE:
    return JumpReLUSAE(*(jnp.asarray(b["sae"][k]) for k in JumpReLUSAE._fields))


def _run(ctx: Context, full: int, fn, n_adv: int = 64) -> tuple[Evidence, list]:
    require_x64("SAE claims")
    rng = ctx.rng
    chunks = -(-ctx.count(full, minimum=_CHUNK) // _CHUNK)
    rand = [np.asarray(fn(_random_batch(rng, _CHUNK), rng, False)) for _ in range(chunks)]
    adv = [np.asarray(fn(_random_batch(rng, _CHUNK, True), rng, True))]
    extra = [r for r in rand + adv if r.ndim > 1]
    err = lambda a: a if a.ndim == 1 else a[:, 0]
    return Evidence.from_errors(np.concatenate([err(a) for a in rand]), np.concatenate([err(a) for a in adv])), extra


@jax.jit
def _c1_violations(pre, theta):
    f = jumprelu(pre, theta)
    code = (pre > theta) * jax.nn.relu(pre)  # the Gemma Scope code form
    bad = ((f == 0) != (pre <= theta)) | ((pre > theta) & (f != pre)) | (f != code)
    return bad.sum(axis=(1, 2)).astype(jnp.float64)


@claim("sae.jumprelu", paper="sae_steering", equation="C1",
       statement=r"f_j=0\iff\pi_j\le\theta_j,\ \ f_j=\pi_j\ \text{otherwise};\ \ \pi\odot H(\pi-\theta)=[\pi>\theta]\,\mathrm{relu}(\pi)\ (\theta\ge0)",
       provenance="paper", tolerance=0.0, error="count")
def _c1(ctx: Context) -> Evidence:
    """JumpReLU is exactly 0 at or below the threshold (strict step, H(0)=0) and the identity above; equal to the code's form.

    Adversarial thresholds are set to the pre-activations themselves (exact ties) and to pi -+ 1e-12.
    """

    def fn(b, rng, adversarial):
        pre = np.einsum("bpd,bdm->bpm", b["x"], b["sae"]["w_enc"]) + b["sae"]["b_enc"][:, None]
        theta = np.broadcast_to(b["sae"]["theta"][:, None], pre.shape).copy()
        if adversarial:  # adversarial batch: ties and +-1e-12 around positive pre-activations
            pos = pre > 1e-6
            delta = rng.choice([0.0, 1e-12, -1e-12], pre.shape)
            theta = np.where(pos, pre + delta, theta)
        return _c1_violations(jnp.asarray(pre), jnp.asarray(theta))

    return _run(ctx, 10_000, fn)[0]


def _rel(a, b):
    return jnp.max(jnp.abs(a - b), axis=(-2, -1)) / jnp.maximum(1.0, jnp.max(jnp.abs(b), axis=(-2, -1)))


@jax.jit
def _c2_c3_errors(sae, x, j, c):
    def one(sae, x, j, c):
        clamp = clamp_feature(sae, x, j, c)
        additive = steer_additive(x, sae.w_dec[j], c - sae_encode(sae, x)[:, j])
        no_err = clamp_feature(sae, x, j, c, keep_error=False)
        e = sae_error(sae, x)
        return jnp.stack([_rel(clamp, additive), _rel(clamp - no_err, e), jnp.max(jnp.abs(e))])

    return jax.vmap(one)(sae, x, j, c)


def _sym_clamp(with_error: bool):
    """x_hat(f') + e(x) = x + (c - f_j) d_j, and x_hat(f') = x + (c - f_j) d_j - e(x) (m = 3, d = 2, j = 1)."""

    def check() -> bool:
        W = sp.Matrix(3, 2, lambda a, b: sp.Symbol(f"W{a}{b}"))
        bd, x = sp.Matrix(1, 2, sp.symbols("b0 b1")), sp.Matrix(1, 2, sp.symbols("x0 x1"))
        f, c = sp.Matrix(1, 3, sp.symbols("f0 f1 f2")), sp.Symbol("c")
        fp = sp.Matrix([[f[0], c, f[2]]])
        dec = lambda g: g * W + bd
        e = x - dec(f)
        target = x + (c - f[1]) * W[1, :]
        lhs = dec(fp) + e if with_error else dec(fp)
        return sp.simplify(lhs - (target if with_error else target - e)) == sp.zeros(1, 2)

    return check


@claim("sae.clamp_is_additive", paper="sae_steering", equation="C2",
       statement=r"\hat x(f')+e(x)=x+(c-f_j(x))\,d_j,\quad f'_j=c,\ f'_k=f_k",
       provenance="derived", tolerance=1e-12, error="rel", symbolic=_sym_clamp(True), symbolic_kind="derivation")
def _c2(ctx: Context) -> Evidence:
    """Clamping feature j to c while keeping the error term is additive steering with alpha_t = c - f_j(x_t) (alpha = c where the feature is off)."""
    return _run(ctx, 10_000, lambda b, rng, adv: _c2_c3_errors(_sae(b), *(jnp.asarray(b[k]) for k in "xjc"))[:, 0])[0]


@claim("sae.error_term_gap", paper="sae_steering", equation="C3",
       statement=r"\big(\hat x(f')+e(x)\big)-\hat x(f')=e(x)\ne0",
       provenance="derived", tolerance=1e-12, error="rel", symbolic=_sym_clamp(False), symbolic_kind="derivation")
def _c3(ctx: Context) -> Evidence:
    """The two clamp forms differ by exactly the SAE error e(x), which is not zero: dropping it also replaces x by its reconstruction."""
    gaps: list[float] = []

    def fn(b, rng, adversarial):
        e = np.asarray(_c2_c3_errors(_sae(b), *(jnp.asarray(b[k]) for k in "xjc")))
        gaps.append(float(e[:, 2].max()))
        return e[:, 1]

    ev = _run(ctx, 10_000, fn)[0]
    gap = max(gaps)
    return Evidence(ev.worst_error if gap > 0 else float("inf"), ev.n_random, ev.n_adversarial,
                    details={**ev.details, "max_abs_error_term": gap})


@jax.jit
def _c4_errors(sae, x, j, c):
    def one(sae, x, j, c):
        diff = clamp_feature(sae, x, j, c) - x
        s = jnp.linalg.svd(diff, compute_uv=False)
        outer = jnp.outer(c - sae_encode(sae, x)[:, j], sae.w_dec[j])
        # sigma_2 <= 1e-12 sigma_1 + 16 u ||X||_F: forming X' - X in floating point leaves a floor of
        # a few ulps of X (alpha = 0 gives X' = X, rank 0, up to that floor)
        floor = 16 * jnp.finfo(x.dtype).eps / 2 * jnp.linalg.norm(x) * 1e12
        entrywise = jnp.max(jnp.abs(diff - outer)) / jnp.maximum(jnp.maximum(1.0, jnp.max(jnp.abs(x))), jnp.max(jnp.abs(outer)))
        return jnp.maximum(s[1] / (s[0] + floor), entrywise)

    return jax.vmap(one)(sae, x, j, c)


@claim("sae.rank_one", paper="sae_steering", equation="C4",
       statement=r"X'-X=\alpha\otimes d_j\ \ (\alpha_t=c-f_j(x_t)),\quad \sigma_2(X'-X)\le10^{-12}\,\sigma_1(X'-X)+16u\|X\|_F",
       provenance="derived", tolerance=1e-12, error="rel")
def _c4(ctx: Context) -> Evidence:
    """One feature at one layer moves all positions along d_j: the update matrix over positions has rank one.

    The singular-value test allows the floating-point floor of forming X' - X:
    sigma_2 <= 1e-12 sigma_1 + 16 u ||X||_F (u = 2^-53); it matters only for the adversarial
    activations of size 1e4 steered by O(1). The update also equals alpha (x) d_j entrywise (error relative to max(1, |X|, |alpha d|)).
    """
    return _run(ctx, 10_000, lambda b, rng, adv: _c4_errors(_sae(b), *(jnp.asarray(b[k]) for k in "xjc")))[0]
