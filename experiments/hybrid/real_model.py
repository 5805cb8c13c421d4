r"""Gemma 3 270M with a few attention layers converted into hybrid SWA + LA, on real text.

1. **Data.** Python standard-library docstrings (:func:`attention.data.stdlib_docstrings`), tokenised by
   the model's tokenizer into one stream and cut into consecutive chunks of $T-1$ tokens, each after
   ``<bos>``; the first ``n_train`` chunks train, the next ``n_eval`` are held out. The SHA-256 of the
   docstrings consumed is recorded.
2. **Conversion.** The model runs once over the training chunks; the converted layers' $q,k,v$ and
   per-head outputs are cached; stage-1 attention transfer (:mod:`attention.hybrid.gemma_convert`) in two
   arms: ``mse`` (LoLCATs output transfer) and ``xent`` (Hedgehog weight transfer). No LoRA stage.
3. **Evaluation** on the held-out chunks, by query position $n$ in buckets $[0,w),[w,2w),[2w,4w),\dots$:
   (a) $r_n$ of each converted layer (the spec's linear-mass fraction, on the layer's teacher inputs,
   mean over heads); (b) next-token (arg-max) agreement with the original model when every converted
   layer runs the hybrid, SWA-only or LA-only (``la_full``), at every ``stride``-th position (the tied
   unembedding is read there only).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from typing import Any

import jax.numpy as jnp
import numpy as np

from attnverify import proofs_numeric as pn
from attnverify.attention.hybrid.gemma_convert import (ConvertConfig, collect_activations, convert_layers, embed, layer_r,
                                            next_token_argmax, run_blocks)

__all__ = ["RealProtocol", "REAL_PROTOCOLS", "gemma_text", "position_buckets", "run_real", "VARIANTS"]

#: evaluated variants: (arm, component); SWA-only has no trained parameter, so it is shared by the arms
VARIANTS = (("mse", "swa"), ("mse", "hybrid"), ("mse", "la_full"), ("xent", "hybrid"), ("xent", "la_full"))
_CHOICES = ("swa", "hybrid", "la_full")


@dataclasses.dataclass(frozen=True)
class RealProtocol:
    name: str
    convert: ConvertConfig
    length: int = 256
    n_train: int = 24
    n_eval: int = 32
    stride: int = 4
    batch: int = 4
    model: str = "gemma3-270m"  #: or "tiny-random" (code path only)

    def to_dict(self) -> dict:
        return {**{k: v for k, v in dataclasses.asdict(self).items() if k != "convert"},
                "convert": dataclasses.asdict(self.convert)}


REAL_PROTOCOLS = {
    "full": RealProtocol("full", ConvertConfig(layers=(11, 14, 17), window=64, d_prime=64, steps=150, batch=4), n_train=32),
    "quick": RealProtocol("quick", ConvertConfig(layers=(0, 1), window=8, d_prime=4, steps=4, batch=2), length=32,
                          n_train=4, n_eval=4, stride=2, batch=2, model="tiny-random"),
}


def gemma_text(model: Any, count: int, length: int, skip: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Chunks ``skip .. skip+count-1`` of the docstring stream, ``[count, length]`` int32 with ``<bos>`` first,
    and their provenance (SHA-256 of the docstrings consumed up to the last chunk, counts, Python version)."""
    import platform

    from attnverify.attention.data import stdlib_docstrings

    body, need = length - 1, (skip + count) * (length - 1)
    stream, texts = [], []
    for _, doc in stdlib_docstrings():
        texts.append(doc)
        stream.extend(model.tokenizer.encode(doc + "\n\n", add_special_tokens=False).ids)
        if len(stream) >= need:
            break
    if len(stream) < need:
        raise ValueError(f"the docstring corpus has {len(stream)} tokens, {need} needed (count={count}, skip={skip})")
    chunks = np.asarray(stream[skip * body:need], np.int32).reshape(count, body)
    ids = np.concatenate([np.full((count, 1), model.bos_id, np.int32), chunks], 1)
    sha = hashlib.sha256("\n\n".join(texts).encode("utf-8")).hexdigest()
    return ids, {"source": "python-stdlib-docstrings", "sha256_docstrings": sha, "docstrings": len(texts),
                 "chunks": [skip, skip + count], "python": platform.python_version()}


def position_buckets(window: int, length: int) -> list[tuple[int, int]]:
    """Query-position buckets $[0,w),[w,2w),[2w,4w),\\dots$ (clipped to $T$)."""
    edges, e = [0], window
    while e < length:
        edges.append(e)
        e *= 2
    edges.append(length)
    return list(zip(edges[:-1], edges[1:]))


