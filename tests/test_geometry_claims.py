"""Every geometry/gating claim gives its expected verdict at small scale, and wrong formulas fail."""

from __future__ import annotations

import numpy as np
import pytest

from attnverify import proofs_numeric as pn

pn.discover()

# claims whose checks share compiled functions with others or compile little: run by default
FAST = {
    "geometry.fisher_is_pullback": "verified",
    "geometry.intrinsic_extrinsic_agree": "verified",
    "geometry.riemann_symmetries": "verified",
    "geometry.matrix_free_sectional_agrees": "verified",
    "geometry.ground_truth_sphere": "verified",
    "geometry.sigma_scaling": "verified",
    "geometry.affine_invariance": "verified",
    "geometry.reparametrisation_invariance": "verified",
    "gating.ungated_mixture_flat": "verified",
    "gating.gated_sphere_positive": "verified",
    "gating.depth_aligned_hessians": "verified",
    "gating.depth_amplification_scope": "verified",  # finding: depth amplification is regime-specific
}
# heavier (many separate compilations); reduced versions are tested in test_geometry_engine.py
SLOW = {
    "gating.headwise_gate_on_mixture_flat": "verified",
    "gating.gated_genericity": "verified",
    "gating.expressivity_gap": "verified",
    "geometry.ground_truth_hyperbolic": "verified",
    "gating.ungated_input_chart_curved": "verified",  # finding: curved input charts, K > 0 in about a third
    "gating.gate_shape_closed_forms": "verified",
    "geometry.christoffel_pullback_identity": "verified",
    "geometry.degenerate_chart_flagged": "verified",
    "geometry.ground_truth_categorical": "verified",
    "geometry.ground_truth_flat_and_surfaces": "verified",
    "geometry.ground_truth_gaussian_fisher_rao": "verified",
    "geometry.symbolic_curvature": "verified",
    "gating.ungated_planar_input_chart_flat": "verified",
    "gating.depth_homothety": "verified",
}


def test_every_claim_is_listed():
    mine = {c.id for c in pn.claims("geometry.*")} | {c.id for c in pn.claims("gating.*") if not c.id.startswith(("gating.empirical_", "gating.test_"))}
    assert mine == set(FAST) | set(SLOW)


@pytest.mark.parametrize("cid", ["geometry.fisher_is_pullback", "gating.ungated_mixture_flat", "gating.ungated_input_chart_curved", "gating.gate_shape_closed_forms", "gating.depth_aligned_hessians"])
def test_symbolic_derivations_reduce(cid):
    """The sympy derivations of the claims whose numeric check runs only in the slow tier."""
    assert pn.get_claim(cid).symbolic() is True


def _run(cid: str, expected: str) -> pn.ClaimResult:
    r = pn.run_claim(pn.get_claim(cid), scale=0.01)
    assert r.verdict.value == expected, f"{cid}: {r.verdict.value} {r.message[-2000:]}"
    return r


@pytest.mark.parametrize("cid", sorted(FAST))
def test_claim_verdict(cid):
    _run(cid, FAST[cid])


@pytest.mark.slow
@pytest.mark.parametrize("cid", sorted(SLOW))
def test_claim_verdict_slow(cid):
    _run(cid, SLOW[cid])


@pytest.fixture
def scratch():
    ids: list[str] = []
    yield ids
    for cid in ids:
        pn.unregister(cid)


def test_flipped_sign_convention_fails(scratch):
    """A claim asserting the opposite sign convention (sphere K = -1/r^2) must fail."""
    from attnverify.geometry._claims_gating import curvatures, sphere_instances
    from attnverify.geometry._gated_constructions import gated_sphere_mean

    scratch.append("geometry.test_wrong_sign")

    @pn.claim("geometry.test_wrong_sign", paper="gating_curvature", equation="test", statement="K=-1/r^2", provenance="derived", tolerance=1e-10, error="rel")
    def _(ctx):
        p, x, sig, k_exp = sphere_instances(ctx.rng, 16)
        k = curvatures(gated_sphere_mean, p, x, sig)
        return pn.Evidence.from_errors(np.abs(k + k_exp) / k_exp)

    assert pn.run_claim(pn.get_claim("geometry.test_wrong_sign")).verdict is pn.Verdict.FAILED


def test_euclidean_projector_pitfall_fails(scratch):
    """Ignoring Sigma in the Gauss equation (Euclidean inner products) disagrees with the intrinsic
    curvature of the Sigma-metric: the agreement check catches it."""
    from attnverify.geometry._claims_invariance import invariance_batch, invariance_instances

    scratch.append("geometry.test_euclidean_projector")

    @pn.claim("geometry.test_euclidean_projector", paper="gating_curvature", equation="test", statement="K_a(Sigma)=K_b(I)", provenance="derived", tolerance=1e-9)
    def _(ctx):
        args, _ = invariance_instances(ctx.rng, "affine", sigma_cond=100.0)
        k = np.asarray(invariance_batch(*args))
        return pn.Evidence.from_errors(np.abs(k[:, 0] - k[:, 4]) / np.maximum(1, np.abs(k[:, 0])))

    assert pn.run_claim(pn.get_claim("geometry.test_euclidean_projector")).verdict is pn.Verdict.FAILED


def test_ungated_flatness_claimed_for_input_charts_fails(scratch):
    """The pitfall 'ungated => K = 0' for input charts: asserting it fails (C3)."""
    from attnverify.geometry._claims_gating import _input_chart, curvatures

    scratch.append("gating.test_input_chart_flat")

    @pn.claim("gating.test_input_chart_flat", paper="gating_curvature", equation="test", statement="K=0", provenance="paper", tolerance=1e-6)
    def _(ctx):
        rng = ctx.rng
        n = 64
        p = {"w": 1.5 * rng.standard_normal((n, 4, 2)), "c": rng.standard_normal((n, 4)), "values": rng.standard_normal((n, 4, 3))}
        return pn.Evidence.from_errors(np.abs(curvatures(_input_chart, p, 0.5 * rng.standard_normal((n, 2)), np.stack([np.eye(3)] * n))))

    assert pn.run_claim(pn.get_claim("gating.test_input_chart_flat")).verdict is pn.Verdict.FAILED


def test_depth_law_off_critical_point_fails(scratch):
    """Asserting superadditivity K_L >= L K_1 for identical layers off the critical point fails (C8 scope)."""
    from attnverify.geometry._claims_depth import stacked_curvatures, stacked_params

    scratch.append("gating.test_depth_superadditive_everywhere")

    @pn.claim("gating.test_depth_superadditive_everywhere", paper="gating_curvature", equation="test", statement="K_L>=L K_1", provenance="paper", tolerance=0.0, error="violation")
    def _(ctx):
        rng = ctx.rng
        p = stacked_params(rng, 16, identical=True, amp_range=(10.0, 60.0))
        x = p["x0"] + 0.3
        k1, k6 = stacked_curvatures(p, x, 1), stacked_curvatures(p, x, 6)
        pos = k1 > 0
        return pn.Evidence.from_errors(np.maximum(0.0, 6 * k1[pos] - k6[pos]))

    assert pn.run_claim(pn.get_claim("gating.test_depth_superadditive_everywhere")).verdict is pn.Verdict.FAILED
