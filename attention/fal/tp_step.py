r"""The whole training step under Megatron tensor parallelism, and the all-reduces in its StableHLO.

:func:`tp_train_step` wraps :func:`~attention.fal.train.make_train_step` (forward, backward,
AdamW) in ``jax.shard_map`` over a 1-D mesh of $p$ devices: $W_{qkv},W_1,b_1$ column-parallel,
$W_O,W_2$ row-parallel, their AdamW moments split alike, everything else replicated. AdamW is
elementwise, so each device updates its own shard and the optimiser adds no collective.

Counting follows execution (:mod:`~attention.fal.allreduce_count`)
in three programs: the loss (forward), ``value_and_grad`` of the loss, and the full step. The
jaxpr's ``psum`` tensors are counted with nested calls and loops multiplied out; the lowered
StableHLO's call graph (before XLA's all-reduce combiner) must agree, and its flat text count is
kept beside them. A tensor of $B\,T\,d$ elements is activation-sized, a smaller one parameter-sized.
backward = grad program $-$ forward; optimiser = step $-$ grad program. Laws (C4, C5), $N$ blocks:

| variant | fwd | bwd (act.) | bwd ($d$-sized) |
|---|---|---|---|
| baseline, FAL+ A/B, FAL and "no connection" (default autodiff) | $2N$ / $N+1$ | $2N$ | 0 |
| FAL, one $f$ per block (``f_placement="block_input"``), $N\ge2$ | $N+1$ | $N+2$ | $4(N-1)$ |
| FAL, shared LN, one $f$ (``"ln_output"``), $N\ge2$ | $N+1$ | $N+2$ | 0 |
| FAL, shared LN, folded $\bar A_1$ cotangent (``"ln_output_folded"``) | $N+1$ | $N+1$ | 0 (packed into block 1's 2 buffers) |

Lowering needs $p$ real JAX devices: on CPU set
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` before JAX starts, or use
:func:`call_with_devices`, which runs a function of this package in such a subprocess.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import subprocess
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from .allreduce_count import hlo_allreduces, hlo_executed_allreduces, jaxpr_allreduces
from .gpt import GPTConfig, gpt_config, gpt_init, gpt_nll, gpt_param_specs
from .train import TrainProtocol, make_optimizer, make_train_step, train_batch
from .corpus import CharCorpus

__all__ = ["allreduce_law", "STEP_VARIANTS", "step_config", "tp_mesh", "tp_train_step", "hlo_allreduces", "step_allreduce_counts", "sharded_training_losses",
           "call_with_devices", "step_count_table", "count_deviation", "sharded_loss_table"]


#: variants whose training steps are counted: the C9 variants and FAL with one explicit f per block
STEP_VARIANTS = ("baseline", "fal", "falplus_A", "falplus_B", "no_connection", "fal_block_input", "fal_shared_ln_output",
                 "fal_folded")


def step_config(name: str, protocol: TrainProtocol) -> GPTConfig:
    """The GPT of a :data:`STEP_VARIANTS` entry at the protocol's shape."""
    if name == "fal_block_input":
        return gpt_config("fal", n_blocks=protocol.n_blocks, d_model=protocol.d_model, n_heads=protocol.n_heads,
                          d_mlp=protocol.d_mlp, seq_len=protocol.seq_len, f_placement="block_input")
    if name in ("fal_shared_ln_output", "fal_folded"):
        return gpt_config("fal", n_blocks=protocol.n_blocks, d_model=protocol.d_model, n_heads=protocol.n_heads,
                          d_mlp=protocol.d_mlp, seq_len=protocol.seq_len, shared_ln=True,
                          f_placement="ln_output" if name == "fal_shared_ln_output" else "ln_output_folded")
    return protocol.gpt(name)


