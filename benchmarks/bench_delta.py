"""Δ attention: the anchor pass against full causal attention (same run, same inputs).

    .venv/bin/python benchmarks/bench_delta.py [--n 4096] [--heads 8] [--d 64] [--repeats 5]

The anchor pass of Δ attention computes the $\\lceil N/\\gamma\\rceil$ rows at the anchors densely; its
share of the causal entries is :func:`attention.delta_cost` ``.anchor_fraction`` (about $1/\\gamma$).
We time it (best of ``--repeats`` after a warm-up compile, float32) against the dense causal pass
and report the measured time ratio next to the exact entry fraction; also all five strides in
one :func:`attention.delta_attention_strides` call against five :func:`attention.delta_attention`
calls. Our sparse pass is a masked dense reference (no speed-up by design, spec pitfall 10), so
it is reported for context only. Writes ``benchmarks/results/delta.json``; timings on a shared machine.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from attnverify.attention import delta_attention, delta_attention_strides, delta_cost, dense_causal_attention, sink_window_attention
from attnverify.attention.delta.sparse import _anchor_core
from attnverify.proofs_numeric.io import atomic_write_json
from _timing import best_of as _best

GAMMAS = (4, 8, 16, 32, 64)




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    q, k, v = (jnp.asarray(rng.normal(size=(a.heads, a.n, a.d)), jnp.float32) for _ in range(3))
    dense = _best(lambda: dense_causal_attention(q, k, v), a.repeats)
    sparse = _best(lambda: sink_window_attention(q, k, v, window=128, n_sink=4), a.repeats)
    rows = []
    for g in GAMMAS:
        t = _best(lambda g=g: _anchor_core(q, k, v, g, "paper", 0), a.repeats)
        rows.append({"gamma": g, "anchor_s": t, "time_ratio": t / dense, "entry_fraction": delta_cost(a.n, g).anchor_fraction})
    separate = _best(lambda: [delta_attention(q, k, v, gamma=g, window=128, n_sink=4) for g in GAMMAS], a.repeats)
    shared = _best(lambda: delta_attention_strides(q, k, v, gammas=GAMMAS, window=128, n_sink=4), a.repeats)
    res = {
        "workload": {"n": a.n, "heads": a.heads, "d": a.d, "dtype": "float32", "repeats": a.repeats},
        "dense_causal_s": dense, "sparse_masked_dense_s": sparse, "anchor_pass": rows,
        "five_strides_separate_s": separate, "five_strides_shared_s": shared, "shared_speedup": separate / shared,
        "machine": f"{platform.processor() or platform.machine()}, {len(jax.devices())} JAX CPU device(s), shared with other jobs",
    }
    print(f"n={a.n} heads={a.heads} d={a.d} float32; dense causal {dense * 1e3:.1f} ms, masked-dense sparse {sparse * 1e3:.1f} ms")
    print("| gamma | anchor pass (ms) | time / dense | anchor share of causal entries |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['gamma']} | {r['anchor_s'] * 1e3:.2f} | {r['time_ratio']:.4f} | {r['entry_fraction']:.4f} |")
    print(f"five strides: separate {separate * 1e3:.1f} ms, shared {shared * 1e3:.1f} ms ({separate / shared:.2f}x)")
    out = Path(__file__).resolve().parent / "results" / "delta.json"
    atomic_write_json(out, res)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
