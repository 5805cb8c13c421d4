r"""Tensor-parallel FAL programs and what their jaxprs contain: all-reduces, bytes, FLOPs.

Spec ``fal.md`` §3 counting recipe: trace ``jax.make_jaxpr`` of the sharded forward and of
``jax.grad`` of a scalar loss, walk every nested jaxpr, count the all-reduce primitives (``psum*``,
``pmax``, ``pmin``: :func:`~attention.fal.allreduce_count.is_allreduce`; refused where a loop or
branch makes the count not static) and take
backward = grad program $-$ forward. An operand is activation-sized when it has
$B\,T\,d$ elements, else LN-parameter-sized (the spec's "rank $\ge2$" rule, made robust to the
``[1, 1, d]`` reshape of $\gamma,\beta$ before JAX's varying cast). Tracing uses a ``jax.sharding.AbstractMesh``, so no devices
are needed. Example::

    c = allreduce_counts(FALConfig(4, 32, 4, 128, variant="fal"))
    c["fwd"], c["bwd_act"], c["bwd_vec"]        # 5, 8, 0
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
from jax.extend.core import ClosedJaxpr, Jaxpr
from jax.sharding import AbstractMesh, Mesh
from jax.sharding import PartitionSpec as P

from attnverify.proofs_numeric.precision import check_int

from .allreduce_count import is_allreduce, jaxpr_allreduces
from .model import FALConfig, check_config, fal_forward, fal_init, fal_param_specs

__all__ = ["tp_forward", "iter_eqns", "allreduce_counts", "matmul_flops", "count_params", "elementwise_adds"]


def tp_forward(params: Any, x: jax.Array, cfg: FALConfig, mesh: Mesh | AbstractMesh, axis_name: str = "tp") -> jax.Array:
    """$\\mathrm{LN}_f(X_{N+1})$ computed by ``shard_map`` over ``mesh`` (axis ``axis_name``):
    heads and MLP units split over the axis, activations replicated."""
    fn = jax.shard_map(functools.partial(fal_forward, cfg=cfg, axis_name=axis_name), mesh=mesh,
                       in_specs=(fal_param_specs(params, axis_name), P()), out_specs=P())
    return fn(params, x)


def iter_eqns(jaxpr: Jaxpr | ClosedJaxpr) -> Iterator[Any]:
    """Every equation of ``jaxpr``, recursing into any parameter that is a (closed) jaxpr."""
    if not isinstance(jaxpr, (Jaxpr, ClosedJaxpr)):
        raise TypeError(f"jaxpr must be a Jaxpr or ClosedJaxpr (jax.make_jaxpr(fn)(*args)), got {type(jaxpr).__name__}")
    jaxpr = jaxpr.jaxpr if isinstance(jaxpr, ClosedJaxpr) else jaxpr
    for eqn in jaxpr.eqns:
        yield eqn
        for v in eqn.params.values():
            for sub in v if isinstance(v, (list, tuple)) else (v,):
                if isinstance(sub, (Jaxpr, ClosedJaxpr)):
                    yield from iter_eqns(sub)


def _psums(jaxpr, activation_size: int) -> tuple[int, int, int]:
    act = vec = nbytes = 0
    for e in iter_eqns(jaxpr):
        if is_allreduce(e.primitive.name):
            for v in e.invars:
                aval = v.aval
                if math.prod(aval.shape) >= activation_size:
                    act += 1
                    nbytes += math.prod(aval.shape) * aval.dtype.itemsize
                else:
                    vec += 1
    executed = jaxpr_allreduces(jaxpr, activation_size)  # nested calls and loops multiplied out
    if executed["flagged"]:
        raise ValueError(f"all-reduce count not static: {executed['flagged']} all-reduce(s) in a while_loop (condition or body, "
                         "trip count not static, e.g. a traced fori_loop bound) or in cond branches that differ; not counted")
    if (executed["act"], executed["vec"]) != (act, vec):
        raise ValueError(f"all-reduce count of the jaxpr's text ({act}, {vec}) differs from the executed count "
                         f"({executed['act']}, {executed['vec']}): a loop or cond holds a psum; count with jaxpr_allreduces")
    return act, vec, nbytes


def _abstract(cfg: FALConfig, batch: int, seq: int, dtype) -> tuple[Any, Any]:
    params = jax.eval_shape(lambda: fal_init(jax.random.PRNGKey(0), cfg, dtype))
    return params, jax.ShapeDtypeStruct((batch, seq, cfg.d_model), dtype)


def _float_dtype(dtype: Any) -> Any:
    """``jnp.dtype(dtype)`` for a floating dtype; ``ValueError`` naming ``dtype`` otherwise (``'float7'``, ``'int32'``)."""
    try:
        if dtype is None:  # jnp.dtype(None) would silently mean float64
            raise TypeError
        dt = jnp.dtype(dtype)
    except (TypeError, ValueError):
        raise ValueError(f"dtype must name a floating dtype such as 'float32' or 'bfloat16', got {dtype!r}") from None
    if not jnp.issubdtype(dt, jnp.floating):
        raise ValueError(f"dtype must be a floating dtype (parameters and activations are real), got {dt}")
    return dt


@functools.lru_cache(maxsize=256)
def allreduce_counts(cfg: FALConfig, tp: int = 4, batch: int = 2, seq: int = 8, dtype: str = "float32") -> dict[str, int]:
    """All-reduces of the tensor-parallel forward and backward programs (traced, not run).

    Returns ``fwd`` / ``bwd_act`` (activation-sized psums), ``fwd_vec`` / ``bwd_vec`` (rank-1,
    i.e. LN-parameter-sized) and ``fwd_bytes`` / ``bwd_bytes`` (activation all-reduce payloads).
    """
    tp, batch, seq = (check_int(v, n, minimum=1) for v, n in ((tp, "tp"), (batch, "batch"), (seq, "seq")))  # 2.0 broke later calls (std::bad_cast)
    mesh = AbstractMesh((tp,), ("tp",))
    params, x = _abstract(cfg, batch, seq, _float_dtype(dtype))
    fwd = jax.make_jaxpr(lambda p, x: tp_forward(p, x, cfg, mesh))(params, x)
    grad = jax.make_jaxpr(jax.grad(lambda p, x: tp_forward(p, x, cfg, mesh).sum(), argnums=(0, 1)))(params, x)
    (fa, fv, fb), (ga, gv, gb) = _psums(fwd, batch * seq * cfg.d_model), _psums(grad, batch * seq * cfg.d_model)
    return {"fwd": fa, "fwd_vec": fv, "bwd_act": ga - fa, "bwd_vec": gv - fv, "fwd_bytes": fb, "bwd_bytes": gb - fb}


def _unsharded_jaxpr(cfg: FALConfig, batch: int, seq: int):
    params, x = _abstract(cfg, batch, seq, jnp.float32)
    return jax.make_jaxpr(lambda p, x: fal_forward(p, x, cfg))(params, x)


def matmul_flops(cfg: FALConfig, batch: int = 2, seq: int = 8) -> int:
    """Matmul FLOPs of the unsharded forward: $2\\prod(\\text{out})\\prod(\\text{contracted})$ per ``dot_general``."""
    check_config(cfg, FALConfig, "cfg")
    total = 0
    for e in iter_eqns(_unsharded_jaxpr(cfg, check_int(batch, "batch", minimum=1), check_int(seq, "seq", minimum=1))):
        if e.primitive.name == "dot_general":
            (lc, _), _ = e.params["dimension_numbers"]
            lhs = e.invars[0].aval.shape
            total += 2 * math.prod(e.outvars[0].aval.shape) * math.prod(lhs[a] for a in lc)
    return total


def elementwise_adds(fn, *shapes: tuple[int, ...], like: tuple[int, ...]) -> int:
    """Number of ``add`` equations with output shape ``like`` in ``make_jaxpr(fn)(*zeros(shapes))``."""
    jaxpr = jax.make_jaxpr(fn)(*(jax.ShapeDtypeStruct(s, jnp.float32) for s in shapes))
    return sum(1 for e in iter_eqns(jaxpr) if e.primitive.name == "add" and e.outvars[0].aval.shape == like)


def count_params(cfg: FALConfig) -> int:
    """Number of scalar parameters of :func:`fal_init` for ``cfg``."""
    return sum(math.prod(a.shape) for a in jax.tree.leaves(_abstract(cfg, 1, 1, jnp.float32)[0]))
