"""Gemma 3 270M in pure JAX: memory after load, prefill and decode throughput, jit against op by op (same run).

    .venv/bin/python benchmarks/bench_gemma.py [--prompt-tokens 64] [--new-tokens 16] [--repeats 2]

Workload: a prompt of ``--prompt-tokens`` tokens of the stdlib-docstring corpus (batch 1, float32),
then ``--new-tokens`` greedy decode steps with the KV cache.

- ``jit``: :func:`attention.gemma_prefill` / :func:`attention.gemma_decode_step` compiled (compile time
  reported apart), best of ``--repeats``; decode timed over all steps after one warm-up step;
- ``op-by-op``: the same functions with ``jit=False`` under ``jax.disable_jit()`` (every primitive
  dispatched eagerly); one prefill and ``--op-steps`` decode steps (it is slow).

Memory: resident set size (``VmRSS``) after :func:`attention.load_gemma` (from the float32 cache), and
the parameter bytes. Writes ``benchmarks/results/gemma.json`` and prints a table. Timings on a shared
machine: ratios within one run are the figure to read, absolute tokens/s vary with the load.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
from _timing import best_of


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--op-steps", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    from attnverify.attention import gemma_decode_step, gemma_prefill, init_kv_cache, load_gemma, stdlib_docstrings
    from attnverify.proofs_numeric.io import atomic_write_json

    rss0 = _rss_mib()
    t0 = time.perf_counter()
    model = load_gemma()
    load_s = time.perf_counter() - t0
    rss_load = _rss_mib()
    param_bytes = sum(a.size * a.dtype.itemsize for a in jax.tree.leaves(model.params))

    text = " ".join(t for _, t in stdlib_docstrings(400))
    ids = jnp.asarray(model.tokenizer.encode(text[:20_000]).ids[: args.prompt_tokens], jnp.int32)[None]
    T, N = ids.shape[1], args.new_tokens
    if T < args.prompt_tokens:
        raise SystemExit(f"the corpus gave only {T} tokens")
    fresh = lambda: init_kv_cache(model.config, 1, T + N + args.op_steps + 1)  # noqa: E731

    def prefill(jit: bool):
        return gemma_prefill(model, ids, fresh(), jit=jit)

    def decode(jit: bool, steps: int, state):
        logits, cache = state
        for i in range(steps):
            token = jnp.argmax(logits, axis=-1).astype(jnp.int32)
            logits, cache = gemma_decode_step(model, token, T + i, cache, jit=jit)
        return jax.block_until_ready(logits), cache

    rows: dict[str, dict[str, float]] = {}
    t0 = time.perf_counter()
    state = jax.block_until_ready(prefill(True))
    compile_prefill = time.perf_counter() - t0
    rows["prefill jit"] = {"seconds": best_of(lambda: prefill(True)[0], args.repeats, warmup=False), "tokens": T}
    t0 = time.perf_counter()
    decode(True, 1, state)
    compile_decode = time.perf_counter() - t0
    rows["decode jit"] = {"seconds": best_of(lambda: decode(True, N, state)[0], args.repeats, warmup=False), "tokens": N}
    with jax.disable_jit():
        t0 = time.perf_counter()
        jax.block_until_ready(prefill(False)[0])
        rows["prefill op-by-op"] = {"seconds": time.perf_counter() - t0, "tokens": T}
        t0 = time.perf_counter()
        decode(False, args.op_steps, state)
        rows["decode op-by-op"] = {"seconds": time.perf_counter() - t0, "tokens": args.op_steps}
    for r in rows.values():
        r["tokens_per_s"] = r["tokens"] / r["seconds"]
    for kind in ("prefill", "decode"):
        rows[f"{kind} jit"]["speedup_vs_op_by_op"] = rows[f"{kind} jit"]["tokens_per_s"] / rows[f"{kind} op-by-op"]["tokens_per_s"]

    result = {"workload": f"Gemma 3 270M (GGUF Q4_K_M dequantised to float32), prompt {T} tokens, {N} decode steps, batch 1",
              "gguf_sha256": model.sha256, "load_s_from_cache": load_s, "rss_mib_before_load": rss0,
              "rss_mib_after_load": rss_load, "param_mib": param_bytes / 2**20,
              "jit_compile_s": {"prefill": compile_prefill, "decode_first_step": compile_decode}, "table": rows,
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "jax": jax.__version__,
                          "devices": str(jax.devices()), "loadavg": os.getloadavg()},
              "note": "wall-clock timings on a shared 2-core CPU machine (other jobs running)"}
    out = Path(__file__).resolve().parent / "results" / "gemma.json"
    atomic_write_json(out, result)
    print(result["workload"])
    print(f"load {load_s:.1f} s; RSS after load {rss_load:.0f} MiB (params {param_bytes / 2**20:.0f} MiB); "
          f"compile prefill {compile_prefill:.1f} s, decode {compile_decode:.1f} s")
    print(f"{'phase':18s} {'seconds':>9s} {'tokens/s':>10s} {'speed-up':>9s}")
    for k, r in rows.items():
        sp = f"{r['speedup_vs_op_by_op']:8.1f}x" if "speedup_vs_op_by_op" in r else ""
        print(f"{k:18s} {r['seconds']:9.3f} {r['tokens_per_s']:10.2f} {sp:>9s}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
