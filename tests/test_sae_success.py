"""Issue 21: the success rule (label + degeneracy gate + word validity), the language-ID gate's recall
and specificity, head-ablation draws that never include the top heads, and the Gemma decision rules on
synthetic runs (they verify on steering that works, fail on steering that does not, and a passing
negative control or a failing gate blocks ``verified``). No model is loaded."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnverify import proofs_numeric as pn
from attnverify.attention.sae.miniature import sample_documents, word_lists
from attnverify.attention.sae.success import (SuccessRule, calibrate_degeneracy, cjk_letter_share, compression_ratio, judge, language_label,
                                              letter_share, target_validity)
from attnverify.experiments.sae_steering import verdicts as vd
from attnverify.experiments.sae_steering.blocks import ablation_masks
from attnverify.experiments.sae_steering.gemma_gate import gate_sets
from attnverify.experiments.sae_steering.scoring import gate_table

LISTS = word_lists(300, ("en", "fr", "es", "zh", "ja"))


def _docs(lang: str, n: int, length: int = 90, seed: int = 0) -> list[str]:
    return sample_documents(LISTS, lang, n, length, np.random.default_rng(seed))


def test_success_rule_rejects_loops_punctuation_and_english_words():
    loop, text = "icióicióicióicióicióicióicióicióicióicióició", _docs("es", 1)[0]
    assert compression_ratio(loop) < 0.3 < compression_ratio(text)
    assert letter_share("：—。。。。。。。。") == 0.0 and language_label(["：—。。。。。。。。。。。。。。。。。。。。。。。。。。。。。"]) == ["other"]
    assert cjk_letter_share("的发展。。。，，，") == 1.0  # punctuation is not counted as CJK (nor as a letter)
    assert target_validity("x la casa de la the time for them y", "es") == pytest.approx(4 / 8)  # English words are not Spanish
    assert math.isnan(target_validity("one", "es")) and math.isnan(target_validity("。。。", "zh"))
    assert target_validity("的发展的 hello world 的", "zh") == pytest.approx(5 / 7)  # a Latin word in a zh text is an invalid unit
    texts = ["ab" * k + "cdefghij"[:k] for k in range(1, 11)]
    r, u = calibrate_degeneracy(texts, [list(t) for t in texts])[:2]
    assert r == pytest.approx(np.quantile([compression_ratio(t) for t in texts], 0.1)) and 0 < u < 1
    rule = SuccessRule(0.5, 0.1)
    good = judge([text], [list(text)], "es", rule)
    assert good["success"][0] == 1.0 and good["label_success"][0] == 1.0
    bad = judge([loop * 3, "one two"], [list(loop * 3), list("one two")], "es", rule, labels=["es", "es"])
    assert bad["success"].tolist() == [0.0, 0.0] and bad["label_success"][0] == 1.0  # the plain label would count the loop
    strict = SuccessRule(0.0, 0.0, min_validity=1.01)  # a rule that can fail: validity above 1 rejects everything
    assert judge([text], [list(text)], "es", strict)["success"][0] == 0.0


def _pairs(n: int = 80) -> dict:
    en = _docs("en", n, 40, 1)
    return {lang: list(zip(en, _docs(lang, n, 40, 2 + i))) for i, lang in enumerate(("zh", "ja", "es", "fr"))}


def test_gate_measures_recall_and_specificity_and_its_control_fails():
    rule = SuccessRule(0.5, 0.1)
    res = {"gate_sets": gate_sets(_pairs(), 20, 40, 0, ("zh", "es"), 60, list)}
    table = gate_table(res, rule)
    for t in ("zh", "es"):
        assert table[t]["recall"]["k"] >= 36 and table[t]["punctuation"]["k"] == 40, table[t]
        assert table[t]["loops"]["k"] >= 36 and table[t]["other_language"]["k"] >= 36, table[t]
        assert table[t]["shuffled_label"]["k"] <= 4  # another language judged as the target does not pass
    assert table["zh"]["loops"]["plain_k"] < table["zh"]["loops"]["k"]  # the plain label accepts Chinese loops


def test_random_head_draws_never_include_the_top_heads():
    attr = np.arange(24.0).reshape(6, 4)
    eligible = np.zeros((6, 4), bool)
    eligible[3:] = True
    masks, top = ablation_masks(attr, 2, 20, (6, 4), np.random.default_rng(0), eligible=eligible)
    assert sorted(top.tolist()) == [22, 23] and len(masks) == 21
    off = [frozenset(np.flatnonzero(m.ravel() == 0).tolist()) for m in masks]
    assert off[0] == {22, 23} and len(set(off[1:])) == 20
    assert all(not (o & off[0]) and all(i >= 12 for i in o) for o in off[1:])
    with pytest.raises(ValueError, match="draws"):
        ablation_masks(attr, 2, 50, (6, 4), np.random.default_rng(0), eligible=eligible)  # only C(10, 2) = 45 subsets


def _cell(target, layer, feature, kappa, texts, mask=None):
    return {"target": target, "layer": layer, "feature": feature, "kappa": kappa, "mode": "clamp", "mask": mask,
            "texts": texts, "tokens": [[list(t) for t in row] for row in texts]}


def _run(works: bool, prompts: int = 24) -> dict:
    """A synthetic cells-v2 run: es and fr targets; j* writes the target language when ``works``."""
    en = lambda s: [_docs("en", prompts, 90, 10 + s)] * 1  # noqa: E731
    cells = [_cell(None, None, None, 0.0, [_docs("en", prompts, 90, 10 + s) for s in range(2)])]
    for i, t in enumerate(("es", "fr")):
        steered = [_docs(t if works else "en", prompts, 90, 20 + 7 * i + s) for s in range(2)]
        cells += [_cell(t, 9, "j*", 8.0, steered), _cell(t, 9, "random", 8.0, [_docs("en", prompts, 90, 40 + s) for s in range(2)]),
                  _cell(t, 3, "j*", 8.0, [_docs("en", prompts, 90, 50 + s) for s in range(2)])]
    del en
    return {"format": "cells-v2", "targets": ["es", "fr"], "seeds": [0, 1], "n_prompts": prompts, "settings": {"cells": "test"},
            "cells": cells, "model_sha256": f"synthetic-{works}"}


def test_gemma_rules_follow_the_data_and_cannot_verify_on_a_placebo():
    good, bad = _run(True), _run(False)
    assert vd.c6_controls(good)[0].outcome is pn.Verdict.VERIFIED
    assert vd.c7_layers(good)[0].outcome is pn.Verdict.VERIFIED
    d, extra = vd.c6_paper(good)
    assert d.estimate > 0.8 and extra["label_rate"] >= d.estimate and d.detectable_effect > 0
    assert vd.c6_controls(bad)[0].outcome is not pn.Verdict.VERIFIED
    assert vd.c6_paper(bad)[0].outcome is pn.Verdict.NOT_REPRODUCED
    assert vd.c8_heads(good)[0].outcome is pn.Verdict.INCONCLUSIVE  # no head cells: not measured
    # a verified claim with a control that also passes is not verified; nor while the C10 gate is not
    ok = vd.c6_controls(good)[0]
    assert vd.must_fail(ok, {"placebo": ok}).outcome is pn.Verdict.INCONCLUSIVE
    weak_gate = pn.decide_proportion(30, 40, boundary=0.9, units="strings", rule="r")
    assert vd.gated(ok, weak_gate, recall_ok=True).outcome is pn.Verdict.INCONCLUSIVE
    assert vd.gated(vd.c6_paper(bad)[0], weak_gate, recall_ok=False).outcome is pn.Verdict.INCONCLUSIVE


def test_proportion_mde_matches_the_issue():
    assert math.isnan(vd.mde_proportion(16, 0.9, "greater"))  # at n = 16 even 16/16 cannot reach 0.9
    assert 0.05 < vd.mde_proportion(144, 0.9, "less") < 0.12 and vd.mde_proportion(500, 0.9, "less") < vd.mde_proportion(144, 0.9, "less")
