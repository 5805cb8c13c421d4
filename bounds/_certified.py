r"""Certified Top-k selection: the minimal :math:`k` with discarded mass :math:`\le\varepsilon`, with a
float64 rounding guard, without sorting the row (spec ``topk_tv`` §3).

**Contract** (spec §3.1). Logits ``[..., n]`` float64, ``-inf`` = masked (probability 0, never
kept, not counted in :math:`n`). :math:`\varepsilon\in[0,1)` (``eps = 0`` is allowed, as in the spec,
and keeps every finite entry). The target is
:math:`k^*=\min\{k\ge1:\sum_{i>k}e^{s_i}\le\varepsilon\sum_ie^{s_i}\}`.

**Invalid rows.** On concrete input a NaN or ``+inf`` logit raises ``ValueError`` naming the row
and index. Under ``jit`` nothing can raise: such a row comes back with ``valid = False``,
``minimal_certified = False``, ``k = n_kept = 0``, nothing kept and NaN ``tau``, ``tau_upper``,
``tau_lower_prev``, ``kl`` -- never certified.

**Rounding guard** (§3.2, details and domain in :mod:`._certificate`). :math:`m=\max s`,
:math:`d_i=\mathrm{fl}(s_i-m)`; entries with :math:`d_i<-700` ("deep", including :math:`s_i-m` overflowing
to :math:`-\infty` at spans up to :math:`\pm1.79\cdot10^{308}`, or ``finfo.min`` masks) are left out of
the sums and bounded by :math:`E_{\rm deep}=e^{-699}` each; for the rest
:math:`\rho=(n+1)u+u\max_{\rm normal}|d_i|+c_{\exp}u\le(n+701+c_{\exp})u` (:math:`u=2^{-53}`), and with
:math:`r=\mathrm{fl}(\hat T/\hat Z)`:
:math:`\tau^{\rm up}=r\frac{1+\rho}{1-\rho}(1+4u)+n_{\rm sub}E_{\rm deep}`,
:math:`\tau^{\rm lo}=\max(0,\,r\frac{1-\rho}{1+\rho}(1-4u)-n_{\rm sub}E_{\rm deep})` (an empty tail has
:math:`\tau^{\rm up}=\tau^{\rm lo}=0` exactly). **Domain:** rigorous whenever :math:`\rho\le\frac12`, i.e.
:math:`n+c_{\exp}\le2^{51}`, at any logit range (``ValueError`` outside). The returned set has
:math:`\tau^{\rm up}\le\varepsilon`, so its true tail never exceeds :math:`\varepsilon`; minimality is
certified iff :math:`\tau^{\rm lo}_{k-1}>\varepsilon` (or :math:`\varepsilon=0`, where every exact
:math:`e^{s_i}>0`).

**Tie rule** (§3.3). ``tie="index"``: among equal logits the lower index is kept first (stable
sort on :math:`(-s_i,i)`); ``tie="group"`` keeps the whole tied group at the cut (``n_kept`` may
then exceed ``k``; ``tau`` and the bounds refer to the kept set). ``k`` never depends on the rule.

**Subnormal logits** compare as zero in XLA CPU float comparisons (denormals are flushed), so every
comparison is made on the order-preserving int64 image of the float64 bits: distinct subnormal logits
stay distinct and ordered.

**Sharding.** A row-sharded input (``NamedSharding``, key axis not split) runs the same program on
every device's rows (``shard_map``, no communication); results are bitwise identical to one device,
because both run fixed-size row chunks. For several hosts, call ``jax.distributed.initialize()`` on
each, build the mesh over ``jax.devices()`` and pass a globally sharded array (see
``docs/certified_topk.md``).

**Fully masked rows** (no finite logit): ``k = 0``, nothing kept, ``tau = tau_upper = 0``,
``tau_lower_prev = 1``, ``minimal_certified = True``, ``kl = 0`` (no distribution, nothing discarded).
"""

from __future__ import annotations

import functools
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from attnverify.proofs_numeric import require_x64
from ._certificate import CertifiedTopK, check_c_exp, guard_rho, guarded_terms, tau_bounds
from ._validate import check_eps, check_logits, is_concrete

__all__ = ["CertifiedTopK", "certified_topk", "tau_bounds"]

_SIGN = np.int64(0x7FFFFFFFFFFFFFFF)
_NEG_ZERO = np.int64(-0x8000000000000000)
_KMIN, _KMAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max


def _key(x: jax.Array) -> jax.Array:
    """Order-preserving int64 image of float64, ``-0.0`` canonicalised to ``+0.0`` on the bits (a float
    ``x == 0`` test would also catch subnormals, which XLA CPU flushes to zero in comparisons)."""
    b = jax.lax.bitcast_convert_type(x, jnp.int64)
    b = jnp.where(b == _NEG_ZERO, 0, b)
    return jnp.where(b < 0, b ^ _SIGN, b)


