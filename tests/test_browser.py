"""The docs site and the HTML verdict report in a real browser (issue 25): headless Chromium (Debian's package).

Marked ``browser`` (excluded from ``make test``; ``make test-browser`` builds the site and runs these). Skipped
when ``chromium`` is not installed, unless ``ATTNVERIFY_REQUIRE_BROWSER=1`` (CI) makes that a failure. Every page opened must log nothing to the console (no script error, no
missing file), show its maths as MathML (no raw TeX outside code), and every internal link of the site and of
the report must resolve (file and anchor). Screenshots of the home page, a paper page, a notebook and the
report go to ``$ATTNVERIFY_SCREENSHOTS`` (default ``build/screenshots``) for review.

``ATTNVERIFY_DOCS_SITE``: an already built site (``make test-browser`` passes ``site``); otherwise the test
builds one with ``mkdocs build`` (notebooks executed in quick mode: minutes).
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

#: CI sets ATTNVERIFY_REQUIRE_BROWSER=1 (after installing chromium): a missing browser then fails instead of skipping
REQUIRED = os.environ.get("ATTNVERIFY_REQUIRE_BROWSER") == "1"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(shutil.which("chromium") is None and not REQUIRED,
                                 reason="chromium is not installed (apt-get install chromium)")]

ROOT = Path(__file__).resolve().parent.parent
SHOTS = Path(os.environ.get("ATTNVERIFY_SCREENSHOTS", ROOT / "build" / "screenshots"))
_CODE = re.compile(r"<(pre|code|script|style|math|textarea|title)\b.*?</\1>", re.S | re.I)
_RAW_TEX = re.compile(r"\\(frac|sum|mathrm|varepsilon|tau|sigma|le|ge|widehat|mathcal|sqrt|text)\b|\$\$|\\\(|\\\[")


def chromium(url: str, *, screenshot: Path | None = None, height: int = 1400) -> tuple[str, list[str]]:
    """``(DOM after scripts ran, console messages)`` of ``url`` in headless Chromium; optionally a screenshot."""
    assert shutil.which("chromium"), "ATTNVERIFY_REQUIRE_BROWSER=1 but chromium is not installed (apt-get install chromium)"
    args = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=4000", f"--window-size=1280,{height}", "--hide-scrollbars"]
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(args + [f"--screenshot={screenshot}", url], capture_output=True, text=True, timeout=120, check=True)
    p = subprocess.run(args + ["--dump-dom", url], capture_output=True, text=True, timeout=120, check=True)
    console = [line for line in p.stderr.splitlines() if ":CONSOLE" in line]
    return p.stdout, console


#: a TeX escape (``cut\\_n``, ``27\\%``) or a letter's ``mathvariant`` that Chromium ignores, left inside MathML
_MATH_TEX = re.compile(r"\\[%_&#$]|<m[in] mathvariant=\"(?!normal\")[a-z-]+\"")


def raw_tex(dom: str) -> list[str]:
    """TeX left in the page's text (outside code, scripts, styles and MathML), and TeX escapes or ignored
    ``mathvariant`` attributes inside its MathML (which Chromium shows as a backslash or a plain letter)."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", _CODE.sub(" ", dom)))
    maths = "".join(re.findall(r"<math\b.*?</math>", dom, re.S | re.I))
    in_math = html.unescape(maths)
    return ([text[max(0, m.start() - 40):m.end() + 40] for m in _RAW_TEX.finditer(text)]
            + [in_math[max(0, m.start() - 40):m.end() + 40] for m in _MATH_TEX.finditer(in_math)])


def broken_links(page: Path, root: Path) -> list[str]:
    """Internal links of ``page`` whose file or anchor does not exist under ``root``."""
    out = []
    src = page.read_text(encoding="utf-8", errors="replace")
    for href in re.findall(r"""\shref=["']([^"']+)["']""", src):
        parts = urlsplit(href)
        if parts.scheme or href.startswith(("mailto:", "javascript:", "data:")):
            continue
        target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.exists() or (root not in target.parents and target != root):
            out.append(f"{page.relative_to(root)} -> {href}")
        elif parts.fragment and target.suffix == ".html":
            ids = set(re.findall(r"""\sid=["']([^"']+)["']""", target.read_text(encoding="utf-8", errors="replace")))
            if unquote(parts.fragment) not in ids:
                out.append(f"{page.relative_to(root)} -> {href} (no such anchor)")
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    given = os.environ.get("ATTNVERIFY_DOCS_SITE")
    if given:
        path = Path(given).resolve()
        assert (path / "index.html").exists(), f"ATTNVERIFY_DOCS_SITE={given} holds no built site"
        return path
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "ATTNVERIFY_QUICK": "1"}
    env.pop("MPLBACKEND", None)  # the kernel's inline backend draws the notebooks' figures
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--quiet", "--site-dir", str(out)], cwd=ROOT, env=env,
                   check=True, timeout=1800)
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    from attnverify.proofs_numeric.cli import main

    out = tmp_path_factory.mktemp("report")
    assert main(["verify", "--only", "topk.tv*", "--scale", "0.01", "--json", str(out / "r.json"),
                 "--markdown", str(out / "r.md"), "--html", str(out / "html")]) == 0
    return out / "html" / "index.html"


