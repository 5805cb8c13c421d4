"""The referee's HTML verdict report (issue 25): self-contained, every claim, rendered maths, evidence rows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from attnverify import proofs_numeric as pn
from attnverify.proofs_numeric.cli import main
from attnverify.proofs_numeric.html_report import html_report, load_report_json, pinned_files
from attnverify.proofs_numeric.mathml import tex_to_mathml, text_with_math


def _empirical_claim() -> dict:
    rng = np.random.default_rng(0)
    kw = dict(units="seeds", rule="verified if the 95 % CI of the mean lies above 0")
    d = pn.decide_direction(rng.normal(1.0, 0.2, 8), **kw)
    placebo = pn.decide_direction(rng.normal(0.0, 1.0, 8), **kw)
    d = pn.with_controls(d, {"shuffled labels": placebo})
    return {
        "id": "gating.synthetic", "area": "gating", "paper": "gating", "equation": "Fig. 3", "statement": r"\Delta\,\mathrm{acc} > 0",
        "provenance": "paper", "empirical": True, "depends_on": ["topk.other"], "corrected_by": None, "tolerance": 0.0,
        "error_kind": "abs", "symbolic": "n/a", "verdict": d.outcome.value, "worst_error": 0.0, "n_random": 0, "n_adversarial": 0,
        "details": {"reference": {"file": "experiments/gating/reference/results.json", "sha256": "ab" * 32, "reproduce": "attnverify experiment gating"}},
        "counterexample": None, "decision": d.to_dict(), "seconds": 0.1, "notes": "tail mass $\\sum_{i>k} p_i$ <b>", "message": "",
    }


def _math_claim(cid: str = "topk.other", verdict: str = "refuted") -> dict:
    return {"id": cid, "area": "topk", "paper": "topk_tv", "equation": "Thm 1", "statement": r"\sum_{i>k} p_i \le \varepsilon",
            "provenance": "paper", "empirical": False, "depends_on": [], "corrected_by": None, "tolerance": 1e-12,
            "error_kind": "abs", "symbolic": "proved", "verdict": verdict, "worst_error": 1e-16, "n_random": 10,
            "n_adversarial": 2, "details": {}, "counterexample": {"k": 3}, "decision": None, "seconds": 0.0, "notes": "", "message": ""}


def test_page_from_a_dictionary_holds_every_claim_and_its_evidence():
    data = {"started": "now", "seed": 0, "scale": 1.0, "only": None, "seconds": 1.0, "environment": {"jax": "x"},
            "claims": [_empirical_claim(), _math_claim()]}
    page = html_report(data, sources={"topk.other": ("bounds/_claims_tv.py", 12)})
    for cid in ("gating.synthetic", "topk.other"):
        assert f'id="c-{cid}"' in page and f'href="#c-{cid}"' in page
    assert page.count("<math") >= 4 and "\\sum" not in page.replace("<code class=\"tex\">", "")  # rendered, not raw TeX
    assert "shuffled labels" in page and "detectable effect" in page and "not recorded" not in page.split("gating.synthetic")[-1].split("topk.other")[0]
    assert "experiments/gating/reference/results.json" in page and "ab" * 32 in page
    assert "bounds/_claims_tv.py:12" in page and "&lt;b&gt;" in page  # notes escaped
    assert not re.search(r"""(src|href)=["']https?://""", page), "the page must not load anything from the network"
    assert "<script>" in page and 'id="f-paper"' in page and 'value="topk_tv"' in page


def test_pinned_files_are_found_anywhere_in_the_record():
    c = _empirical_claim()
    c["evidence"] = [{"path": "x.json", "sha256": "00"}]
    assert [f.get("file") or f.get("path") for f in pinned_files(c)] == ["x.json", "experiments/gating/reference/results.json"]
    assert pinned_files(_math_claim()) == []


def test_maths_helpers_fall_back_to_the_source_and_reject_non_strings():
    assert tex_to_mathml(r"\frac{a}{b}").startswith("<math")
    assert text_with_math("a $x^2$ and $$y$$ cost \\$5") .count("<math") == 2
    assert "<math" not in text_with_math("costs $5 and $6")  # a dollar followed by a space or digit pairs are amounts
    with pytest.raises(TypeError, match="tex"):
        tex_to_mathml(None)  # type: ignore[arg-type]


def test_cli_writes_the_page_from_a_run_and_from_json(tmp_path: Path, capsys):
    js, html_dir = tmp_path / "r.json", tmp_path / "html"
    assert main(["verify", "--only", "topk.tv_equals_tail_mass", "--scale", "0.01", "--json", str(js),
                 "--markdown", str(tmp_path / "r.md"), "--html", str(html_dir)]) == 0
    page = (html_dir / "index.html").read_text(encoding="utf-8")
    assert 'id="c-topk.tv_equals_tail_mass"' in page and "bounds/_claims_tv.py:" in page
    again = tmp_path / "again"
    assert main(["verify", "--from-json", str(js), "--html", str(again)]) == 0
    assert 'id="c-topk.tv_equals_tail_mass"' in (again / "index.html").read_text(encoding="utf-8")
    assert main(["verify", "--from-json", str(js)]) == 2  # --from-json alone: usage error before work
    assert main(["verify", "--from-json", str(tmp_path / "missing.json"), "--html", str(again)]) == 2
    (tmp_path / "bad.json").write_text(json.dumps({"no": "claims"}))
    with pytest.raises(ValueError, match="no 'claims' list"):
        load_report_json(tmp_path / "bad.json")


def test_markup_smuggled_through_text_falls_back_to_escaped_source():
    """latex2mathml copies ``\\text{...}`` verbatim: an element that is not MathML (or raw TeX left as
    ``<mi>\\name</mi>``) makes the formula show its escaped source instead."""
    from attnverify.proofs_numeric.mathml import tex_to_mathml

    for tex in (r'\text{<img src="x" onerror="alert(1)">} x', r"\text{<img/src=x onerror=1>}", r"\unknowncmd + x"):
        out = tex_to_mathml(tex)
        assert out.startswith('<code class="tex">') and "<img" not in out, out
    assert tex_to_mathml(r"\sum_{i>k} p_i \le 1").startswith("<math")
