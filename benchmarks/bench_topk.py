"""Benchmark (issue 12, §2): certified Top-k against what a user would write, measured in one run.

rows = 256, n in {1024, 16384, 131072}, float64 Gaussian logits (sd 2), eps = 0.01. Columns, best-of-N wall
times in ms after a warm-up (compilation excluded):

- numpy exp + sort + cumsum: ``p = exp(x - max)``, descending sort, cumsum, ``k = 1 + #{cumsum < (1-eps) Z}``;
- ``np.sort`` alone;
- JAX softmax + sort + cumsum (jitted, same k rule);
- JAX exp + sum (one pass, jitted): the floor any method that reads every logit once must pay;
- ``certified_topk`` (the certificate and the exact minimal k).

Ratios: ``speedup`` = numpy pipeline / certified (targets >= 3 at n = 16384, >= 2 at 131072) and
``x exp+sum`` = certified / JAX exp + sum (target <= 8 at n = 16384). ``k mismatches`` counts rows where
``certified_topk`` and the sort-based reference :func:`bounds.certified_topk_reference` disagree on k (must be 0)
and ``pipeline`` rows where the unguarded numpy pipeline does. Writes ``benchmarks/results/topk.json``.

    .venv/bin/python benchmarks/bench_topk.py [--repeats 5] [--sizes 1024 16384 131072]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best_of  # noqa: E402


def numpy_pipeline(x: np.ndarray, eps: float) -> np.ndarray:
    """What a user writes: softmax numerators, descending sort, cumsum, first k with head mass >= 1 - eps."""
    e = np.exp(x - x.max(axis=1, keepdims=True))
    c = np.cumsum(-np.sort(-e, axis=1), axis=1)
    return 1 + np.sum(c < (1 - eps) * c[:, -1:], axis=1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 16384, 131072])
    ap.add_argument("--eps", type=float, default=0.01)
    args = ap.parse_args()

    from attnverify.proofs_numeric import atomic_write_json, enable_x64
    from attnverify.proofs_numeric._runner import package_versions

    enable_x64()
    import jax
    import jax.numpy as jnp

    from attnverify.bounds import certified_topk, certified_topk_reference

    eps = args.eps

    @jax.jit
    def jax_pipeline(x):
        c = jnp.cumsum(-jnp.sort(-jax.nn.softmax(x, axis=-1), axis=-1), axis=-1)
        return 1 + jnp.sum(c < 1 - eps, axis=-1)

    exp_sum = jax.jit(lambda x: jnp.sum(jnp.exp(x), axis=-1))
    rng = np.random.default_rng(0)
    cols = ("np exp+sort+cumsum", "np.sort", "JAX softmax+sort+cumsum", "JAX exp+sum", "certified_topk")
    print(f"rows={args.rows}, sd=2, eps={eps}, best of {args.repeats}, ms; load {os.getloadavg()[0]:.1f}")
    print(f"{'n':>7} " + " ".join(f"{c:>{max(len(c), 9)}}" for c in cols)
          + f" {'speedup':>8} {'x exp+sum':>9} {'k mismatches':>12} {'pipeline':>8}")
    results = []
    for n in args.sizes:
        x = rng.normal(0.0, 2.0, (args.rows, n))
        xj = jax.device_put(x)
        res = certified_topk(xj, eps)
        ref = certified_topk_reference(x, eps)
        mism = int(np.sum(np.asarray(res.k) != ref.k))
        mism_pipe = int(np.sum(numpy_pipeline(x, eps) != ref.k))
        t = [best_of(lambda: numpy_pipeline(x, eps), args.repeats), best_of(lambda: np.sort(x, axis=1), args.repeats),
             best_of(lambda: jax_pipeline(xj), args.repeats), best_of(lambda: exp_sum(xj), args.repeats),
             best_of(lambda: certified_topk(xj, eps), args.repeats)]
        ms = [1e3 * v for v in t]
        speed, floor = t[0] / t[4], t[4] / t[3]
        print(f"{n:>7} " + " ".join(f"{v:>{max(len(c), 9)}.2f}" for v, c in zip(ms, cols))
              + f" {speed:>7.2f}x {floor:>8.2f}x {mism:>12} {mism_pipe:>8}")
        results.append({"rows": args.rows, "n": n, **{f"{c}_ms": v for c, v in zip(cols, ms)},
                        "speedup_vs_numpy_pipeline": speed, "certified_over_exp_sum": floor,
                        "k_mismatches_vs_reference": mism, "k_mismatches_numpy_pipeline": mism_pipe,
                        "mean_k_over_n": float(np.mean(ref.k) / n), "minimal_certified": int(np.sum(res.minimal_certified))})
    out = {"benchmark": "certified_topk", "repeats": args.repeats, "eps": eps, "logit_sd": 2.0,
           "load_average": os.getloadavg(), "cpu_count": os.cpu_count(), "environment": package_versions(),
           "results": results}
    path = Path(__file__).resolve().parent / "results" / "topk.json"
    atomic_write_json(path, out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
