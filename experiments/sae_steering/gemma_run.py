r"""Run the Gemma protocol and write its results file: ``python -m attnverify.experiments.sae_steering.gemma_run
--protocol {cpu,full} --out DIR`` (``DIR/gemma_results.json``; promote it into the tree to decide).

``cpu`` is the reduced protocol that fits the 2-core machine (:data:`~experiments.sae_steering.gemma_track.CPU_CELLS`);
``full`` the pre-registered one (:data:`~experiments.sae_steering.gemma_track.GEMMA`), for an accelerator.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", choices=("cpu", "full"), default="cpu", help="which cells to run (module docstring)")
    ap.add_argument("--out", type=Path, required=True, help="output directory (gemma_results.json is written there)")
    ap.add_argument("--seed", type=int, default=0, help="split / prompt / feature seed (sampling seeds are the protocol's)")
    a = ap.parse_args(argv)
    from attnverify.attention.models import load_gemma
    from attnverify.proofs_numeric import atomic_write_json, environment

    from .gemma_track import run_gemma_track

    t0, c0 = time.perf_counter(), time.process_time()
    res = run_gemma_track(load_gemma(), settings={"cells": a.protocol, "checkpoint": str(a.out / "gemma_results.partial.json"),
                                                      **({"batch": 84} if a.protocol == "cpu" else {})}, seed=a.seed)
    res.update(seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0, load_avg_end=os.getloadavg(), seed=a.seed,
               protocol=a.protocol, command=f"python -m attnverify.experiments.sae_steering.gemma_run --protocol {a.protocol} --out {a.out}")
    try:
        res["environment"] = environment()
    except Exception:  # pragma: no cover - the record is optional
        pass
    path = atomic_write_json(a.out / "gemma_results.json", res)
    print(path, f"{res['seconds']:.0f} s", res["n_rows"], "rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
