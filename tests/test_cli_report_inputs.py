"""``verify --from-json`` / ``--html`` and ``plot verdicts`` inputs: empty paths, options that do nothing
with a saved report, and bad report contents all exit 2 before any work and before any directory is made."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from attnverify.proofs_numeric import _runner
from attnverify.proofs_numeric.cli import main

PATH_FLAGS = ("--from-json", "--html", "--json", "--markdown", "--evidence", "--update-readme")


def _claim(cid: str, **extra) -> dict:
    return {"id": cid, "verdict": "verified", "paper": "P", "equation": "(1)", "statement": "x = 1",
            "provenance": "paper", "worst_error": 0.0, "tolerance": 1e-12, "n_random": 3, "n_adversarial": 1, **extra}


def _report(tmp_path: Path, claims: list[dict] | None = None) -> Path:
    p = tmp_path / "report.json"
    p.write_text(json.dumps({"seed": 0, "scale": 1.0, "seconds": 1.0, "claims": claims or [_claim("a.one"), _claim("b.two")]}))
    return p


@pytest.fixture
def no_work(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("claims were run")

    monkeypatch.setattr(_runner, "run_claims", boom)


@pytest.mark.parametrize("flag", PATH_FLAGS)
def test_empty_path_option_exits_2_naming_it(flag, capsys, no_work):
    with pytest.raises(SystemExit) as info:
        main(["verify", flag, ""])
    assert info.value.code == 2
    assert flag in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["plot", "verdicts", "--out", " "], ["plot", "verdicts", "--from-json", ""]])
def test_plot_empty_path_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert argv[2] in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--seed", "3"], ["--scale", "0.5"], ["--jobs", "2"], ["--json", "x.json"],
                                   ["--markdown", "x.md"], ["--evidence", "."]])
def test_run_options_have_no_effect_with_from_json(extra, tmp_path, capsys, no_work):
    rc = main(["verify", "--from-json", str(_report(tmp_path)), "--html", str(tmp_path / "h"), *extra])
    assert rc == 2
    assert f"{extra[0]} has no effect with --from-json" in capsys.readouterr().err
    assert not (tmp_path / "h").exists()


def test_only_filters_the_page_of_a_saved_report(tmp_path, no_work):
    assert main(["verify", "--from-json", str(_report(tmp_path)), "--html", str(tmp_path / "h"), "--only", "a.*"]) == 0
    page = (tmp_path / "h" / "index.html").read_text()
    assert 'id="c-a.one"' in page and 'id="c-b.two"' not in page
    assert main(["verify", "--from-json", str(_report(tmp_path)), "--html", str(tmp_path / "h2"), "--only", "zzz*"]) == 2


def test_bad_report_leaves_no_html_directory(tmp_path, capsys, no_work):
    p = _report(tmp_path, [_claim("a.one", depends_on=[1, 2])])
    assert main(["verify", "--from-json", str(p), "--html", str(tmp_path / "h")]) == 2
    err = capsys.readouterr().err
    assert "claims[0].depends_on[0]" in err and str(p) in err
    assert not (tmp_path / "h").exists()


def test_plot_verdicts_validates_before_making_out(tmp_path, capsys):
    p = _report(tmp_path, [_claim("a.one", depends_on=[{"a": 1}])])
    assert main(["plot", "verdicts", "--from-json", str(p), "--out", str(tmp_path / "o")]) == 2
    assert "claims[0].depends_on[0]" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _decided(**decision) -> dict:
    d = {"effect": "accuracy difference", "estimate": 0.1, "ci": [0.05, 0.15], "rule": "lo > 0", "boundary": 0.0,
         "method": "bootstrap", "units": "prompts", "n_units": 100, "level": 0.95, **decision}
    c = _claim("e.one", decision=d)
    for k in ("worst_error", "tolerance", "n_random", "n_adversarial"):
        c.pop(k)
    return c


HUGE = 10**400
MALFORMED = {  # name: (claims, the field the message must name)
    "depends_on ints": ([_claim("a.one", depends_on=[1, 2])], "claims[0].depends_on[0]"),
    "level null": ([_decided(level=None)], "claims[0].decision.level"),
    "level nan": ([_decided(level="nan")], "claims[0].decision.level"),
    "paper_figure number": ([_decided(paper_figure=0.9)], "claims[0].decision.paper_figure"),
    "paper_setting list": ([_decided(paper_setting=["a"])], "claims[0].decision.paper_setting"),
    "part outcome number": ([_decided(parts={"a": {"effect": "x", "estimate": 1, "ci": [0, 2], "outcome": 3}})],
                            "claims[0].decision.parts['a'].outcome"),
    "control outcome number": ([_decided(controls={"a": {"effect": "x", "estimate": 1, "ci": [0, 2], "outcome": 3}})],
                               "claims[0].decision.controls['a'].outcome"),
    "estimate 1e400": ([_decided(estimate=HUGE)], "claims[0].decision.estimate"),
    "ci 1e400": ([_decided(ci=[0, HUGE])], "claims[0].decision.ci[1]"),
    "boundary 1e400": ([_decided(boundary=HUGE)], "claims[0].decision.boundary"),
    "worst_error 1e400": ([_claim("a.one", worst_error=HUGE)], "claims[0].worst_error"),
    "worst_error without tolerance": ([{k: v for k, v in _claim("a.one").items() if k != "tolerance"}], "claims[0].tolerance"),
    "worst_error without n_random": ([{k: v for k, v in _claim("a.one").items() if k != "n_random"}], "claims[0].n_random"),
    "unknown verdict": ([_claim("a.one", verdict="bogus")], "claims[0].verdict"),
    "repeated id": ([_claim("a.one"), _claim("a.one")], "claims[1].id"),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_report_field_exits_2_naming_it(name, tmp_path, capsys, no_work):
    claims, field = MALFORMED[name]
    p = _report(tmp_path, copy.deepcopy(claims))
    assert main(["verify", "--from-json", str(p), "--html", str(tmp_path / "h")]) == 2
    err = capsys.readouterr().err
    assert field in err and str(p) in err, err
    assert not (tmp_path / "h").exists()


@pytest.mark.parametrize("text", ['{"claims": [], "seed": ' + "1" * 5000 + "}", "[" * 100000 + "]" * 100000])
def test_unreadable_json_exits_2_naming_the_file(text, tmp_path, capsys, no_work):
    p = tmp_path / "r.json"
    p.write_text(text)
    assert main(["verify", "--from-json", str(p), "--html", str(tmp_path / "h")]) == 2
    assert str(p) in capsys.readouterr().err
    assert not (tmp_path / "h").exists()


def test_non_finite_numbers_as_verify_writes_them_are_accepted(tmp_path, no_work):
    p = _report(tmp_path, [_decided(estimate="nan", ci=["-inf", "inf"], p_value=float("nan"))])
    assert main(["verify", "--from-json", str(p), "--html", str(tmp_path / "h")]) == 0