def _unkey(k: jax.Array) -> jax.Array:
    return jax.lax.bitcast_convert_type(jnp.where(k < 0, k ^ _SIGN, k), jnp.float64)


def _sum_max_min(a: tuple, b: tuple) -> tuple:
    return a[0] + b[0], jnp.maximum(a[1], b[1]), jnp.minimum(a[2], b[2])


def _sum_max_sum(a: tuple, b: tuple) -> tuple:
    return a[0] + b[0], jnp.maximum(a[1], b[1]), a[2] + b[2]


def _sum_sum_min_max(a: tuple, b: tuple) -> tuple:
    return a[0] + b[0], a[1] + b[1], jnp.minimum(a[2], b[2]), jnp.maximum(a[3], b[3])


def _core(x: jax.Array, eps: jax.Array, c_exp: float, group: jax.Array) -> CertifiedTopK:
    fin = jnp.isfinite(x)
    ax = (x.ndim - 1,)
    # every comparison in the int64 key domain: XLA CPU flushes subnormal floats in float comparisons
    kx = jnp.where(fin, _key(x), _KMAX)  # masked keys never enter a tail
    one, zero = jnp.ones_like(kx), jnp.zeros_like(kx)
    # variadic reductions: one pass each (separate reductions are not fused on XLA CPU)
    nf, n_bad, lo0, kmax0 = jax.lax.reduce(
        (jnp.where(fin, one, zero), jnp.where(jnp.isnan(x) | (x == jnp.inf), one, zero), kx, jnp.where(fin, kx, _KMIN)),
        (np.int64(0), np.int64(0), _KMAX, _KMIN), _sum_sum_min_max, ax)
    valid = n_bad == 0  # under jit nothing raises: flag the row
    m = jnp.where(nf > 0, _unkey(kmax0), 0.0)[..., None]
    e, absd, deep = guarded_terms(x, m, fin)
    z, dmax, n_sub = jax.lax.reduce((e, absd, jnp.where(deep, one, zero)), (0.0, 0.0, np.int64(0)), _sum_max_sum, ax)
    z = jnp.where(nf > 0, z, 1.0)
    rho = guard_rho(nf, dmax, c_exp)

    def ok(tail, nonempty):
        return tau_bounds(tail, z, nonempty.astype(jnp.int32), rho, n_sub)[1] <= eps

    # Search for the largest key K with P(K) = "dropping {key < K} is certified" (monotone). Invariant:
    # P(lo) true (lo0 = min key: empty tail), P(kmax + 1) false (lo0 .. kmax hold every finite key, and
    # dropping all of them leaves tau = 1 > eps), and lo, kmax are keys of data ("snapped"). Each step
    # tries a mid in (lo, kmax] and, in the same pass, finds the nearest data keys on either side of
    # it, so the bracket shrinks to data at once. Mids interpolate log B (the tail mass, ~linear in the
    # logit for exponential-tailed rows; the value midpoint where that is undefined) and, every 8th
    # step, take the key midpoint (at least halving the key range: <= 8 * 64 steps). A row is done when
    # its bracket holds one distinct value (lo == kmax).
    target = jnp.log(eps * z)

    def body(s):
        i, lo, kmax, b_lo, b_hi = s
        active = lo < kmax
        lo_v, hi_v = _unkey(lo), _unkey(kmax)
        f_log = (target - jnp.log(b_lo)) / (jnp.log(b_hi) - jnp.log(b_lo))
        interp = (i % 8 != 7) & (b_lo > 0) & jnp.isfinite(f_log)
        f = jnp.where(interp, jnp.clip(f_log, 0.0, 1.0), 0.5)
        mid_v = lo_v * (1.0 - f) + hi_v * f  # no overflow for spans up to 2 * 1.79e308
        mid = jnp.where(i % 8 == 7, (lo >> 1) + (kmax >> 1) + (lo & kmax & 1) + 1, _key(mid_v))
        mid = jnp.clip(jnp.where(jnp.isnan(mid_v) & (i % 8 != 7), kmax, mid), lo + 1, jnp.maximum(kmax, lo + 1))
        below = kx < mid[..., None]
        # one variadic reduction (a single pass; three separate ones are not fused on XLA CPU): the
        # tail mass below mid and the nearest data keys below and at-or-above mid
        b_mid, k_left, k_right = jax.lax.reduce(
            (jnp.where(below, e, 0.0), jnp.where(below, kx, _KMIN), jnp.where(below, _KMAX, kx)),
            (0.0, _KMIN, _KMAX), _sum_max_min, (x.ndim - 1,))
        good = ok(b_mid, jnp.ones_like(active))
        return (i + 1, jnp.where(active & good, k_right, lo), jnp.where(active & ~good, k_left, kmax),
                jnp.where(active & good, b_mid, b_lo), jnp.where(active & ~good, b_mid, b_hi))

    init = (jnp.int32(0), lo0, jnp.where(nf > 0, kmax0, lo0), jnp.zeros_like(z), z)
    _, lo, _, b0, _ = jax.lax.while_loop(lambda s: jnp.any(s[1] < s[2]), body, init)
    nonempty0 = lo > lo0
    # the cut group: the finite keys equal to lo -- one distinct value (all with the same e_v)
    grp = fin & (kx == lo[..., None])
    above = fin & (kx > lo[..., None])
    g, e_v, n_above = jax.lax.reduce((jnp.where(grp, one, zero), jnp.where(grp, e, 0.0), jnp.where(above, one, zero)),
                                     (np.int64(0), 0.0, np.int64(0)), _sum_max_sum, ax)

    # largest j in [0, g-1] with ok(b0 + j e_v): monotone, bisect on j
    def jbody(s):
        jl, jh = s
        jm = (jl + jh + 1) // 2
        good = ok(b0 + jm * e_v, nonempty0 | (jm > 0)) & (jm <= jh)
        return jnp.where(good, jm, jl), jnp.where(good, jh, jm - 1)

    j, _ = jax.lax.while_loop(lambda s: jnp.any(s[0] < s[1]), jbody, (jnp.zeros_like(g), jnp.maximum(g - 1, 0)))
    k = n_above + g - j
    _, _, lo_prev = tau_bounds(b0 + j * e_v + e_v, z, jnp.ones_like(j), rho, n_sub)
    jk = jnp.where(group, 0, j)  # group: keep the whole tied group, the kept set's tail is b0

    def drop_highest(_):  # drop the jk highest-index members of the group (index tie rule)
        rank_from_end = jnp.cumsum(grp[..., ::-1], axis=-1)[..., ::-1]
        return above | (grp & (rank_from_end > jk[..., None]))

    kept = jax.lax.cond(jnp.any(jk > 0), drop_highest, lambda _: above | grp, None)
    tau, up, _ = tau_bounds(b0 + jk * e_v, z, (nonempty0 | (jk > 0)).astype(jnp.int32), rho, n_sub)
    n_kept = n_above + g - jk
    first = k <= 1
    lo_prev = jnp.where(first, 1.0, lo_prev)
    empty = nf == 0
    return _finish(CertifiedTopK(jnp.where(empty, 0, k), kept & ~empty[..., None], jnp.where(empty, 0.0, tau),
                                 jnp.where(empty, 0.0, up), jnp.where(empty, 1.0, lo_prev), empty | (lo_prev > eps) | (eps == 0),
                                 jnp.where(empty, 0.0, -jnp.log1p(-tau)), n_kept, valid))


