"""Registered claims C4-C7 of ``fal.md``: all-reduce counts (forward, backward), communication
volume, parameters and FLOPs. All counts come from traced jaxprs on an ``AbstractMesh`` (no devices)."""

from __future__ import annotations

import numpy as np

from attnverify.proofs_numeric import Context, Evidence, claim

from .model import FALConfig, layer_norm
from .counts import allreduce_counts, count_params, elementwise_adds, matmul_flops

_NS = (1, 2, 3, 4, 6)
_REF = dict(d_model=32, n_heads=4, d_mlp=128)
_ADV = dict(d_model=8, n_heads=2, d_mlp=8)  # adversarial: tiny heads, tp = 2, batch 1, two tokens


def _variants(N: int, dims: dict) -> dict[str, FALConfig]:
    return {"baseline": FALConfig(N, **dims, variant="baseline"), "fal": FALConfig(N, **dims, variant="fal"),
            "fal_block_input": FALConfig(N, **dims, variant="fal", f_placement="block_input"),
            "fal_shared_ln_output": FALConfig(N, **dims, variant="fal", shared_ln=True, f_placement="ln_output"),
            "falplus_A": FALConfig(N, **dims, variant="falplus"), "falplus_B": FALConfig(N, **dims, variant="falplus", falplus="residual")}


def _fwd_law(name: str, N: int) -> int:
    return N + 1 if name.startswith("fal_") or name == "fal" else 2 * N


def _bwd_law(name: str, N: int) -> tuple[int, int]:
    """(activation-sized, d-sized) backward all-reduces: the spec's C5 table; FAL at N = 1 is a baseline block."""
    if name in ("fal_block_input", "fal_shared_ln_output") and N >= 2:
        return N + 2, 4 * (N - 1) if name == "fal_block_input" else 0
    return 2 * N, 0


def _instances(ctx: Context):
    """(counts, N, name, adversarial) over the reference dims at tp=4 and adversarial dims at tp=2."""
    for N in _NS if ctx.scale >= 0.5 else (1, 2, 4):  # reduced set in the test suite
        for name, cfg in _variants(N, _REF).items():
            yield allreduce_counts(cfg, 4, 2, 8), N, name, False
    for N in (2, 5) if ctx.scale >= 0.5 else (3,):
        for name, cfg in _variants(N, _ADV).items():
            yield allreduce_counts(cfg, 2, 1, 2), N, name, True


def _law_evidence(ctx: Context, err, one_f_from: int = 1) -> Evidence:
    errs: dict[bool, list[float]] = {False: [], True: []}
    table = {}
    for c, N, name, adv in _instances(ctx):
        if N < one_f_from and name in ("fal_block_input", "fal_shared_ln_output"):
            continue  # outside the law's domain (the N = 1 erratum and its corrected claim)
        errs[adv].append(err(c, N, name))
        if not adv and N == 4:
            table[name] = f"{c['fwd']} / {c['bwd_act']} / {c['bwd_vec']}"
    return Evidence.from_errors(errs[False], errs[True], details={"N=4 fwd / bwd act / bwd d-sized": table})


@claim("fal.forward_allreduces", paper="fal", equation="C4",
       statement=r"\#\text{fwd all-reduce}:\ \text{baseline }2N,\ \mathrm{FAL}\ N+1,\ \mathrm{FAL{+}}\ 2N",
       provenance="paper", tolerance=0.0, error="count")
def _c4(ctx: Context) -> Evidence:
    """Traced forward programs have 2N psums (baseline, FAL+ A/B) and N+1 for FAL in every f placement: FAL removes one all-reduce per block from block 2 on."""
    return _law_evidence(ctx, lambda c, N, name: abs(c["fwd"] - _fwd_law(name, N)) + c["fwd_vec"])


@claim("fal.backward_allreduces", paper="fal", equation="C5 (N >= 2)",
       statement=r"\#\text{bwd}:\ \text{baseline, FAL (auto), FAL+}: 2N\ (N\ge1);\ \mathrm{FAL}\text{ one }f\text{/block}: N+2\ (+4(N-1)\ d\text{-sized unless shared LN})\ \text{for }N\ge2",
       provenance="derived", tolerance=0.0, error="count")
