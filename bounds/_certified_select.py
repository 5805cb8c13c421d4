r"""The threshold search of :func:`bounds.certified_topk` and its exponentials pass (the Top-k paper's
certified selection with the rounding guard of :mod:`._certificate`).

The cut is the largest data key :math:`K^*` with

.. math:: P(K):\quad \tau^{\rm up}\Bigl(B(K)=\textstyle\sum_{s_i<K}\hat e_i\Bigr)\le\varepsilon

(monotone: a larger :math:`K` has a larger tail). Keys are the order-preserving int64 image of the
float64 bits, so every comparison is exact (XLA CPU flushes subnormal floats in float comparisons).

**Cost model (XLA CPU, measured).** A variadic reduction with one float sum and integer max/min
outputs is one vectorised loop; float max and several float sums in one variadic reduction are
not vectorised (3-8x slower), and a scatter-add histogram costs 2-3 one-pass floors per level. The
search therefore stays a bisection with data snapping -- one cheap, cache-resident pass per step --
and the exponentials pass computes :math:`\hat Z` with a plain sum, taking the guard terms from the
row's smallest logit where it can. The first two probes come from a strided sample of the row
(:func:`sample_probes`, no pass over the row); later probes are the secant through the last two probes in
:math:`\log B`.

**Soundness does not depend on the probes.** :func:`_update` keeps the invariant (:math:`P(lo)` true,
:math:`P(kmax+1)` false, both ends data keys) for any probe in :math:`(lo, kmax]`, and :math:`B` is the
same float sum whichever probe evaluates it (zeros added to a fixed reduction tree are exact), so the
returned cut -- the largest data key with :math:`P` -- is the same for every probe sequence; the probes
change only the number of steps.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._certificate import D_DEEP, guarded_terms

__all__ = ["key", "unkey", "guard_pass", "tails", "sample_probes", "snap_bisect", "KMIN", "KMAX", "SAMPLE"]

_SIGN = np.int64(0x7FFFFFFFFFFFFFFF)
_NEG_ZERO = np.int64(-0x8000000000000000)
KMIN, KMAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max
Ok = Callable[[jax.Array, jax.Array], jax.Array]


def key(x: jax.Array) -> jax.Array:
    """Order-preserving int64 image of float64, ``-0.0`` canonicalised to ``+0.0`` on the bits (a float
    ``x == 0`` test would also catch subnormals, which XLA CPU flushes to zero in comparisons)."""
    b = jax.lax.bitcast_convert_type(x, jnp.int64)
    b = jnp.where(b == _NEG_ZERO, 0, b)
    return jnp.where(b < 0, b ^ _SIGN, b)


def unkey(k: jax.Array) -> jax.Array:
    return jax.lax.bitcast_convert_type(jnp.where(k < 0, k ^ _SIGN, k), jnp.float64)


def guard_pass(x: jax.Array, m: jax.Array, fin: jax.Array, nf: jax.Array, lo0: jax.Array) -> tuple[jax.Array, ...]:
    r"""The exponentials pass: :math:`\hat e_i` (0 for deep and masked entries), :math:`\hat Z`, :math:`\max_{\rm normal}|d_i|`
    and :math:`n_{\rm sub}` exactly as :func:`guarded_terms` defines them, in one vectorised pass: as
    :math:`\mathrm{fl}(s-m)` is monotone in :math:`s`, a row whose smallest finite logit is normal has
    :math:`\max|d_i|=|\mathrm{fl}(s_{\min}-m)|` and no deep entry; only a chunk with deep entries pays
    one more pass."""
    d = x - m[..., None]
    normal = (d >= D_DEEP) & (d <= 0.0)  # false for -inf masks, NaN and +inf
    e = jnp.exp(jnp.where(normal, d, -jnp.inf))
    z = jnp.sum(e, axis=-1)
    d_min = jnp.where(nf > 0, unkey(lo0) - m, 0.0)
    has_deep = d_min < D_DEEP

    def deep_pass(_):
        _, absd, deep = guarded_terms(x, m[..., None], fin)
        dmax, n_sub = jax.lax.reduce((absd, deep.astype(jnp.int64)), (0.0, np.int64(0)),
                                     lambda a, b: (jnp.maximum(a[0], b[0]), a[1] + b[1]), (x.ndim - 1,))
        return jnp.where(has_deep, dmax, -d_min), n_sub

    dmax, n_sub = jax.lax.cond(jnp.any(has_deep), deep_pass, lambda _: (-d_min, jnp.zeros_like(nf)), None)
    return e, z, dmax, n_sub


def tails(kx: jax.Array, e: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """At the threshold key ``t`` (per row): the tail mass :math:`B(t)=\\sum_{key<t}\\hat e`, the nearest
    data key below ``t`` and the nearest at or above it, in one variadic reduction (one pass)."""
    below = kx < t[..., None]
    return jax.lax.reduce((jnp.where(below, e, 0.0), jnp.where(below, kx, KMIN), jnp.where(below, KMAX, kx)),
                          (0.0, KMIN, KMAX), lambda a, b: (a[0] + b[0], jnp.maximum(a[1], b[1]), jnp.minimum(a[2], b[2])),
                          (kx.ndim - 1,))


def _update(ok: Ok, s: tuple, mid: jax.Array, tail: tuple) -> tuple:
    """Narrow the bracket ``(lo, kmax, B(lo), B(kmax+1))`` with the tail at ``mid`` where ``mid`` lies in
    ``(lo, kmax]`` (invariant: :math:`P(lo)` true, :math:`P(kmax+1)` false; lo, kmax snap to data)."""
    lo, kmax, b_lo, b_hi = s
    b_mid, k_left, k_right = tail
    use = (lo < kmax) & (mid > lo) & (mid <= kmax)
    good = ok(b_mid[..., None], jnp.ones(b_mid.shape + (1,), bool))[..., 0]
    return (jnp.where(use & good, k_right, lo), jnp.where(use & ~good, k_left, kmax),
            jnp.where(use & good, b_mid, b_lo), jnp.where(use & ~good, b_mid, b_hi))


SAMPLE = 64  #: keys per row in the sample that places the first two probes
PROBE_BAND = (0.7, 1.4)  #: the first two probes aim at these multiples of the target tail mass


def sample_probes(kx: jax.Array, e: jax.Array, eps: jax.Array, z: jax.Array) -> jax.Array:
    r"""The first two probes, shape ``(2,) + batch``, from the strided sample
    :math:`\{(\kappa_j,\hat e_j)\}_{j<S}` of each row (every :math:`\lfloor n/S\rfloor`-th key, :math:`S=`
    ``min(SAMPLE, n)``): the estimated tail mass at a sample key is

    .. math:: \hat B(\kappa_l)=\frac nS\sum_{j<S}\hat e_j\,[\kappa_j<\kappa_l]

    (:math:`S^2` comparisons, no sort: XLA CPU sorts cost far more than a search step), and the probes
    are the largest sample key with :math:`\hat B\le0.7\,\varepsilon\hat Z` and the smallest with
    :math:`\hat B\ge1.4\,\varepsilon\hat Z` (``KMIN`` / ``KMAX`` where none is; the search clips them into its
    bracket). On Gaussian rows they bracket the cut tightly, so the secant starts next to it; where they
    do not, the search goes on from whatever they gave (only the step count changes)."""
    n = kx.shape[-1]
    stride = max(1, n // SAMPLE)
    ks, es = kx[..., ::stride][..., :SAMPLE], e[..., ::stride][..., :SAMPLE]
    below = ks[..., None, :] < ks[..., :, None]  # [..., l, j]: sample key j below candidate l
    b_hat = jnp.sum(jnp.where(below, es[..., None, :], 0.0), axis=-1) * (n / ks.shape[-1])
    target = (eps * z)[..., None]
    p_lo = jnp.max(jnp.where(b_hat <= PROBE_BAND[0] * target, ks, KMIN), axis=-1)
    p_hi = jnp.min(jnp.where(b_hat >= PROBE_BAND[1] * target, ks, KMAX), axis=-1)
    return jnp.stack([p_lo, p_hi])


def snap_bisect(kx: jax.Array, e: jax.Array, ok: Ok, eps: jax.Array, z: jax.Array,
                 s: tuple, probes: jax.Array | None = None) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""Bisection for the largest key :math:`K` with :math:`P(K)`, from the bracket
    ``s = (lo, kmax, B(lo), B(kmax+1))``. Each step tries a mid in (lo, kmax] and, in the same pass,
    finds the nearest data keys on either side of it, so the bracket snaps to data. Mids interpolate
    :math:`\log B` (the value midpoint where that is undefined) and, every 8th step, take the key
    midpoint (at most :math:`8\cdot64` steps). A row is done when its bracket holds one distinct value
    (lo == kmax). ``probes`` (shape ``(p,) + batch``, e.g. from :func:`sample_probes`) replace the mids
    of the first ``p`` steps (clipped into the bracket like every mid). Returns ``(lo, B(lo), steps)``."""
    target = jnp.log(eps * z)
    nan = jnp.full_like(z, jnp.nan)

    def body(st):
        i, (lo, kmax, b_lo, b_hi), (t1, g1, t2, g2) = st
        lo_v, hi_v = unkey(lo), unkey(kmax)
        f_log = (target - jnp.log(b_lo)) / (jnp.log(b_hi) - jnp.log(b_lo))
        interp = (i % 8 != 7) & (b_lo > 0) & jnp.isfinite(f_log)
        f = jnp.where(interp, jnp.clip(f_log, 0.0, 1.0), 0.5)
        mid_v = lo_v * (1.0 - f) + hi_v * f  # no overflow for spans up to 2 * 1.79e308
        # secant through the last two probes (superlinear; regula falsi on the bracket ends converges
        # only linearly). Just outside the bracket it is clipped to lo + 1 or kmax: the probe next to
        # the end that closes the bracket on the cut
        sec = t2 - g2 * (t2 - t1) / (g2 - g1)
        w = hi_v - lo_v
        use_sec = interp & jnp.isfinite(sec) & (sec > lo_v - w) & (sec < hi_v + w)
        mid_v = jnp.where(use_sec, sec, mid_v)
        mid = jnp.where(i % 8 == 7, (lo >> 1) + (kmax >> 1) + (lo & kmax & 1) + 1, key(mid_v))
        mid = jnp.where(jnp.isnan(mid_v) & (i % 8 != 7), kmax, mid)
        if probes is not None:
            mid = jnp.where(i < probes.shape[0], probes[jnp.minimum(i, probes.shape[0] - 1)], mid)
        mid = jnp.clip(mid, lo + 1, jnp.maximum(kmax, lo + 1))
        tail = tails(kx, e, mid)
        s = _update(ok, (lo, kmax, b_lo, b_hi), mid, tail)
        return i + 1, s, (t2, g2, unkey(mid), jnp.log(tail[0]) - target)

    steps, (lo, _, b_lo, _), _ = jax.lax.while_loop(lambda st: jnp.any(st[1][0] < st[1][1]), body,
                                                     (jnp.int32(0), s, (nan, nan, nan, nan)))
    return lo, b_lo, steps
