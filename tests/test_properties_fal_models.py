"""Property tests: the FAL block stack, the C9 GPT, its analysis and the communication model name a bad argument.

Cases: configuration sizes that are floats, bools or strings, truthy non-bool flags; ``fal_forward`` with ``x`` of
the wrong rank or width, non-finite, integer or empty, params of another depth, ``attn_shift`` of another
length; ``gpt_logits``/``gpt_nll`` with token ids outside the vocabulary or negative (once a clamped gather:
another token's logits, silently), empty or too short; CKA with NaN or a single row (a constant representation
is the documented NaN); the communication model with counts out of order, a NaN time or a target saving above 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from attnverify.attention import fal as F
from attnverify.attention.fal.blocks import layer_norm
from tests._properties import FAST, covers, rejects

CFG = F.FALConfig(2, 8, 2, 16)
GPT = F.gpt_config("fal", n_blocks=2, d_model=8, n_heads=2, d_mlp=16, vocab=10, seq_len=6)


@pytest.fixture(scope="module")
def params():
    key = jax.random.PRNGKey(0)
    return F.fal_init(key, CFG), F.gpt_init(key, GPT)


@covers("attention.fal", "FALConfig", "GPTConfig", "gpt_config")
@FAST
@given(st.sampled_from(["n_blocks", "d_model", "n_heads", "d_mlp"]), st.sampled_from([2.0, True, "8", 0, -1]))
def test_config_sizes_are_positive_integers(field, bad):
    kw = dict(n_blocks=2, d_model=8, n_heads=2, d_mlp=16)
    rejects(lambda: F.FALConfig(**{**kw, field: bad}), field)


def test_config_flags_and_gpt_sizes():
    for flag in ("shared_ln", "zero_first_attention"):
        for bad in ("yes", 1, None):
            rejects(lambda: F.FALConfig(2, 8, 2, 16, **{flag: bad}), flag)
    for bad in (2.5, True, "10", 1):
        rejects(lambda: F.gpt_config("fal", vocab=bad), "vocab")
    for bad in (0, True, 1.0):
        rejects(lambda: F.gpt_config("fal", seq_len=bad), "seq_len")
    rejects(lambda: F.GPTConfig(None), "blocks")


@covers("attention.fal", "fal_forward", "fal_init", "fal_param_specs")
def test_fal_forward_inputs(params):
    p, _ = params
    x = jnp.ones((1, 3, 8))
    for bad in (jnp.ones((3, 8)), jnp.ones((1, 3, 5)), jnp.ones((1, 0, 8))):
        rejects(lambda: F.fal_forward(p, bad, CFG), "x")
    for v in (jnp.nan, jnp.inf):
        rejects(lambda: F.fal_forward(p, x.at[0, 1, 2].set(v), CFG), "x")
    rejects(lambda: F.fal_forward(p, jnp.ones((1, 3, 8), jnp.int32), CFG), "x")
    rejects(lambda: F.fal_forward(p, x, F.FALConfig(3, 8, 2, 16)), "params")
    rejects(lambda: F.fal_forward(p, x, None), "cfg")
    rejects(lambda: F.fal_forward(None, x, CFG), "params")
    rejects(lambda: F.fal_forward(p, x, CFG, capture="no"), "capture")
    rejects(lambda: F.fal_forward(p, x, CFG, attn_shift=[jnp.zeros((1, 3, 8))]), "attn_shift")
    rejects(lambda: F.fal_init(jax.random.PRNGKey(0), None), "cfg")
    rejects(lambda: F.fal_init(jax.random.PRNGKey(0), CFG, jnp.int32), "dtype")
    rejects(lambda: F.fal_param_specs(None), "params")
    # inside jit the same function runs without the value checks (tracers pass)
    assert jax.jit(lambda x: F.fal_forward(p, x, CFG))(x).shape == (1, 3, 8)


@covers("attention.fal", "gpt_logits", "gpt_nll", "gpt_init", "gpt_param_specs")
@FAST
@given(st.sampled_from([10, 11, 1000, -1, -10]))
def test_gpt_token_ids_outside_the_vocabulary(params, bad):
    _, gp = params
    rejects(lambda: F.gpt_logits(gp, jnp.array([[1, bad]]), GPT), "tokens")
    rejects(lambda: F.gpt_nll(gp, jnp.array([[1, 2, bad]]), GPT), "batch")  # a target id, never gathered as input


def test_gpt_shapes_and_types(params):
    _, gp = params
    for bad in (jnp.ones((1, 0), jnp.int32), jnp.ones((1, 7), jnp.int32), jnp.array([1, 2]), jnp.array([[1.0]])):
        rejects(lambda: F.gpt_logits(gp, bad, GPT), "tokens")
    assert F.gpt_logits(gp, [[1, 2]], GPT).shape == (1, 2, 10)  # a nested list is accepted
    rejects(lambda: F.gpt_nll(gp, jnp.array([[1]]), GPT), "batch")
    rejects(lambda: F.gpt_logits(gp, jnp.array([[1]]), CFG), "cfg")
    rejects(lambda: F.gpt_init(jax.random.PRNGKey(0), CFG), "cfg")
    rejects(lambda: F.gpt_param_specs(None), "params")
    # the unchecked values inside jit still give the right shape; the model's loss is finite on valid ids
    assert np.isfinite(float(F.gpt_nll(gp, jnp.array([[1, 2, 9]]), GPT)))


@covers("attention.fal", "linear_cka", "cka_matrices", "attention_grad_norms", "primacy_ablation")
def test_analysis_inputs(params):
    _, gp = params
    rejects(lambda: F.linear_cka(jnp.full((4, 2), jnp.nan), jnp.ones((4, 2))), "x")
    rejects(lambda: F.linear_cka(jnp.ones((4, 2)), jnp.ones((4, 2)).at[0, 0].set(jnp.inf)), "y")
    rejects(lambda: F.linear_cka(jnp.ones((1, 2)), jnp.ones((1, 2))), "x")
    assert np.isnan(float(F.linear_cka(jnp.ones((4, 2)), jnp.arange(8.0).reshape(4, 2))))  # documented: constant x
    x = jnp.asarray(np.random.default_rng(0).normal(size=(6, 3)))
    assert abs(float(F.linear_cka(x, 2 * x + 1)) - 1) < 1e-6  # CKA is invariant to scale and shift
    for fn in (F.cka_matrices, F.attention_grad_norms, F.primacy_ablation):
        for bad in (np.array([[1, 2, 30]]), np.array([[1, -2, 3]]), np.zeros((0, 4), np.int32), np.array([[1]])):
            rejects(lambda: fn(gp, bad, GPT), "windows")


@covers("attention.fal", "saving_ceiling", "required_comm_fraction", "predicted_saving", "ring_allreduce_time",
        "gpt2_step_flops", "measure_step_time", "savings_grid", "matmul_flops", "iter_eqns")
def test_comm_model_inputs():
    link = next(iter(F.LINKS.values()))
    rejects(lambda: F.saving_ceiling(2, 5), "n_fal")
    rejects(lambda: F.saving_ceiling(0, 0), "n_base")
    rejects(lambda: F.saving_ceiling(4.0, 3), "n_base")
    for t in (2.0, -0.1, float("nan")):
        rejects(lambda: F.required_comm_fraction(t, 4, 3), "target")
    assert F.required_comm_fraction(0.1, 4, 4) == float("inf")  # ceiling 0: unreachable
    rejects(lambda: F.predicted_saving(1.0, 4, 3, float("nan")), "t_ar")
    rejects(lambda: F.predicted_saving(-1.0, 4, 3, 1.0), "t_comp")
    rejects(lambda: F.predicted_saving(0.0, 4, 3, 0.0), "t_comp")
    rejects(lambda: F.ring_allreduce_time(1e6, 4, None), "link")
    rejects(lambda: F.ring_allreduce_time(float("nan"), 4, link), "nbytes")
    for name, args in (("d", (12, 0, 1024)), ("tokens", (12, 768, -1)), ("n_blocks", (1.5, 768, 1024))):
        rejects(lambda: F.gpt2_step_flops(*args), name)
    rejects(lambda: F.measure_step_time(None, ()), "step")
    rejects(lambda: F.savings_grid(tps=(0,)), "tps")
    rejects(lambda: F.savings_grid(tps=()), "tps")
    rejects(lambda: F.savings_grid(tokens=0), "tokens")
    rejects(lambda: F.matmul_flops(CFG, batch=0), "batch")
    rejects(lambda: F.matmul_flops(CFG, seq=2.5), "seq")
    rejects(lambda: F.matmul_flops(None), "cfg")
    rejects(lambda: list(F.iter_eqns(None)), "jaxpr")
    rejects(lambda: layer_norm(jnp.ones((1, 4)), jnp.ones(4), jnp.zeros(4), -1.0), "eps")


@covers("attention.fal", "TrainProtocol", "make_optimizer", "make_train_step", "train_batch", "val_windows",
        "evaluate_nll", "char_corpus")
def test_training_inputs(params):
    _, gp = params
    for name, bad in (("steps", 1.5), ("batch", True), ("warmup", "4"), ("lr", float("nan")), ("seeds", (-1,)),
                      ("seeds", [0, 1]), ("n_val", 0)):
        rejects(lambda: F.TrainProtocol(**{name: bad}), name)
    rejects(lambda: F.make_optimizer(None), "protocol")
    rejects(lambda: F.make_train_step(None, F.make_optimizer(F.QUICK_PROTOCOL)), "cfg")
    rejects(lambda: F.make_train_step(GPT, None), "opt")
    corpus = F.char_corpus()
    for bad in (0, -1, 2.5, 10**9):
        rejects(lambda: F.train_batch(corpus, F.QUICK_PROTOCOL, bad, 0, 0), "seq_len")
        rejects(lambda: F.val_windows(corpus, F.QUICK_PROTOCOL, bad), "seq_len")
    rejects(lambda: F.train_batch(corpus, F.QUICK_PROTOCOL, 4, -1, 0), "seed")
    rejects(lambda: F.train_batch(corpus, F.QUICK_PROTOCOL, 4, 0, 1.5), "step")
    stacked = jax.tree.map(lambda a: a[None], gp)  # one seed
    windows = np.array([[1, 2, 3, 4]], np.int32)
    for bad in (0, 1.5):
        rejects(lambda: F.evaluate_nll(stacked, windows, GPT, chunk=bad), "chunk")
    for bad in (np.array([[1, 2, 30]]), np.zeros((0, 4), np.int32)):
        rejects(lambda: F.evaluate_nll(stacked, bad, GPT), "windows")
    assert F.evaluate_nll(stacked, windows, GPT).shape == (1,)
