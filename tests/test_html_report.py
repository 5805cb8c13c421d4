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


def test_a_verdict_from_an_unpinned_local_run_is_flagged_in_its_badges():
    """``verify --evidence DIR`` records the user's file with ``pinned: False``: the badge says so (text and title)."""
    local = _empirical_claim()
    local["details"] = {"evidence_files": [{"file": "/home/me/run/results.json", "sha256": "cd" * 32, "pinned": False,
                                            "replaces": "experiments/gating/reference/results.json",
                                            "note": "unpinned local run (attnverify verify --evidence)"}]}
    page = html_report({"claims": [local, _math_claim()]}, sources={})
    badges = re.findall(r'<span class="badge[^"]*"[^>]*>[^<]*</span>', page)
    flagged = [b for b in badges if "unpinned local run" in b]
    assert len(flagged) == 3, badges  # the summary, the table row and the claim's heading
    assert all('title="' in b and "--evidence" in b for b in flagged)
    assert any("/home/me/run/results.json" in b for b in flagged)
    pinned_only = html_report({"claims": [_empirical_claim(), _math_claim()]}, sources={})
    assert "unpinned local run" not in pinned_only
    # the real shape: the reference run's provenance (pinned "no: ...") first, the verify's pin check after
    local["details"] = {"reference_run": {"file": "/home/me/run/results.json", "sha256": "cd" * 32,
                                          "pinned": "no: unpinned local run (attnverify verify --evidence)"},
                        "evidence_files": [{"file": "/home/me/run/results.json", "sha256": "cd" * 32, "pinned": False,
                                            "replaces": "experiments/gating/reference/results.json"}]}
    page = html_report({"claims": [local]}, sources={})
    assert page.count("unpinned local run</span>") == 3


def test_a_factory_registered_claim_links_the_line_that_names_it():
    """``geometry.sigma_scaling`` is registered by a factory (``_invariance_claim``): the link is the call
    naming the id, not the ``claim(...)`` line inside the factory."""
    from attnverify.proofs_numeric.html_report import claim_sources

    root = Path(pn.__file__).resolve().parents[1]
    for cid in ("geometry.sigma_scaling", "geometry.ground_truth_hyperbolic", "topk.tv_equals_tail_mass"):
        path, line = claim_sources([cid])[cid]
        text = (root / path).read_text(encoding="utf-8").splitlines()[line - 1]
        assert cid in text, (cid, path, line, text)


