r"""A hybrid-toy teacher alone, with no students: its training record as a JSON file.

    ATTNVERIFY_HYBRID_TEACHER_CURRICULUM=2,4,8 python -m attnverify.experiments.hybrid.teacher_only SEED \
        --out FILE [--protocol full] [--checkpoint DIR]

The teacher is :func:`.study.train_teacher_in_cycles` of the protocol (cosine cycles until 99.5 % on the
stage's own 256-sequence sets, a curriculum over the number of pairs $K_1<\dots<K$ from
``$ATTNVERIFY_HYBRID_TEACHER_CURRICULUM``). It is then scored on the 512-sequence short and long sets
that :func:`.study.run_collapse` builds for the same seed (``default_rng(99_000 + seed)``), i.e. the sets
on which the spec's 99 % precondition is judged. With ``--checkpoint DIR`` the weights go to
``DIR/teacher.pkl`` after every cycle, so the students can be run later from them
(``run_collapse(..., teacher=..., teacher_cycles=record["cycles"])``).

A teacher record decides no claim: the claims read only full runs with students (``collapse_*.json``).
It says whether a teacher seed reaches the precondition, in how many steps per stage, and at what cost.
The record is written atomically; float64 is turned on here, as the ``attnverify`` CLI does.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["teacher_record", "main"]


def teacher_record(protocol: Any, seed: int, checkpoint: Path | None = None) -> tuple[dict, dict[str, Any]]:
    """Train the teacher of ``protocol`` (a :class:`.protocol.Protocol` with ``teacher_cycle > 0``) for ``seed``;
    returns ``(teacher, record)``. ``checkpoint``: a folder for ``teacher.pkl`` after each cycle."""
    import jax

    from attnverify.attention.hybrid import recall_batch
    from attnverify.proofs_numeric.environment import environment

    from .evaluate import evaluate_teacher
    from .study import teacher_curriculum, train_teacher_in_cycles

    if protocol.teacher_cycle <= 0:
        raise ValueError(f"protocol {protocol.name!r} trains its teacher in one run (teacher_cycle = 0): no cycles to record")
    t0 = time.perf_counter()

    def save(teacher: dict, rec: dict) -> None:
        rec["load"] = list(os.getloadavg())
        rec["wall_s"] = time.perf_counter() - t0
        if checkpoint is not None:
            checkpoint.mkdir(parents=True, exist_ok=True)
            tmp = checkpoint / "teacher.pkl.tmp"
            tmp.write_bytes(pickle.dumps(jax.tree_util.tree_map(np.asarray, teacher)))
            tmp.replace(checkpoint / "teacher.pkl")

    curriculum = teacher_curriculum()
    teacher, hist = train_teacher_in_cycles(protocol, seed, curriculum=curriculum, on_cycle=save)
    rng = np.random.default_rng(99_000 + seed)  # the sets run_collapse judges the 99 % precondition on
    sets = {k: recall_batch(rng, protocol.eval_sequences, protocol.task, k) for k in ("short", "long")}
    steps: dict[str, int] = {}
    for c in hist["cycles"]:
        steps[str(c["n_pairs"])] = steps.get(str(c["n_pairs"]), 0) + protocol.teacher_cycle
    record = {"what": "teacher only (no students)", "protocol": protocol.name, "seed": seed, "curriculum": list(curriculum),
              "note": hist["note"], "steps_per_stage": steps,
              "eval512": evaluate_teacher(teacher, protocol.model, sets), "cycles": hist["cycles"],
              "wall_s": time.perf_counter() - t0, "loss": hist["loss"],
              "command": " ".join(["python -m attnverify.experiments.hybrid.teacher_only", *sys.argv[1:]]),
              "environment": environment()}
    return teacher, record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m attnverify.experiments.hybrid.teacher_only", description=__doc__.split("\n")[0])
    ap.add_argument("seed", type=int, help="teacher seed (>= 0)")
    ap.add_argument("--out", required=True, help="the JSON record to write")
    ap.add_argument("--protocol", default="full", help="a protocol with cycles: full or reduced")
    ap.add_argument("--checkpoint", default=None, help="a folder for teacher.pkl after each cycle")
    args = ap.parse_args(argv)
    from .protocol import PROTOCOLS

    if args.seed < 0:
        ap.error(f"seed must be >= 0, got {args.seed}")
    if args.protocol not in PROTOCOLS or PROTOCOLS[args.protocol].teacher_cycle <= 0:
        ap.error(f"--protocol must be one of {[k for k, p in PROTOCOLS.items() if p.teacher_cycle > 0]}, got {args.protocol!r}")
    if not args.out.strip():
        ap.error("--out must be a non-empty path")
    from attnverify.proofs_numeric import atomic_write_json, enable_x64

    enable_x64()
    _, record = teacher_record(PROTOCOLS[args.protocol], args.seed, Path(args.checkpoint) if args.checkpoint else None)
    atomic_write_json(args.out, record)
    print(f"wrote {args.out}: 512-sequence sets {record['eval512']}, {record['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