def _model(p: RealProtocol):
    if p.model == "gemma3-270m":
        from attnverify.attention import load_gemma
        return load_gemma()
    from attnverify.attention import GemmaConfig, random_gemma
    cfg = GemmaConfig(vocab_size=64, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=8,
                      intermediate_size=64, context_length=p.length, sliding_window=p.length, global_every=2,
                      query_scale=8 ** -0.5)
    return random_gemma(cfg, seed=0)


def _data(model, p: RealProtocol):
    if p.model == "gemma3-270m":
        return gemma_text(model, p.n_train, p.length), gemma_text(model, p.n_eval, p.length, skip=p.n_train)
    rng = np.random.default_rng(5)
    ids = lambda n: rng.integers(0, model.config.vocab_size, (n, p.length)).astype(np.int32)  # noqa: E731
    return (ids(p.n_train), {"source": "random ids (quick)"}), (ids(p.n_eval), {"source": "random ids (quick)"})


def _bucket_means(x: np.ndarray, positions: np.ndarray, buckets) -> dict[str, list[float]]:
    """Per-sequence means of ``x`` ``[N, P]`` within each position bucket."""
    return {f"[{a},{b})": x[:, (positions >= a) & (positions < b)].mean(1).tolist() for a, b in buckets
            if ((positions >= a) & (positions < b)).any()}


def run_real(p: RealProtocol) -> dict[str, Any]:
    """Convert, evaluate; a JSON-serialisable result (per-sequence figures, so intervals can be recomputed)."""
    t0, c0 = time.perf_counter(), time.process_time()
    model = _model(p)
    cfg, conv = model.config, p.convert
    (train_ids, train_rec), (eval_ids, eval_rec) = _data(model, p)
    acts = collect_activations(model, train_ids, conv.layers, p.batch, desc="collect (train)")
    arms, hist = {}, {}
    for arm in ("mse", "xent"):
        arms[arm], h = convert_layers(acts, cfg, conv, objective=arm)
        hist[arm] = {"loss": h["loss"], "gamma": h["gamma"]}
    del acts
    t_train = time.perf_counter() - t0
    first, L = min(conv.layers), cfg.num_layers
    positions = np.arange(0, p.length, p.stride)
    pos = jnp.asarray(positions)
    agree = {f"{a}/{c}": [] for a, c in VARIANTS}
    held = {l: {x: [] for x in "qkv"} for l in conv.layers}
    for i in pn.progress(range(0, p.n_eval, p.batch), desc="evaluate (held-out)"):
        h0 = embed(model, eval_ids[i:i + p.batch])
        if first > 0:
            h0, _ = run_blocks(model.params, h0, {}, cfg=cfg, start=0, stop=first)
        h, store = run_blocks(model.params, h0, {}, cfg=cfg, start=first, stop=L, capture=tuple(sorted(conv.layers)))
        base = np.asarray(next_token_argmax(model.params, h, pos, cfg=cfg))
        for l in conv.layers:
            for name, a in zip("qkv", store[l]):
                held[l][name].append(np.asarray(a, np.float32))
        for arm, comp in VARIANTS:  # one compiled program for every variant: the component is a traced index
            hv, _ = run_blocks(model.params, h0, arms[arm], cfg=cfg, start=first, stop=L, which=jnp.int32(_CHOICES.index(comp)),
                               components=tuple((l, _CHOICES) for l in sorted(conv.layers)), settings=conv.settings)
            agree[f"{arm}/{comp}"].append(np.asarray(next_token_argmax(model.params, hv, pos, cfg=cfg)) == base)
    buckets = position_buckets(conv.window, p.length)
    agreement = {k: _bucket_means(np.concatenate(v).astype(float), positions, buckets) for k, v in agree.items()}
    beyond = positions >= conv.window
    agreement_beyond = {k: np.concatenate(v)[:, beyond].mean(1).tolist() for k, v in agree.items()}
    r = {}
    for arm in arms:
        r[arm] = {}
        for l in conv.layers:
            rl = layer_r({x: np.concatenate(held[l][x]) for x in "qkv"}, arms[arm][str(l)], cfg, conv.settings, p.batch)
            r[arm][str(l)] = _bucket_means(rl.mean(1), np.arange(p.length), buckets)
    return {"protocol": p.to_dict(), "model": {"name": p.model, "sha256": getattr(model, "sha256", None),
                                               "layers": L, "global_layers": [l for l in range(L) if cfg.is_global(l)]},
            "data": {"train": train_rec, "eval": eval_rec}, "buckets": [f"[{a},{b})" for a, b in buckets],
            "scored_positions": positions.tolist(), "training": hist, "agreement": agreement,
            "agreement_beyond_window": agreement_beyond, "r_buckets": r,
            "seconds": {"convert": t_train, "total": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                        "loadavg_end": list(os.getloadavg())}}
