r"""Every check of ``fal.md`` that needs several JAX devices, computed once per process.

Three claims need $p\le4$ devices: ``fal.sharded_equals_unsharded`` (C3 on the block stack),
``fal.training_step_allreduces`` and ``fal.sharded_training_equals_unsharded`` (C3-C5 on the real
AdamW step). ``attnverify verify`` has one device, so all three read :func:`device_checks`: **one**
subprocess with 4 emulated CPU devices (:func:`~attention.fal.tp_step.call_with_devices`) that
returns the raw measurements, cached per process (``functools.lru_cache``). Laws and budgets are
applied by the claims, in the calling process, so a wrong law still fails.

Compile time dominates, so the C3 check is **one** XLA program: for every (variant, dtype) pair the
sharded and the unsharded stack, each as one ``jax.vjp`` (output and the gradient of
$\sum y\odot r$ from a single forward), and the repeats reuse it.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .counts import tp_forward
from .model import FALConfig, fal_forward, fal_init
from .tp_step import STEP_VARIANTS, call_with_devices, sharded_loss_table, step_count_table

__all__ = ["random_params", "c3_variants", "sharded_errors", "STEP_PROTOCOL", "training_cases", "all_device_checks", "device_checks", "shared_seed",
           "study_device_checks"]

#: C3 block stack: N = 3 (two FAL blocks share A-bar_1), compile-bound so smaller than the spec's N = 4, d = 32
_TP = dict(n_blocks=3, d_model=16, n_heads=4, d_mlp=32)
_FP32_VARIANTS = ("baseline", "fal", "falplus_A")
_B, _T = 2, 8
#: the counted / trained GPT of the C9 family (counts depend on N only)
STEP_PROTOCOL = dict(n_blocks=3, d_model=16, n_heads=4, d_mlp=32, seq_len=8, batch=2, steps=3, warmup=1, seeds=[0])


def random_params(cfg: FALConfig, seed: int, dtype, weight_scale: float = 1.0) -> dict:
    r"""Random parameters of :func:`fal_init`'s structure, drawn with numpy (no per-op compilation):
    matrices as GPT-2's init, $\mathcal N(0,0.02^2)$ with $W_O,W_2$ scaled by $1/\sqrt{2N}$, times
    ``weight_scale``; LN gains $1+0.1\,\mathcal N(0,1)$, LN and MLP biases $0.1\,\mathcal N(0,1)$
    (so no gradient is trivially 0)."""
    shapes = jax.eval_shape(lambda: fal_init(jax.random.PRNGKey(0), cfg, dtype))
    rng = np.random.default_rng(seed)

    def draw(path, s):
        name = getattr(path[-1], "key", "")
        z = rng.standard_normal(s.shape)
        if len(s.shape) > 1:
            z = z * 0.02 * weight_scale / (np.sqrt(2 * cfg.n_blocks) if name in ("wo", "w2") else 1.0)
        else:
            z = (1.0 if name.endswith("_g") else 0.0) + 0.1 * z
        return jnp.asarray(z, dtype)

    return jax.tree_util.tree_map_with_path(draw, shapes)


def c3_variants(n_blocks: int = _TP["n_blocks"]) -> list[tuple[str, FALConfig]]:
    """The C3 variants: baseline, FAL in its three f placements, FAL+ A and B."""
    tp = _TP | {"n_blocks": n_blocks}
    return [("baseline", FALConfig(**tp, variant="baseline")), ("fal", FALConfig(**tp, variant="fal")),
            ("fal_block_input", FALConfig(**tp, variant="fal", f_placement="block_input")),
            ("fal_shared_ln_output", FALConfig(**tp, variant="fal", shared_ln=True, f_placement="ln_output")),
            ("falplus_A", FALConfig(**tp, variant="falplus")), ("falplus_B", FALConfig(**tp, variant="falplus", falplus="residual"))]


@functools.partial(jax.jit, static_argnames=("cfgs", "mesh"))
def _sharded_and_reference(params_list, xs, rs, cfgs: tuple[FALConfig, ...], mesh):
    """Per config: (sharded output, its vjp at r, unsharded output, its vjp at r), all in one program."""
    out = []
    for params, x, r, cfg in zip(params_list, xs, rs, cfgs):
        ys, vjp_s = jax.vjp(lambda p, x, cfg=cfg: tp_forward(p, x, cfg, mesh), params, x)
        yu, vjp_u = jax.vjp(lambda p, x, cfg=cfg: fal_forward(p, x, cfg), params, x)
        out.append((ys, vjp_s(r), yu, vjp_u(r)))
    return out


def sharded_errors(seed: int, repeats: int, only: tuple[str, ...] | None = None) -> dict:
    """Max abs output error and max per-leaf relative gradient error of the ``shard_map`` run on
    4 devices against the unsharded run, per variant and dtype (needs >= 4 JAX devices).
    float64: every variant at N = 3; float32 (rounding only): baseline, FAL, FAL+ A at N = 2.
    ``repeats`` random draws plus one adversarial (weights x10, activations x100), all through one
    compiled program. ``only`` restricts the variants (tests)."""
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:4]), ("tp",))
    rng = np.random.default_rng(seed)
    cases = [(name, cfg, dtype) for dtype, n in ((jnp.float32, 2), (jnp.float64, _TP["n_blocks"])) for name, cfg in c3_variants(n)
             if (not only or name in only) and (dtype == jnp.float64 or name in _FP32_VARIANTS)]
    out: dict[str, dict[str, float]] = {}
    for rep in range(repeats + 1):
        adv = rep == repeats
        params = [random_params(cfg, int(rng.integers(2**31)), dtype, 10.0 if adv else 1.0) for _, cfg, dtype in cases]
        xs = [jnp.asarray(rng.standard_normal((_B, _T, cfg.d_model)) * (100.0 if adv else 1.0), dtype) for _, cfg, dtype in cases]
        rs = [jnp.asarray(rng.standard_normal((_B, _T, cfg.d_model)), dtype) for _, cfg, dtype in cases]
        res = _sharded_and_reference(params, xs, rs, tuple(cfg for _, cfg, _ in cases), mesh)
        for (name, _, dtype), (ys, gs, yu, gu) in zip(cases, res):
            rel = [float(jnp.max(jnp.abs(a - b)) / jnp.maximum(jnp.max(jnp.abs(b)), 1e-30))
                   for a, b in zip(jax.tree.leaves(gs), jax.tree.leaves(gu))]
            key = f"{'adv' if adv else 'rand'}:{jnp.dtype(dtype).name}:{name}"
            prev = out.get(key, {"out": 0.0, "grad": 0.0})
            out[key] = {"out": max(prev["out"], float(jnp.max(jnp.abs(ys - yu)))), "grad": max(prev["grad"], max(rel))}
    return out


def training_cases(full: bool) -> list[list]:
    """Sharded-training cases ``[variant, p, dtype(, reference)]``: baseline p = 4 and FAL with one f per
    block p = 2 in float32; the folded N + 1 schedule against the N + 2 one (same model) at p = 2 in
    float64; at full scale FAL p = 4 in float64 and the folded schedule against unsharded at p = 4."""
    return ([["baseline", 4, "float32"], ["fal_block_input", 2, "float32"], ["fal_folded", 2, "float64", "fal_shared_ln_output"]]
            + ([["fal", 4, "float64"], ["fal_folded", 4, "float32"]] if full else []))


def all_device_checks(seed: int, repeats: int, full: bool) -> dict[str, Any]:
    """Raw measurements of the three device claims (JSON): ``c3`` (:func:`sharded_errors`),
    ``counts`` (p = 4, N = 3: every :data:`STEP_VARIANTS` entry at full scale), ``counts_p2``
    (p = 2, N = 2), ``training`` (:func:`~attention.fal.tp_step.sharded_loss_table`, N = 2)."""
    names = list(STEP_VARIANTS) if full else ["baseline", "fal", "fal_block_input", "fal_folded"]
    two = STEP_PROTOCOL | {"n_blocks": 2}
    return {"c3": sharded_errors(seed, repeats),
            "counts": step_count_table(STEP_PROTOCOL, [4], names, ["baseline", "fal_block_input", "fal_folded"]),
            "counts_p2": step_count_table(two, [2], ["baseline", "fal_block_input", "fal_folded"], ["fal_folded"]),
            "training": sharded_loss_table(two, training_cases(full)), "devices": len(jax.devices())}


def study_device_checks(counted: dict[str, Any], trained: dict[str, Any], names: list[str], cases: list[list]) -> dict[str, Any]:
    """The study's tensor-parallel stage (JSON, one process): all-reduces of the real step at p = 4
    (``names``; AdamW lowered for baseline and FAL with one f per block) and p = 2 (baseline, FAL,
    FAL with one f per block; AdamW for FAL) at the ``counted`` protocol, and sharded-training
    ``cases`` at the ``trained`` protocol."""
    counts = step_count_table(counted, [4], names, ["baseline", "fal_block_input"])
    counts |= step_count_table(counted, [2], ["baseline", "fal", "fal_block_input"], ["fal"])
    return {"counts": counts, "losses": sharded_loss_table(trained, cases)}


@functools.lru_cache(maxsize=4)
def device_checks(seed: int, repeats: int, full: bool) -> dict[str, Any]:
    """:func:`all_device_checks` in this process when it has 4 JAX devices, else in one 4-device
    subprocess; cached, so the three device claims share one run."""
    return call_with_devices("attnverify.attention.fal.device_checks:all_device_checks", dict(seed=seed, repeats=repeats, full=full), 4)


def shared_seed(seed: int) -> int:
    """The seed of the shared device run: a function of the verify seed only (not of the claim id)."""
    return int(np.random.default_rng([seed, 14]).integers(2**31))
