"""Certified Top-k: exact agreement with the sort-based reference (ties, masks), guarantees,
fully masked rows, jit, sharding on 8 emulated devices, and bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import adversarial_logit_rows, random_logit_rows, rng
from hypothesis import given, settings
from hypothesis import strategies as st

from attnverify.bounds import certified_topk, certified_topk_reference, tail_mass

EPS = [0.0, 1e-300, 1e-15, 1e-6, 0.01, 0.1, 0.5, 0.9]


def _same(a, b):
    assert np.array_equal(np.asarray(a.k), b.k), "k differs"
    assert np.array_equal(np.asarray(a.kept), b.kept), "kept set differs"
    assert np.array_equal(np.asarray(a.n_kept), b.n_kept)
    np.testing.assert_allclose(np.asarray(a.tau), b.tau, rtol=1e-13, atol=1e-300)


def _rows() -> np.ndarray:
    """Random rows (masks anywhere), adversarial rows and many-tie rows, all padded to width 64 (one
    shape, so the jitted core compiles once)."""
    g = rng(1)
    x, _ = random_logit_rows(g, 600, n_range=(2, 64))
    xa, _ = adversarial_logit_rows(g, 64)
    ties = np.round(g.normal(0, 1.5, (200, 64)))
    ties[:, 40:] = -np.inf
    return np.concatenate([x, xa, ties])


@pytest.mark.parametrize("tie", ["index", "group"])
def test_matches_reference_on_random_and_adversarial_rows(tie):
    g = rng(1)
    for rows in (_rows(),):
        for eps in EPS:
            _same(certified_topk(rows, eps, tie=tie), certified_topk_reference(rows, eps, tie=tie))
        e = g.uniform(0, 0.9, len(rows))  # per-row eps
        _same(certified_topk(rows, e, tie=tie), certified_topk_reference(rows, e, tie=tie))


def test_kept_set_is_certified_and_minimal_where_flagged():
    x = _rows()
    for eps in (1e-9, 0.05, 0.3):
        r = certified_topk(x, eps)
        tau_true = np.asarray(tail_mass(x, kept=np.asarray(r.kept)))
        assert (np.asarray(r.tau_upper) <= eps).all() and (tau_true <= eps * (1 + 1e-12)).all()
        k = np.asarray(r.k)
        prev = np.asarray(tail_mass(x, np.maximum(k - 1, 1)))
        certified = np.asarray(r.minimal_certified) & (k > 1)
        assert (prev[certified] > eps).all()
        np.testing.assert_allclose(np.asarray(r.kl), -np.log1p(-np.asarray(r.tau)), rtol=1e-14)


def test_fully_masked_rows_defined_behaviour():
    x = np.array([[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0]])
    r = certified_topk(x, 0.1)
    assert np.asarray(r.k).tolist() == [0, 2]  # p = (0.27, 0.73): dropping either exceeds 0.1
    assert not np.asarray(r.kept)[0].any()
    assert float(r.tau[0]) == 0.0 and float(r.tau_upper[0]) == 0.0 and float(r.kl[0]) == 0.0
    assert bool(r.minimal_certified[0])
    ref = certified_topk_reference(x, 0.1)
    assert ref.k.tolist() == [0, 2] and not ref.kept[0].any()


def test_single_entry_and_jit():
    assert int(certified_topk(np.array([5.0]), 0.5).k) == 1
    f = jax.jit(lambda x, e: certified_topk(x, e).k)
    x, _ = random_logit_rows(rng(3), 64)
    assert np.array_equal(np.asarray(f(jnp.asarray(x), 0.05)), certified_topk_reference(x, 0.05).k)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-30, 30), min_size=1, max_size=24), st.floats(0.0, 0.95), st.floats(-50, 50))
def test_shift_and_permutation_invariance(vals, eps, shift):
    x = np.full(24, -np.inf)  # fixed width: masked padding, one compiled shape
    x[: len(vals)] = vals
    r = certified_topk(x, eps)
    assert int(certified_topk(x + np.round(shift), eps).k) == int(r.k)  # integer shifts are exact in float64
    perm = np.random.default_rng(len(vals)).permutation(24)
    rp = certified_topk(x[perm], eps)
    assert int(rp.k) == int(r.k)
    if len(np.unique(vals)) == len(vals):  # without ties the kept set is permutation-equivariant
        assert np.array_equal(np.asarray(rp.kept), np.asarray(r.kept)[perm])


@pytest.mark.parametrize("bad,msg", [
    (np.array([[0.0, 1.0], [np.nan, 0.0]]), r"NaN at row \(1,\), index 0"),
    (np.array([[0.0, np.inf]]), r"\+inf at row \(0,\), index 1"),
])
def test_bad_logits(bad, msg):
    with pytest.raises(ValueError, match=msg):
        certified_topk(bad, 0.1)
    with pytest.raises(ValueError, match=msg):
        certified_topk_reference(bad, 0.1)


@pytest.mark.parametrize("eps", [-0.1, 1.0, 2.0, float("nan")])
def test_bad_eps(eps):
    with pytest.raises(ValueError, match="eps must lie in"):
        certified_topk(np.zeros(3), eps)
    with pytest.raises(ValueError, match="tie must be"):
        certified_topk(np.zeros(3), 0.1, tie="nope")


# --- issue 12, §1: soundness at any logit range, the jit validity flag ---------------------------------

FMIN = np.finfo(np.float64).min


@pytest.mark.parametrize("mask", [-1e16, FMIN, -1e30])
def test_issue12_no_false_certificate_on_huge_spans(mask):
    """(0, 0, mask): the exact tail of the top-1 set is 1 / (2 + e^mask) > 0.1, so k* = 2, and the
    bounds must be rigorous (tau_upper in [0, eps])."""
    x = np.array([[0.0, 0.0, mask]])
    for r in (certified_topk(x, 0.1), certified_topk_reference(x, 0.1)):
        assert int(r.k[0]) == 2 and bool(r.minimal_certified[0])
        assert 0.0 <= float(r.tau_upper[0]) <= 0.1 and float(r.tau_lower_prev[0]) > 0.1
        assert np.asarray(r.kept)[0].tolist() == [True, True, False]


def test_wide_span_rows_sound_and_match_reference():
    """Spans to +-1.79e308, finfo.min / -1e30 masks, all-but-one masked: the kept set's true tail
    (longdouble; every dropped key counts at eps = 0) never exceeds eps, and both paths agree."""
    from attnverify.bounds._claims_certified import wide_span_rows

    x = wide_span_rows(rng(5), 32)
    fin = np.isfinite(x)
    xl = x.astype(np.longdouble)
    e = np.where(fin, np.exp(xl - np.max(np.where(fin, xl, -np.inf), 1, keepdims=True)), 0)
    for eps in (0.0, 1e-300, 1e-12, 0.1, 0.5):
        r = certified_topk(x, eps)
        _same(r, certified_topk_reference(x, eps))
        kept = np.asarray(r.kept)
        assert (np.asarray(r.tau_upper) >= 0).all() and (np.asarray(r.tau_upper) <= eps).all()
        assert (np.where(kept, 0, e).sum(1) <= eps * e.sum(1)).all()
        if eps == 0:
            assert np.array_equal(kept, fin)  # every exact e^{s_i} > 0


def test_jit_never_certifies_an_invalid_row():
    x = jnp.array([[0.0, 1.0, jnp.nan], [0.0, jnp.inf, 1.0], [jnp.nan, jnp.nan, jnp.nan], [0.0, 1.0, -jnp.inf]])
    r = jax.jit(lambda a: certified_topk(a, 0.1))(x)
    assert np.asarray(r.valid).tolist() == [False, False, False, True]
    assert not np.asarray(r.minimal_certified)[:3].any()
    assert np.isnan(np.asarray(r.tau_upper)[:3]).all() and np.isnan(np.asarray(r.tau_lower_prev)[:3]).all()
    assert (np.asarray(r.k)[:3] == 0).all() and not np.asarray(r.kept)[:3].any()
    # the valid row is untouched: p = (e^0, e^1) / Z, dropping either key exceeds 0.1
    assert int(r.k[3]) == 2 and bool(r.minimal_certified[3])
    assert np.asarray(certified_topk(np.asarray(x[3:]), 0.1).valid).all()


def _old_guarded_exp(x, m, fin, xp=np):
    """The pre-issue-12 guard: every finite entry in the sums, max |d| over all entries."""
    d = xp.where(fin, x - m, 0.0)
    return xp.where(fin, xp.exp(d), 0.0), xp.max(xp.abs(d), axis=-1), xp.sum(fin & (d < -700), axis=-1)


def test_soundness_claim_fails_on_the_old_guard(monkeypatch):
    from attnverify import proofs_numeric as pn

    import attnverify.bounds._certified_reference as cr
    import attnverify.bounds._claims_certified as m

    monkeypatch.setattr(cr, "guarded_exp", _old_guarded_exp)
    monkeypatch.setattr(m, "certified_topk", cr.certified_topk_reference)
    m._run.cache_clear()
    try:
        with np.errstate(all="ignore"):
            r = pn.run_claim(pn.get_claim("topk.certified_topk_sound"), scale=0.002)
        assert r.verdict is pn.Verdict.FAILED and r.evidence.details["violations_unsound"] > 0
    finally:
        m._run.cache_clear()


@pytest.mark.parametrize("c_exp", [-1.0, float("nan"), float("inf"), 2.0**52])
def test_c_exp_outside_the_guard_domain(c_exp):
    with pytest.raises(ValueError, match="c_exp|domain"):
        certified_topk(np.zeros(3), 0.1, c_exp=c_exp)
    with pytest.raises(ValueError, match="c_exp|domain"):
        certified_topk_reference(np.zeros(3), 0.1, c_exp=c_exp)


_SHARDED = r"""
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
from attnverify.proofs_numeric import enable_x64; enable_x64()
import jax, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from attnverify.proofs_numeric.instances import random_logit_rows
from attnverify.bounds import certified_topk
assert len(jax.devices()) == 8
x, _ = random_logit_rows(np.random.default_rng(7), 24, n_range=(2, 32))
x[::9, 3] = np.finfo(np.float64).min
mesh = Mesh(np.array(jax.devices()), ("rows",))
xs = jax.device_put(x, NamedSharding(mesh, PartitionSpec("rows", None)))
one = certified_topk(jax.device_put(x, jax.devices()[0]), 0.02)
many = certified_topk(xs, 0.02)
assert len(many.k.sharding.device_set) == 8
for a, b in zip(one, many):
    assert np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
