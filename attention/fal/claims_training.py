r"""Claims on the real training step (spec ``fal.md`` C3-C5 under AdamW training) and on C6's 44 %.

* ``fal.training_step_allreduces``: the lowered StableHLO of the full tensor-parallel step
  (forward, backward, AdamW) at $p=2,4$ has the C4/C5 all-reduce counts, and the optimiser none.
* ``fal.sharded_training_equals_unsharded``: a few AdamW steps under ``shard_map`` give the
  unsharded losses and parameters within C3's budget (fp32 $10^{-5}$, fp64 $10^{-12}$).
* ``fal.saving_44_needs_comm_dominated_steps``: in the communication model
  (:mod:`attention.fal.comm_model`) FAL's saving is $S=\varphi\,c(N)$, so 44 % needs a baseline
  communication fraction $\varphi\ge0.44/c(N)$; $c(12)=7/16<0.44$.

Both device checks need 4 JAX devices; ``attnverify verify`` has one, so they read the one shared
4-device subprocess of :func:`~attention.fal.device_checks.device_checks` (with C3's check).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from attnverify.proofs_numeric import Context, Evidence, claim

from .comm_model import LINKS, PAPER_SAVING, comm_counts, predicted_saving, required_comm_fraction, savings_grid
from . import tp_step
from .device_checks import STEP_PROTOCOL, device_checks, shared_seed


def _law_error(row: dict[str, Any], name: str, n_blocks: int) -> tuple[float, dict[str, int]]:
    """|fwd - law| + fwd d-sized + |bwd act - law| + |bwd d-sized - law| + optimiser all-reduces,
    with the law of the tensor-parallel step module (looked up at call time, so a patched law counts)."""
    law = tp_step.allreduce_law(name, n_blocks)
    err = (abs(row["fwd_act"] - law["fwd"]) + row["fwd_vec"] + abs(row["bwd_act"] - law["bwd_act"])
           + abs(row["bwd_vec"] - law["bwd_vec"]) + row.get("opt_ops", 0))
    return float(err), law


@claim("fal.training_step_allreduces", paper="fal", equation="C4, C5 (training step)",
       statement=r"\text{full AdamW step, }p\in\{2,4\}:\ \#\text{fwd}=2N\,|\,N{+}1,\ \#\text{bwd}=2N\,|\,N{+}2\ (+4(N-1)),\ \#\text{opt}=0",
       provenance="derived", tolerance=0.0, error="count", depends_on=("fal.forward_allreduces", "fal.backward_allreduces"))
def _step_counts(ctx: Context) -> Evidence:
    """The real training step (forward, backward, AdamW under shard_map) all-reduces exactly what the C4/C5 laws say, counted as reduced tensors in its lowered StableHLO; AdamW adds none.

    p = 4: every variant (baseline, FAL, FAL+ A/B, no connection, FAL with one f per block, with and
    without shared LN) at N = 3; p = 2 (edge case: N = 2, the smallest depth with a FAL block):
    baseline and FAL with one f per block. Counts come from the shared device run
    (:func:`~attention.fal.device_checks.device_checks`); the laws are applied here.
    """
    run = device_checks(shared_seed(ctx.seed), ctx.count(2, minimum=1), ctx.scale >= 0.5)
    errs: dict[str, list[float]] = {"counts": [], "counts_p2": []}
    table = {}
    for part, n_blocks in (("counts", STEP_PROTOCOL["n_blocks"]), ("counts_p2", 2)):
        for key, row in run[part].items():
            err, law = _law_error(row, key.split(":", 1)[1], n_blocks)
            errs[part].append(err)
            table[key] = f"{row['fwd_act']} / {row['bwd_act']} / {row['bwd_vec']} (law {law['fwd']} / {law['bwd_act']} / {law['bwd_vec']})"
    return Evidence.from_errors(errs["counts"], errs["counts_p2"], details={"fwd / bwd act / bwd d-sized": table, "protocol": STEP_PROTOCOL})


_BUDGET = {"float32": 1e-5, "float64": 1e-12}


@claim("fal.sharded_training_equals_unsharded", paper="fal", equation="C3 (training)",
       statement=r"\text{AdamW steps under }\mathrm{shard\_map}_{p}=\text{unsharded}:\ \text{fp32}\le10^{-5},\ \text{fp64}\le10^{-12}\ (\text{loss abs, params rel})",
       provenance="derived", tolerance=1.0, error="fraction of the spec's budget", depends_on=("fal.sharded_equals_unsharded",))
def _sharded_training(ctx: Context) -> Evidence:
    """Training the GPT under tensor parallelism reproduces the unsharded run: per-step losses (absolute) and final parameters (max per-leaf relative) within C3's budget.

    Cases: baseline at p = 4 and FAL with one f per block at p = 2 in float32; FAL at p = 4 in
    float64 (full scale only). The error is max(loss diff, param diff) / budget, so 1.0 is the spec's budget.
    """
    res = device_checks(shared_seed(ctx.seed), ctx.count(2, minimum=1), ctx.scale >= 0.5)["training"]
    score = {k: max(v["max_loss_diff"], v["max_param_rel"]) / _BUDGET[k.split(":")[1]] for k, v in res.items()}
    return Evidence.from_errors(list(score.values()), details={"per_case": {k: {"loss": v["max_loss_diff"], "params": v["max_param_rel"]}
                                                                          for k, v in res.items()}})


def _saving_identity() -> bool:
    phi, c, nb, nf, t, tc = sp.symbols("phi c n_b n_f t t_c", positive=True)
    S = (nb - nf) * t / (tc + nb * t)
    ceiling = lambda N: 1 - (N + 1 + N + 2) / sp.Integer(4 * N)
    return bool(sp.simplify(S - (nb * t / (tc + nb * t)) * (1 - nf / nb)) == 0 and ceiling(12) == sp.Rational(7, 16)
            and bool(sp.Rational(7, 16) < sp.Rational(44, 100)))


@claim("fal.saving_44_needs_comm_dominated_steps", paper="fal", equation="C6, §4 (up to -44 %)",
       statement=r"S=\varphi\,c(N),\ c=\tfrac{2N-3}{4N}:\ S\ge0.44\iff\varphi\ge0.44/c(N);\ c(12)=43.75\%<44\%",
       provenance="finding", tolerance=1e-12, error="abs", symbolic=_saving_identity, depends_on=("fal.communication_volume",))
def _saving_44(ctx: Context) -> Evidence:
    """In the ring all-reduce model FAL's step-time saving is the baseline's communication fraction times the communication-only ceiling, so the paper's 44 % is out of reach at GPT-2 small depth (N = 12, ceiling 43.75 %) and needs communication to be over 90 % of a baseline step at N = 24, 36.

    Checked on the GPT-2 small/medium/large x TP 2/4/8 x PCIe 4.0 / NVLink 4 grid and on random
    (compute time, all-reduce time) pairs: S = phi * c to rounding, S -> c as compute -> 0, S < c.
    The predictions (no measurement on GPUs here) are in the details.
    """
    rng = ctx.rng
    errs: list[float] = []
    grid = savings_grid()
    for r in grid:
        errs.append(abs(r["saving_one_f"] - r["phi"] * r["ceiling_one_f"]) + max(0.0, r["saving_one_f"] - r["ceiling_one_f"]))
    adv = []
    for N in (2, 12, 24, 36):
        c = comm_counts(N)
        for t_comp, t_ar in zip(rng.exponential(1.0, ctx.count(200, minimum=8)), rng.exponential(1e-3, ctx.count(200, minimum=8))):
            s = predicted_saving(float(t_comp), c["baseline"], c["fal_one_f"], float(t_ar))
            errs.append(abs(s["saving"] - s["phi"] * (1 - c["fal_one_f"] / c["baseline"])))
        adv.append(abs(predicted_saving(0.0, c["baseline"], c["fal_one_f"], 1.0)["saving"] - (2 * N - 3) / (4 * N)))
    need = {r["model"]: required_comm_fraction(PAPER_SAVING, r["n_base"], r["n_fal_one_f"]) for r in grid}
    best = {link: max(r["saving_one_f"] for r in grid if r["link"] == link) for link in LINKS}
    return Evidence.from_errors(errs, adv, details={"phi_needed_for_44": need, "max_predicted_saving": best,
                                                    "reachable_in_grid": bool(np.any([r["saving_one_f"] >= PAPER_SAVING for r in grid]))})