def _finish(r: CertifiedTopK) -> CertifiedTopK:
    """Invalid rows (NaN / +inf, only reachable under jit): nothing kept, k = 0, NaN bounds, not certified."""
    v = r.valid
    nan = lambda a: jnp.where(v, a, jnp.nan)  # noqa: E731
    return CertifiedTopK(jnp.where(v, r.k, 0), r.kept & v[..., None], nan(r.tau), nan(r.tau_upper),
                         nan(r.tau_lower_prev), r.minimal_certified & v, nan(r.kl), jnp.where(v, r.n_kept, 0), v)


_core_jit = jax.jit(_core, static_argnames=("c_exp",))
_CHUNK_BYTES = 1 << 22  # rows bisected together: keys + weights of a chunk stay in cache (~4 MiB)


def _rows_per_chunk(n: int) -> int:
    """Rows bisected together: a power of two that depends on ``n`` only (keys + weights of a chunk stay
    in cache, ~4 MiB), so every layout -- one device or any row sharding -- runs the same chunk program."""
    return 1 << max(0, min(6, (_CHUNK_BYTES // (16 * max(n, 1))).bit_length() - 1))


def _chunked(x: jax.Array, eps: jax.Array, group: jax.Array, c_exp: float = 2.0) -> CertifiedTopK:
    """:func:`_core` over fixed-size row chunks (``lax.map``; rows padded with fully masked rows): every
    bisection pass then re-reads a chunk from cache instead of the whole batch from memory, and the
    compiled chunk -- hence every float64 result -- is the same whatever the batch size or sharding."""
    n = x.shape[-1]
    rows, e = x.reshape(-1, n), eps.reshape(-1)
    bs = _rows_per_chunk(n)
    pad = -rows.shape[0] % bs
    rows = jnp.concatenate([rows, jnp.full((pad, n), -jnp.inf, rows.dtype)]) if pad else rows
    e = jnp.concatenate([e, jnp.zeros(pad, e.dtype)]) if pad else e
    out = jax.lax.map(lambda a: _core(a[0], a[1], c_exp, group), (rows.reshape(-1, bs, n), e.reshape(-1, bs)))
    out = (o.reshape((-1,) + o.shape[2:])[: rows.shape[0] - pad] for o in out)
    return CertifiedTopK(*(o.reshape(x.shape[:-1] + o.shape[1:]) for o in out))


_chunked_jit = jax.jit(_chunked, static_argnames=("c_exp",))


def _row_sharded(x: jax.Array, eps: jax.Array, group: jax.Array, c_exp: float) -> CertifiedTopK:
    """Rows sharded over a mesh (``NamedSharding``, key axis not split): :func:`_core` runs on each
    device's rows with ``shard_map`` (data parallel, no communication; rows are independent, so the
    result equals one device's bit for bit) and the outputs keep the row sharding. A split key axis
    falls back to the global program."""
    sh = x.sharding
    spec = tuple(sh.spec) + (None,) * (x.ndim - len(sh.spec))
    if spec[-1] is not None:
        return _core_jit(x, eps, c_exp=c_exp, group=group)
    return _sharded_program(sh.mesh, spec, c_exp)(x, jax.device_put(eps, NamedSharding(sh.mesh, P(*spec[:-1]))), group)


@functools.lru_cache(maxsize=16)
def _sharded_program(mesh: Any, spec: tuple, c_exp: float) -> Any:
    rows, full = P(*spec[:-1]), P(*spec)
    out_specs = CertifiedTopK(rows, full, rows, rows, rows, rows, rows, rows, rows)
    f = jax.shard_map(lambda a, e, g: _chunked(a, e, g, c_exp), mesh=mesh, in_specs=(full, rows, P()),
                      out_specs=out_specs, check_vma=False)
    return jax.jit(f)


def certified_topk(logits: ArrayLike, eps: ArrayLike, *, tie: Literal["index", "group"] = "index",
                   c_exp: float = 2.0, exact_fallback: bool = False) -> CertifiedTopK:
    r"""Certified minimal Top-k per row (spec §3.5, threshold search): no sort. Every step is one pass
    over the row (a variadic reduction) that returns the tail mass :math:`B(t)=\sum_{s_i<t}\hat e_i` and
    the nearest data keys on both sides of :math:`t`, so the bracket snaps to data; the next :math:`t`
    interpolates :math:`\log B` (key midpoint every 8th step: at most :math:`8\cdot64` steps; ~10 for
    Gaussian rows of 16384). The same jit-able program serves concrete, traced and sharded inputs
    (validation of concrete inputs reads the per-row ``valid`` flag; see the module docstring for
    invalid rows under ``jit``). ``eps`` is a scalar or per-row array in ``[0, 1)``.

    Example: ``certified_topk(jnp.array([3., 3, 1, 1, 1]), 0.1)`` gives ``k=4`` keeping indices
    ``0..3`` (spec §3.3); with ``tie="group"`` ``n_kept=5``.

    ``exact_fallback=True`` (concrete inputs only; open point 7, default off) re-decides rows whose
    minimality is not certified with 50-digit mpmath arithmetic (:func:`exact_fallback`), e.g. the
    uniform row ``zeros(4)`` at ``eps=0.5`` where the exact tail equals ``eps``: ``k`` 3 -> 2.
    """
    require_x64("certified_topk")
    if np.ndim(logits) == 0 or np.shape(logits)[-1] == 0:
        check_logits(logits)  # raises: a row axis with n >= 1 keys is required (shape only, no data pass)
    check_eps(eps, allow_zero=True)
    if tie not in ("index", "group"):
        raise ValueError(f"tie must be 'index' or 'group', got {tie!r}")
    x = jnp.asarray(logits, dtype=jnp.float64)
    check_c_exp(c_exp, x.shape[-1] if x.ndim else 1)
    eps = jnp.broadcast_to(jnp.asarray(eps, jnp.float64), x.shape[:-1])
    group = jnp.asarray(tie == "group")
    sharding = getattr(x, "sharding", None)
    if isinstance(sharding, NamedSharding) and len(sharding.device_set) > 1 and x.ndim > 1:
        res = _row_sharded(x, eps, group, float(c_exp))
    else:
        res = _chunked_jit(x, eps, group, c_exp=float(c_exp))
    if is_concrete(logits) and not bool(jnp.all(res.valid)):
        check_logits(logits)  # NaN / +inf: raise, naming the first bad row and index (no extra pass otherwise)
    if exact_fallback:
        from ._certified_reference import exact_fallback as _fallback

        res = _fallback(logits, eps, res, tie=tie)
    return res
