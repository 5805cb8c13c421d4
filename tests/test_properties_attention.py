"""Property tests (issue 11): malformed input to ``attention`` (KV eviction, window attention, Δ attention,
BERT config loading) gives a ValueError/TypeError naming the argument -- or, for model files, the file
and the field.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from attnverify import attention as A
from tests._properties import FAST, covers, rejects

Q = np.random.default_rng(0).standard_normal((1, 8, 4))
non_binary = st.sampled_from([2, -1, 3, 0.5, np.nan])


@covers("attention", "eviction_error")
@FAST
@given(non_binary, st.integers(0, 3))
def test_keep_masks_must_be_binary(value, i):
    q, kv = Q[:, :2], np.concatenate([Q, Q[:, :2]], axis=1)[:, :6]
    keep = np.ones((1, 4))
    keep[0, i] = value
    rejects(lambda: A.eviction_error(q, kv, kv, keep.astype(type(value)) if isinstance(value, int) else keep), "keep")
    ok = np.ones((1, 4))
    ok[0, i] = 0
    as_bool = A.eviction_error(q, kv, kv, ok.astype(bool))
    for dtype in (int, float):  # 0/1 masks of any dtype mean the same as the boolean one
        assert np.array_equal(np.asarray(A.eviction_error(q, kv, kv, ok.astype(dtype))), np.asarray(as_bool))


@covers("attention", "select_tokens", "budget_count")
@FAST
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=6, max_size=6), st.integers(0, 5), st.sampled_from([1.5, 2.0]))
def test_scores_and_budgets(scores, i, pool_bad):
    s = np.array(scores)
    s_nan = s.copy()
    s_nan[i] = np.nan
    rejects(lambda: A.select_tokens(s_nan, 3), "scores")
    rejects(lambda: A.select_tokens(np.zeros(0), 1), "scores")
    rejects(lambda: A.select_tokens(s, 3, pool=pool_bad), "pool")
    rejects(lambda: A.select_tokens(s, 3, n_recent=1.0), "n_recent")
    rejects(lambda: A.select_tokens(s, np.nan), "budget")
    rejects(lambda: A.budget_count(0, 6), "budget")
    keep = np.asarray(A.select_tokens(s, 3))
    assert keep.sum() == 3 and keep[np.argsort(-s, kind="stable")[:3]].all()


@covers("attention", "window_attention", "keep_mask", "obcache_scores", "exact_errors", "causal_mask", "keep_masks")
@FAST
@given(st.sampled_from(["keys", "rows", "nan", "dim"]))
def test_window_attention_inputs(kind):
    q, k = Q[0], Q[0]
    bad = {"keys": (q, k[:0], k[:0]), "rows": (q[:0], k, k), "nan": (q, np.where(k > 3, k, np.nan), k), "dim": (q[:, :3], k, k)}[kind]
    name = {"keys": "k", "rows": "q", "nan": "k", "dim": "dim"}[kind]
    rejects(lambda: A.window_attention(*bad), name)
    if kind != "dim":
        rejects(lambda: A.keep_mask(A.h2o(), *bad, budget=2), name)
    rejects(lambda: A.causal_mask(4, np.array([0, 4])), "positions")
    att = A.window_attention(q, k, k)
    assert np.isfinite(np.asarray(A.obcache_scores(att, k).key)).all() and np.isfinite(np.asarray(A.exact_errors(att, k).removal)).all()


@covers("attention", "delta_attention", "recompute_attention", "delta_attention_strides", "delta_anchor_rows", "delta_cost",
        "delta_tail_split", "sink_window_attention")
@FAST
@given(st.sampled_from([2.5, 2.0, 0, -3, "4"]), st.sampled_from(["Paper", "codes", "", None]))
def test_delta_attention_arguments(gamma_bad, variant_bad):
    q = Q[0]
    rejects(lambda: A.delta_attention(q, q, q, gamma=gamma_bad, window=2), "gamma")
    rejects(lambda: A.recompute_attention(q, q, q, gamma=gamma_bad, window=2), "gamma")
    rejects(lambda: A.delta_attention_strides(q, q, q, gammas=(2, gamma_bad), window=2), "gamma")
    rejects(lambda: A.delta_anchor_rows(8, gamma_bad), "gamma")
    rejects(lambda: A.delta_cost(8, gamma_bad, 2), "gamma")
    rejects(lambda: A.delta_tail_split(64, gamma_bad), "gamma")
    rejects(lambda: A.delta_attention(q, q, q, gamma=2, window=2, variant=variant_bad), "variant")
    rejects(lambda: A.delta_anchor_rows(8, 2, variant=variant_bad), "variant")
    rejects(lambda: A.sink_window_attention(q, q, q, window=2.0), "window")
    rejects(lambda: A.delta_attention(q[:0], q[:0], q[:0], gamma=2, window=1), "n")


def _model_dir(tmp_path):
    src = A.default_model_dir()
    dst = tmp_path / "model"
    dst.mkdir()
    for name in ("model.safetensors", "tokenizer.json"):
        (dst / name).symlink_to(src / name)
    cfg = json.loads((src / "config.json").read_text())
    return dst, cfg


@covers("attention", "load_bert", "default_model_dir")
@pytest.mark.parametrize("field,value", [("hidden_size", "384"), ("num_attention_heads", 0), ("num_hidden_layers", 0),
                                         ("layer_norm_eps", "small"), ("intermediate_size", 1536.0), ("num_hidden_layers", 5),
                                         ("hidden_size", 385), ("layer_norm_eps", -1.0)])
def test_bad_config_names_file_and_field(tmp_path, field, value):
    try:
        d, cfg = _model_dir(tmp_path)
    except A.ModelLoadError:
        pytest.skip("MiniLM-L6 weights not installed")
    cfg[field] = value
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(A.ModelLoadError) as info:
        A.load_bert(d)
    msg = str(info.value)
    assert "config.json" in msg or "model.safetensors" in msg
    assert field in msg, msg


@covers("attention", "bert_forward")
def test_empty_model_input(tmp_path):
    try:
        model = A.load_bert()
    except A.ModelLoadError:
        pytest.skip("MiniLM-L6 weights not installed")
    rejects(lambda: A.bert_forward(model, np.zeros((1, 0), int)), "input_ids")
    rejects(lambda: A.bert_forward(model, np.zeros((0, 4), int)), "input_ids")
    shutil.rmtree(tmp_path, ignore_errors=True)