def _paper_page(site: Path) -> Path:
    papers = sorted((site / "papers").glob("*.html"))
    return papers[0] if papers else site / "certified_topk.html"


def test_report_opens_from_disk_with_rendered_maths_and_working_links(report: Path):
    dom, console = chromium(report.as_uri(), screenshot=SHOTS / "report.png", height=1600)
    assert not console, console
    assert dom.count("<math") >= 2 and not raw_tex(dom), raw_tex(dom)[:3]
    assert re.search(r"\d+ of \d+ claims shown", dom), "the filter script did not run"
    assert not broken_links(report, report.parent)
    filtered, _ = chromium(report.as_uri() + "?verdict=refuted")
    assert "0 of " in filtered  # the verdict filter hides every verified claim


def test_site_pages_load_without_console_errors_and_render_maths(site: Path):
    notebook = site / "notebooks" / "topk_tv.html"
    pages = {"home.png": site / "index.html", "paper.png": _paper_page(site), "notebook.png": notebook,
             "api.png": site / "api" / "bounds.html"}
    for shot, page in pages.items():
        dom, console = chromium(page.as_uri(), screenshot=SHOTS / shot)
        assert not console, (page, console)
        assert not raw_tex(dom), (page, raw_tex(dom)[:3])
    for page in (notebook, site / "api" / "bounds.html"):
        assert page.read_text(encoding="utf-8").count("<math") >= 5, page
    body = notebook.read_text(encoding="utf-8").split("<body", 1)[-1]  # the class name also sits in the page's CSS
    assert 'class="jp-RenderedImage' in body and "<img" in body, "the notebook was not executed (no figure output)"


def test_no_page_has_tex_escapes_or_ignored_mathvariant_in_its_maths(site: Path):
    """Every page's MathML (the files, no browser needed): no ``\\%``/``\\_`` left in ``\\text``, no letter
    whose style rests on a ``mathvariant`` Chromium ignores."""
    bad = {}
    for page in site.rglob("*.html"):
        maths = html.unescape("".join(re.findall(r"<math\b.*?</math>", page.read_text(encoding="utf-8", errors="replace"), re.S | re.I)))
        hits = [maths[max(0, m.start() - 30):m.end() + 30] for m in _MATH_TEX.finditer(maths)]
        if hits:
            bad[str(page.relative_to(site))] = hits[:2]
    assert not bad, bad


def test_every_internal_link_of_the_site_resolves(site: Path):
    pages = [p for p in sorted(site.rglob("*.html")) if p.name != "404.html"]  # 404.html is for a server (absolute links)
    broken = [b for page in pages for b in broken_links(page, site)]
    assert not broken, broken[:20]


def test_no_page_loads_anything_from_the_network(site: Path):
    remote = re.compile(r"""<(script|img|iframe)[^>]+src=["']https?://|<link[^>]+href=["']https?://""", re.I)
    assert not [p.name for p in site.rglob("*.html") if remote.search(p.read_text(encoding="utf-8", errors="replace"))]


def test_every_notebook_is_rendered_with_its_outputs(site: Path):
    """All nine notebooks are executed at build time (quick mode): each page holds cell outputs, the ones
    that draw figures show them inline (not the paths of the files they wrote), and no output carries
    tqdm's "IProgress not found" warning."""
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 9
    empty = []
    for nb in notebooks:
        body = (site / "notebooks" / f"{nb.stem}.html").read_text(encoding="utf-8").split("<body", 1)[-1]
        if "jp-OutputArea-output" not in body:
            empty.append(nb.stem)
    assert not empty, f"rendered without outputs (not executed at build time): {empty}"
    for stem in ("hybrid_attention", "sae_steering", "kv_eviction_and_delta", "fal", "gating_experiments"):
        body = (site / "notebooks" / f"{stem}.html").read_text(encoding="utf-8").split("<body", 1)[-1]
        assert "<img" in body, f"{stem}: no figure output"
        assert not re.search(r"(wrote|PosixPath\(')\s*'?/tmp/\S+\.png", body), f"{stem}: prints a figure's path"
    warned = [nb.stem for nb in notebooks if "IProgress" in (site / "notebooks" / f"{nb.stem}.html").read_text(encoding="utf-8")]
    assert not warned, f"tqdm's IProgress warning in the outputs of {warned}"