def _c5(ctx: Context) -> Evidence:
    """Backward all-reduces per the spec's C5 table: default autodiff gives 2N for FAL too, for every N >= 1; one explicit f per block gives N+2 for N >= 2, the law's domain.

    At N = 1 there is no FAL block (block 1 is a baseline block) and the table's N+2 = 3 is a slip:
    the erratum fal.backward_law_at_one_block and its corrected statement
    fal.backward_allreduces_one_block (2 = 2N) cover that case, so this law is checked on N in
    {2, 3, 4, 6} only for the one-f variants.
    """
    return _law_evidence(ctx, lambda c, N, name: abs(c["bwd_act"] - _bwd_law(name, N)[0]) + abs(c["bwd_vec"] - _bwd_law(name, N)[1]),
                         one_f_from=2)


_ONE_F = ("fal_block_input", "fal_shared_ln_output")


def _one_block_counts() -> dict[str, int]:
    return {name: allreduce_counts(cfg, 4, 2, 8)["bwd_act"] for name, cfg in _variants(1, _REF).items() if name in _ONE_F}


@claim("fal.backward_law_at_one_block", paper="fal", equation="C5 table (N = 1)",
       statement=r"\text{spec table: }\#\text{bwd}(\mathrm{FAL},\ \text{one }f)=(N-1)+2+1=N+2\ \text{at }N=1\ \text{gives }3;\ \text{traced: }2",
       provenance="finding", tolerance=0.0, error="count", expect="erratum",
       corrected_by="fal.backward_allreduces_one_block")
def _c5_n1(ctx: Context) -> Evidence:
    """Erratum in the spec's C5 table: its N+2 = (N-1)+2+1 counts one all-reduce per FAL block (N-1), two for block 1 and one for the A-bar_1 broadcast, but with a single block there is no FAL block and no use of A-bar_1, so the backward has 2 all-reduces, not 3. The general law holds for N >= 2 (fal.backward_allreduces).

    The check verifies the boundary case: the traced one-block programs (one f per block, with and
    without shared LN) have exactly 2 activation-sized backward psums, not the table's 3.
    """
    got = _one_block_counts()
    return Evidence.from_errors([], [abs(v - 2) for v in got.values()],
                                counterexample={"N": 1, "measured_bwd": got, "table_N_plus_2": 3})


@claim("fal.backward_allreduces_one_block", paper="fal", equation="C5 (N = 1, corrected)",
       statement=r"N=1:\ \#\text{bwd}(\mathrm{FAL},\ \text{one }f)=2=2N\ \ (\text{no FAL block, no use of }\bar A_1)",
       provenance="derived", tolerance=0.0, error="count")
def _c5_n1_corrected(ctx: Context) -> Evidence:
    """Corrected statement of the C5 table at N = 1: a one-block FAL model is a baseline block, so every variant (one f per block, with or without shared LN, and default autodiff) has 2 = 2N backward all-reduces and no d-sized ones."""
    counts = {name: allreduce_counts(cfg, 4, 2, 8) for name, cfg in _variants(1, _REF).items()}
    errs = [abs(c["bwd_act"] - 2) + c["bwd_vec"] for c in counts.values()]
    return Evidence.from_errors(errs, details={"N=1 bwd act / d-sized": {k: f"{c['bwd_act']} / {c['bwd_vec']}" for k, c in counts.items()}})


@claim("fal.communication_volume", paper="fal", equation="C6",
       statement=r"\frac{V_{\rm FAL}}{V_{\rm base}}=\frac{N+1}{2N}\ (\text{fwd}),\ \frac{2N+3}{4N}\ (\text{fwd+bwd, one }f);\ N=12:\ 45.8\%,\ 43.75\%",
       provenance="derived", tolerance=1e-15, error="abs")
