r"""Gating study, measuring half: curvature of trained representations, and the study runner.

Spec ``gating_curvature`` C10 and §4 (measures (a) and (b) of :mod:`.gating_study`): the
finite-difference proxy $\hat\rho$ and the curvature density $|K|\sqrt{\det g}$ of the pullback
metric $g=J^\top J$ of the representation map $r:\mathbb R^2\to\mathbb R^{64}$, in float64.
:func:`run_study` trains (:mod:`._gating_train`) and measures every run into a :class:`StudyResult`.

Example::

    res = run_study(quick_config(), seed=0)
    res.runs["curv_density"][res.select(gate="elementwise", depth=2)]
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from attnverify.attention.models.gated_classifier import ClassifierConfig, _representation, cast_params
from attnverify.proofs_numeric.progress import progress

from .train import StudyConfig, fit_classifiers, hash_key

__all__ = ["curvature_proxy", "representation_curvature", "measure_points", "measure_runs", "StudyResult", "run_study"]


def curvature_proxy(f: Callable[[jax.Array], jax.Array], x: jax.Array, dirs: jax.Array, h: float) -> jax.Array:
    r"""Spec C10 proxy $\hat\rho(x)=\frac1{|D|}\sum_u\|f(x+hu)-2f(x)+f(x-hu)\|/\|f(x+hu)-f(x-hu)\|$.

    ``x (m,)``, unit directions ``dirs [|D|, m]``, step ``h``. Zero for affine ``f``; invariant to
    output scaling; $\approx\frac h2\|\gamma''\|/\|\gamma'\|$ along $\gamma(t)=f(x+tu)$. Not an
    invariant curvature (a flat map can have a large proxy, spec C10). Pure (vmap/jit friendly).
    """
    f0 = f(x)

    def one(u):
        fp, fm = f(x + h * u), f(x - h * u)
        return jnp.linalg.norm(fp - 2 * f0 + fm) / jnp.linalg.norm(fp - fm)

    return jnp.mean(jax.vmap(one)(dirs))


def representation_curvature(mu_fn: Callable[[jax.Array], jax.Array], x: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""``(K, sqrt_det_g)`` of the pullback metric of ``mu_fn`` $:\mathbb R^2\to\mathbb R^d$ at ``x (2,)``.

    $K$ comes from the toolkit's engine (``geometry``, float64; NaN at degenerate points).
    """
    from attnverify.geometry import gaussian_curvature, pullback_metric

    metric = pullback_metric(mu_fn)
    return gaussian_curvature(metric, x), _sqrt_det2(metric(x))


def _sqrt_det2(g: jax.Array) -> jax.Array:
    r"""$\sqrt{\det g}$ of a $2\times2$ metric in closed form (no batched LAPACK call, see ``docs/errors.md``)."""
    return jnp.sqrt(g[0, 0] * g[1, 1] - g[0, 1] * g[1, 0])


@functools.partial(jax.jit, static_argnames=("config", "h"))
def _measure(params, probes, dirs, *, config: ClassifierConfig, h: float):
    """Per run and probe: proxy, K, sqrt(det g). ``params`` float64 ``[R, ...]``, ``probes [R, P, 2]``.

    Runs go one after another and $K$ comes from :func:`geometry.curvature_field` (chunked), so no
    batched LAPACK call grows with ``R * P`` (the XLA:CPU wedge of ``jit(vmap)``, ``docs/errors.md``).
    """
    from attnverify.geometry import curvature_field, pullback_metric

    rep = lambda p, x: _representation(p, x, config)  # noqa: E731
    k = curvature_field(rep, probes, params=params, kind="gaussian", route="intrinsic")

    def run(args):
        p, xs = args
        f = lambda x: rep(p, x)  # noqa: E731
        rho = jax.vmap(lambda x: curvature_proxy(f, x, dirs, h))(xs)
        vol = jax.vmap(lambda x: _sqrt_det2(pullback_metric(f)(x)))(xs)
        return rho, vol

    rho, vol = jax.lax.map(run, (params, probes))
    return rho, k, vol


