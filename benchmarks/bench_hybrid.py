"""Causal linear attention in three forms against softmax attention: tokens/s against T (same run).

    .venv/bin/python benchmarks/bench_hybrid.py [--lengths 256 1024 4096 16384] [--heads 4] [--d 64] [--dprime 32] [--chunk 64]

Forms (:mod:`attention.hybrid.linear_forms`, float32, ``heads`` heads vmapped, Hedgehog features of
dimension ``2 d'``): the masked parallel product (O(T^2)), the chunked form (O(T C)), the recurrence
(O(T), one token per scan step); the hybrid's chunked form (window 64) and dense causal softmax
attention as the baseline. Each is timed best-of ``--repeats`` after a compile; the quadratic forms are
skipped above ``--max-quadratic`` tokens. Also reports float32 stability at the largest T: the
chunked LA and hybrid outputs, state and normaliser against float64 (relative error, finiteness).
Writes ``benchmarks/results/hybrid.json``; timings on a shared machine.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from attnverify.attention.hybrid import (hedgehog_features, hedgehog_init, hybrid_attention_chunked, linear_attention_chunked,
                              linear_attention_parallel, linear_attention_recurrent)
from attnverify.proofs_numeric.io import atomic_write_json
from _timing import best_of


def _inputs(T: int, heads: int, d: int, dprime: int, dtype):
    rng = np.random.default_rng(0)
    q, k, v = (jnp.asarray(rng.standard_normal((heads, T, d)), dtype) for _ in range(3))
    wq, wk = (hedgehog_init(jax.random.PRNGKey(i), d, dprime, dtype) for i in (1, 2))
    return q, k, v, hedgehog_features(q, wq), hedgehog_features(k, wk)


def _softmax(q, k, v):
    T = q.shape[-2]
    s = jnp.einsum("hnd,hjd->hnj", q, k) / jnp.sqrt(jnp.asarray(q.shape[-1], q.dtype))
    return jax.nn.softmax(jnp.where(jnp.tril(jnp.ones((T, T), bool))[None], s, -jnp.inf), -1) @ v


def _forms(chunk: int, window: int):
    la = lambda f: jax.jit(jax.vmap(lambda fq, fk, v: f(fq, fk, v)[0]))  # noqa: E731
    return {
        "LA parallel": (la(linear_attention_parallel), True),
        "LA chunked": (la(lambda *a: linear_attention_chunked(*a, chunk=chunk)), False),
        "LA recurrent": (la(linear_attention_recurrent), False),
        "hybrid chunked": (jax.jit(jax.vmap(lambda q, k, v, fq, fk: hybrid_attention_chunked(q, k, v, fq, fk, window=window, gamma=0.1, chunk=chunk)[0])), False),
        "softmax": (jax.jit(_softmax), True),
    }


def _stability(T: int, heads: int, d: int, dprime: int, chunk: int, window: int) -> dict:
    """float32 vs float64 at length T (chunked forms: the only ones that fit at long T)."""
    jax.config.update("jax_enable_x64", True)
    out = {}
    x64 = _inputs(T, heads, d, dprime, jnp.float64)
    x32 = tuple(x.astype(jnp.float32) for x in x64)
    rel = lambda a, b: float(jnp.max(jnp.abs(a.astype(jnp.float64) - b)) / jnp.max(jnp.abs(b)))  # noqa: E731
    y64, s64 = jax.vmap(lambda fq, fk, v: linear_attention_chunked(fq, fk, v, chunk=chunk))(x64[3], x64[4], x64[2])
    y32, s32 = jax.vmap(lambda fq, fk, v: linear_attention_chunked(fq, fk, v, chunk=chunk))(x32[3], x32[4], x32[2])
    out["LA chunked"] = {"finite": bool(jnp.all(jnp.isfinite(y32)) & jnp.all(jnp.isfinite(s32.S)) & jnp.all(jnp.isfinite(s32.z))),
                         "rel_err_y": rel(y32, y64), "rel_err_S": rel(s32.S, s64.S), "rel_err_z": rel(s32.z, s64.z),
                         "max_z": float(jnp.max(s32.z))}
    hyb = lambda xs: jax.vmap(lambda q, k, v, fq, fk: hybrid_attention_chunked(q, k, v, fq, fk, window=window, gamma=0.1, chunk=chunk))(*xs)  # noqa: E731
    (h64, r64), (h32, r32) = hyb(x64), hyb(x32)
    out["hybrid chunked"] = {"finite": bool(jnp.all(jnp.isfinite(h32)) & jnp.all(jnp.isfinite(r32))), "rel_err_y": rel(h32, h64),
                             "max_abs_err_r": float(jnp.max(jnp.abs(r32.astype(jnp.float64) - r64)))}
    jax.config.update("jax_enable_x64", False)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096, 16384])
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--dprime", type=int, default=32)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-quadratic", type=int, default=8192)
    a = ap.parse_args()
    forms = _forms(a.chunk, a.window)
    rows = []
    for T in a.lengths:
        q, k, v, fq, fk = _inputs(T, a.heads, a.d, a.dprime, jnp.float32)
        args = {"softmax": (q, k, v), "hybrid chunked": (q, k, v, fq, fk)}
        row = {"T": T}
        for name, (fn, quadratic) in forms.items():
            if quadratic and T > a.max_quadratic:
                row[name] = None
                continue
            t = best_of(lambda: fn(*args.get(name, (fq, fk, v))), a.repeats)
            row[name] = a.heads * T / t
        rows.append(row)
    names = list(forms)
    print(f"heads={a.heads} d_h={a.d} D=2d'={2 * a.dprime} chunk={a.chunk} window={a.window} float32; tokens/s (x heads)")
    print("| T | " + " | ".join(names) + " | chunked / softmax |")
    print("|---|" + "---|" * (len(names) + 1))
    for r in rows:
        ratio = f"{r['LA chunked'] / r['softmax']:.2f}" if r["softmax"] else "–"
        print(f"| {r['T']} | " + " | ".join(f"{r[n]:.3g}" if r[n] else "–" for n in names) + f" | {ratio} |")
    stab = _stability(max(a.lengths), a.heads, a.d, a.dprime, a.chunk, a.window)
    print(f"float32 vs float64 at T={max(a.lengths)}: {stab}")
    res = {"workload": vars(a), "tokens_per_s": rows, "float32_stability": stab,
           "machine": f"{platform.processor() or platform.machine()}, {len(jax.devices())} JAX CPU device(s), shared with other jobs"}
    atomic_write_json(Path(__file__).resolve().parent / "results" / "hybrid.json", res)


if __name__ == "__main__":
    main()