def _c6(ctx: Context) -> Evidence:
    """Bytes all-reduced by the traced programs (FAL with shared LN and one f per block vs baseline) follow (N+1)/(2N) forward and (2N+3)/(4N) forward+backward, for N >= 2.

    At N = 12 the communication-only ceilings on savings are 11/24 = 45.8 % (forward) and 7/16 = 43.75 %
    (forward+backward), so the paper's "up to 44 %" time saving is at the ceiling: it needs
    communication-dominated steps or compute overlap as well (a consistency check, not a prediction).
    """
    errs: dict[bool, list[float]] = {False: [], True: []}
    ratios = {}
    Ns = (2, 3, 4, 6, 12) if ctx.scale >= 0.5 else (2, 4)  # reduced set in the test suite
    for N, dims, tp, b, t, adv in [(N, _REF, 4, 2, 8, False) for N in Ns] + [(5 if ctx.scale >= 0.5 else 3, _ADV, 2, 1, 2, True)]:
        base = allreduce_counts(FALConfig(N, **dims, variant="baseline"), tp, b, t)
        fal = allreduce_counts(FALConfig(N, **dims, variant="fal", shared_ln=True, f_placement="ln_output"), tp, b, t)
        fwd = fal["fwd_bytes"] / base["fwd_bytes"]
        both = (fal["fwd_bytes"] + fal["bwd_bytes"]) / (base["fwd_bytes"] + base["bwd_bytes"])
        errs[adv] += [abs(fwd - (N + 1) / (2 * N)), abs(both - (2 * N + 3) / (4 * N))]
        if not adv:
            ratios[N] = {"fwd": fwd, "fwd+bwd": both, "ring_time_units_base": 2 * (tp - 1) / tp * (base["fwd_bytes"] + base["bwd_bytes"])}
    top = max(ratios)
    return Evidence.from_errors(errs[False], errs[True], details={"ratios": ratios, f"saving_ceiling_N{top}": {
        "fwd": 1 - ratios[top]["fwd"], "fwd+bwd": 1 - ratios[top]["fwd+bwd"]}})


def _param_formula(cfg: FALConfig) -> int:
    d, F, N = cfg.d_model, cfg.d_mlp, cfg.n_blocks
    per_block = 4 * d + 4 * d * d + 2 * d * F + F + d
    extra = 2 * d if cfg.variant in ("fal", "falplus") else 0
    shared = -2 * d * (N - 1) if cfg.shared_ln else 0
    return N * per_block + 2 * d + extra + shared


@claim("fal.parameters_and_flops", paper="fal", equation="C7",
       statement=r"\#\theta_{\rm FAL}=\#\theta_{\rm base}+2d\ (-2d(N-1)\ \text{shared LN});\ \text{matmul FLOPs equal};\ \mathrm{FAL{+}}:+1\ \text{add/block}",
       provenance="derived", tolerance=0.0, error="count")
def _c7(ctx: Context) -> Evidence:
    """FAL/FAL+ add the 2d parameters of LN_A (shared LN removes 2d(N-1)); matmul FLOPs equal the baseline's; FAL+ adds one elementwise add per block i >= 2.

    Parameter counts are compared with the closed form, FLOPs and adds are counted in the unsharded
    jaxpr; the adds of LN_A itself are counted separately and subtracted.
    """
    rng = ctx.rng
    errs: dict[bool, list[float]] = {False: [], True: []}
    n = ctx.count(4, minimum=1) if ctx.scale >= 0.5 else 1
    cases = [(int(rng.choice(_NS)), dict(d_model=int(d), n_heads=int(h), d_mlp=int(f)), False)
             for d, h, f in zip(rng.choice([8, 16, 32], n), rng.choice([1, 2, 4], n), rng.choice([8, 64], n))]
    cases += [(1, _ADV, True), (6, dict(d_model=4, n_heads=4, d_mlp=4), True)]
    B, T = 2, 3
    for N, dims, adv in cases:
        v = _variants(N, dims)
        base_flops = matmul_flops(v["baseline"], B, T)
        base_adds = elementwise_adds(lambda x: _forward_only(v["baseline"], x), (B, T, dims["d_model"]), like=(B, T, dims["d_model"]))
        ln_adds = elementwise_adds(lambda a, g, b: layer_norm(a, g, b), (B, T, dims["d_model"]), (dims["d_model"],), (dims["d_model"],),
                                   like=(B, T, dims["d_model"]))
        for name, cfg in v.items():
            err = abs(count_params(cfg) - _param_formula(cfg)) + abs(matmul_flops(cfg, B, T) - base_flops)
            if name.startswith("falplus"):
                adds = elementwise_adds(lambda x: _forward_only(cfg, x), (B, T, dims["d_model"]), like=(B, T, dims["d_model"]))
                err += abs(adds - base_adds - ln_adds - (N - 1))
            errs[adv].append(float(err))
    return Evidence.from_errors(errs[False], errs[True])


def _forward_only(cfg: FALConfig, x):
    import jax

    from .model import fal_forward, fal_init

    params = fal_init(jax.random.PRNGKey(0), cfg, x.dtype)
    return fal_forward(params, x, cfg)
