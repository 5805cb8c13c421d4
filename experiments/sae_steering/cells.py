"""The two small pieces the Gemma track and its head-ablation cells share: one steering configuration
(a *cell*) and the prompt's token ids with exactly one BOS. Kept apart so that
:mod:`~attnverify.experiments.sae_steering.gemma_track` and
:mod:`~attnverify.experiments.sae_steering.gemma_heads` need not import each other.
"""

from __future__ import annotations

__all__ = ["cell", "prompt_ids"]


def prompt_ids(model, text: str) -> list[int]:
    """Token ids with exactly one leading BOS (the GGUF tokenizer prepends it)."""
    ids = model.tokenizer.encode(text).ids
    return ids if ids and ids[0] == model.bos_id else [model.bos_id] + ids


def cell(target, layer, feature, kappa, mode="clamp", mask=None) -> dict:
    """One configuration: ``target`` None is the unsteered model."""
    return {"target": target, "layer": layer, "feature": feature, "kappa": kappa, "mode": mode, "mask": mask}
