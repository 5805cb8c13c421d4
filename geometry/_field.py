r"""Curvature over many points, safe at any batch size: :func:`curvature_field`.

**Why not** ``jax.jit(jax.vmap(f))``. On XLA:CPU (jaxlib 0.10.2) a batched LAPACK custom call
(``svd``, ``qr``, ``cholesky``) whose batch is large splits itself across the intra-op thread pool
(``jax::ParallelBatchMap``) and blocks its thread until the pieces finish. When the thunk executor
runs as many such calls concurrently as the pool has threads (2 on a 2-core machine; the curvature
routes run ``qr``, ``svd`` and ``cholesky`` side by side), every pool thread waits on pieces no free
thread can run: the process hangs at 0 % CPU (``docs/errors.md``, ``benchmarks/repro_xla_cpu_hang.py``).

**The fix.** One compiled ``jax.lax.map(..., batch_size=B)``: a sequential loop over chunks of
``B`` points, each chunk ``vmap``-ed. ``B`` is chosen so that no LAPACK call of a chunk reaches the
size at which it splits (measured on jaxlib 0.10.2: ``svd`` of $m\times m$ splits from
$B\,m^3\approx2.4\cdot10^4$, ``qr`` of $d\times m$ from $B\,dm^2\approx1.5\cdot10^5$); a call that does not
split never waits, so no thread can wedge, whatever the number of points. ``batch_size=1`` has no
batched LAPACK call at all (safe on any jaxlib, about 2x slower).

**The accuracy checks** (:mod:`geometry._accuracy`). On concrete points, a first compiled pass gives every
point its value and the a-priori certificate; the perturbation estimate then runs over only the points it
did not certify, gathered on the host and padded to a power of two (:func:`_two_pass`), so its cost follows
the uncertified fraction, not the fraction of chunks holding one. Under ``jit`` a chunk reruns with the
estimate by ``lax.cond`` when one of its points is not certified (:func:`_chunk`); the values and codes agree.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

from attnverify.proofs_numeric.precision import check_real, is_concrete, require_x64

from ._accuracy import DEFAULT_MAX_COND, DEFAULT_RTOL, REASONS, UNRESOLVED
from ._extrinsic import extrinsic_with_reason
from ._intrinsic import intrinsic_with_reason
from ._metrics import PullbackMetric
from ._validation import check_choice, check_mean_shape, check_metric_shape, check_point, check_points, check_positive_int, check_spd

__all__ = ["curvature_diagnostics", "curvature_field", "safe_batch_size", "KINDS", "ROUTES", "SVD_WORK_LIMIT", "QR_WORK_LIMIT", "MAX_BATCH"]

KINDS = ("scalar", "gaussian")
ROUTES = ("extrinsic", "intrinsic", "metric")
SVD_WORK_LIMIT = 8192  # B m^3 per chunk: a third of the smallest measured split (2.4e4)
QR_WORK_LIMIT = 32768  # B d m^2 per chunk: a third of the smallest measured split (9.8e4 < split <= 1.5e5)
MAX_BATCH = 256


def safe_batch_size(m: int, d: int | None = None) -> int:
    r"""Largest power of two $B\le256$ with $B\,m^3\le8192$ and $B\,dm^2\le32768$ (at least 1).

    Every LAPACK call of a curvature chunk then stays below jaxlib's parallel-split size.
    """
    m = check_positive_int(m, "m")
    work = max(m**3 / SVD_WORK_LIMIT, (d or m) * m * m / QR_WORK_LIMIT)
    b = MAX_BATCH
    while b > 1 and b * work > 1:
        b //= 2
    return b


def _pointwise(fn: Callable, kind: str, route: str, max_cond: float, rtol: float, estimate: str = "auto") -> Callable:
    """``(params, x, sigma) -> (curvature or NaN, reason code, error estimate, tolerance)`` at one point."""

    def one(p, x, sigma):
        f = fn if p is None else functools.partial(fn, p)
        if route == "metric":
            return intrinsic_with_reason(f, x, kind, rtol, max_cond, estimate=estimate)
        if route == "intrinsic":
            return intrinsic_with_reason(PullbackMetric(f, sigma), x, kind, rtol, max_cond, estimate=estimate)
        return extrinsic_with_reason(PullbackMetric(f, sigma), x, kind, rtol, max_cond, estimate=estimate)

    return one


def _chunk(cheap: Callable, full: Callable, xs: Any) -> tuple:
    """One ``vmap``-ed chunk: the a-priori certificate at every point; the perturbation estimate
    (:mod:`geometry._accuracy`) for the whole chunk only when some point is not certified (``lax.cond``
    on the chunk, so a chunk of regular points never pays for it)."""
    values, codes = jax.vmap(cheap)(xs)
    redo = codes == UNRESOLVED

    def rerun():
        v_full, c_full = jax.vmap(full)(xs)
        return jnp.where(redo, v_full, values), jnp.where(redo, c_full, codes)

    return jax.lax.cond(jnp.any(redo), rerun, lambda: (values, codes))


def _map_chunks(chunk: Callable, xs: Any, batch_size: int) -> tuple:
    """``chunk`` (a function of a ``vmap``-ed chunk) over ``xs`` (a pytree with leading axis ``N``) in chunks of
    ``batch_size``, in sequence (``lax.map``); the last ``N mod batch_size`` points form one smaller chunk."""
    n = jax.tree_util.tree_leaves(xs)[0].shape[0]
    b = min(batch_size, n)
    k = n // b
    head = jax.tree_util.tree_map(lambda a: a[: k * b].reshape((k, b) + a.shape[1:]), xs)
    out = jax.lax.map(chunk, head)
    out = jax.tree_util.tree_map(lambda a: a.reshape((k * b,) + a.shape[2:]), out)
    if k * b < n:
        tail = chunk(jax.tree_util.tree_map(lambda a: a[k * b:], xs))
        out = jax.tree_util.tree_map(lambda a, t: jnp.concatenate([a, t]), out, tail)
    return out


def _field(fn, kind, route, max_cond, rtol, batch_size, grouped, estimate, params, points, sigma):
    """Values and codes over ``points``; ``estimate``: ``"auto"`` (:func:`_chunk`: certificate, ``lax.cond`` to the
    estimate), ``"cheap"`` (certificate only, code ``4`` where it does not certify), ``"full"`` (estimate only)."""
    cheap_full = [_pointwise(fn, kind, route, max_cond, rtol, e) for e in ("cheap", "full")]
    cheap, full = ((lambda px, f=f: f(px[0], px[1], sigma)[:2]) for f in cheap_full)

    def chunk(cheap: Callable, full: Callable) -> Callable:
        return {"auto": functools.partial(_chunk, cheap, full), "cheap": jax.vmap(cheap), "full": jax.vmap(full)}[estimate]

    if not grouped:
        return _map_chunks(chunk(cheap, full), (params, points), batch_size)
    # one parameter set per group [R, ...]; groups in sequence, points of a group chunked
    def group(pg):
        rep = lambda x: (pg[0], x)  # noqa: E731
        return _map_chunks(chunk(lambda x: cheap(rep(x)), lambda x: full(rep(x))), pg[1], batch_size)

    return jax.lax.map(group, (params, points))


@functools.lru_cache(maxsize=64)
def _compiled(fn, kind, route, max_cond, rtol, batch_size, grouped, estimate):
    return jax.jit(functools.partial(_field, fn, kind, route, max_cond, rtol, batch_size, grouped, estimate))


def _compile(fn, *options) -> Callable:
    try:
        return _compiled(fn, *options)
    except TypeError:  # unhashable fn (e.g. a functools.partial of arrays): compile without the cache
        return _compiled.__wrapped__(fn, *options)


def _two_pass(fn, kind, route, max_cond, rtol, batch_size, grouped, params, points, sigma) -> tuple:
    r"""On concrete inputs: the certificate over every point (one compiled pass), then the perturbation estimate
    over only the points it did not certify, gathered on the host and padded (repeating the first) to a power of
    two $\ge$ ``batch_size`` (one compiled pass per bucket size). The values and codes are those of the ``"auto"``
    pass: the estimate at a point does not depend on the other points of its chunk."""
    options = (kind, route, max_cond, rtol, batch_size)
    values, codes = (np.array(x) for x in _compile(fn, *options, grouped, "cheap")(params, points, sigma))
    redo = np.flatnonzero(codes.ravel() == UNRESOLVED)
    if redo.size:
        size = max(1 << int(redo.size - 1).bit_length(), min(batch_size, codes.size))
        take = np.concatenate([redo, np.full(size - redo.size, redo[0])])
        rows = take // codes.shape[-1] if grouped else take  # the parameter set of each gathered point
        sub = jax.tree_util.tree_map(lambda a: jnp.asarray(a)[rows], params)
        v, c = _compile(fn, *options, False, "full")(sub, jnp.asarray(points).reshape(-1, points.shape[-1])[take], sigma)
        values.ravel()[redo], codes.ravel()[redo] = np.asarray(v)[: redo.size], np.asarray(c)[: redo.size]
    return jnp.asarray(values), jnp.asarray(codes)


def _check_options(fn, kind, route, sigma, max_cond, rtol, m: int, name: str, shape: tuple) -> tuple:
    """Checks shared by :func:`curvature_field` and :func:`curvature_diagnostics`; returns
    ``(kind, route, max_cond, rtol, sigma)`` normalised."""
    require_x64("curvature")
    kind, route = check_choice(kind, KINDS, "kind"), check_choice(route, ROUTES, "route")
    max_cond = float(check_real(max_cond, "max_cond", positive=True, allow_inf=True))
    rtol = float(check_real(rtol, "rtol", positive=True))
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if kind == "gaussian" and m != 2:
        raise ValueError(f"kind='gaussian' needs m=2 coordinates, got {name} of shape {shape}; use kind='scalar'")
    if route == "metric" and sigma is not None:
        raise ValueError("sigma applies to the mean-map routes only; route='metric' takes a metric function")
    return kind, route, max_cond, rtol, None if sigma is None else check_spd(sigma)


def curvature_field(
    fn: Callable[..., jax.Array],
    points: ArrayLike,
    *,
    kind: Literal["scalar", "gaussian"] = "scalar",
    route: Literal["extrinsic", "intrinsic", "metric"] = "extrinsic",
    sigma: ArrayLike | None = None,
    params: Any = None,
    batch_size: int | None = None,
    max_cond: float = DEFAULT_MAX_COND,
    rtol: float = DEFAULT_RTOL,
    return_reasons: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    r"""Scalar curvature $S$ or Gaussian curvature $K$ at every point, in bounded chunks (never hangs).

    **Arguments:**

    - ``fn``: a mean map $\mu:(m,)\to(d,)$ for ``route="extrinsic"`` (Gauss equation) or
      ``"intrinsic"`` (autodiff of $g=J^\top\Sigma^{-1}J$); a metric function $(m,)\to(m,m)$ for
      ``route="metric"``. With ``params`` it is called as ``fn(p, theta)``.
    - ``points``: ``[N, m]`` float64 (``N = 0`` gives an empty result), or ``[R, N, m]`` with
      ``params`` of leading axis ``R`` (one parameter set per group of points).
    - ``kind``: ``"scalar"`` ($S=g^{jl}\mathrm{Ric}_{jl}$) or ``"gaussian"`` ($K=R_{1212}/\det g$, $m=2$).
    - ``sigma``: SPD ``(d, d)`` covariance (mean-map routes), identity when ``None``.
    - ``params``: a pytree whose leaves have leading axis ``N`` (per point) or ``R`` (per group).
    - ``batch_size``: points per ``vmap``-ed chunk; ``None`` picks :func:`safe_batch_size`.
    - ``rtol``: the tolerance of the accuracy contract (:mod:`geometry._accuracy`); ``max_cond``: an
      optional cap on $\operatorname{cond}(g)$ (default ``inf``).
    - ``return_reasons``: also return the int32 reason code per point (``0`` regular, else
      ``geometry.REASONS[code]`` says why the value is NaN).

    **Returns:** float64 ``[N]`` (or ``[R, N]``): at each point a value with
    $|\hat c-c|\le\mathrm{rtol}\max(|\hat c|,c_0)$, or NaN; with ``return_reasons`` a pair
    ``(values, reasons)``. Works on traced inputs too (inside ``jit``).

    Example::

        mu = lambda t: jnp.array([t[0], t[1], t[0] * t[1]])
        curvature_field(mu, jnp.array([[0.5, 0.2]] * 3), kind="gaussian")   # 3 x -0.600925...
    """
    if not isinstance(return_reasons, (bool, np.bool_)):
        raise TypeError(f"return_reasons must be a bool, got {type(return_reasons).__name__}")
    grouped = params is not None and np.ndim(points) == 3
    pts = check_points(points, "points", grouped=grouped)
    m = pts.shape[-1]
    kind, route, max_cond, rtol, sig = _check_options(fn, kind, route, sigma, max_cond, rtol, m, "points", pts.shape)
    if params is not None:
        lead = pts.shape[0]
        for leaf in jax.tree_util.tree_leaves(params):
            if np.ndim(leaf) < 1 or np.shape(leaf)[0] != lead:
                raise ValueError(f"params leaves must have leading axis {lead} (one per {'group' if grouped else 'point'}), got shape {np.shape(leaf)}")
    if batch_size is None:
        d = None
        if route != "metric" and pts.size:
            spec = lambda a: jax.ShapeDtypeStruct(np.shape(a)[1:], jnp.result_type(a))  # noqa: E731
            probe = None if params is None else jax.tree_util.tree_map(spec, params)
            x0 = jax.ShapeDtypeStruct((m,), jnp.float64)
            out = jax.eval_shape(fn, x0) if probe is None else jax.eval_shape(fn, probe, x0)
            d = int(np.prod(getattr(out, "shape", (m,))) or m)
        batch_size = safe_batch_size(m, d)
    batch_size = check_positive_int(batch_size, "batch_size")
    if pts.shape[-2] == 0:
        out = (jnp.zeros(pts.shape[:-1], jnp.float64), jnp.zeros(pts.shape[:-1], jnp.int32))
    elif not is_concrete(pts, *jax.tree_util.tree_leaves(params)):  # under jit: the lax.cond pass
        out = _field(fn, kind, route, float(max_cond), float(rtol), batch_size, grouped, "auto", params, pts, sig)
    else:
        out = _two_pass(fn, kind, route, float(max_cond), float(rtol), batch_size, grouped, params, pts, sig)
    values, reasons = out
    return (values, reasons.astype(jnp.int32)) if return_reasons else values


@functools.lru_cache(maxsize=64)
def _diagnostics_compiled(fn, kind, route, max_cond, rtol):
    one = _pointwise(fn, kind, route, max_cond, rtol)
    return jax.jit(lambda p, x, s: one(p, x, s))


def curvature_diagnostics(
    fn: Callable[..., jax.Array],
    theta: ArrayLike,
    *,
    kind: Literal["scalar", "gaussian"] = "scalar",
    route: Literal["extrinsic", "intrinsic", "metric"] = "extrinsic",
    sigma: ArrayLike | None = None,
    params: Any = None,
    max_cond: float = DEFAULT_MAX_COND,
    rtol: float = DEFAULT_RTOL,
) -> dict:
    """The accuracy contract at one point ``theta`` (``(m,)``), arguments as in :func:`curvature_field`
    (``params`` unbatched): ``{"value", "reason", "why", "error_estimate", "tolerance"}`` -- the
    curvature (NaN unless ``reason == 0``), its reason code, ``REASONS[code]``, the first-order error
    estimate and the tolerance ``rtol * max(|value|, c_0)`` it is compared with."""
    theta = check_point(theta)
    kind, route, max_cond, rtol, sig = _check_options(fn, kind, route, sigma, max_cond, rtol, theta.shape[0], "theta", theta.shape)
    f = fn if params is None else functools.partial(fn, params)  # shape checks only; the compiled call takes params
    if route == "metric":
        check_metric_shape(f, theta)
    else:
        check_mean_shape(f, theta)
    key = (fn, kind, route, max_cond, rtol)
    try:
        compiled = _diagnostics_compiled(*key)
    except TypeError:  # unhashable fn
        compiled = _diagnostics_compiled.__wrapped__(*key)
    value, code, err, tol = compiled(params, theta, sig)
    code = int(code)
    return {"value": float(value), "reason": code, "why": REASONS[code], "error_estimate": float(err), "tolerance": float(tol)}