def measure_points(fit: dict[str, Any], points: Any, cfg: StudyConfig, seed: int = 0) -> dict[str, np.ndarray]:
    r"""Per-point measures ``[R, P]`` of every run of ``fit`` at ``points`` (``[P, 2]`` shared or ``[R, P, 2]``).

    Keys: ``proxy`` ($\hat\rho$, spec C10), ``K`` (Gaussian curvature; NaN where degenerate),
    ``sqrt_det_g``, ``density`` ($|K|\sqrt{\det g}$). Float64 (needs ``jax_enable_x64``).
    """
    from attnverify.proofs_numeric.precision import require_x64

    require_x64("gating curvature measures")
    pts = np.asarray(points, np.float64)
    R = len(fit["task"])
    if pts.ndim == 2:
        pts = np.broadcast_to(pts, (R,) + pts.shape)
    if pts.shape[0] != R or pts.shape[-1] != 2 or not np.isfinite(pts).all():
        raise ValueError(f"points must be finite, [P, 2] or [{R}, P, 2]; got shape {pts.shape}")
    rng = np.random.default_rng(hash_key(seed, 77))
    dirs = rng.standard_normal((cfg.proxy_dirs, 2))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    p64 = cast_params(fit["params"], jnp.float64)
    rho, k, vol = (np.asarray(a) for a in _measure(p64, jnp.asarray(pts), jnp.asarray(dirs), config=fit["classifier"], h=cfg.proxy_h))
    return {"proxy": rho, "K": k, "sqrt_det_g": vol, "density": np.abs(k) * vol}


def measure_runs(fit: dict[str, Any], cfg: StudyConfig, seed: int = 0) -> dict[str, np.ndarray]:
    r"""Per-run summaries of the measures on the first ``cfg.n_probe`` held-out points of each run.

    ``proxy`` (mean $\hat\rho$), ``curv_density`` (median of $|K|\sqrt{\det g}$ over regular
    probes: the density is heavy-tailed near nearly degenerate charts, so the median is the robust choice),
    ``abs_K`` (median $|K|$), ``frac_K_positive``, ``frac_degenerate``.
    """
    probes = np.stack([d.x_test[: cfg.n_probe] for d in fit["data"]])
    m = measure_points(fit, probes, cfg, seed)
    k, dens = m["K"], m["density"]
    ok = np.isfinite(dens)
    n_ok = np.maximum(ok.sum(1), 1)
    return {
        "proxy": m["proxy"].mean(1),
        "curv_density": np.array([np.median(r[o]) if o.any() else np.nan for r, o in zip(dens, ok)]),
        "abs_K": np.array([np.median(np.abs(r[o])) if o.any() else np.nan for r, o in zip(k, ok)]),
        "frac_K_positive": np.where(ok, k > 0, False).sum(1) / n_ok,
        "frac_degenerate": 1.0 - ok.mean(1),
    }


@dataclasses.dataclass(frozen=True)
class StudyResult:
    """Per-run table of a study: every field an array over runs ``R = depths x tasks x gates x seeds``."""

    config: StudyConfig
    seed: int
    runs: dict[str, np.ndarray]
    seconds: float

    def select(self, **where: Any) -> np.ndarray:
        """Boolean mask of runs, e.g. ``select(task="xor", gate="none", depth=1)``; values may be tuples."""
        m = np.ones(len(self.runs["accuracy"]), bool)
        for k, v in where.items():
            m &= np.isin(self.runs[k], list(v) if isinstance(v, (tuple, list)) else [v])
        return m


def run_study(cfg: StudyConfig, seed: int = 0, show_progress: bool = True) -> StudyResult:
    """Train and measure every (depth, task, gate, seed) run of ``cfg``; one compiled program per depth."""
    import time

    t0 = time.perf_counter()
    cols: dict[str, list] = {}
    groups = [tuple(cfg.depths)] if cfg.fuse_depths else [(D,) for D in cfg.depths]
    it = progress(groups, desc="gating study (depth groups)", total=len(groups)) if show_progress else groups
    for group in it:
        fit = fit_classifiers(cfg, group, seed)
        meas = measure_runs(fit, cfg, seed)
        block = {"depth": fit["depth"], "task": fit["task"], "gate": fit["gate"], "seed": fit["seed"],
                 "accuracy": fit["accuracy"], "final_loss": fit["final_loss"], **meas}
        for k, v in block.items():
            cols.setdefault(k, []).extend(list(v))
    runs = {k: np.asarray(v) for k, v in cols.items()}
    return StudyResult(cfg, seed, runs, time.perf_counter() - t0)
