"""Review 22 of the executed all-reduce counters (attention/fal/allreduce_count.py): trip counts derived
from a loop's start, bound and step or flagged, never guessed; branches flagged; pmax/pmin/pmean
counted by both counters; the FAL count claims fail on a mismatch, a flagged count or a negative
optimiser count. Traced on an abstract 2-device mesh: no devices needed."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import AbstractMesh, PartitionSpec as P

from attnverify.attention.fal import counts
from attnverify.attention.fal.allreduce_count import hlo_executed_allreduces, is_allreduce, jaxpr_allreduces

MESH = AbstractMesh((2,), ("tp",))
X = jax.ShapeDtypeStruct((4,), jnp.float32)


def _both(body):
    f = jax.jit(jax.shard_map(body, mesh=MESH, in_specs=P(), out_specs=P()))
    return jaxpr_allreduces(jax.make_jaxpr(f)(X), 4), hlo_executed_allreduces(f.trace(X).lower().as_text(), 4), jax.make_jaxpr(f)(X)


def _while(start: int, bound: int, step: int):
    def body(x):
        def b(s):
            return jax.lax.psum(s[0], "tp"), s[1] + step
        return jax.lax.while_loop(lambda s: s[1] < bound, b, (x, start))[0]
    return body


@pytest.mark.parametrize("start, bound, step, trips", [(0, 6, 2, 3), (4, 6, 1, 2), (1, 6, 2, 3), (7, 6, 1, 0), (0, 7, 3, 3)])
def test_stablehlo_trip_count_comes_from_start_bound_and_step(start, bound, step, trips):
    jx, hlo, _ = _both(_while(start, bound, step))
    assert hlo == {"ops": trips, "act": trips, "vec": 0, "flagged": 0}
    assert jx["flagged"] >= 1  # the jaxpr counter does not derive while trip counts: it flags, never guesses


def test_static_fori_loop_is_exact_and_a_traced_bound_is_flagged_by_both_counters():
    jx, hlo, _ = _both(lambda x: jax.lax.fori_loop(0, 7, lambda i, c: jax.lax.psum(c, "tp"), x))
    assert jx == hlo == {"ops": 7, "act": 7, "vec": 0, "flagged": 0}
    dyn = lambda x: jax.lax.fori_loop(0, (x[0] > -1).astype(jnp.int32) * 6, lambda i, c: jax.lax.psum(c, "tp"), x)  # noqa: E731
    jx, hlo, jaxpr = _both(dyn)
    assert jx["flagged"] >= 1 and hlo["flagged"] >= 1
    with pytest.raises(ValueError, match="not static"):
        counts._psums(jaxpr, 4)


def test_an_allreduce_in_a_while_condition_is_flagged_by_both_counters():
    def body(x):
        s = jax.lax.while_loop(lambda s: jax.lax.psum(s[1], "tp") < 6, lambda s: (s[0] + 1.0, s[1] + 1), (x, 0))
        return s[0]
    jx, hlo, jaxpr = _both(body)
    assert jx["flagged"] >= 1 and hlo["flagged"] >= 1
    with pytest.raises(ValueError, match="not static"):
        counts._psums(jaxpr, 4)


def test_cond_branches_are_flagged_by_both_counters():
    two_one = lambda x: jax.lax.cond(x[0] > 0, lambda x: jax.lax.psum(jax.lax.psum(x, "tp"), "tp"), lambda x: jax.lax.psum(x, "tp"), x)  # noqa: E731
    jx, hlo, jaxpr = _both(two_one)
    assert jx["ops"] == 2 and jx["flagged"] >= 1 and hlo["flagged"] >= 1
    with pytest.raises(ValueError, match="not static"):
        counts._psums(jaxpr, 4)


def test_pmax_pmin_pmean_are_all_reduces_in_both_counters():
    jx, hlo, jaxpr = _both(lambda x: jax.lax.pmax(x, "tp") + jax.lax.pmin(x, "tp") + jax.lax.pmean(x, "tp"))
    assert jx == hlo == {"ops": 3, "act": 3, "vec": 0, "flagged": 0}
    assert counts._psums(jaxpr, 4)[:2] == (3, 0)
    assert is_allreduce("psum_invariant") and not is_allreduce("reduce_scatter") and not is_allreduce("all_gather")


@pytest.mark.parametrize("extra, opt, mismatch, flagged", [(0, 0, 5, 0), (1, -1, 0, 0), (0, 0, 0, 3), (1, 0, 0, 0), (0, -1, 0, 0)])
def test_law_error_counts_mismatch_flagged_and_the_optimiser_by_magnitude(extra, opt, mismatch, flagged):
    from attnverify.attention.fal.claims_training import _law_error

    row = lambda e, o, m, f: {"fwd_act": 4, "fwd_vec": 0, "bwd_act": 4 + e, "bwd_vec": 0, "opt_ops": o, "mismatch": m, "flagged": f}  # noqa: E731
    assert _law_error(row(0, 0, 0, 0), "fal_folded", 3)[0] == 0.0
    assert _law_error(row(extra, opt, mismatch, flagged), "fal_folded", 3)[0] > 0
