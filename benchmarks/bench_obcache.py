"""Closed-form OBCache saliency vs brute-force exact perturbation (spec obcache.md §2.2-2.3).

For one head with n = 4096 cached tokens, a window of w = 64 queries and d = 64, we time

- the closed forms: all four scores $S^V,S^K,S^\\times,S^{VK}$ (:func:`attention.kv.perturbation.obcache_scores`)
  and the exact zeroing/removal errors (:func:`attention.kv.perturbation.exact_errors`), $O(w\\,n\\,d)$;
- brute force: recompute the window's attention outputs with each of the n tokens perturbed
  (:func:`attention.kv.perturbation.perturbation_errors_bruteforce`), $O(w\\,n^2d)$, for value, key and joint
  zeroing and true removal,

in the same run, report their agreement and the speed ratio, print a table and write
``benchmarks/results/obcache.json``. Closed forms: best of 7 runs; brute force: one run of the
ahead-of-time compiled function (each run is long). Run: ``.venv/bin/python benchmarks/bench_obcache.py [--n 4096 --w 64 --d 64]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import jax
import numpy as np

from attnverify.proofs_numeric import enable_x64
from attnverify.proofs_numeric.io import atomic_write_json
from _timing import best_of as best_of




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--w", type=int, default=64)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "obcache.json"))
    args = ap.parse_args()
    enable_x64()
    from attnverify.attention.kv.perturbation import _bruteforce, causal_mask, exact_errors, obcache_scores, window_attention

    rng = np.random.default_rng(0)
    n, w, d = args.n, args.w, args.d
    q, k, v = (jax.numpy.asarray(rng.normal(size=s)) for s in ((w, d), (n, d), (n, d)))
    m = causal_mask(n, np.arange(n - w, n))
    closed = jax.jit(lambda q, k, v, m: obcache_scores(window_attention(q, k, v, m), v))
    closed_exact = jax.jit(lambda q, k, v, m: exact_errors(window_attention(q, k, v, m), v))
    t_scores = best_of(lambda: closed(q, k, v, m), 7)
    t_exact = best_of(lambda: closed_exact(q, k, v, m), 7)
    s, e = closed(q, k, v, m), closed_exact(q, k, v, m)
    rows, values_bf = [], None
    for kind in ("value", "key", "joint", "removal"):
        compiled = _bruteforce.lower(q, k, v, m, kind, 128).compile()  # compile outside the timing
        t = time.perf_counter()
        bf = np.asarray(jax.block_until_ready(compiled(q, k, v, m)))
        t_bf = time.perf_counter() - t
        values_bf = bf if kind == "value" else values_bf
        exact = np.asarray(getattr(e, kind))
        rel = float(np.max(np.abs(exact - bf) / np.maximum(bf, 1e-6 * float(np.sum(np.asarray(window_attention(q, k, v, m).out) ** 2)))))
        rows.append({"perturbation": kind, "brute_force_s": t_bf, "closed_scores_s": t_scores, "closed_exact_s": t_exact,
                     "ratio_vs_scores": t_bf / t_scores, "ratio_vs_exact": t_bf / t_exact, "max_rel_err_exact_vs_brute": rel})
    s_v, bf_v = np.asarray(s.value), values_bf
    print(f"n={n} w={w} d={d} float64, {jax.devices()[0].platform}, {os.cpu_count()} cpus (shared load: {os.getloadavg()[0]:.1f})")
    print(f"closed-form scores (S^V,S^K,S^x,S^VK): {1e3 * t_scores:.2f} ms; exact closed forms: {1e3 * t_exact:.2f} ms")
    print("| perturbation | brute force (s) | ratio vs scores | ratio vs exact closed form | max rel err |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['perturbation']} | {r['brute_force_s']:.2f} | {r['ratio_vs_scores']:.0f}x | {r['ratio_vs_exact']:.0f}x | {r['max_rel_err_exact_vs_brute']:.1e} |")
    atomic_write_json(args.out, {
        "n": n, "w": w, "d": d, "dtype": "float64", "platform": jax.devices()[0].platform, "cpus": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0], "note": "measured on a CPU shared with other jobs; closed forms best of 7 after warm-up; brute force one timed run of the ahead-of-time compiled function",
        "closed_scores_s": t_scores, "closed_exact_s": t_exact, "rows": rows,
        "S_V_vs_brute_value_max_rel": float(np.max(np.abs(s_v - bf_v) / np.maximum(bf_v, 1e-300))),
        "min_ratio": min(r["ratio_vs_scores"] for r in rows),
    })


if __name__ == "__main__":
    main()
