"""The paper pages (docs/papers/<paper>.md) are current: their generated claims block equals what
``python -m attnverify.paper_pages`` writes from the registry and the README's claims table, every paper
of the registry has a page, and every page's links into the repository resolve."""

from __future__ import annotations

import re
from pathlib import Path

from attnverify import paper_pages
from attnverify.proofs_numeric import claims, discover

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "docs" / "papers"


def test_every_registered_paper_has_a_current_page():
    discover()
    papers = {c.paper for c in claims()}
    assert papers == {p.stem for p in PAGES.glob("*.md")}
    check = ["--check", "--pages", str(PAGES), "--readme", str(ROOT / "README.md")]
    assert paper_pages.main(check) == 0, "stale paper pages: run `make paper-pages` (python -m attnverify.paper_pages) and commit docs/papers"


def test_generated_block_lists_every_claim_with_its_registered_statement():
    discover()
    results = paper_pages.readme_results(ROOT / "README.md")
    block = paper_pages.claims_block("obcache", results)
    ids = re.findall(r"^\| \[`([\w.]+)`\]", block, re.M)
    assert ids == [c.id for c in claims("obcache.*")]
    for c in claims("obcache.*"):
        assert paper_pages._esc(c.statement) in block


def test_links_resolve():
    for page in [*PAGES.glob("*.md"), ROOT / "README.md"]:
        for target in re.findall(r"\]\(((?!https?:)[\w./-]+)[)#]", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"
