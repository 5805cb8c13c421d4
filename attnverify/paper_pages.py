"""The claims section of each paper page, ``docs/papers/<paper>.md``, generated from the registry.

Each page is prose (definitions, what we found) written by hand, and one generated block between
``<!-- claims:start -->`` and ``<!-- claims:end -->``: every registered claim of that paper with its
id (linked to the module that checks it), equation, provenance, statement, and the verdict and
evidence of the last ``attnverify verify --update-readme README.md`` run (the README's claims table),
or "not run yet" for a claim registered since. Regenerate after changing a claim::

    python -m attnverify.paper_pages           # rewrite the blocks
    python -m attnverify.paper_pages --check   # exit 1 and name the stale pages (tests/test_paper_pages.py)

A repository tool: it reads ``README.md`` and writes ``docs/papers`` of the clone it runs in.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

START, END = "<!-- claims:start -->", "<!-- claims:end -->"
README_START, README_END = "<!-- claims-table:start -->", "<!-- claims-table:end -->"
ROOT = Path(__file__).resolve().parents[1]
_CELL = re.compile(r"(?<!\\)\|")

__all__ = ["claims_block", "readme_results", "render_page", "main"]


def readme_results(readme: Path) -> dict[str, tuple[str, str]]:
    """Claim id -> (verdict cell, evidence cell) of the README's generated claims table."""
    text = readme.read_text(encoding="utf-8")
    if README_START not in text:
        raise ValueError(f"{readme} has no {README_START} block")
    block = text.split(README_START, 1)[1].split(README_END, 1)[0]
    out = {}
    for line in block.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in _CELL.split(line)[1:-1]]
            out[cells[0].strip("`")] = (cells[4], cells[5])
    return out


def _repo_path(src: Path) -> Path | None:
    """``src`` relative to the repository: a clone's files are under :data:`ROOT`; an installed package's under
    ``attnverify/``, whose subpackage ``attnverify.X`` is the repository's folder ``X``."""
    import attnverify

    for base in (Path(attnverify.__file__).resolve().parent, ROOT):
        if src.is_relative_to(base):
            return src.relative_to(base)
    return None


def _source_link(claim, depth: int) -> str:
    """The claim id linked to the module that checks it, from a page ``depth`` folders below the root."""
    try:
        rel = _repo_path(Path(inspect.getsourcefile(inspect.unwrap(claim.check))).resolve())
    except TypeError:
        rel = None
    return f"`{claim.id}`" if rel is None else f"[`{claim.id}`]({Path('../' * depth) / rel})"


def _esc(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def claims_block(paper: str, results: dict[str, tuple[str, str]], depth: int = 2) -> str:
    """The generated Markdown block of ``paper``'s page (markers included), for a page ``depth`` folders below
    the repository root (``docs/papers``: 2)."""
    from attnverify.proofs_numeric import claims, discover

    discover()
    mine = [c for c in claims() if c.paper == paper]
    if not mine:
        raise ValueError(f"no registered claim has paper={paper!r}")
    verdicts = Counter(re.sub(r"\*\*(.*?)\*\*.*", r"\1", results[c.id][0]) if c.id in results else "not run yet" for c in mine)
    summary = ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items(), key=lambda kv: -kv[1]))
    lines = [START, "", f"{len(mine)} registered claims: {summary}.", "",
             "| claim (code) | equation | provenance | statement | verdict | evidence: worst error (tol) or effect [95 % CI] |",
             "|---|---|---|---|---|---|"]
    for c in mine:
        verdict, evidence = results.get(c.id, ("not run yet", "-"))
        lines.append(f"| {_source_link(c, depth)} | {_esc(c.equation)} | {c.provenance.value} | ${_esc(c.statement)}$ "
                     f"| {verdict} | {evidence} |")
    return "\n".join(lines + ["", END])


def render_page(text: str, block: str, page: Path) -> str:
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{page} has no {START} ... {END} block")
    return pattern.sub(lambda _: block, text)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m attnverify.paper_pages", description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only report stale pages (exit 1), write nothing")
    p.add_argument("--pages", type=Path, default=ROOT / "docs" / "papers", help="directory of the paper pages")
    p.add_argument("--readme", type=Path, default=ROOT / "README.md", help="README with the generated claims table")
    args = p.parse_args(argv)
    from attnverify.proofs_numeric.io import atomic_write_text

    results = readme_results(args.readme)
    stale = []
    for page in sorted(args.pages.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        new = render_page(text, claims_block(page.stem, results), page)
        if new != text:
            stale.append(page)
            if not args.check:
                atomic_write_text(page, new)
    for page in stale:
        print(f"{'stale' if args.check else 'wrote'} {page}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
