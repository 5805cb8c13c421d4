"""The Gemma pieces of the steering study on a tiny random Gemma 3 (no weights loaded): the compiled
steered generation equals the model's own KV-cached ``generate`` with the same hook, head masks
ablate, the per-head shares add up to the attention block's output, and the batched generation
(traced hook parameters, one compiled loop) equals ``generate`` row by row."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import pytest

from attnverify.attention.models import GemmaConfig, gemma_forward, generate, random_gemma
from attnverify.attention.models.gemma_generate import generate_batch
from attnverify.attention.sae.jumprelu import JumpReLUSAE
from attnverify.attention.sae.steering import make_steer, no_steer, residual_hook
from attnverify.experiments.sae_steering.gemma_lm import gemma_head_contributions, gemma_residuals, gemma_steered_generate, until_eos, _row_hook
from attnverify.attention.sae.steering import Steer
from helpers import assert_close, rng

TINY = GemmaConfig(vocab_size=40, hidden_size=16, num_layers=4, num_heads=4, num_kv_heads=2, head_dim=8,
                   intermediate_size=32, context_length=64, sliding_window=4, global_every=2)


def _sae(d: int = 16, m: int = 24) -> JumpReLUSAE:
    g = rng(5)
    return JumpReLUSAE(*(jnp.asarray(a, jnp.float32) for a in (g.normal(0, 0.3, (d, m)), g.normal(0, 0.1, m), g.normal(0, 1.0, (m, d)),
                                                                  np.zeros(d), g.uniform(0.01, 0.2, m))))


def _stack(steers):
    return Steer(*(jnp.stack(xs) for xs in zip(*steers)))


def test_steered_generation_matches_the_models_generate():
    model = random_gemma(TINY, seed=2)
    ids = jnp.asarray([[2, 7, 11, 5, 9]], jnp.int32)
    steers = [no_steer(16), make_steer(_sae(), 1, 3, 6.0)]  # additive = clamp algebra: sae.steer_hook_is_clamp
    masks = jnp.ones((2, TINY.num_layers, TINY.num_heads))
    keys = jnp.stack([jax.random.PRNGKey(0)] * 2)
    ours = gemma_steered_generate(model, jnp.concatenate([ids, ids]), _stack(steers), keys, masks, 1e-6, new=8)
    for row, st in zip(ours, steers):
        ref = generate(model, np.asarray(ids), 8, greedy=True, residual_hook=_skip_bos(residual_hook(st)))
        assert np.array_equal(row, ref[0]), (row, ref)
    assert not np.array_equal(ours[0], ours[1])  # steering changed the continuation
    # the hook itself: a prefill block keeps BOS (position 0) and edits the rest; a decode step is edited
    h = jnp.asarray(rng(3).normal(size=(2, 5, 16)), jnp.float32)
    edit = _row_hook((_stack(steers), None), 1, h)
    assert np.array_equal(edit[:, 0], h[:, 0]) and np.array_equal(edit[0], h[0]) and not np.allclose(edit[1, 1:], h[1, 1:])
    step = _row_hook((_stack(steers), None), 1, h[:, :1])
    assert not np.allclose(step[1], h[1, :1])


def _skip_bos(hook):
    """The reference: steer every position but BOS (position 0 of the prefill block)."""
    return lambda layer, h: hook(layer, h).at[:, 0].set(h[:, 0]) if h.shape[1] > 1 else hook(layer, h)


def test_banned_tokens_never_sampled_and_rows_stop_at_eos():
    model = random_gemma(TINY, seed=2)
    ids = jnp.asarray([[2, 7, 11, 5, 9]] * 8, jnp.int32)
    keys = jnp.stack([jax.random.PRNGKey(i) for i in range(8)])
    masks = jnp.ones((8, TINY.num_layers, TINY.num_heads))
    free = gemma_steered_generate(model, ids, _stack([no_steer(16)] * 8), keys, masks, 5.0, new=12)
    banned = np.unique(free)[:5]  # tokens the unbanned sampler does emit
    bias = np.zeros(TINY.vocab_size, np.float32)
    bias[banned] = -np.inf
    out = gemma_steered_generate(model, ids, _stack([no_steer(16)] * 8), keys, masks, 5.0, new=12, logit_bias=bias)
    assert not np.isin(out, banned).any()
    assert until_eos([5, 9, 1, 7, 106], (1, 106)) == [5, 9] and until_eos([5, 9], (1,)) == [5, 9]
    with pytest.raises(ValueError, match="logit_bias"):
        generate_batch(model, ids, 2, logit_bias=np.zeros(3))


def test_head_mask_ablates_and_head_shares_add_up():
    model = random_gemma(TINY, seed=3)
    ids = jnp.asarray([[2, 4, 6, 8, 10, 12]], jnp.int32)
    out = gemma_forward(model, ids, return_hidden=True)
    shares = np.asarray(gemma_head_contributions(model.params, ids, cfg=TINY, upto=2))
    for layer in range(3):
        assert_close(shares[layer].sum(2), np.asarray(out.attn_outputs[layer]), rtol=1e-4, atol=1e-5, what=f"layer {layer}")
    assert_close(gemma_residuals(model.params, ids, cfg=TINY, layers=(0, 3)), np.stack([out.residuals[0], out.residuals[3]]), rtol=1e-5, atol=1e-5)
    keys = jnp.stack([jax.random.PRNGKey(0)] * 2)
    mask = np.ones((2, TINY.num_layers, TINY.num_heads), np.float32)
    mask[1, :, :] = 0.0  # every head off
    gen = gemma_steered_generate(model, jnp.concatenate([ids, ids]), _stack([no_steer(16)] * 2), keys, jnp.asarray(mask), 1e-6, new=4)
    assert not np.array_equal(gen[0], gen[1])


def _shift(args, layer, h):
    return h + jnp.where(layer == 0, args[:, None, None], 0.0).astype(h.dtype)


def test_generate_batch_bad_input_is_named():
    model = random_gemma(TINY, seed=4)
    ids = jnp.asarray(rng(1).integers(0, TINY.vocab_size, (3, 5)), jnp.int32)
    with pytest.raises(ValueError, match="prompt_ids"):
        generate_batch(model, ids[0], 4)
    with pytest.raises(ValueError, match="keys"):
        generate_batch(model, ids, 4, keys=jnp.zeros((2, 2), jnp.uint32))
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate_batch(model, ids, 0)
    with pytest.raises(ValueError, match="temperature"):
        generate_batch(model, ids, 2, temperature=0.0)


@pytest.mark.slow
def test_generate_batch_equals_generate_row_by_row():
    model = random_gemma(TINY, seed=4)
    ids = jnp.asarray(rng(1).integers(0, TINY.vocab_size, (3, 5)), jnp.int32)
    greedy = generate_batch(model, ids, 6, greedy=True)
    assert np.array_equal(greedy, generate(model, np.asarray(ids), 6, jit=False))
    shifts = jnp.asarray([0.0, 3.0, -3.0], jnp.float32)
    steered = generate_batch(model, ids, 6, greedy=True, hook=_shift, hook_args=shifts)
    for b in range(3):  # per-row traced hook parameters = the static hook of generate
        hook = lambda layer, h, c=float(shifts[b]): h + (c if layer == 0 else 0.0)  # noqa: E731
        assert np.array_equal(steered[b], generate(model, np.asarray(ids[b]), 6, residual_hook=hook, jit=False))
    keys = jnp.stack([jax.random.PRNGKey(7)] * 3)
    same = generate_batch(model, jnp.stack([ids[0]] * 3), 6, temperature=1.0, keys=keys, hook=_shift, hook_args=shifts * 0)
    assert (same == same[0]).all()  # equal keys: equal sampling noise
