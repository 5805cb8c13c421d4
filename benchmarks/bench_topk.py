"""Benchmark: certified Top-k selection (sort-free int64-key bisection, JAX) against the numpy sort-based
reference (stable argsort + suffix sums + the same rounding guard) in the same run.

rows = 256, n in {1024, 16384, 131072}, Gaussian logits (sd 2), eps = 0.01. Best-of-N wall times after
a warm-up (compilation excluded); GB/s counts one read of the float64 logits (8 * rows * n bytes).
Optionally (``--verify``) times ``attnverify verify --only 'topk*'``. Writes benchmarks/results/topk.json.

    .venv/bin/python benchmarks/bench_topk.py [--repeats 3] [--verify]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def numpy_sort_topk(x: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Lean numpy baseline: stable argsort, suffix sums from the smallest term, k = min{k: tail_k <= eps Z}
    (no rounding guard, no masks), kept mask by scatter."""
    order = np.argsort(-x, axis=-1, kind="stable")
    xs = np.take_along_axis(x, order, axis=-1)
    e = np.exp(xs - xs[:, :1])
    suffix = np.cumsum(e[:, ::-1], axis=-1)[:, ::-1]  # suffix[:, j] = T_j
    k = 1 + np.sum(suffix[:, 1:] > eps * suffix[:, :1], axis=-1)
    kept = np.zeros(x.shape, bool)
    np.put_along_axis(kept, order, np.arange(x.shape[-1]) < k[:, None], axis=-1)
    return k, kept


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 16384, 131072])
    ap.add_argument("--verify", action="store_true", help="also time `attnverify verify --only 'topk*'`")
    args = ap.parse_args()

    from proofs_numeric import atomic_write_json, enable_x64
    from proofs_numeric._runner import package_versions

    enable_x64()
    import jax

    from bounds import certified_topk, certified_topk_reference

    rng = np.random.default_rng(0)
    results = []
    print(f"{'n':>7} {'guarded ref s':>13} {'np argsort+suffix s':>19} {'np.sort only s':>14} {'certified s':>11} "
          f"{'vs argsort':>10} {'vs np.sort':>10} {'GB/s':>6} {'agree':>5}")
    for n in args.sizes:
        x = rng.normal(0.0, 2.0, (args.rows, n))
        xj = jax.device_put(x)
        run = lambda: jax.block_until_ready(certified_topk(xj, 0.01))  # noqa: E731
        res = run()  # warm-up: compile
        ref = certified_topk_reference(x, 0.01)
        agree = bool(np.array_equal(np.asarray(res.k), ref.k) and np.array_equal(np.asarray(res.kept), ref.kept))
        agree &= bool(np.array_equal(numpy_sort_topk(x, 0.01)[0], ref.k))
        t_ref = best_of(lambda: certified_topk_reference(x, 0.01), args.repeats)
        t_lean = best_of(lambda: numpy_sort_topk(x, 0.01), args.repeats)
        t_sort = best_of(lambda: np.sort(x, axis=-1), args.repeats)
        t_cert = best_of(run, args.repeats)
        gbs = 8 * args.rows * n / t_cert / 1e9
        results.append({"rows": args.rows, "n": n, "numpy_guarded_reference_s": t_ref, "numpy_argsort_suffix_s": t_lean,
                        "numpy_sort_only_s": t_sort, "certified_s": t_cert,
                        "speedup_vs_argsort_suffix": t_lean / t_cert, "speedup_vs_guarded_reference": t_ref / t_cert,
                        "speedup_vs_np_sort_only": t_sort / t_cert, "certified_GBps": gbs, "agree": agree,
                        "mean_k_over_n": float(np.mean(ref.k) / n)})
        print(f"{n:>7} {t_ref:>13.4f} {t_lean:>19.4f} {t_sort:>14.4f} {t_cert:>11.4f} {t_lean / t_cert:>9.2f}x "
              f"{t_sort / t_cert:>9.2f}x {gbs:>6.2f} {str(agree):>5}")
    out = {"benchmark": "certified_topk", "repeats": args.repeats, "eps": 0.01, "logit_sd": 2.0,
           "load_average": os.getloadavg(), "cpu_count": os.cpu_count(), "environment": package_versions(),
           "results": results}
    if args.verify:
        exe = Path(sys.executable).with_name("attnverify")
        t0 = time.perf_counter()
        proc = subprocess.run([str(exe), "verify", "--only", "topk*", "--json", "/tmp/bench_topk_verify.json",
                               "--markdown", "/tmp/bench_topk_verify.md"], capture_output=True, text=True)
        out["verify_topk_seconds"] = time.perf_counter() - t0
        out["verify_topk_exit_code"] = proc.returncode
        print(f"attnverify verify --only 'topk*': {out['verify_topk_seconds']:.1f} s (exit {proc.returncode})")
    path = Path(__file__).resolve().parent / "results" / "topk.json"
    atomic_write_json(path, out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
