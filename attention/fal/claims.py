"""Registered claims C1-C3 of ``fal.md``: MHA/MLP independence, degenerate reductions, sharded = unsharded.

C3 needs 4 devices. The test suite has 8 emulated CPU devices; ``attnverify verify`` may have one,
and then the check reads the shared 4-device subprocess of :func:`~attention.fal.device_checks.device_checks`
(one run for the three device claims).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from attnverify.proofs_numeric import Context, Evidence, claim, require_x64

from .device_checks import device_checks, random_params, sharded_errors, shared_seed  # noqa: F401  (sharded_errors: tests)
from .model import FALConfig, fal_forward

_SMALL = dict(n_blocks=2, d_model=16, n_heads=2, d_mlp=32)  # C1, C2: block 1 (baseline) + one FAL block
_B, _T = 2, 8


def _with_block(params: dict, i: int, **arrays) -> dict:
    blocks = list(params["blocks"])
    blocks[i] = {**blocks[i], **arrays}
    return {**params, "blocks": blocks}


def _mlp_input_jacobian(params, x, cfg: FALConfig, i: int):
    """Max |d MLP-input_i / d (W_qkv^i, W_O^i, A_i)| (traceable)."""

    def f(wqkv, wo, shift):
        shifts = [jnp.zeros_like(x) if j != i else shift for j in range(cfg.n_blocks)]
        return fal_forward(_with_block(params, i, wqkv=wqkv, wo=wo), x, cfg, attn_shift=shifts, capture=True)[1]["mlp_inputs"][i]

    p = params["blocks"][i]
    jac = jax.jacfwd(f, argnums=(0, 1, 2))(p["wqkv"], p["wo"], jnp.zeros_like(x))
    return jnp.max(jnp.stack([jnp.max(jnp.abs(j)) for j in jac]))


@functools.partial(jax.jit, static_argnames=("cfgs",))
def _jacobians(params_list, xs, cfgs: tuple[FALConfig, ...]):
    """Jacobian maxima for every block i >= 2 of every config, in one compiled program."""
    return jnp.stack([_mlp_input_jacobian(p, x, c, i) for p, x, c in zip(params_list, xs, cfgs) for i in range(1, c.n_blocks)])


def _depends_on_mha(params, x, cfg: FALConfig, i: int) -> bool:
    """Forward taint analysis of the traced MLP input of block ``i`` from (W_qkv^i, W_O^i, A_i)."""

    def f(wqkv, wo, shift, params):
        shifts = [jnp.zeros_like(x) if j != i else shift for j in range(cfg.n_blocks)]
        return fal_forward(_with_block(params, i, wqkv=wqkv, wo=wo), x, cfg, attn_shift=shifts, capture=True)[1]["mlp_inputs"][i]

    p = params["blocks"][i]
    closed = jax.make_jaxpr(f)(p["wqkv"], p["wo"], jnp.zeros_like(x), params)
    tainted = set(closed.jaxpr.invars[:3])
    for e in closed.jaxpr.eqns:  # nested calls are treated conservatively: any tainted input taints all outputs
        if any(not isinstance(v, jax.extend.core.Literal) and v in tainted for v in e.invars):
            tainted.update(e.outvars)
    return any(v in tainted for v in closed.jaxpr.outvars)


@claim("fal.mha_mlp_independence", paper="fal", equation="C1",
       statement=r"i\ge2:\ \frac{\partial\,[\mathrm{LN}^{(2)}_i(X_i)+\bar A_1]}{\partial(W^i_{qkv},W^i_O,A_i)}=0",
       provenance="paper", tolerance=0.0, error="abs")
def _c1(ctx: Context) -> Evidence:
    """In FAL blocks i >= 2 the MLP input depends on neither A_i nor the block's MHA weights (Jacobian exactly 0, and no MHA op in its jaxpr slice).

    Sanity: the same check on the baseline and on FAL+ (which keep the MHA->MLP dependency) must see
    a nonzero Jacobian and a dependent slice, else the check itself is broken (error inf).
    """
    require_x64("FAL independence")
    rng = ctx.rng
    kinds = [(False, FALConfig(**_SMALL, variant="fal")), (False, FALConfig(**_SMALL, variant="fal", shared_ln=True)),
             (True, FALConfig(**_SMALL, variant="parallel")), (True, FALConfig(**_SMALL, variant="fal", zero_first_attention=True))]
    contrast_cfgs = (FALConfig(**_SMALL, variant="baseline"), FALConfig(**_SMALL, variant="falplus"))
    errs: dict[bool, list[float]] = {False: [], True: []}
    contrast: list[float] = []
    for rep in range(ctx.count(3, minimum=1)):
        cfgs = tuple(c for adv, c in kinds if rep == 0 or not adv) + contrast_cfgs
        params = [random_params(c, int(rng.integers(2**31)), jnp.float64, 10.0 if (rep == 0 and c.variant == "parallel") else 1.0)
                  for c in cfgs]
        xs = [jnp.asarray(rng.standard_normal((_B, 4, c.d_model))) for c in cfgs]
        jac = np.asarray(_jacobians(params, xs, cfgs)).reshape(len(cfgs), -1)
        for k, c in enumerate(cfgs):
            dep = [_depends_on_mha(params[k], xs[k], c, i) for i in range(1, c.n_blocks)]
            if c in contrast_cfgs:  # must depend: nonzero Jacobian and a tainted slice
                contrast.append(float(jac[k].min()) if all(dep) else 0.0)
            else:
                adv = any(c == a for is_adv, a in kinds if is_adv)
                errs[adv] += [float(v) if not d else np.inf for v, d in zip(jac[k], dep)]
    broken = min(contrast) <= 0
    return Evidence.from_errors(errs[False], errs[True] + ([np.inf] if broken else []),
                                details={"contrast_min_jacobian": min(contrast)})


@functools.partial(jax.jit, static_argnames=("pairs",))
def _pair_differences(params_list, x, pairs):
    """Max |model_a - model_b| for each pair sharing one parameter set (one compiled program)."""
    return jnp.stack([jnp.max(jnp.abs(fal_forward(p, x, a) - fal_forward(p, x, b))) for p, (a, b) in zip(params_list, pairs)])


def _degenerate_pairs():
    base = dict(_SMALL)
    return [
        ("fal_zero_vs_parallel", FALConfig(**base, variant="fal", zero_first_attention=True), FALConfig(**base, variant="parallel")),
        ("fal_shared_zero_vs_parallel_shared", FALConfig(**base, variant="fal", shared_ln=True, zero_first_attention=True),
         FALConfig(**base, variant="parallel", shared_ln=True)),
        ("falplusA_zero_vs_baseline", FALConfig(**base, variant="falplus", zero_first_attention=True), FALConfig(**base, variant="baseline")),
        ("falplusB_zero_vs_baseline", FALConfig(**base, variant="falplus", falplus="residual", zero_first_attention=True),
         FALConfig(**base, variant="baseline")),
    ]


@claim("fal.degenerate_reductions", paper="fal", equation="C2",
       statement=r"\bar A_1\equiv0:\ \mathrm{FAL}=\text{parallel block},\ \ \mathrm{FAL{+}}_{A,B}=\text{baseline}\ \ (\text{bit-exact})",
       provenance="derived", tolerance=0.0, error="abs")
def _c2(ctx: Context) -> Evidence:
    """With the first-attention signal zeroed and identical parameters, FAL is the GPT-J parallel block and both FAL+ readings are the baseline, bit for bit (float32 and float64, jit-compiled)."""
    require_x64("FAL degenerate reductions")
    rng = ctx.rng
    errs: dict[bool, list[float]] = {False: [], True: []}
    pairs = tuple((a, b) for _, a, b in _degenerate_pairs())
    for adversarial in (False, True):
        for _ in range(ctx.count(2, minimum=1) if not adversarial else 1):
            seed = int(rng.integers(2**31))
            for dtype in (jnp.float32, jnp.float64):
                x = jnp.asarray(rng.standard_normal((_B, _T, _SMALL["d_model"])) * (100.0 if adversarial else 1.0), dtype)
                params = [random_params(FALConfig(**_SMALL, variant=a.variant, shared_ln=a.shared_ln), seed, dtype,
                                        10.0 if adversarial else 1.0) for a, _ in pairs]
                errs[adversarial] += [float(e) for e in _pair_differences(params, x, pairs)]
    return Evidence.from_errors(errs[False], errs[True], details={"pairs": [n for n, _, _ in _degenerate_pairs()]})


@claim("fal.sharded_equals_unsharded", paper="fal", equation="C3",
       statement=r"\mathrm{shard\_map}_{p=4}=\text{unsharded}:\ \text{fp32}\le10^{-5}\ (\text{out abs, grad rel}),\ \text{fp64}\le10^{-12}",
       provenance="derived", tolerance=1.0, error="fraction of the spec's budget")
def _c3(ctx: Context) -> Evidence:
    """Tensor-parallel shard_map runs (p = 4 of the emulated CPU devices) of baseline, FAL (three f placements) and FAL+ A/B match the unsharded model in output and gradients.

    The error is max(err_fp32 / 1e-5, err_fp64 / 1e-12) over outputs (absolute) and gradients
    (max per-leaf relative), so 1.0 is exactly the spec's budget.
    """
    require_x64("FAL sharded check")
    res = device_checks(shared_seed(ctx.seed), ctx.count(2, minimum=1), ctx.scale >= 0.5)["c3"]
    score = lambda k, v: max(v["out"], v["grad"]) / (1e-5 if ":float32:" in k else 1e-12)
    rand = [score(k, v) for k, v in res.items() if k.startswith("rand")]
    adv = [score(k, v) for k, v in res.items() if k.startswith("adv")]
    worst = {dt: {m: max(v[m] for k, v in res.items() if f":{dt}:" in k) for m in ("out", "grad")} for dt in ("float32", "float64")}
    return Evidence.from_errors(rand, adv, details={"worst": worst, "devices_in_process": len(jax.devices()), "shared_seed": shared_seed(ctx.seed)})
