r"""Certified Top-k selection: the minimal :math:`k` with discarded mass :math:`\le\varepsilon`, with a
float64 rounding guard, without sorting the row (``docs/papers/topk_tv.md``).

**Contract**. Logits ``[..., n]`` float64, ``-inf`` = masked (probability 0, never
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
from attnverify.proofs_numeric.precision import check_bool
from ._certificate import CertifiedTopK, check_c_exp, guard_rho, tau_bounds
from ._certified_select import KMAX, KMIN, guard_pass, key, sample_probes, snap_bisect, unkey
from ._validate import check_eps, check_logits, is_concrete

__all__ = ["CertifiedTopK", "certified_topk", "tau_bounds"]

def _sum_max_sum(a: tuple, b: tuple) -> tuple:
    return a[0] + b[0], jnp.maximum(a[1], b[1]), a[2] + b[2]


def _sum_sum_min_max(a: tuple, b: tuple) -> tuple:
    return a[0] + b[0], a[1] + b[1], jnp.minimum(a[2], b[2]), jnp.maximum(a[3], b[3])


class _Stats(NamedTuple):
    """Passes over the logits per chunk beyond the four fixed ones (max; exponentials and Z; the cut
    group; the kept mask): the bisection steps."""

    search_steps: Any


class _Cut(NamedTuple):
    """Per-row result of :func:`_core`: the kept set is ``key >= cut`` less the members of the cut group
    at index ``>= drop_from`` (index tie rule; ``n`` when none is dropped)."""

    k: Any
    cut: Any
    drop_from: Any
    tau: Any
    tau_upper: Any
    tau_lower_prev: Any
    minimal_certified: Any
    kl: Any
    n_kept: Any
    valid: Any
    empty: Any


def _core(x: jax.Array, eps: jax.Array, c_exp: float, group: jax.Array) -> tuple[_Cut, _Stats, jax.Array]:
    fin = jnp.isfinite(x)
    ax = (x.ndim - 1,)
    # every comparison in the int64 key domain: XLA CPU flushes subnormal floats in float comparisons
    kx = jnp.where(fin, key(x), KMAX)  # masked keys never enter a tail
    one, zero = jnp.ones_like(kx), jnp.zeros_like(kx)
    # pass 1 (an integer variadic reduction: one vectorised pass)
    nf, n_bad, lo0, kmax0 = jax.lax.reduce(
        (jnp.where(fin, one, zero), jnp.where(jnp.isnan(x) | (x == jnp.inf), one, zero), kx, jnp.where(fin, kx, KMIN)),
        (np.int64(0), np.int64(0), KMAX, KMIN), _sum_sum_min_max, ax)
    valid = n_bad == 0  # under jit nothing raises: flag the row
    empty = nf == 0
    m = jnp.where(empty, 0.0, unkey(kmax0))
    kmax0 = jnp.where(empty, lo0, kmax0)
    # pass 2: the guarded exponentials and Z (the guard terms from the smallest logit where possible)
    e, z, dmax, n_sub = guard_pass(x, m, fin, nf, lo0)
    z = jnp.where(empty, 1.0, z)
    rho = guard_rho(nf, dmax, c_exp)
    col = lambda v: v[..., None]  # noqa: E731

    def ok(tail, nonempty):  # P: dropping a tail of normal mass `tail` is certified (monotone in tail)
        return tau_bounds(tail, col(z), nonempty.astype(jnp.int32), col(rho), col(n_sub))[1] <= col(eps)

    # the search: bisection with data snapping, one cache-resident pass per step; the first two probes
    # come from a 64-key sample of the row (no pass)
    state = (jnp.where(empty | ~valid, kmax0, lo0), kmax0, jnp.zeros_like(z), z)
    lo, b0, steps = snap_bisect(kx, e, ok, eps, z, state, sample_probes(kx, e, eps, z))
    cut, nonempty0 = lo, lo > lo0

    # the cut group (keys equal to lo, one distinct value: all with the same e_v) in one integer pass
    # (e_v >= 0, so its bits order as the value)
    grp, above = fin & (kx == col(cut)), fin & (kx > col(cut))
    g, e_bits, n_above = jax.lax.reduce(
        (jnp.where(grp, one, zero), jnp.where(grp, jax.lax.bitcast_convert_type(e, jnp.int64), zero), jnp.where(above, one, zero)),
        (np.int64(0), np.int64(0), np.int64(0)), _sum_max_sum, ax)
    e_v = jax.lax.bitcast_convert_type(e_bits, jnp.float64)
    g = jnp.where(empty, 0, g)

    # largest j in [0, g-1] with ok(b0 + j e_v): monotone, bisect on j
    def jbody(s):
        jl, jh = s
        jm = (jl + jh + 1) // 2
        good = ok(col(b0 + jm * e_v), col(nonempty0 | (jm > 0)))[..., 0] & (jm <= jh)
        return jnp.where(good, jm, jl), jnp.where(good, jh, jm - 1)

    j, _ = jax.lax.while_loop(lambda s: jnp.any(s[0] < s[1]), jbody, (jnp.zeros_like(g), jnp.maximum(g - 1, 0)))
    k = n_above + g - j
    _, _, lo_prev = tau_bounds(b0 + j * e_v + e_v, z, jnp.ones_like(j), rho, n_sub)
    jk = jnp.where(group, 0, j)  # group: keep the whole tied group, the kept set's tail is b0
    tau, up, _ = tau_bounds(b0 + jk * e_v, z, (nonempty0 | (jk > 0)).astype(jnp.int32), rho, n_sub)
    lo_prev = jnp.where(k <= 1, 1.0, lo_prev)
    n = x.shape[-1]

    def drop_from(_):  # index of the (g - jk + 1)-th member of the cut group: it and later members go
        rank = jnp.cumsum(fin & (kx == col(cut)), axis=-1)
        return jnp.where(jk > 0, jnp.argmax(rank > col(g - jk), axis=-1), n)

    def keep_all(_):  # n, computed from jk so that it carries jk's manual axes inside a user's shard_map
        return (jk * 0 + n).astype(jnp.int64)  # (jk depends on x, eps and group, as drop_from's output does)

    first_dropped = jax.lax.cond(jnp.any(jk > 0), drop_from, keep_all, None)
    v = valid & ~empty
    nan = lambda a, zero_: jnp.where(valid, jnp.where(empty, zero_, a), jnp.nan)  # noqa: E731
    res = _Cut(jnp.where(v, k, 0), cut, first_dropped, nan(tau, 0.0), nan(up, 0.0), nan(lo_prev, 1.0),
               (empty | (lo_prev > eps) | (eps == 0)) & valid, nan(-jnp.log1p(-tau), 0.0), jnp.where(v, n_above + g - jk, 0),
               valid, empty)
    return res, _Stats(steps), _kept(kx, res)


def _kept(kx: jax.Array, r: _Cut) -> jax.Array:
    """The kept mask of a chunk (one fused elementwise pass over its L2-resident keys, inside the chunk
    loop): ``key >= cut`` on valid, non-empty rows, masked keys (``KMAX``) excluded, less the cut-group
    members at index ``>= drop_from``."""
    cut = r.cut[..., None]
    idx = jax.lax.broadcasted_iota(jnp.int64, kx.shape, kx.ndim - 1)
    return (kx >= cut) & (kx != KMAX) & (r.valid & ~r.empty)[..., None] & ~((kx == cut) & (idx >= r.drop_from[..., None]))


_CHUNK_BYTES = 1 << 20  # rows searched together: keys + weights of a chunk stay in L2 cache (~1 MiB)


def _rows_per_chunk(n: int) -> int:
    """Rows searched together: a power of two that depends on ``n`` only (keys + weights of a chunk stay
    in L2 cache, ~1 MiB), so every layout -- one device or any row sharding -- runs the same chunk program."""
    return 1 << max(0, min(6, (_CHUNK_BYTES // (16 * max(n, 1))).bit_length() - 1))


def _chunked(x: jax.Array, eps: jax.Array, group: jax.Array, c_exp: float = 2.0) -> CertifiedTopK:
    """:func:`_core` over fixed-size row chunks (``lax.map``; rows padded with fully masked rows): every
    pass then re-reads a chunk from cache instead of the whole batch from memory, and the compiled
    chunk -- hence every float64 result -- is the same whatever the batch size or sharding."""
    return _chunked_stats(x, eps, group, c_exp)[0]


def _chunked_stats(x: jax.Array, eps: jax.Array, group: jax.Array, c_exp: float = 2.0) -> tuple[CertifiedTopK, _Stats]:
    n = x.shape[-1]
    rows, e = x.reshape(-1, n), eps.reshape(-1)
    bs = _rows_per_chunk(n)
    pad = -rows.shape[0] % bs
    rows = jnp.concatenate([rows, jnp.full((pad, n), -jnp.inf, rows.dtype)]) if pad else rows
    e = jnp.concatenate([e, jnp.zeros(pad, e.dtype)]) if pad else e
    out, stats, kept = jax.lax.map(lambda a: _core(a[0], a[1], c_exp, group), (rows.reshape(-1, bs, n), e.reshape(-1, bs)))
    r = _Cut(*(o.reshape(-1)[: rows.shape[0] - pad].reshape(x.shape[:-1]) for o in out))
    kept = kept.reshape(-1, n)[: rows.shape[0] - pad].reshape(x.shape)
    return CertifiedTopK(r.k, kept, r.tau, r.tau_upper, r.tau_lower_prev, r.minimal_certified, r.kl,
                         r.n_kept, r.valid), stats


_chunked_jit = jax.jit(_chunked, static_argnames=("c_exp",))
_chunked_stats_jit = jax.jit(_chunked_stats, static_argnames=("c_exp",))


def search_passes(logits: Any, eps: Any, c_exp: float = 2.0) -> dict[str, Any]:
    """Diagnostics: the passes over the logits that :func:`certified_topk` makes, per chunk of
    ``chunk_rows`` rows: 4 fixed (max; exponentials and Z; the cut group; the kept mask) + the
    bisection steps (+1 in chunks with deep entries, not counted)."""
    x = jnp.asarray(logits, jnp.float64)
    e = jnp.broadcast_to(jnp.asarray(eps, jnp.float64), x.shape[:-1])
    _, st = _chunked_stats_jit(x, e, jnp.asarray(False), c_exp=float(c_exp))
    steps = np.asarray(st.search_steps)
    return {"chunk_rows": _rows_per_chunk(x.shape[-1]), "search_steps": steps, "passes": 4 + steps}


def _row_sharded(x: jax.Array, eps: jax.Array, group: jax.Array, c_exp: float) -> CertifiedTopK:
    """Rows sharded over a mesh (``NamedSharding``, key axis not split): :func:`_core` runs on each
    device's rows with ``shard_map`` (data parallel, no communication; rows are independent, so the
    result equals one device's bit for bit) and the outputs keep the row sharding. A split key axis
    falls back to the global program."""
    sh = x.sharding
    spec = tuple(sh.spec) + (None,) * (x.ndim - len(sh.spec))
    if spec[-1] is not None:
        return _chunked_jit(x, eps, group, c_exp=c_exp)
    return _sharded_program(sh.mesh, spec, c_exp)(x, jax.device_put(eps, NamedSharding(sh.mesh, P(*spec[:-1]))), group)


@functools.lru_cache(maxsize=16)
def _sharded_program(mesh: Any, spec: tuple, c_exp: float) -> Any:
    rows, full = P(*spec[:-1]), P(*spec)
    out_specs = CertifiedTopK(rows, full, rows, rows, rows, rows, rows, rows, rows)
    f = jax.shard_map(lambda a, e, g: _chunked(a, e, g, c_exp), mesh=mesh, in_specs=(full, rows, P()),
                      out_specs=out_specs, check_vma=False)
    return jax.jit(f)


def _check_eps_shape(eps: Any, batch: tuple[int, ...]) -> None:
    """``eps`` must broadcast to the batch shape ``logits.shape[:-1]`` (a scalar or one per row)."""
    try:
        fits = np.broadcast_shapes(np.shape(eps), batch) == batch
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"eps has shape {np.shape(eps)}, which does not broadcast to the rows of logits "
                         f"(batch shape {batch}): pass a scalar or one eps per row")


def certified_topk(logits: ArrayLike, eps: ArrayLike, *, tie: Literal["index", "group"] = "index",
                   c_exp: float = 2.0, exact_fallback: bool = False) -> CertifiedTopK:
    r"""Certified minimal Top-k per row (threshold search): no sort. After the max pass and the
    exponentials pass, every search step is one pass over a cache-resident chunk of rows (a variadic
    reduction) that returns the tail mass :math:`B(t)=\sum_{s_i<t}\hat e_i` and the nearest data keys
    on both sides of :math:`t`, so the bracket snaps to data; the first two :math:`t` come from a
    64-key sample of the row, later ones are the secant in :math:`\log B` through the last two probes
    (key midpoint every 8th step: at most :math:`8\cdot64` steps; 7-8 per chunk for Gaussian rows;
    see :mod:`._certified_select`). The kept mask is written from the same cache-resident chunk. The
    same jit-able program serves concrete, traced and sharded inputs (validation of concrete inputs reads the per-row ``valid``
    flag; see the module docstring for invalid rows under ``jit``). ``eps`` is a scalar or an array
    that broadcasts to the rows ``logits.shape[:-1]`` (``ValueError`` naming ``eps`` otherwise), with
    values in ``[0, 1)``.

    Example: ``certified_topk(jnp.array([3., 3, 1, 1, 1]), 0.1)`` gives ``k=4`` keeping indices
    ``0..3``; with ``tie="group"`` ``n_kept=5``.

    ``exact_fallback=True`` (concrete inputs only; our choice, default off) re-decides rows whose
    minimality is not certified with 50-digit mpmath arithmetic (:func:`exact_fallback`), e.g. the
    uniform row ``zeros(4)`` at ``eps=0.5`` where the exact tail equals ``eps``: ``k`` 3 -> 2.
    """
    require_x64("certified_topk")
    if np.ndim(logits) == 0 or np.shape(logits)[-1] == 0:
        check_logits(logits)  # raises: a row axis with n >= 1 keys is required (shape only, no data pass)
    check_eps(eps, allow_zero=True)
    exact_fallback = check_bool(exact_fallback, "exact_fallback")  # 2 or "no" is not a switch
    if tie not in ("index", "group"):
        raise ValueError(f"tie must be 'index' or 'group', got {tie!r}")
    x = jnp.asarray(logits, dtype=jnp.float64)
    check_c_exp(c_exp, x.shape[-1] if x.ndim else 1)
    _check_eps_shape(eps, x.shape[:-1])
    eps = jnp.broadcast_to(jnp.asarray(eps, jnp.float64), x.shape[:-1])
    group = jnp.asarray(tie == "group")
    sharding = getattr(x, "sharding", None)
    if isinstance(sharding, NamedSharding) and len(sharding.device_set) > 1 and x.ndim > 1:
        res = _row_sharded(x, eps, group, float(c_exp))
    else:
        res = _chunked_jit(x, eps, group, c_exp=float(c_exp))
    if is_concrete(res.valid) and not bool(jnp.all(res.valid)):  # concrete only when every input is
        check_logits(logits)  # NaN / +inf: raise, naming the first bad row and index (no extra pass otherwise)
    if exact_fallback:
        from ._certified_reference import exact_fallback as _fallback

        res = _fallback(logits, eps, res, tie=tie)
    return res