def allreduce_law(name: str, n_blocks: int) -> dict[str, int]:
    """C4/C5 laws for a :data:`STEP_VARIANTS` entry: ``fwd``, ``bwd_act``, ``bwd_vec`` all-reduces
    (block 1 is a baseline block, so at $N=1$ every variant has the baseline's $2/2/0$). ``fal_folded``
    (:mod:`~attention.fal.folded`): $N+1$ forward and $N+1$ backward at every $N$; the 6 $d$-sized
    LN-parameter partial sums are packed into block 1's two activation buffers (no $d$-sized all-reduce)."""
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, (int, np.integer)):
        raise TypeError(f"n_blocks must be an integer >= 1, got {n_blocks!r} ({type(n_blocks).__name__})")
    if name not in STEP_VARIANTS or n_blocks < 1:
        raise ValueError(f"name must be one of {STEP_VARIANTS} and n_blocks >= 1, got {name!r}, {n_blocks}")
    N = n_blocks
    fal = name in ("fal", "no_connection", "fal_block_input", "fal_shared_ln_output") and N >= 2
    one_f = name in ("fal_block_input", "fal_shared_ln_output") and N >= 2
    if name == "fal_folded":
        return {"fwd": N + 1, "bwd_act": N + 1, "bwd_vec": 0}
    return {"fwd": N + 1 if fal else 2 * N, "bwd_act": N + 2 if one_f else 2 * N,
            "bwd_vec": 4 * (N - 1) if name == "fal_block_input" and N >= 2 else 0}


def tp_mesh(tp: int) -> Mesh:
    """A 1-D mesh ``("tp",)`` over the first ``tp`` JAX devices."""
    if not isinstance(tp, int) or tp < 1:
        raise ValueError(f"tp must be a positive integer, got {tp!r}")
    if len(jax.devices()) < tp:
        raise ValueError(f"tp={tp} needs {tp} JAX devices, found {len(jax.devices())} "
                         "(set XLA_FLAGS=--xla_force_host_platform_device_count before importing jax)")
    return Mesh(np.array(jax.devices()[:tp]), ("tp",))


def _check_divisible(cfg: GPTConfig, tp: int) -> None:
    if cfg.blocks.n_heads % tp or cfg.blocks.d_mlp % tp:
        raise ValueError(f"tp={tp} must divide n_heads={cfg.blocks.n_heads} and d_mlp={cfg.blocks.d_mlp} (Megatron split)")


def _specs(params: Any, opt: optax.GradientTransformation) -> tuple[Any, Any]:
    pspec = gpt_param_specs(params)
    state = jax.eval_shape(opt.init, params)
    ospec = optax.tree_map_params(opt, lambda _, s: s, state, pspec, transform_non_params=lambda _: P(),
                                  is_leaf=lambda x: isinstance(x, P))
    return pspec, ospec


def tp_train_step(cfg: GPTConfig, opt: optax.GradientTransformation, params: Any, mesh: Mesh) -> Any:
    """The jitted tensor-parallel step ``(params, opt_state, batch) -> (params, opt_state, loss)``."""
    _check_divisible(cfg, mesh.size)
    pspec, ospec = _specs(params, opt)
    body = make_train_step(cfg, opt, axis_name="tp")
    return jax.jit(jax.shard_map(body, mesh=mesh, in_specs=(pspec, ospec, P()), out_specs=(pspec, ospec, P())))


def _tp_loss(cfg: GPTConfig, params: Any, mesh: Mesh, grad: bool):
    fn = functools.partial(gpt_nll, cfg=cfg, axis_name="tp")
    fn = jax.value_and_grad(fn) if grad else fn
    pspec = gpt_param_specs(params)
    return jax.jit(jax.shard_map(fn, mesh=mesh, in_specs=(pspec, P()), out_specs=(P(), pspec) if grad else P()))


def _program_counts(fn, args: tuple, size: int) -> dict[str, int]:
    """One program's all-reduces: executed per its jaxpr (primary), per its StableHLO call graph
    (cross-check) and the flat text count; ``mismatch`` = |jaxpr - call graph| over the tensors."""
    lowered = fn.lower(*args).as_text()
    jx = jaxpr_allreduces(jax.make_jaxpr(fn)(*args), size)
    hlo = hlo_executed_allreduces(lowered, size)
    flat = hlo_allreduces(lowered, size)
    return {**{k: jx[k] for k in ("ops", "act", "vec")}, "flagged": jx["flagged"] + hlo["flagged"],
            "hlo_act": hlo["act"], "hlo_vec": hlo["vec"], "text_act": flat["act"], "text_vec": flat["vec"],
            "mismatch": abs(jx["act"] - hlo["act"]) + abs(jx["vec"] - hlo["vec"])}


