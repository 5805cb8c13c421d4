"""Stand-alone reproducer: ``jax.jit(jax.vmap(f))`` over ~1e4 points wedges XLA:CPU (0 % CPU, futex waits).

Independent of attnverify: needs only ``jax`` and ``numpy``. Every case runs in a fresh child
process under a wall-clock timeout, so a hang is reported as ``HANG`` instead of blocking the script.

Cases (``--case``):

* ``svd_qr``: ``vmap(lambda a: svd(a, compute_uv=False).sum() + qr(a)[0].sum())`` on ``n`` random
  12 x 4 float64 matrices (the minimal graph: two LAPACK custom calls in one vmapped program);
* ``svd``, ``qr``: each factorisation alone (controls);
* ``curvature``: scalar curvature by the Gauss equation of ``mu(x) = sigmoid(B x) * (A x)``,
  ``A, B`` of shape (3m, m): ``qr`` of the Jacobian, a Cholesky solve against ``g`` and the degeneracy
  test ``svd(g)`` -- the graph that hung in attnverify (three independent LAPACK custom calls).

What hangs (gdb, jaxlib 0.10.2, 2 cores): two XLA:CPU intra-op pool threads ("tf_XLAEigen") each sit
in ``jax::ParallelBatchMap`` -> ``absl::BlockingCounter::Wait``, one under ``lapack_dgesdd_ffi``
(svd), the other under the Cholesky kernel: a batched LAPACK call large enough to split hands its
pieces to the same pool and blocks; two such calls run concurrently by the thunk executor occupy
both pool threads, and nobody is left to run the pieces. The split starts at a work size (measured
with ``--probe-split``): ``svd`` of m x m from ``B m^3`` ~ 2.4e4 (B = 384 at m = 4, 48 at m = 8),
``qr`` of 12 x 4 from B ~ 1024, ``cholesky`` of 4 x 4 from B ~ 16384.

Strategies (``--strategy``):

* ``vmap``: ``jax.jit(jax.vmap(f))(points)`` (what hangs);
* ``lax_map``: ``jax.jit(lambda x: jax.lax.map(f, x, batch_size=B))(points)`` (vmap over chunks of ``B``
  inside one sequential loop);
* ``chunks``: one compiled ``jit(vmap(f))`` on chunks of ``B`` points, called from Python.

Environment variants (``--env``): ``default``, ``no_eigen_mt`` (``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false``),
``one_core`` (``taskset -c 0``; Linux only).

Usage::

    python benchmarks/repro_xla_cpu_hang.py                       # the default matrix, prints a table
    python benchmarks/repro_xla_cpu_hang.py --case svd_qr --n 10000 --strategy vmap --repeats 4
    python benchmarks/repro_xla_cpu_hang.py --child --case curvature --m 4 --n 10000 --strategy vmap
    python benchmarks/repro_xla_cpu_hang.py --probe-split svd:4x4:256,384,512
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time


def _build(case: str, m: int):
    import jax
    import jax.numpy as jnp
    import numpy as np

    if case in ("svd_qr", "svd", "qr"):
        parts = {"svd": lambda a: jnp.linalg.svd(a, compute_uv=False).sum(), "qr": lambda a: jnp.linalg.qr(a)[0].sum()}
        use = ("svd", "qr") if case == "svd_qr" else (case,)
        return (lambda a: sum(parts[p](a) for p in use)), (12, 4)
    rng = np.random.default_rng(0)
    a_mat, b_mat = jnp.asarray(rng.standard_normal((3 * m, m))), jnp.asarray(rng.standard_normal((3 * m, m)))
    mu = lambda x: jax.nn.sigmoid(b_mat @ x) * (a_mat @ x)  # noqa: E731

    def scalar_curvature(x):
        j = jax.jacfwd(mu)(x)
        h = jax.jacfwd(jax.jacfwd(mu))(x)  # h[a, i, k]
        q, _ = jnp.linalg.qr(j)
        flat = h.reshape(3 * m, m * m)
        ii = (flat - q @ (q.T @ flat)).reshape(3 * m, m, m)
        g = j.T @ j
        gram = jnp.einsum("aik,ajl->ijkl", ii, ii)
        r = gram - jnp.einsum("ijkl->ijlk", gram)  # R_ijkl = <II_ik, II_jl> - <II_il, II_jk>
        gi = jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(g, lower=True), jnp.eye(m))  # Cholesky solve
        s = jnp.einsum("ik,jl,ijkl->", gi, gi, r)
        sv = jnp.linalg.svd(g, compute_uv=False)  # degeneracy test
        return jnp.where(sv[0] <= 1e10 * sv[-1], s, jnp.nan)

    return scalar_curvature, (m,)


def child(args: argparse.Namespace) -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    f, shape = _build(args.case, args.m)
    x = np.random.default_rng(1).standard_normal((args.n,) + shape)
    if args.strategy == "vmap":
        fn = jax.jit(jax.vmap(f))
        run = lambda: fn(x)  # noqa: E731
    elif args.strategy == "lax_map":
        fn = jax.jit(lambda xs: jax.lax.map(f, xs, batch_size=args.batch_size))
        run = lambda: fn(x)  # noqa: E731
    else:
        fn = jax.jit(jax.vmap(f))
        b = args.batch_size
        pad = (-len(x)) % b
        xp = np.concatenate([x, np.repeat(x[-1:], pad, 0)]) if pad else x
        run = lambda: np.concatenate([np.asarray(fn(xp[s : s + b])) for s in range(0, len(xp), b)])[: len(x)]  # noqa: E731
    t0 = time.perf_counter()
    out = np.asarray(jax.block_until_ready(run()))
    t1 = time.perf_counter()
    np.asarray(jax.block_until_ready(run()))
    t2 = time.perf_counter()
    print(json.dumps({"first_s": t1 - t0, "second_s": t2 - t1, "us_per_point": (t2 - t1) / args.n * 1e6, "finite": float(np.isfinite(out).mean())}))


def probe_split(op: str, shape: tuple[int, ...], batches: list[int]) -> list[dict]:
    """CPU ticks the intra-op pool threads ("tf_XLAEigen") spend on one batched LAPACK op: > 0 means
    ``ParallelBatchMap`` split the batch across the pool (Linux ``/proc`` only)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_enable_x64", True)

    def pool_ticks() -> int:
        tot = 0
        for t in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{t}/comm") as fh:
                    if fh.read().strip() != "tf_XLAEigen":
                        continue
                with open(f"/proc/self/task/{t}/stat") as fh:
                    st = fh.read().rsplit(") ", 1)[1].split()
                tot += int(st[11]) + int(st[12])
            except FileNotFoundError:
                pass
        return tot

    ops = {"svd": lambda a: jnp.linalg.svd(a, compute_uv=False), "qr": lambda a: jnp.linalg.qr(a)[0],
           "cholesky": lambda a: jnp.linalg.cholesky(a @ jnp.swapaxes(a, -1, -2) + jnp.eye(a.shape[-2]))}
    f = jax.jit(ops[op])
    rows = []
    for b in batches:
        x = np.random.default_rng(0).standard_normal((b,) + shape)
        jax.block_until_ready(f(x))
        t0 = pool_ticks()
        for _ in range(max(3, 40_000 // b)):
            jax.block_until_ready(f(x))
        rows.append({"op": op, "shape": shape, "batch": b, "pool_ticks": pool_ticks() - t0})
        print(f"{op} {shape} batch {b:>6}: pool ticks {rows[-1]['pool_ticks']}", flush=True)
    return rows


def run_one(case: str, m: int, n: int, strategy: str, batch_size: int, env: str, timeout: float) -> dict:
    """One child process; ``status`` is ``ok``, ``HANG`` (timed out, then < 0.05 s CPU in 10 s: wedged),
    ``SLOW`` (timed out but still computing, e.g. a loaded machine) or ``error``."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--case", case, "--m", str(m), "--n", str(n),
           "--strategy", strategy, "--batch-size", str(batch_size)]
    environ = dict(os.environ)
    if env == "no_eigen_mt":
        environ["XLA_FLAGS"] = (environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    if env == "one_core":
        cmd = ["taskset", "-c", "0"] + cmd
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # a wedge sits at 0 % CPU; a slow run (a loaded machine) keeps burning CPU: tell them apart
        cpu0 = _cpu_seconds(p.pid)
        time.sleep(10.0)
        busy = _cpu_seconds(p.pid) - cpu0
        p.kill()
        p.communicate()
        return {"status": "HANG" if busy < 0.05 else "SLOW", "wall_s": time.perf_counter() - t0, "cpu_s_in_10s": busy}
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        return {"status": "error", "wall_s": wall, "stderr": err.strip().splitlines()[-1:]}
    return {"status": "ok", "wall_s": wall, **json.loads(out.strip().splitlines()[-1])}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its threads (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            st = fh.read().rsplit(") ", 1)[1].split()
        return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
    except (FileNotFoundError, ValueError, OSError):
        return 0.0


def versions() -> dict:
    import jax
    import jaxlib
    import numpy

    return {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__, "numpy": numpy.__version__,
            "platform": platform.platform(), "cpus": os.cpu_count(), "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")}


DEFAULT_MATRIX = [
    # (case, m, n, strategy, batch_size, env)
    ("curvature", 4, 10_000, "vmap", 0, "default"),
    ("curvature", 4, 10_000, "vmap", 0, "no_eigen_mt"),
    ("curvature", 4, 10_000, "lax_map", 128, "default"),
    ("curvature", 3, 30_000, "lax_map", 256, "default"),
    ("curvature", 4, 10_000, "chunks", 128, "default"),
    ("svd_qr", 4, 10_000, "vmap", 0, "default"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--case", choices=["svd_qr", "svd", "qr", "curvature"])
    ap.add_argument("--m", type=int, default=4)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--strategy", choices=["vmap", "lax_map", "chunks"], default="vmap")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--env", choices=["default", "no_eigen_mt", "one_core"], default="default")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--probe-split", metavar="OP:RxC:B1,B2", help="e.g. svd:4x4:256,384,512 (see probe_split)")
    args = ap.parse_args()
    if args.child:
        return child(args)
    if args.probe_split:
        op, shape, batches = args.probe_split.split(":")
        probe_split(op, tuple(int(s) for s in shape.split("x")), [int(b) for b in batches.split(",")])
        return None
    matrix = [(args.case, args.m, args.n, args.strategy, args.batch_size, args.env)] if args.case else DEFAULT_MATRIX
    print(json.dumps(versions()))
    rows = []
    for case, m, n, strategy, b, env in matrix:
        for rep in range(args.repeats):
            r = run_one(case, m, n, strategy, b, env, args.timeout)
            rows.append({"case": case, "m": m, "n": n, "strategy": strategy, "batch_size": b, "env": env, "repeat": rep, **r})
            extra = f"{r.get('us_per_point', float('nan')):8.1f} us/pt" if r["status"] == "ok" else ""
            print(f"{case:>9} m={m} n={n:>6} {strategy:>7} b={b:>4} {env:>11} #{rep}: {r['status']:>5} {r['wall_s']:6.1f} s {extra}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"versions": versions(), "runs": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
