r"""OBCache on MiniLM with independent units: one prompt per standard-library file, per-host decisions, placebos.

A review on 2026-12-07 re-examined ``obcache.output_aware_beats_attention_minilm``: its 8 sequences were consecutive chunks
of 4 files, the verdict averaged over the hosts although the hosts disagree (H2O better, TOVA worse), and a
score with no values and no logits, $\sum_{i\in\mathcal W}a_{ip}^2$, passed the same test more strongly. This
protocol, stated before its run (2026-12-07, 18:55 UTC), replaces it:

* **units**: :func:`attention.data.file_chunks`, the first 510 docstring tokens of each of 16 files evenly
  spaced over the 124 eligible standard-library files (one file, one unit), 448 prompt + 64 future tokens,
  MiniLM-L6 causal, all 72 heads averaged per file;
* **effect, per host** (H2O, TOVA, SnapKV): mean over budgets 5-40 % and the key and joint scores of
  $\log(e_{\text{host}+S}/e_{\text{host}+S^A})$, future-query relative error; Student-$t$ over the 16 files;
* **placebo, per host**: the same with the score $S^{a^2}_p=\sum_ia_{ip}^2$ (``sq-attn``) in place of $S^K,S^{VK}$;
* **rank claim** (C7, C13): per file, the mean over heads of top-10 % recall of $E^{\rm rm}$ by
  $\min(S^K,S^{VK})$, against 0.8, and its paired difference with the plain accumulated attention $S^A$
  (and with $S^{a^2}$), which must lie above 0.

Run: ``attnverify experiment kv-eviction-files --out results/kv-eviction-files``, then ``attnverify promote
results/kv-eviction-files/files_minilm.json experiments/kv_eviction/reference_files/files_minilm.json``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from attnverify import proofs_numeric as pn
from attnverify.attention.kv.eviction import AccumulatedAttention, OBCacheJoint, OBCacheKey

from .core import BUDGETS, HOSTS, SquaredAttention, evaluate_policies, host_log_ratios, keep_all_error, rank_agreement_per_head

__all__ = ["SquaredAttention", "HOSTS", "FILES_PROTOCOL", "minilm_file_qkv", "per_file", "run_files", "kv_files_experiment"]

FILES_PROTOCOL = {"n": 448, "f": 64, "files": 16}
FILES_QUICK = {"n": 224, "f": 32, "files": 2}
LAYERS_HEADS = (6, 12)


def minilm_file_qkv(n_tokens: int, count: int) -> tuple[tuple[np.ndarray, ...], tuple[str, ...], int]:
    """MiniLM-L6 causal ``q, k, v`` [layers*files*heads, n_tokens, d_h] (layer-major) of one chunk per file,
    the files and how many were eligible."""
    from attnverify import attention
    from attnverify.attention.data import file_chunks

    model = attention.load_bert()
    fc = file_chunks(model, n_tokens, count)
    out = attention.bert_forward(model, fc.input_ids, causal=True)
    qkv = tuple(np.asarray(x, np.float64).reshape((-1,) + x.shape[-2:]) for x in (out.q, out.k, out.v))
    return qkv, fc.files, fc.eligible


def per_file(per_head: Any, files: int) -> np.ndarray:
    """Mean over layers and heads per file of a per-head array laid out ``[layers, files, heads]``."""
    return np.asarray(per_head, np.float64).reshape(LAYERS_HEADS[0], files, -1).mean(axis=(0, 2))


def run_files(n: int, f: int, files: int) -> dict[str, Any]:
    """Per-head log error ratios per host (OBCache and the placebo) and top-10 % recalls of every score."""
    t0 = time.perf_counter()
    (q, k, v), names, eligible = minilm_file_qkv(n + f, files)
    errors, _ = evaluate_policies(q, k, v, n, BUDGETS, desc="kv-eviction-files",
                                  scores=(AccumulatedAttention, OBCacheKey, OBCacheJoint, SquaredAttention), window=False)
    recall = {s: r["recall@10%"].tolist() for s, r in rank_agreement_per_head(q, k, v, n, (0.10,)).items()}
    return {
        "protocol": {"n_prompt": n, "n_future": f, "files": files, "budgets": list(BUDGETS), "layers_heads": list(LAYERS_HEADS),
                     "corpus": "attention.data.file_chunks (first 510 docstring tokens of evenly spaced stdlib files)"},
        "files": list(names), "eligible_files": eligible, "heads": int(q.shape[0]), "keep_all_error": keep_all_error(q, k, v, n),
        "log_ratio_per_head": host_log_ratios(errors),
        "errors_mean": {p: e.mean(1).tolist() for p, e in errors.items()},
        "recall10_per_head": recall, "seconds": time.perf_counter() - t0,
    }


@pn.experiment("kv-eviction-files", help="OBCache vs accumulated attention on MiniLM, one prompt per stdlib file: per-host effects and placebos")
def kv_files_experiment(out_dir: Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Run the protocol of the module docstring (quick: 2 files of 224 + 32 tokens); write ``files_minilm.json``."""
    pr = FILES_QUICK if quick else FILES_PROTOCOL
    res = {"quick": quick, "seed": seed, **run_files(pr["n"], pr["f"], pr["files"])}
    path = pn.atomic_write_json(Path(out_dir) / "files_minilm.json", res)
    return {"files": [str(path)], "seconds": res["seconds"]}
