"""MiniLM-L6 forward throughput: jit-compiled pure JAX against op-by-op JAX (same run, same inputs).

    .venv/bin/python benchmarks/bench_minilm.py [--repeats 3] [--experiment]

Workload (issue 5): 64 sequences x 256 tokens of the stdlib-docstring corpus, float32.

- ``jit``: :func:`attention.bert_forward` (one XLA program, layers as ``lax.scan``), hidden
  states only (``attention=False``), best of ``--repeats`` after a warm-up compile;
- ``jit+attention``: the same with every layer's logits/probs/Q/K/V/head outputs returned;
- ``op-by-op``: the same function under ``jax.disable_jit()`` (each primitive dispatched
  eagerly), the baseline; one timed run (it is slow);
- ``transformers`` (torch) when installed, else reported as absent.

``--experiment`` also times ``attnverify experiment topk-real`` in quick and full mode;
``--experiment-runs DIR...`` instead records the times of earlier CLI runs (their ``run.json``).
``--devices-scaling`` instead times the topk-real row pass (:func:`experiments.topk_real.keps.keps_rows`,
36 864 rows x 256 keys, 4 budgets) on 1 and 2 devices and writes ``benchmarks/results/topk_real_devices.json``;
on CPU run it with ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (emulated devices share the cores).

Writes ``benchmarks/results/minilm.json`` and prints a table. Timings on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from _timing import best_of


def _best(fn, repeats: int) -> float:
    return best_of(fn, repeats, warmup=False)


def devices_scaling(repeats: int, rows: int = 36864, keys: int = 256) -> dict:
    """Best-of-``repeats`` wall time of the same k_eps row pass sharded over 1 and 2 devices (identical results)."""
    from attnverify.proofs_numeric import atomic_write_json, enable_x64

    enable_x64()
    from attnverify.experiments.topk_real.keps import keps_rows

    s = np.random.default_rng(0).normal(size=(rows, keys)) * 2.0
    eps, times, ref = [0.001, 0.01, 0.05, 0.1], {}, None
    for d in (1, 2):
        k = keps_rows(s, eps, devices=d)[0]  # compile
        ref = k if ref is None else ref
        assert np.array_equal(k, ref), "sharded result differs from one device"
        times[d] = _best(lambda d=d: keps_rows(s, eps, devices=d)[0], repeats)
    out = {"workload": f"{rows} rows x {keys} keys, 4 eps", "seconds": times, "speedup_1_to_2": times[1] / times[2],
           "devices": [str(x) for x in jax.devices()[:2]], "cpu_count": os.cpu_count(), "load_average": list(os.getloadavg()),
           "machine": platform.platform()}
    atomic_write_json(Path(__file__).resolve().parent / "results" / "topk_real_devices.json", out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--experiment", action="store_true", help="also time the topk-real experiment (quick and full)")
    ap.add_argument("--experiment-runs", nargs="*", default=[], metavar="DIR",
                    help="record the wall time of earlier `attnverify experiment topk-real --out DIR` runs (their run.json)")
    ap.add_argument("--devices-scaling", action="store_true", help="time the topk-real row pass on 1 and 2 devices")
    args = ap.parse_args()
    if args.devices_scaling:
        print(devices_scaling(args.repeats))
        return

    from attnverify.attention import bert_forward, load_bert, text_corpus
    from attnverify.proofs_numeric.io import atomic_write_json

    model = load_bert()
    ids = text_corpus(model, args.tokens, args.batch)
    n_tok = ids.size
    rows = {}

    t0 = time.perf_counter()
    jax.block_until_ready(bert_forward(model, ids, attention=False).hidden)
    compile_s = time.perf_counter() - t0
    rows["jit"] = _best(lambda: bert_forward(model, ids, attention=False).hidden, args.repeats)
    jax.block_until_ready(bert_forward(model, ids, attention=True).probs)
    rows["jit+attention"] = _best(lambda: bert_forward(model, ids, attention=True).probs, args.repeats)
    with jax.disable_jit():
        rows["op-by-op"] = _best(lambda: bert_forward(model, ids, attention=False).hidden, 1)
    try:  # optional reference implementation
        import torch  # noqa: F401
        import transformers

        from attnverify.attention import default_model_dir

        ref = transformers.BertModel.from_pretrained(str(default_model_dir())).eval()
        tids = torch.tensor(np.asarray(ids), dtype=torch.long)
        with torch.no_grad():
            rows["transformers (torch)"] = _best(lambda: ref(input_ids=tids).last_hidden_state, args.repeats)
    except ImportError:
        rows["transformers (torch)"] = None

    base = rows["op-by-op"]
    table = [{"method": k, "seconds": v, "tokens_per_s": None if v is None else n_tok / v,
              "speedup_vs_op_by_op": None if v is None else base / v} for k, v in rows.items()]
    result = {"workload": f"MiniLM-L6 forward, {args.batch} x {args.tokens} tokens, float32",
              "jit_compile_s": compile_s, "table": table,
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "jax": jax.__version__,
                          "devices": str(jax.devices())},
              "note": "best of N wall-clock timings on a shared 2-core CPU machine (other jobs running)"}
    if args.experiment:
        from attnverify.proofs_numeric import enable_x64
        from attnverify.experiments.topk_real.study import topk_real_experiment

        enable_x64()
        for quick in (True, False):
            with tempfile.TemporaryDirectory() as d:
                t0 = time.perf_counter()
                topk_real_experiment(Path(d), quick=quick, seed=0)
                result[f"experiment_topk_real_{'quick' if quick else 'full'}_s"] = time.perf_counter() - t0

    for d in args.experiment_runs:
        run = json.loads((Path(d) / "run.json").read_text())
        result[f"experiment_topk_real_{'quick' if run['quick'] else 'full'}_s"] = run["seconds"]

    out = Path(__file__).resolve().parent / "results" / "minilm.json"
    atomic_write_json(out, result)
    print(result["workload"], f"(compile {compile_s:.2f} s)")
    print(f"{'method':24s} {'seconds':>9s} {'tokens/s':>10s} {'speed-up':>9s}")
    for r in table:
        if r["seconds"] is None:
            print(f"{r['method']:24s} {'n/a':>9s}")
        else:
            print(f"{r['method']:24s} {r['seconds']:9.3f} {r['tokens_per_s']:10.0f} {r['speedup_vs_op_by_op']:8.1f}x")
    for k, v in result.items():
        if k.startswith("experiment_"):
            print(f"{k}: {v:.1f} s")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