def step_allreduce_counts(cfg: GPTConfig, protocol: TrainProtocol, tp: int, with_step: bool = True) -> dict[str, int]:
    """All-reduces the real training step executes at TP degree ``tp`` (traced and lowered, not compiled).

    Keys ``fwd_*``, ``bwd_*`` (grad program $-$ forward) and ``opt_*`` (step $-$ grad program, only
    ``with_step``), each for ``ops``, ``act`` and ``vec``, counted in the jaxpr with nested calls and
    loops multiplied out (:mod:`~attention.fal.allreduce_count`); the StableHLO call-graph count
    (``hlo_*``) and the flat text count (``text_*``) beside them; ``mismatch`` (jaxpr vs call graph,
    summed over the programs, absolute) and ``flagged`` (loops of unknown trip count, conds)."""
    mesh = tp_mesh(tp)
    _check_divisible(cfg, tp)
    opt = make_optimizer(protocol)
    params = jax.eval_shape(lambda: gpt_init(jax.random.PRNGKey(0), cfg))
    batch = jax.ShapeDtypeStruct((protocol.batch, cfg.seq_len + 1), jnp.int32)
    size = protocol.batch * cfg.seq_len * cfg.blocks.d_model
    progs = {"fwd": _program_counts(_tp_loss(cfg, params, mesh, False), (params, batch), size),
             "grad": _program_counts(_tp_loss(cfg, params, mesh, True), (params, batch), size)}
    if with_step:
        state = jax.eval_shape(opt.init, params)
        progs["step"] = _program_counts(tp_train_step(cfg, opt, params, mesh), (params, state, batch), size)
    out = {"mismatch": sum(c["mismatch"] for c in progs.values()), "flagged": sum(c["flagged"] for c in progs.values())}
    for k in ("ops", "act", "vec", "hlo_act", "hlo_vec", "text_act", "text_vec"):
        out[f"fwd_{k}"], out[f"bwd_{k}"] = progs["fwd"][k], progs["grad"][k] - progs["fwd"][k]
        if with_step:
            out[f"opt_{k}"] = progs["step"][k] - progs["grad"][k]
    return out


def sharded_training_losses(cfg: GPTConfig, protocol: TrainProtocol, corpus: CharCorpus, tp: int, dtype=jnp.float32,
                            seed: int = 0, reference: GPTConfig | None = None) -> dict[str, Any]:
    """Train ``protocol.steps`` steps unsharded and at TP degree ``tp`` from the same initialisation
    and batches. Returns both loss curves, ``max_loss_diff`` (abs) and ``max_param_rel`` (largest
    per-leaf relative parameter difference at the end). With ``reference`` (a model with the same
    parameters, e.g. another all-reduce schedule) the reference run is that model's step at the same
    TP degree instead of the unsharded ``cfg``.

    Both runs are one compiled program (``lax.scan`` over the steps; each scan step applies the
    unsharded and the sharded training step to its own state), so a case costs one compilation."""
    opt = make_optimizer(protocol)
    params = gpt_init(jax.random.PRNGKey(seed), cfg, dtype)
    ref = make_train_step(cfg, opt) if reference is None else tp_train_step(reference, opt, params, tp_mesh(tp))
    par = tp_train_step(cfg, opt, params, tp_mesh(tp))
    batches = jnp.asarray(np.stack([train_batch(corpus, protocol, cfg.seq_len, seed, s) for s in range(protocol.steps)]))

    @jax.jit
    def both(params, batches):
        def body(states, batch):
            (p0, o0), (p1, o1) = states
            p0, o0, l0 = ref(p0, o0, batch)
            p1, o1, l1 = par(p1, o1, batch)
            return ((p0, o0), (p1, o1)), (l0, l1)

        state = (params, opt.init(params))
        (ends, (l0, l1)) = jax.lax.scan(body, (state, state), batches)
        return ends[0][0], ends[1][0], l0, l1

    p_ref, p_par, l_ref, l_par = both(params, batches)
    rel = [float(jnp.max(jnp.abs(a - b)) / jnp.maximum(jnp.max(jnp.abs(b)), 1e-30))
           for a, b in zip(jax.tree.leaves(p_par), jax.tree.leaves(p_ref))]
    curves = [np.asarray(l_ref, float).tolist(), np.asarray(l_par, float).tolist()]
    return {"unsharded": curves[0], "sharded": curves[1], "max_loss_diff": float(np.max(np.abs(np.subtract(*curves)))),
            "max_param_rel": max(rel)}


