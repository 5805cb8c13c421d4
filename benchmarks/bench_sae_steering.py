"""Batched steered generation on Gemma 3 270M: seconds per decode step against the batch size.

``.venv/bin/python benchmarks/bench_sae_steering.py [--batches 8,32,64] [--new 8]`` writes
``benchmarks/results/sae_steering.json``: for each batch size $B$ (rows = prompt x configuration,
one compiled prefill + decode loop, :func:`attention.models.gemma_generate.generate_batch`), the
compile + first-run seconds, the steady run seconds and the new tokens per second, with the load
average. On a CPU the per-step cost grows far slower than $B$ (per-op overhead dominates), which is
why the steering sweep batches every prompt and configuration of a strength together.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from attnverify.attention.models import load_gemma
from attnverify.attention.sae.steering import Steer, no_steer
from attnverify.experiments.sae_steering.gemma_lm import gemma_steered_generate
from attnverify.proofs_numeric import atomic_write_json


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batches", default="8,32,64")
    ap.add_argument("--new", type=int, default=8)
    ap.add_argument("--prompt", type=int, default=12)
    ap.add_argument("--out", default="benchmarks/results/sae_steering.json")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    model = load_gemma()
    load_s = time.perf_counter() - t0
    cfg, rows = model.config, []
    for B in (int(b) for b in a.batches.split(",")):
        ids = jnp.asarray(np.random.default_rng(0).integers(1000, 20000, (B, a.prompt)), jnp.int32)
        steers = Steer(*(jnp.stack(xs) for xs in zip(*[no_steer(cfg.hidden_size)] * B)))
        masks = np.ones((B, cfg.num_layers, cfg.num_heads), np.float32)
        keys = jax.random.split(jax.random.PRNGKey(0), B)
        times = []
        for _ in range(2):
            t = time.perf_counter()
            gemma_steered_generate(model, ids, steers, keys, masks, 0.5, new=a.new)
            times.append(time.perf_counter() - t)
        rows.append({"batch": B, "first_s": times[0], "run_s": times[1], "new_tokens_per_s": B * a.new / times[1],
                     "load_avg": os.getloadavg()[0]})
        print(rows[-1], flush=True)
    out = {"load_s": load_s, "prompt_tokens": a.prompt, "new": a.new, "rows": rows, "cpu_count": os.cpu_count()}
    atomic_write_json(a.out, out)
    return out


if __name__ == "__main__":
    main()
