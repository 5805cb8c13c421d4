"""FAL study: training throughput of the C9 GPT (forward + backward + AdamW, ``vmap`` over seeds).

    .venv/bin/python benchmarks/bench_fal.py [--protocol full] [--variant baseline] [--batch 16] [--steps 4]

Times ``--steps`` jitted training steps after one compiling step, for the seeds of the protocol at
once (as :func:`attention.fal.train_seeds` trains them), and reports tokens/s (all seeds), the wall
and process-CPU seconds per step and the load average. Used to choose the steps and batch of the
full C9 protocol so that ``attnverify experiment fal`` fits its time budget. Writes
``benchmarks/results/fal.json``; timings on a shared machine (CPU seconds are the steadier figure).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from attnverify.attention.fal import FULL_PROTOCOL, QUICK_PROTOCOL, REDUCED_PROTOCOL, char_corpus, gpt_init, make_optimizer, make_train_step, train_batch
from attnverify.proofs_numeric.io import atomic_write_json

PROTOCOLS = {"full": FULL_PROTOCOL, "reduced": REDUCED_PROTOCOL, "quick": QUICK_PROTOCOL}


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", choices=sorted(PROTOCOLS), default="full")
    ap.add_argument("--variant", default="baseline")
    ap.add_argument("--batch", type=int, default=None, help="sequences per seed (default: the protocol's)")
    ap.add_argument("--steps", type=int, default=4)
    args = ap.parse_args()
    if args.steps < 1:
        raise SystemExit("--steps must be >= 1")
    pr = PROTOCOLS[args.protocol]
    pr = dataclasses.replace(pr, batch=args.batch or pr.batch)
    cfg, opt, corpus = pr.gpt(args.variant), make_optimizer(pr), char_corpus()
    params = jax.vmap(lambda k: gpt_init(k, cfg))(jnp.stack([jax.random.PRNGKey(r) for r in pr.seeds]))
    state = jax.vmap(opt.init)(params)
    step = jax.jit(jax.vmap(make_train_step(cfg, opt)), donate_argnums=(0, 1))
    batches = [jnp.asarray(np.stack([train_batch(corpus, pr, cfg.seq_len, r, s) for r in pr.seeds])) for s in range(args.steps + 1)]
    t0, c0 = time.perf_counter(), _cpu()
    params, state, loss = step(params, state, batches[0])
    jax.block_until_ready(loss)
    compile_wall, compile_cpu = time.perf_counter() - t0, _cpu() - c0
    t0, c0 = time.perf_counter(), _cpu()
    for b in batches[1:]:
        params, state, loss = step(params, state, b)
    jax.block_until_ready(loss)
    wall, cpu = (time.perf_counter() - t0) / args.steps, (_cpu() - c0) / args.steps
    tokens = pr.batch * cfg.seq_len * len(pr.seeds)
    rec = {"protocol": args.protocol, "variant": args.variant, "batch_per_seed": pr.batch, "seeds": len(pr.seeds),
           "tokens_per_step": tokens, "compile_wall_s": compile_wall, "compile_cpu_s": compile_cpu,
           "step_wall_s": wall, "step_cpu_s": cpu, "tokens_per_s_wall": tokens / wall, "tokens_per_cpu_s": tokens / cpu,
           "load_average": [round(x, 2) for x in os.getloadavg()], "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine()}
    out = Path(__file__).resolve().parent / "results" / "fal.json"
    atomic_write_json(out, rec)
    for k, v in rec.items():
        print(f"{k:>20}: {v:.4g}" if isinstance(v, float) else f"{k:>20}: {v}")


if __name__ == "__main__":
    main()
