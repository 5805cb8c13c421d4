r"""A character-level GPT around the FAL block stack (spec ``fal.md`` C9, O7).

Tokens $t\in\{0..V-1\}^{B\times(T+1)}$; inputs $t_{:, :T}$, targets $t_{:, 1:}$. With the token
embedding $W_E\in\mathbb R^{V\times d}$ (tied: the unembedding is $W_E^\top$, GPT-2) and the learned
positions $W_P\in\mathbb R^{T\times d}$,

$$X_1=W_E[t_{:, :T}]+W_P,\qquad \text{logits}=\mathrm{LN}_f(X_{N+1})\,W_E^\top,\qquad
\mathcal L=-\tfrac1{BT}\sum_{b,s}\log\mathrm{softmax}(\text{logits}_{b,s})_{t_{b,s+1}}\ \text{(nats/char)},$$

where $X_{N+1}$ is :func:`~attention.fal.model.fal_forward` of the chosen variant. Initialisation
(O7): GPT-2's, $W_E\sim\mathcal N(0,0.02^2)$, $W_P\sim\mathcal N(0,0.01^2)$, blocks by
:func:`~attention.fal.model.fal_init` (residual projections $\times1/\sqrt{2N}$); no dropout.

The five C9 variants (:data:`VARIANTS`): ``baseline``, ``fal``, ``falplus_A`` (reading A, MLP
input), ``falplus_B`` (reading B, residual), ``no_connection`` (FAL with $\bar A_1\equiv0$: the
GPT-J parallel block; $\mathrm{LN}_A$ exists but receives no gradient).

Under tensor parallelism (``axis_name`` set, inside ``shard_map``) the embeddings, the final LN
and the loss are replicated; only the blocks are split (Megatron), so the all-reduces are the
block stack's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from attnverify.proofs_numeric.precision import check_int, is_concrete

from .model import FALConfig, check_config, check_params, fal_forward, fal_init, fal_param_specs

__all__ = ["GPTConfig", "VARIANTS", "gpt_config", "gpt_init", "gpt_logits", "gpt_nll", "gpt_param_specs"]

Params = dict[str, Any]

#: the C9 variants: name -> :class:`FALConfig` fields
VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": dict(variant="baseline"),
    "fal": dict(variant="fal"),
    "falplus_A": dict(variant="falplus", falplus="mlp_input"),
    "falplus_B": dict(variant="falplus", falplus="residual"),
    "no_connection": dict(variant="fal", zero_first_attention=True),
}


@dataclasses.dataclass(frozen=True)
class GPTConfig:
    """A GPT: the block stack ``blocks``, vocabulary size ``vocab`` and context ``seq_len`` (hashable)."""

    blocks: FALConfig
    vocab: int = 128
    seq_len: int = 128

    def __post_init__(self) -> None:
        check_config(self.blocks, FALConfig, "blocks")
        check_int(self.vocab, "vocab", minimum=2)
        check_int(self.seq_len, "seq_len", minimum=1)


def gpt_config(variant: str, *, n_blocks: int = 6, d_model: int = 128, n_heads: int = 4, d_mlp: int = 512,
               vocab: int = 128, seq_len: int = 128, **fal_fields: Any) -> GPTConfig:
    """The C9 configuration ($N=6$, $d=128$, 4 heads, MLP 512, $T=128$) of one of :data:`VARIANTS`;
    ``fal_fields`` override :class:`FALConfig` fields (e.g. ``f_placement="block_input"``)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    blocks = FALConfig(n_blocks, d_model, n_heads, d_mlp, **{**VARIANTS[variant], **fal_fields})
    return GPTConfig(blocks, vocab, seq_len)


def gpt_init(key: jax.Array, cfg: GPTConfig, dtype=jnp.float32) -> Params:
    """GPT-2 initialisation (O7): ``{"wte": [V, d], "wpe": [T, d], "stack": fal_init(...)}``."""
    check_config(cfg, GPTConfig, "cfg")
    k_e, k_p, k_s = jax.random.split(key, 3)
    d = cfg.blocks.d_model
    return {"wte": 0.02 * jax.random.normal(k_e, (cfg.vocab, d), dtype),
            "wpe": 0.01 * jax.random.normal(k_p, (cfg.seq_len, d), dtype),
            "stack": fal_init(k_s, cfg.blocks, dtype)}


def gpt_param_specs(params: Params, axis_name: str = "tp") -> Params:
    """``PartitionSpec`` pytree: embeddings replicated, the stack split as in :func:`fal_param_specs`."""
    check_params(params, "params", "wte", "wpe", "stack")
    rep = jax.sharding.PartitionSpec()
    return {"wte": rep, "wpe": rep, "stack": fal_param_specs(params["stack"], axis_name)}


def _check_tokens(tokens: jax.Array, cfg: GPTConfig, name: str = "tokens", extra: int = 0) -> None:
    """``tokens`` ``[B, T]`` integer ids in ``0..vocab-1`` (checked when concrete: an out-of-vocabulary id would
    gather a clamped row, another token's embedding), ``1 <= T <= seq_len + extra``."""
    check_config(cfg, GPTConfig, "cfg")
    if tokens.ndim != 2 or not jnp.issubdtype(tokens.dtype, jnp.integer):
        raise TypeError(f"{name} must be an integer array [B, T] of tokens, got {tokens.dtype}{tuple(tokens.shape)}")
    if tokens.shape[0] < 1 or not 1 + extra <= tokens.shape[1] <= cfg.seq_len + extra:
        raise ValueError(f"{name} has shape {tuple(tokens.shape)}; it needs B >= 1 rows of {1 + extra} to seq_len + {extra} = "
                         f"{cfg.seq_len + extra} positions")
    if is_concrete(tokens) and tokens.size:
        lo, hi = int(jnp.min(tokens)), int(jnp.max(tokens))
        if lo < 0 or hi >= cfg.vocab:
            raise ValueError(f"{name}: token id {lo if lo < 0 else hi} is outside the vocabulary 0..{cfg.vocab - 1}")


def gpt_logits(params: Params, tokens: jax.Array, cfg: GPTConfig, *, axis_name: str | None = None,
               attn_shift: list | None = None, capture: bool = False):
    r"""Logits ``[B, T, V]`` of ``tokens`` ``[B, T]``; with ``capture=True`` also the per-block
    MLP inputs and attention outputs $A_i$ (see :func:`fal_forward`; ``attn_shift`` adds to $A_i$)."""
    tokens = jnp.asarray(tokens)
    _check_tokens(tokens, cfg)
    check_params(params, "params", "wte", "wpe", "stack")
    x = params["wte"][tokens] + params["wpe"][: tokens.shape[1]][None]
    out = fal_forward(params["stack"], x, cfg.blocks, axis_name=axis_name, attn_shift=attn_shift, capture=capture)
    h, aux = out if capture else (out, None)
    logits = h @ params["wte"].T
    return (logits, aux) if capture else logits


def gpt_nll(params: Params, batch: jax.Array, cfg: GPTConfig, *, axis_name: str | None = None,
            attn_shift: list | None = None) -> jax.Array:
    r"""Mean next-character NLL (nats) of ``batch`` ``[B, T+1]``: inputs ``batch[:, :-1]``, targets ``batch[:, 1:]``."""
    batch = jnp.asarray(batch)
    _check_tokens(batch, cfg, "batch", extra=1)
    logits = gpt_logits(params, batch[:, :-1], cfg, axis_name=axis_name, attn_shift=attn_shift)
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, batch[:, 1:, None], axis=-1))