def call_with_devices(function: str, kwargs: dict[str, Any], devices: int, *, x64: bool = True, timeout: int = 900) -> Any:
    """Call ``module:function(**kwargs)`` (JSON in, JSON out) in the current process when it has
    ``devices`` JAX devices, else in a subprocess with ``devices`` emulated CPU devices (the flag
    must be set before JAX starts; XLA's backend optimisation level 0 cuts compile time)."""
    module, name = function.split(":")
    if len(jax.devices()) >= devices:
        return json.loads(json.dumps(getattr(importlib.import_module(module), name)(**kwargs)))
    code = (f"import json, sys\nfrom attnverify.proofs_numeric import enable_x64\n{'enable_x64()' if x64 else ''}\n"
            f"from {module} import {name}\nprint(json.dumps({name}(**json.loads(sys.argv[1]))))")
    flags = f" --xla_force_host_platform_device_count={devices} --xla_backend_optimization_level=0"
    env = {**os.environ, "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + flags).strip(), "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)], env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError(f"{devices}-device subprocess failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def step_count_table(protocol: dict[str, Any], tps: list[int], names: list[str], opt_names: list[str] | None = None) -> dict[str, Any]:
    """JSON table of :func:`step_allreduce_counts` for ``names`` x ``tps`` with the C4/C5 law and the
    deviation ``err`` of :func:`count_deviation` (flagged and mismatched counts included).
    The full step (with AdamW) is lowered only for ``opt_names`` (default: all)."""
    pr = TrainProtocol(**{**protocol, "seeds": tuple(protocol.get("seeds", (0,)))})
    rows = {}
    for tp in tps:
        for name in names:
            c = step_allreduce_counts(step_config(name, pr), pr, tp, with_step=opt_names is None or name in opt_names)
            law = allreduce_law(name, pr.n_blocks)
            rows[f"p={tp}:{name}"] = {**c, "law": law, "err": count_deviation(c, law)}
    return rows


def count_deviation(row: dict[str, Any], law: dict[str, int]) -> int:
    """Deviation of a :func:`step_allreduce_counts` row from a C4/C5 ``law``: |fwd - law| + fwd
    d-sized + |bwd act - law| + |bwd d-sized - law| + |optimiser all-reduces| + the jaxpr / call-graph
    ``mismatch`` + ``flagged`` (counts that are not exact); 0 only for an exact, cross-checked match."""
    return int(abs(row["fwd_act"] - law["fwd"]) + row["fwd_vec"] + abs(row["bwd_act"] - law["bwd_act"])
               + abs(row["bwd_vec"] - law["bwd_vec"]) + abs(row.get("opt_ops", 0)) + abs(row["mismatch"]) + abs(row["flagged"]))


def sharded_loss_table(protocol: dict[str, Any], cases: list[list]) -> dict[str, Any]:
    """JSON table of :func:`sharded_training_losses` for ``cases`` = ``[[name, tp, dtype], ...]``; a
    fourth entry names the reference variant (same parameters, another schedule, same ``tp``)."""
    from .corpus import char_corpus

    pr = TrainProtocol(**{**protocol, "seeds": tuple(protocol.get("seeds", (0,)))})
    corpus = char_corpus()
    out = {}
    for name, tp, dtype, *ref in cases:
        r = sharded_training_losses(step_config(name, pr), pr, corpus, int(tp), jnp.dtype(dtype),
                                    reference=step_config(ref[0], pr) if ref else None)
        out[f"p={tp}:{dtype}:{name}" + (f":vs:{ref[0]}" if ref else "")] = r
    return out
