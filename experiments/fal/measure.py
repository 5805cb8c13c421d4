r"""Measurements of the FAL study beyond training: C10 on the trained baseline, C8 step times,
tensor-parallel checks of the real training step (C3, C4, C5).

Per-seed effects of C10 (one value per trained baseline, the unit of independence):

* (a) $\overline{\mathrm{CKA}}(U_i,U_j)-\overline{\mathrm{CKA}}(A_i,A_j)$, means over block pairs $i<j$;
* (b) $\log\big(\|\partial\mathcal L/\partial A_1\|_F/\max_{i>1}\|\partial\mathcal L/\partial A_i\|_F\big)$;
* (c) $\Delta\mathrm{NLL}_1-\max_{i>1}\Delta\mathrm{NLL}_i$ (zeroing $A_i$ at evaluation);

and the same at initialisation (:func:`c10_initial`), because (a) and (b) are already positive on
untrained models: their claims decide trained $-$ initial per seed.

C8: single-device step time of FAL and the baseline in interleaved blocks (baseline, FAL,
baseline, ...; the median of each block); the effect per block pair is $\log(t_{\rm base}/t_{\rm FAL})$.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from attnverify import proofs_numeric as pn
from attnverify.attention.fal import CharCorpus, TrainProtocol, gpt_init, make_optimizer, make_train_step, train_batch, val_windows
from attnverify.attention.fal.analysis import attention_grad_norms, cka_matrices, primacy_ablation
from attnverify.attention.fal.comm_model import measure_step_time
from attnverify.attention.fal.tp_step import STEP_VARIANTS, call_with_devices

from .training import BASELINE_NPZ, load_params, protocol_record


def _c10_of(p: Any, windows: np.ndarray, cfg, seed: int) -> dict[str, Any]:
    """C10 (a)-(c) of one baseline GPT ``p`` (no seed axis) on ``windows``."""
    iu = np.triu_indices(cfg.blocks.n_blocks, 1)
    cka = cka_matrices(p, windows, cfg)
    g = attention_grad_norms(p, windows, cfg)
    ab = primacy_ablation(p, windows, cfg)
    return {"seed": seed, "cka_mlp_inputs": cka["mlp_inputs"].tolist(), "cka_attn": cka["attn"].tolist(),
            "grad_norms": g.tolist(), "ablation_delta_nll": ab["delta"].tolist(), "clean_nll": ab["clean"],
            "effect_a": float(cka["mlp_inputs"][iu].mean() - cka["attn"][iu].mean()),
            "effect_b": float(np.log(g[0] / g[1:].max())),
            "effect_c": float(ab["delta"][0] - ab["delta"][1:].max())}


def c10_analyses(out_dir: Path, protocol: TrainProtocol, corpus: CharCorpus, n_windows: int = 32) -> dict[str, Any]:
    """C10 (a)-(c) for every seed's trained baseline (read from ``baseline_params.npz``)."""
    cfg = protocol.gpt("baseline")
    like = jax.eval_shape(jax.vmap(lambda k: gpt_init(k, cfg)), jnp.stack([jax.random.PRNGKey(r) for r in protocol.seeds]))
    params = load_params(Path(out_dir) / BASELINE_NPZ, like)
    windows = val_windows(corpus, protocol, cfg.seq_len)[:n_windows]
    per_seed = [_c10_of(jax.tree.map(lambda a: jnp.asarray(a[s]), params), windows, cfg, protocol.seeds[s])
                for s in pn.progress(range(len(protocol.seeds)), desc="fal: C10 analyses")]
    return {"n_windows": n_windows, "per_seed": per_seed}


#: seed offset of the placebo initialisations: untrained models that are not the trained runs' starts
PLACEBO_SEED_OFFSET = 1000


def c10_initial(protocol: TrainProtocol, corpus: CharCorpus, n_windows: int = 32) -> dict[str, Any]:
    r"""C10 (a)-(c) of the *untrained* baselines: ``initial`` at each seed's own initialisation
    (the trained run's start, so trained $-$ initial is the effect of training) and ``placebo`` at seed
    $+$ :data:`PLACEBO_SEED_OFFSET` (a second untrained model: initial $-$ placebo is a difference where
    no training happened, the negative control)."""
    cfg = protocol.gpt("baseline")
    windows = val_windows(corpus, protocol, cfg.seq_len)[:n_windows]
    out: dict[str, Any] = {"n_windows": n_windows, "placebo_seed_offset": PLACEBO_SEED_OFFSET}
    for kind, offset in (("initial", 0), ("placebo", PLACEBO_SEED_OFFSET)):
        out[kind] = [_c10_of(gpt_init(jax.random.PRNGKey(r + offset), cfg), windows, cfg, r + offset)
                     for r in pn.progress(protocol.seeds, desc=f"fal: C10 {kind}")]
    return out


