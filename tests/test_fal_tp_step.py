"""The tensor-parallel training step: StableHLO all-reduce parsing, the C4/C5 laws against the jaxpr
counts, the real step's counts, sharded = unsharded training (8 emulated CPU devices, see conftest)."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import pytest

import attnverify.attention.fal.claims  # noqa: F401  (registers the claims the new ones link to)
import attnverify.attention.fal.claims_counts  # noqa: F401
import attnverify.attention.fal.claims_training  # noqa: F401
import attnverify.attention.fal.tp_step as tps
from attnverify import proofs_numeric as pn
from attnverify.attention.fal import FALConfig, QUICK_PROTOCOL, allreduce_counts, allreduce_law, char_corpus

_HLO = '''
  %3 = "stablehlo.all_reduce"(%2) <{channel_handle = #stablehlo.channel_handle<handle = 1, type = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  %7:2 = "stablehlo.all_reduce"(%5, %6) <{channel_handle = #stablehlo.channel_handle<handle = 2, type = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<16xf32>, tensor<2x8x16xf32>) -> (tensor<16xf32>, tensor<2x8x16xf32>)
'''


def test_hlo_allreduces_counts_ops_and_tensors() -> None:
    """Two ops, three reduced tensors: two activation-sized (2*8*16), one d-sized."""
    assert tps.hlo_allreduces(_HLO, 2 * 8 * 16) == {"ops": 2, "act": 2, "vec": 1}
    assert tps.hlo_allreduces("no collectives here", 1) == {"ops": 0, "act": 0, "vec": 0}


_AS_FAL = {"baseline": dict(variant="baseline"), "fal": dict(variant="fal"), "falplus_B": dict(variant="falplus", falplus="residual"),
           "no_connection": dict(variant="fal", zero_first_attention=True),
           "fal_block_input": dict(variant="fal", f_placement="block_input"),
           "fal_shared_ln_output": dict(variant="fal", shared_ln=True, f_placement="ln_output"),
           "fal_folded": dict(variant="fal", shared_ln=True, f_placement="ln_output_folded")}


@pytest.mark.parametrize("N", [1, 2, 3])
def test_laws_match_the_traced_jaxpr_counts(N: int) -> None:
    """allreduce_law (the closed forms) against the jaxpr psum counts of the block stack (an independent count)."""
    for name, fields in _AS_FAL.items():
        c = allreduce_counts(FALConfig(N, 8, 2, 8, **fields), 2, 1, 2)
        assert {k: c[k] for k in ("fwd", "bwd_act", "bwd_vec")} == allreduce_law(name, N), (name, N)
    with pytest.raises(ValueError, match="name"):
        allreduce_law("falplus", 2)


def test_real_step_counts_follow_the_law_at_p2() -> None:
    """The full AdamW step of the GPT with one f per FAL block, N = 2, p = 2: fwd N+1, bwd N+2 + 4(N-1) d-sized, optimiser 0."""
    pr = {"n_blocks": 2, "d_model": 16, "n_heads": 2, "d_mlp": 16, "seq_len": 4, "batch": 2, "steps": 2, "warmup": 1, "seeds": [0]}
    row = tps.step_count_table(pr, [2], ["fal_block_input"])["p=2:fal_block_input"]
    assert (row["fwd_act"], row["bwd_act"], row["bwd_vec"], row["opt_ops"], row["err"]) == (3, 4, 4, 0, 0)
    with pytest.raises(ValueError, match="tp"):
        tps.tp_mesh(0)


@pytest.mark.slow
def test_step_claims_verify_and_fail_on_a_wrong_law(monkeypatch) -> None:
    for cid in ("fal.training_step_allreduces", "fal.sharded_training_equals_unsharded"):
        r = pn.run_claim(pn.get_claim(cid), scale=0.01)
        assert r.verdict is pn.Verdict.VERIFIED, (cid, r.message, r.evidence and r.evidence.details)
    monkeypatch.setattr(tps, "allreduce_law", lambda name, N: {"fwd": 2 * N, "bwd_act": 2 * N, "bwd_vec": 0})  # "FAL saves nothing"
    assert pn.run_claim(pn.get_claim("fal.training_step_allreduces"), scale=0.01).verdict is pn.Verdict.FAILED


@pytest.mark.slow
def test_sharded_training_float64_matches_unsharded() -> None:
    pr = dataclasses.replace(QUICK_PROTOCOL, steps=3)
    cfg = tps.step_config("fal_block_input", pr)
    with pytest.raises(ValueError, match="must divide n_heads"):
        tps.sharded_training_losses(cfg, pr, char_corpus(), 4)  # 2 heads do not split over 4 devices
    r = tps.sharded_training_losses(cfg, pr, char_corpus(), 2, dtype=jnp.float64)
    assert r["max_loss_diff"] <= 1e-12 and r["max_param_rel"] <= 1e-12, r


# ------------------------------------------------------------------ issue 22: counts that follow execution, N + 1


def test_an_allreduce_in_a_function_called_twice_counts_two_and_loops_multiply() -> None:
    import jax
    import numpy as np
    from jax.sharding import Mesh, PartitionSpec as P

    from attnverify.attention.fal.allreduce_count import hlo_executed_allreduces, jaxpr_allreduces

    mesh = Mesh(np.array(jax.devices()[:2]), ("tp",))
    inner = jax.jit(lambda z: jax.lax.psum(z, "tp"))

    def body(x):
        y = inner(inner(x) * 2.0)  # one all-reduce in the text, executed twice
        y, _ = jax.lax.scan(lambda c, _: (jax.lax.psum(c, "tp"), None), y, None, length=3)  # one in the text, 3 trips
        return y

    f = jax.jit(jax.shard_map(body, mesh=mesh, in_specs=P(), out_specs=P()))
    x = jnp.ones((4,))
    text = f.lower(x).as_text()
    assert tps.hlo_allreduces(text, 4)["act"] == 2  # the flat text count: what issue 22 found wrong
    assert hlo_executed_allreduces(text, 4) == {"ops": 5, "act": 5, "vec": 0, "flagged": 0}
    assert jaxpr_allreduces(jax.make_jaxpr(f)(x), 4) == {"ops": 5, "act": 5, "vec": 0, "flagged": 0}
    twice = jax.jit(jax.shard_map(lambda x: inner(inner(x)), mesh=mesh, in_specs=P(), out_specs=P()))
    assert jaxpr_allreduces(jax.make_jaxpr(twice)(x), 4)["act"] == 2
    assert hlo_executed_allreduces(twice.lower(x).as_text(), 4)["act"] == 2


def test_folded_schedule_has_the_same_gradients_and_n_plus_1_backward_allreduces() -> None:
    import jax
    import numpy as np

    from attnverify.attention.fal import fal_forward, tp_forward
    from attnverify.attention.fal.device_checks import random_params

    mesh = jax.sharding.Mesh(np.array(jax.devices()[:2]), ("tp",))
    ref_cfg = FALConfig(3, 8, 2, 8, variant="fal", shared_ln=True, f_placement="ln_output")
    cfg = FALConfig(3, 8, 2, 8, variant="fal", shared_ln=True, f_placement="ln_output_folded")
    params = random_params(ref_cfg, 0, jnp.float64)
    rng = np.random.default_rng(1)
    x, r = (jnp.asarray(rng.standard_normal((2, 4, 8))) for _ in range(2))
    y0, vjp0 = jax.vjp(lambda p, x: fal_forward(p, x, ref_cfg), params, x)
    g0 = vjp0(r)
    for f in (lambda p, x: fal_forward(p, x, cfg), lambda p, x: tp_forward(p, x, cfg, mesh)):
        y, vjp = jax.vjp(f, params, x)
        assert float(jnp.max(jnp.abs(y - y0))) < 1e-13
        assert max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(vjp(r)), jax.tree.leaves(g0))) < 1e-12
    pr = {"n_blocks": 2, "d_model": 16, "n_heads": 2, "d_mlp": 16, "seq_len": 4, "batch": 2, "steps": 2, "warmup": 1, "seeds": [0]}
    row = tps.step_count_table(pr, [2], ["fal_folded"])["p=2:fal_folded"]
    assert (row["fwd_act"], row["bwd_act"], row["bwd_vec"], row["bwd_ops"], row["opt_ops"], row["mismatch"], row["err"]) == (3, 3, 0, 3, 0, 0, 0)
    with pytest.raises(ValueError, match="shared_ln"):
        FALConfig(3, 8, 2, 8, variant="fal", f_placement="ln_output_folded")


@pytest.mark.slow
def test_folded_claim_verifies_and_fails_on_the_n_plus_2_law(monkeypatch) -> None:
    r = pn.run_claim(pn.get_claim("fal.folded_schedule_n_plus_1"), scale=0.01)
    assert r.verdict is pn.Verdict.VERIFIED, (r.message, r.evidence and r.evidence.details)
    law = tps.allreduce_law
    monkeypatch.setattr(tps, "allreduce_law", lambda name, N: {**law(name, N), "bwd_act": N + 2} if name == "fal_folded" else law(name, N))
    assert pn.run_claim(pn.get_claim("fal.folded_schedule_n_plus_1"), scale=0.01).verdict is pn.Verdict.FAILED


def test_block_stack_counter_refuses_a_psum_inside_a_loop() -> None:
    """The C4-C7 counter walks the jaxpr's text; where a loop would make it undercount it raises instead."""
    import jax
    from jax.sharding import AbstractMesh, PartitionSpec as P

    from attnverify.attention.fal import counts

    mesh = AbstractMesh((2,), ("tp",))
    body = lambda x: jax.lax.scan(lambda c, _: (jax.lax.psum(c, "tp"), None), x, None, length=3)[0]  # noqa: E731
    jaxpr = jax.make_jaxpr(jax.shard_map(body, mesh=mesh, in_specs=P(), out_specs=P()))(jax.ShapeDtypeStruct((4,), jnp.float32))
    with pytest.raises(ValueError, match="executed count"):
        counts._psums(jaxpr, 4)
