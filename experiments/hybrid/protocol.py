r"""Protocols of the collapse experiment (spec ``hybrid_linear.md`` C9, C10, O9).

``full`` is the spec's toy: MQAR with $K=8$ pairs, 64 value tokens, $T=128$; a 2-layer softmax teacher
with $d=64$ and 4 heads (cosine cycles of 500 steps until 99.5 % on both sets, at most 12 000 steps);
students with $w=16$, $d'=16$, 300 + 300 steps; 3 seeds per arm, equal stage-2 budgets. It needs about 20x the
reduced protocol's compute (64 min measured on 2 cores, over the 30-minute budget), so ``attnverify experiment hybrid``
runs ``reduced`` on a CPU; the committed ``full`` run (``results/collapse_full.json``, which the claims read)
was made on an accelerator with ``experiments/hybrid/run_full_on_device.sh`` (one H200: 132 s; a CPU replication is committed too, see ``docs/hybrid.md``).
``reduced`` keeps every mechanism (two layers, $w=16$, $d'=16$, long distances beyond $L(w-1)=30$)
at a quarter of the compute ($T=64$, $K=4$, $d=32$, 2 heads), for a shared 2-core machine; its teacher
trains in cosine cycles of 400 steps until it reaches 99.5 % on both sets (at most 12 000 steps).
``quick`` exercises the code path only (the test suite and the notebook); its numbers mean nothing.
"""

from __future__ import annotations

import dataclasses

from attnverify.attention.hybrid import RecallConfig, ToyConfig, TrainConfig

__all__ = ["Protocol", "PROTOCOLS", "ARMS"]

#: student arms: (stage-1 objective, stage-2 mode, early stopping)
ARMS = {
    "mse": ("mse", "hybrid", False),  # LoLCATs output transfer
    "hedgecats": ("xent", "hybrid", True),  # attention-weight transfer + short LoRA with early stopping
    "ssd": ("mse", "ssd", False),  # scheduled sliding-window dropout in stage 2 (stage 1 as LoLCATs) [open]
    "linear_only": ("xent", "la_full", False),  # C10: linear-only conversion, hybridised at inference
}


@dataclasses.dataclass(frozen=True)
class Protocol:
    name: str
    task: RecallConfig
    model: ToyConfig
    train: TrainConfig
    seeds: int
    eval_sequences: int
    teacher_cycle: int = 0  #: > 0: train the teacher in cosine cycles of this many steps until it reaches 99.5 %


    def to_dict(self) -> dict:
        return {"name": self.name, "task": dataclasses.asdict(self.task), "model": dataclasses.asdict(self.model),
                "train": dataclasses.asdict(self.train), "seeds": self.seeds, "eval_sequences": self.eval_sequences,
                "teacher_cycle": self.teacher_cycle,
                "arms": {k: dict(zip(("stage1", "stage2", "early_stopping"), v)) for k, v in ARMS.items()}}


def _protocol(name, task, d, heads, d_ff, train, seeds, eval_sequences, teacher_cycle=0) -> Protocol:
    return Protocol(name, task, ToyConfig(vocab=task.vocab, length=task.length, d=d, heads=heads, d_ff=d_ff,
                                          window=task.window, layers=task.layers), train, seeds, eval_sequences, teacher_cycle)


PROTOCOLS = {
    "full": _protocol("full", RecallConfig(), 64, 4, 256, TrainConfig(teacher_steps=12_000, teacher_lr=3e-3), 3, 512,
                      teacher_cycle=500),
    "reduced": _protocol("reduced", RecallConfig(n_pairs=4, length=64), 32, 2, 64,
                         TrainConfig(batch=32, teacher_steps=12_000, teacher_lr=3e-3, stage1_steps=60, stage2_steps=60, eval_every=10),
                         3, 128, teacher_cycle=400),
    "quick": _protocol("quick", RecallConfig(n_pairs=4, length=64), 32, 2, 64,
                       TrainConfig(batch=16, teacher_steps=30, stage1_steps=6, stage2_steps=6, eval_every=2), 2, 64),
}