def count_model_nll(corpus: CharCorpus, protocol: TrainProtocol) -> dict[str, float]:
    r"""Validation NLL (nats/char) of add-one unigram and bigram count models fitted on the training
    split: on the study's validation windows (what the GPTs are scored on) and on the whole
    validation split. A trained C9 model that does not beat the bigram has not learned beyond
    character pairs."""
    V = 128
    tr = corpus.train.astype(np.int64)
    uni = np.bincount(tr, minlength=V) + 1.0
    uni /= uni.sum()
    big = np.bincount(tr[:-1] * V + tr[1:], minlength=V * V).reshape(V, V) + 1.0
    big /= big.sum(1, keepdims=True)
    w = val_windows(corpus, protocol, protocol.seq_len)
    x, y = w[:, :-1].ravel().astype(np.int64), w[:, 1:].ravel().astype(np.int64)
    va = corpus.val.astype(np.int64)
    return {"unigram_windows": float(-np.log(uni[y]).mean()), "bigram_windows": float(-np.log(big[x, y]).mean()),
            "unigram_val_split": float(-np.log(uni[va[1:]]).mean()), "bigram_val_split": float(-np.log(big[va[:-1], va[1:]]).mean())}


def c8_timing(protocol: TrainProtocol, corpus: CharCorpus, blocks: int = 5, steps_per_block: int = 4) -> dict[str, Any]:
    """Interleaved single-device step times (s) of the baseline and FAL at the protocol's shape, batch of one seed."""
    opt = make_optimizer(protocol)
    batch = jnp.asarray(train_batch(corpus, protocol, protocol.seq_len, protocol.seeds[0], 0))
    runs = {}
    for name in ("baseline", "fal"):
        cfg = protocol.gpt(name)
        params = gpt_init(jax.random.PRNGKey(protocol.seeds[0]), cfg)
        runs[name] = [jax.jit(make_train_step(cfg, opt)), (params, opt.init(params), batch)]
    medians: dict[str, list[float]] = {"baseline": [], "fal": []}
    for _ in pn.progress(range(blocks), desc="fal: C8 timing"):
        for name, (step, args) in runs.items():
            medians[name].append(measure_step_time(step, args, n_steps=steps_per_block, warmup=1)["median_s"])
    ratio = [f / b for f, b in zip(medians["fal"], medians["baseline"])]
    return {"block_medians_s": medians, "ratio_fal_over_baseline": ratio, "median_ratio": float(np.median(ratio)),
            "effect_log_speedup": [float(np.log(b / f)) for f, b in zip(medians["fal"], medians["baseline"])],
            "steps_per_block": steps_per_block, "tokens_per_step": protocol.batch * protocol.seq_len}


def tp_checks(protocol: TrainProtocol, devices: int, quick: bool) -> dict[str, Any]:
    """All-reduces of the real step at p = 4 (every :data:`STEP_VARIANTS` entry) and p = 2 (baseline,
    FAL, FAL with one f per block), and sharded vs
    unsharded training losses; runs where ``devices`` JAX devices exist, else in one 4-device subprocess."""
    need = max(4, devices)
    # 4 heads at least, so that p = 4 splits them (the quick GPT has 2)
    small = protocol_record(protocol) | {"batch": 2, "steps": 3 if quick else 5, "seeds": [0], "n_heads": max(protocol.n_heads, 4)}
    names = list(STEP_VARIANTS if not quick else ("baseline", "fal", "fal_block_input"))
    cases = [["baseline", 4, "float32"], ["fal_block_input", 2, "float32"], ["fal", 4, "float64"]]
    tiny = small | {"n_blocks": 2, "d_model": 16, "d_mlp": 32, "seq_len": 16}  # compile-bound: a small GPT of the same code
    run = call_with_devices("attnverify.attention.fal.device_checks:study_device_checks",
                            dict(counted=small, trained=tiny, names=names, cases=cases[:1] if quick else cases), need)
    return {"counts": run["counts"], "counted_protocol": small, "losses": run["losses"], "loss_protocol": tiny}
