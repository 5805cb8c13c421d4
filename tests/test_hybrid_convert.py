"""The Gemma extension point of issue 15 §3: a hybrid attention override on a tiny random Gemma 3.
With w >= T the converted layer is exactly the model's softmax attention (C2 at the hook); a short
window changes it; a KV-cached call is refused."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnverify.attention import GemmaConfig, gemma_forward, random_gemma
from attnverify.attention.hybrid import HybridSettings, hedgehog_init, hybrid_override
from helpers import assert_close, rng

TINY = GemmaConfig(vocab_size=40, hidden_size=16, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=8,
                   intermediate_size=32, context_length=48, sliding_window=3, rope_global_base=1000.0,
                   rope_local_base=10.0, global_every=2, query_scale=8 ** -0.5)


def _override(window: int, component: str = "hybrid"):
    keys = jax.random.split(jax.random.PRNGKey(0), 6)
    fq = jnp.stack([hedgehog_init(k, 8, 4) for k in keys[:4]])
    fk = jnp.stack([hedgehog_init(k, 8, 4) for k in keys[4:]])
    return hybrid_override(fq, fk, jnp.full(4, 0.7), HybridSettings(window=window), component)


def test_full_window_override_is_the_softmax_layer_and_a_short_window_is_not():
    model = random_gemma(TINY, seed=1, dtype=jnp.float64)
    ids = rng(0).integers(0, 40, (2, 12)).astype(np.int32)
    layer = next(l for l in range(TINY.num_layers) if TINY.is_global(l))
    base = gemma_forward(model, ids, jit=False).logits
    assert_close(gemma_forward(model, ids, attention_override={layer: _override(12)}, jit=False).logits, base, rtol=1e-10, atol=1e-12)
    short = gemma_forward(model, ids, attention_override={layer: _override(2)}, jit=False).logits
    assert float(jnp.max(jnp.abs(short - base))) > 1e-6


def test_override_rejects_bad_weights_and_components():
    with pytest.raises(ValueError, match="component"):
        hybrid_override(jnp.zeros((4, 8, 4)), jnp.zeros((2, 8, 4)), jnp.zeros(4), component="la_region")
    with pytest.raises(ValueError, match="feat_q"):
        hybrid_override(jnp.zeros((4, 8, 4)), jnp.zeros((3, 8, 4)), jnp.zeros(4))
