"""FAL / FAL+: the block stack against a literal numpy transcription of the spec's equations,
tensor-parallel runs on 4 of the 8 emulated CPU devices, the registered claims, wrong laws, bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import attnverify.attention.fal.claims as fc
import attnverify.attention.fal.claims_counts as fcc
from attnverify import proofs_numeric as pn
from attnverify.attention.fal.model import FALConfig, fal_forward
from attnverify.attention.fal.counts import allreduce_counts, tp_forward
from helpers import assert_close, rng

DIMS = dict(d_model=8, n_heads=2, d_mlp=16)


def _ln(x, g, b):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + 1e-5) * g + b


def _mha(p, u):
    T, out = u.shape[1], 0.0
    for h in range(p["wqkv"].shape[2]):
        q, k, v = (u @ p["wqkv"][:, s, h, :] for s in range(3))
        s = q @ np.swapaxes(k, 1, 2) / np.sqrt(q.shape[-1])
        s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
        a = np.exp(s - s.max(-1, keepdims=True))
        out = out + (a / a.sum(-1, keepdims=True)) @ v @ p["wo"][h]
    return out


def _mlp(p, u):
    h = u @ p["w1"] + p["b1"]
    gelu = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h**3)))  # jax.nn.gelu (tanh form)
    return gelu @ p["w2"] + p["b2"]


def _literal(params, x, cfg):
    """Spec §2, block by block, with A-bar_1 = LN_A(A_1). Block 1 is a baseline block, so every
    variant also checks the baseline block."""
    P = jax.tree.map(np.asarray, params)
    for i, p in enumerate(P["blocks"]):
        A = _mha(p, _ln(x, p["ln1_g"], p["ln1_b"]))
        if i == 0:
            abar = _ln(A, P["lnA_g"], P["lnA_b"]) if "lnA_g" in P else None
        if i >= 1 and cfg.variant == "fal":
            x = x + A + _mlp(p, _ln(x, p["ln2_g"], p["ln2_b"]) + abar)
        elif i >= 1 and cfg.variant == "falplus" and cfg.falplus == "residual":
            xp = x + (A + abar)
            x = xp + _mlp(p, _ln(xp, p["ln2_g"], p["ln2_b"]))
        else:
            xp = x + A
            u = _ln(xp, p["ln2_g"], p["ln2_b"])
            x = xp + _mlp(p, u + abar if i >= 1 and cfg.variant == "falplus" else u)
    return _ln(x, P["lnf_g"], P["lnf_b"])


@pytest.mark.parametrize("kw", [dict(variant="fal"), dict(variant="falplus"), dict(variant="falplus", falplus="residual")])
def test_forward_matches_the_literal_equations(kw):
    cfg = FALConfig(3, **DIMS, **kw)
    params = fc.random_params(cfg, 1, jnp.float64, 10.0)
    x = rng(0).standard_normal((2, 5, 8))
    assert_close(jax.jit(fal_forward, static_argnames="cfg")(params, x, cfg), _literal(params, x, cfg), rtol=1e-10, atol=1e-12)


def test_tensor_parallel_on_four_of_eight_devices():
    assert len(jax.devices()) == 8
    err = fc.sharded_errors(seed=3, repeats=0, only=("fal_block_input",))
    assert err and all(v["out"] <= 1e-12 and v["grad"] <= 1e-12 for v in err.values()), err


def test_spec_reference_table_at_n4():
    # spec C5 table, measured column "N = 4": fwd / bwd activation-sized / bwd d-sized
    expect = {"baseline": (8, 8, 0), "fal": (5, 8, 0), "fal_block_input": (5, 6, 12), "fal_shared_ln_output": (5, 6, 0),
              "falplus_A": (8, 8, 0), "falplus_B": (8, 8, 0)}
    for name, cfg in fcc._variants(4, fcc._REF).items():
        c = allreduce_counts(cfg, 4, 2, 8)
        assert (c["fwd"], c["bwd_act"], c["bwd_vec"]) == expect[name], name


@pytest.mark.parametrize("cid, verdict", [
    ("fal.mha_mlp_independence", pn.Verdict.VERIFIED), ("fal.degenerate_reductions", pn.Verdict.VERIFIED),
    ("fal.forward_allreduces", pn.Verdict.VERIFIED), ("fal.backward_allreduces", pn.Verdict.VERIFIED),
    ("fal.backward_law_at_one_block", pn.Verdict.ERRATUM), ("fal.backward_allreduces_one_block", pn.Verdict.VERIFIED),
    ("fal.communication_volume", pn.Verdict.VERIFIED),
    ("fal.parameters_and_flops", pn.Verdict.VERIFIED),
    pytest.param("fal.sharded_equals_unsharded", pn.Verdict.VERIFIED, marks=pytest.mark.slow),
])
def test_claims_at_small_scale(cid, verdict):
    r = pn.run_claim(pn.get_claim(cid), scale=0.01)
    assert r.verdict is verdict, r.message


@pytest.mark.parametrize("law, cid", [
    ("_fwd_law", "fal.forward_allreduces"),  # "FAL saves nothing": 2N for every variant
    ("_bwd_law", "fal.backward_allreduces"),
])
def test_wrong_laws_fail(monkeypatch, law, cid):
    monkeypatch.setattr(fcc, law, (lambda name, N: 2 * N) if law == "_fwd_law" else (lambda name, N: (2 * N, 0)))
    r = pn.run_claim(pn.get_claim(cid), scale=0.01)
    assert r.verdict is pn.Verdict.FAILED


def test_wrong_parameter_formula_fails(monkeypatch):
    real = fcc._param_formula  # forgetting LN_A's 2d parameters
    monkeypatch.setattr(fcc, "_param_formula", lambda cfg: real(FALConfig(**{**cfg.__dict__, "variant": "baseline", "shared_ln": False,
                                                                              "f_placement": "auto"})) - (2 * cfg.d_model * (cfg.n_blocks - 1) if cfg.shared_ln else 0))
    assert pn.run_claim(pn.get_claim("fal.parameters_and_flops"), scale=0.01).verdict is pn.Verdict.FAILED


def test_dependency_detector_sees_the_baseline_dependency():
    for variant, dep in (("baseline", True), ("falplus", True), ("fal", False), ("parallel", False)):
        cfg = FALConfig(2, **DIMS, variant=variant)
        params = fc.random_params(cfg, 0, jnp.float64)
        assert fc._depends_on_mha(params, jnp.ones((1, 3, 8)), cfg, 1) is dep, variant


@pytest.mark.parametrize("kw, match", [
    (dict(d_model=10, n_heads=4), "dividing"), (dict(variant="gpt"), "unknown variant"),
    (dict(f_placement="everywhere"), "unknown f_placement"), (dict(variant="falplus", shared_ln=True), "shared_ln"),
    (dict(f_placement="ln_output"), "shared_ln=True"), (dict(variant="baseline", f_placement="block_input"), "FAL blocks only"),
])
def test_bad_configs(kw, match):
    with pytest.raises(ValueError, match=match):
        FALConfig(**{"n_blocks": 2, **DIMS, **kw})