@pytest.mark.parametrize("content, field", [
    ("not json {", "not valid JSON"),
    ("[1, 2]", "no 'claims' list"),
    ('{"claims": {"a": 1}}', "no 'claims' list"),
    ('{"claims": [3]}', "claims[0] must be an object"),
    ('{"claims": [{"id": "topk.x"}]}', "claims[0].verdict is missing"),
    ('{"claims": [{"id": 5, "verdict": "verified", "paper": "p", "equation": "e", "statement": "s", "provenance": "paper"}]}',
     "claims[0].id must be str"),
    ('{"claims": [{"id": "x", "verdict": "verified", "paper": "p", "equation": "e", "statement": "s", "provenance": "paper", '
     '"decision": {"effect": "d", "estimate": 1, "ci": [0], "rule": "r", "boundary": 0, "method": "t", "units": "u", "n_units": 3}}]}',
     "claims[0].decision.ci must be a pair"),
    ('{"claims": [{"id": "x", "verdict": "verified", "paper": "p", "equation": "e", "statement": "s", "provenance": "paper", '
     '"decision": {"effect": "d", "estimate": "1", "ci": [0, 1], "rule": "r", "boundary": 0, "method": "t", "units": "u", "n_units": 3}}]}',
     "claims[0].decision.estimate must be"),
    ('{"claims": [], "seconds": "long"}', "seconds must be"),
])
def test_malformed_from_json_exits_2_naming_the_field(tmp_path: Path, capsys, content: str, field: str):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert main(["verify", "--from-json", str(bad), "--html", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert field in err and "Traceback" not in err, err
    assert not (tmp_path / "out" / "index.html").exists()


def test_html_destination_is_checked_before_any_work(tmp_path: Path, capsys):
    js = tmp_path / "r.json"
    js.write_text(json.dumps({"claims": [_math_claim()]}))
    (tmp_path / "d" / "index.html").mkdir(parents=True)
    assert main(["verify", "--from-json", str(js), "--html", str(tmp_path / "d")]) == 2
    assert "index.html" in capsys.readouterr().err
    (tmp_path / "f").write_text("")
    assert main(["verify", "--only", "topk.tv_equals_tail_mass", "--html", str(tmp_path / "f"), "--json", str(tmp_path / "x.json"),
                 "--markdown", str(tmp_path / "x.md")]) == 2
    assert "not a directory" in capsys.readouterr().err and not (tmp_path / "x.json").exists()


def test_non_finite_numbers_as_verify_json_writes_them_render(tmp_path: Path):
    """``verify --json`` writes a non-finite float as ``"inf"``/``"nan"`` (strict JSON): accepted and shown as words."""
    c = _math_claim()
    c["worst_error"] = "inf"
    js = tmp_path / "r.json"
    js.write_text(json.dumps({"claims": [c]}))
    page = html_report(load_report_json(js), sources={})
    assert "inf (tol 1e-12)" in page and "worst abs error inf" in page


@pytest.mark.parametrize("tex, shown", [(r"\mathbb R", "\u211d"), (r"\mathbb{R}^n", "\u211d"), (r"\mathcal N", "\U0001d4a9"),
                                        (r"\mathbf x", "\U0001d431"), (r"\mathbb 1", "\U0001d7d9"),
                                        (r"\mathtt{a\_b}", "\U0001d68b")])
def test_mathvariant_letters_become_unicode_math_alphanumerics(tex, shown):
    """Chromium ignores ``mathvariant`` (MathML Core): the letter itself must be the styled one."""
    import html

    out = html.unescape(tex_to_mathml(tex))
    assert shown in out and not re.search(r'<m[in] mathvariant="(?!normal")', out), out


@pytest.mark.parametrize("tex, shown", [(r"\text{cut\_n}", "cut_n"), (r"\texttt{cut\_n}", "cut_n"), (r"\text{27\%}", "27%")])
def test_tex_escapes_in_text_are_unescaped(tex, shown):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_browser import raw_tex

    out = tex_to_mathml(tex)
    assert shown in out and "\\" not in out, out
    assert not raw_tex(f"<p>{out}</p>") and raw_tex("<p><math><mtext>27\\%</mtext></math></p>")



def _hook(name: str):
    import importlib.util

    pytest.importorskip("mkdocs")
    path = Path(__file__).resolve().parents[1] / "docs" / "hooks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_docs_hook_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_api_pages_document_every_subpackage_of_attention_and_experiments():
    """Their packages re-export without ``__all__`` (attention) or export nothing (experiments): each page
    lists its subpackages, experiments' with their submodules."""
    pages = _hook("pages")
    root = Path(__file__).resolve().parents[1]
    for floor in ("attention", "experiments"):
        page = pages.api_page(floor)
        subpackages = sorted(p.parent.name for p in (root / floor).glob("*/__init__.py"))
        assert subpackages and all(f"::: attnverify.{floor}.{s}\n" in page for s in subpackages), (floor, subpackages)
    assert "show_submodules: true" in pages.api_page("experiments")


def test_rst_literal_marker_is_shown_as_one_colon():
    site = _hook("site")
    out = site.render_math("<p>Example::</p>\n<pre><code>x = 1</code></pre><p>As follows ::</p><pre>y</pre><p>a::b</p>")
    assert "<p>Example:</p>" in out and "<p>As follows</p>" in out and "a::b" in out