print("IDENTICAL")
"""


def test_row_sharded_on_eight_emulated_devices_identical_to_one_device():
    """A NamedSharding over a 1-D mesh of rows (8 emulated CPU devices, fresh process): every field
    equals the single-device result exactly and the result stays sharded."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    out = subprocess.run([sys.executable, "-c", _SHARDED], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and "IDENTICAL" in out.stdout, out.stderr[-2000:]


# --- issue 26: the cheaper passes keep the certificate; eps of the wrong shape --------------------------


def _issue26_rows() -> np.ndarray:
    """Rows of width 512 mixing every case the cheaper passes treat specially, several per chunk:
    Gaussian rows, ties at the cut (rounded logits), all-equal and two-value rows, sorted rows, deep
    entries (spans > 700, finfo.min masks) next to ordinary rows, -inf padding down to n = 1,
    subnormal and signed-zero logits, and spans up to +-1.79e308."""
    g, n = rng(26), 512
    big = np.finfo(np.float64).max
    rows = [g.normal(0, 2, n) for _ in range(6)] + [np.round(g.normal(0, 1.5, n)) for _ in range(4)]
    rows += [np.zeros(n), np.r_[np.ones(n // 2), np.zeros(n // 2)], np.sort(g.normal(0, 3, n)),
             np.sort(g.normal(0, 3, n))[::-1], np.r_[g.normal(0, 2, n - 2), -800.0, -1e5],
             np.r_[g.normal(0, 1, n - 1), FMIN], g.uniform(-1, 1, n) * big,
             np.r_[5e-324 * np.arange(1, 21), -0.0, 0.0, np.full(n - 22, -np.inf)]]
    for m in (1, 2, 3, 37):  # short rows: -inf padding
        rows.append(np.r_[g.normal(0, 2, m), np.full(n - m, -np.inf)])
    return np.stack(rows)


@pytest.mark.parametrize("tie", ["index", "group"])
def test_issue26_rows_match_reference_at_extreme_eps(tie):
    x = _issue26_rows()
    for eps in (0.0, 1e-300, 1e-16, 1e-9, 0.01, 0.5, 1 - 1e-9, 1 - 2.0**-53):
        r, ref = certified_topk(x, eps, tie=tie), certified_topk_reference(x, eps, tie=tie)
        _same(r, ref)
        assert (np.asarray(r.tau_upper) <= eps).all()


def test_guard_pass_reproduces_the_guard_terms_exactly():
    """The exponentials pass takes max|d| and n_sub from the smallest logit where no entry is deep:
    bit for bit the terms of guarded_terms (which the reference and the certificate are defined by)."""
    from attnverify.bounds._certificate import guarded_terms
    from attnverify.bounds._certified_select import KMAX, guard_pass, key

    x = jnp.asarray(_issue26_rows())
    fin = jnp.isfinite(x)
    kx = jnp.where(fin, key(x), KMAX)
    nf, lo0 = fin.sum(-1), kx.min(-1)
    m = jnp.where(nf > 0, jnp.max(jnp.where(fin, x, -jnp.inf), -1), 0.0)
    e, z, dmax, n_sub = guard_pass(x, m, fin, nf, lo0)
    e_ref, absd, deep = guarded_terms(x, m[:, None], fin)
    assert np.array_equal(np.asarray(e), np.asarray(e_ref))
    assert np.array_equal(np.asarray(dmax), np.asarray(absd.max(-1)))
    assert np.array_equal(np.asarray(n_sub), np.asarray(deep.sum(-1)))
    np.testing.assert_allclose(np.asarray(z), np.asarray(e_ref.sum(-1)), rtol=1e-13)
    # one chunk without deep entries takes the shortcut: the same terms
    e2, _, dmax2, n2 = guard_pass(x[:6], m[:6], fin[:6], nf[:6], lo0[:6])
    assert np.array_equal(np.asarray(dmax2), np.asarray(absd.max(-1))[:6]) and not np.asarray(n2).any()


def test_search_passes_reports_the_pass_count():
    from attnverify.bounds._certified import search_passes

    x, _ = random_logit_rows(rng(4), 32, n_range=(64, 64))
    p = search_passes(x, 0.05)
    assert p["chunk_rows"] >= 1 and (p["passes"] >= 4).all() and (p["passes"] < 4 + 8 * 64).all()


@pytest.mark.parametrize("eps", [np.full(2, 0.1), np.full((3, 1), 0.1), np.full((1, 3, 1), 0.1)])
def test_eps_shape_that_does_not_broadcast_to_the_rows_is_named(eps):
    with pytest.raises(ValueError, match=r"eps has shape .* does not broadcast to the rows"):
        certified_topk(np.zeros((3, 4)), eps)


def test_eps_per_row_shapes_that_broadcast():
    x = _issue26_rows()[:6].reshape(2, 3, -1)
    for eps in (0.1, np.full(3, 0.1), np.full((2, 1), 0.1), np.full((2, 3), 0.1)):
        assert np.array_equal(np.asarray(certified_topk(x, eps).k), certified_topk_reference(x, 0.1).k)


def _search(x, probes):
    """The search alone on rows ``x`` (no deep entries), with the given first probes (or none)."""
    from attnverify.bounds._certificate import tau_bounds
    from attnverify.bounds._certified_select import KMAX, KMIN, key, snap_bisect

    x = jnp.asarray(x)
    fin = jnp.isfinite(x)
    kx = jnp.where(fin, key(x), KMAX)
    m = jnp.max(x, -1)
    e = jnp.where(fin, jnp.exp(x - m[:, None]), 0.0)
    z, eps = e.sum(-1), jnp.full(x.shape[0], 0.05)
    rho = (fin.sum(-1) + 3) * 2.0**-53 + 2.0**-53 * 700

    def ok(tail, nonempty):
        return tau_bounds(tail, z[:, None], nonempty.astype(jnp.int32), rho[:, None], 0)[1] <= eps[:, None]

    state = (kx.min(-1), jnp.max(jnp.where(fin, kx, KMIN), -1), jnp.zeros_like(z), z)
    return snap_bisect(kx, e, ok, eps, z, state, probes), kx


def test_sample_probes_change_the_step_count_only():
    """Any first probes -- the sample's, ones outside the bracket, ones on the wrong side of the cut --
    give the same cut and B(cut): the bracket update keeps its invariant whatever the probe. A
    wrong-footed pair (both probes far above the cut) costs steps; the sample's pair saves them."""
    from attnverify.bounds._certified_select import KMAX, KMIN, sample_probes

    x = rng(6).normal(0.0, 2.0, (16, 4096))
    (lo, b0, steps0), kx = _search(x, None)
    e = jnp.exp(jnp.asarray(x) - x.max(-1)[:, None])
    good = sample_probes(kx, e, jnp.full(16, 0.05), e.sum(-1))
    top = jnp.max(kx, -1)
    cases = {"sample": good, "outside": jnp.stack([jnp.full(16, KMIN), jnp.full(16, KMAX)]),
             "wrong side": jnp.stack([top, top - 1])}
    steps = {}
    for name, probes in cases.items():
        (lo2, b2, st), _ = _search(x, probes)
        assert np.array_equal(np.asarray(lo2), np.asarray(lo)) and np.array_equal(np.asarray(b2), np.asarray(b0)), name
        steps[name] = int(st)
    assert steps["sample"] < int(steps0) < steps["wrong side"] + 3, (steps, int(steps0))
    # the sample's probes straddle the cut on most rows: P holds at the first and fails at the second
    straddle = (np.asarray(good[0]) <= np.asarray(lo)) & (np.asarray(good[1]) > np.asarray(lo))
    assert straddle.mean() >= 0.75, straddle
