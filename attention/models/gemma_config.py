r"""The Gemma 3 architecture: which numbers come from the GGUF file and which from the published config.

A GGUF written by llama.cpp's ``convert_hf_to_gguf.py`` for ``general.architecture = gemma3`` stores
the widths, the layer count, the head counts, the RMSNorm epsilon, the context length, the sliding
window and *one* RoPE base (``gemma3.rope.freq_base``, the global layers' $\theta$). It does **not**
store, and these come from Gemma 3's published configuration (the Hugging Face ``config.json`` of
``google/gemma-3-270m`` / ``Gemma3TextConfig``, which llama.cpp hard-codes for ``LLM_ARCH_GEMMA3``
in ``llama-model.cpp``):

- the local (sliding-window) layers' RoPE base, ``rope_local_base_freq = 10 000``;
- which layers are global: ``sliding_window_pattern = 6``, layer $\ell$ (0-based) is global iff
  $(\ell + 1) \bmod 6 = 0$ (layers 5, 11, 17 of 18);
- the query scaling $1/\sqrt{\text{query\_pre\_attn\_scalar}}$ with ``query_pre_attn_scalar = 256``
  $= d_h$ for the 270M model;
- soft-capping: ``attn_logit_softcapping = final_logit_softcapping = None`` in Gemma 3 (Gemma 2
  capped at 50 / 30; Gemma 3 replaced capping by the q/k norms).

The ``reference`` test (``tests/test_gemma_real.py``) checks these against transformers' GGUF loader.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .bert_load import ModelLoadError

__all__ = ["GemmaConfig", "gemma_config_from_gguf"]

# Published Gemma 3 constants not stored in the GGUF (source: google/gemma-3-270m config.json,
# Gemma3TextConfig defaults; llama.cpp LLM_ARCH_GEMMA3 hard-codes the same values).
ROPE_LOCAL_BASE = 10_000.0          # rope_local_base_freq
GLOBAL_EVERY = 6                    # sliding_window_pattern: 5 local layers, then 1 global
QUERY_PRE_ATTN_SCALAR = 256         # query_pre_attn_scalar (= head_dim for 270M)


@dataclasses.dataclass(frozen=True)
class GemmaConfig:
    r"""Gemma 3 decoder hyper-parameters (hashable: a static argument of ``jit``).

    ``vocab_size`` $V$, ``hidden_size`` $D$, ``num_layers`` $L$, ``num_heads`` $H$,
    ``num_kv_heads`` $H_{kv}$ (GQA: query head $h$ reads key/value head $\lfloor h H_{kv}/H \rfloor$),
    ``head_dim`` $d_h$, ``intermediate_size`` $F$, ``rms_eps`` $\epsilon$, ``context_length``,
    ``sliding_window`` $W$ (a local query at $i$ sees keys $j$ with $0 \le i - j < W$),
    ``rope_global_base`` / ``rope_local_base`` ($\theta$ of global / local layers), ``global_every``
    (layer $\ell$ is global iff $(\ell+1) \bmod$ ``global_every`` $= 0$), ``query_scale``
    (multiplies $q k^\top$), ``attn_softcap`` / ``final_softcap`` ($c \tanh(x/c)$ when not None).
    """

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    rms_eps: float = 1e-6
    context_length: int = 32768
    sliding_window: int = 512
    rope_global_base: float = 1_000_000.0
    rope_local_base: float = ROPE_LOCAL_BASE
    global_every: int = GLOBAL_EVERY
    query_scale: float = 1.0 / math.sqrt(QUERY_PRE_ATTN_SCALAR)
    attn_softcap: float | None = None
    final_softcap: float | None = None

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "num_kv_heads", "head_dim",
                     "intermediate_size", "context_length", "sliding_window", "global_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"GemmaConfig.{name} must be a positive int, got {v!r}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"GemmaConfig.num_heads ({self.num_heads}) must be a multiple of num_kv_heads "
                             f"({self.num_kv_heads})")
        if self.head_dim % 2:
            raise ValueError(f"GemmaConfig.head_dim must be even for RoPE, got {self.head_dim}")

    def is_global(self, layer: int) -> bool:
        """Whether layer ``layer`` (0-based) attends globally (else: sliding window, local RoPE base)."""
        return (layer + 1) % self.global_every == 0

    def rope_base(self, layer: int) -> float:
        """The RoPE base $\\theta$ of layer ``layer``."""
        return self.rope_global_base if self.is_global(layer) else self.rope_local_base


def gemma_config_from_gguf(meta: dict[str, Any], source: str = "GGUF") -> GemmaConfig:
    """Build a :class:`GemmaConfig` from GGUF metadata (``general.architecture == 'gemma3'``), taking
    the module-level published constants for what the file does not store.

    **Raises:** :class:`ModelLoadError` naming ``source`` for another architecture or a missing key.
    """
    arch = meta.get("general.architecture")
    if arch != "gemma3":
        raise ModelLoadError(f"{source}: general.architecture is {arch!r}; only 'gemma3' is supported")

    def get(key: str) -> Any:
        if f"gemma3.{key}" not in meta:
            raise ModelLoadError(f"{source}: metadata key 'gemma3.{key}' is missing")
        return meta[f"gemma3.{key}"]

    heads, dk, dv = int(get("attention.head_count")), int(get("attention.key_length")), int(get("attention.value_length"))
    if dk != dv:
        raise ModelLoadError(f"{source}: key_length {dk} != value_length {dv} is not supported")
    layers = int(get("block_count"))
    # Newer llama.cpp conversions may store the local base and the layer pattern; use them when present.
    local_base = float(meta.get("gemma3.rope.freq_base_swa", ROPE_LOCAL_BASE))
    pattern = meta.get("gemma3.attention.sliding_window_pattern", GLOBAL_EVERY)
    if isinstance(pattern, list):  # per layer: True = sliding window
        every = next((n for n in range(1, layers + 1)
                      if [(i + 1) % n != 0 for i in range(layers)] == [bool(b) for b in pattern]), None)
        if every is None:
            raise ModelLoadError(f"{source}: sliding_window_pattern {pattern} is not 'every n-th layer global'")
        pattern = every
    if "tokenizer.ggml.tokens" not in meta:
        raise ModelLoadError(f"{source}: metadata key 'tokenizer.ggml.tokens' is missing (the vocabulary)")
    return GemmaConfig(
        vocab_size=len(meta["tokenizer.ggml.tokens"]), hidden_size=int(get("embedding_length")),
        num_layers=layers, num_heads=heads, num_kv_heads=int(get("attention.head_count_kv")),
        head_dim=dk, intermediate_size=int(get("feed_forward_length")),
        rms_eps=float(get("attention.layer_norm_rms_epsilon")), context_length=int(get("context_length")),
        sliding_window=int(get("attention.sliding_window")), rope_global_base=float(get("rope.freq_base")),
        rope_local_base=local_base, global_every=int(pattern),
    )
