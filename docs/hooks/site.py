r"""MkDocs hooks of the attnverify site (``mkdocs.yml``: ``hooks: [docs/hooks/site.py]``): offline, MathML maths.

* ``on_config``: lays out ``build/docs/api-src/attnverify/`` (symlinks to the package folders, as
  ``setup.py`` maps them) so that mkdocstrings reads ``attnverify.bounds`` and friends from source;
* ``on_files``: adds ``notebooks/*.ipynb`` as ``notebooks/NAME.ipynb`` pages (runs before mkdocs-jupyter,
  which renders and executes them);
* ``on_files`` / ``on_page_markdown``: a Markdown link to a repository file outside ``docs/`` (a paper page's
  ``../../attention/delta/sparse.py``) is served from the site as ``source/<path>.txt`` (a copy of the file,
  a folder as its ``__init__.py``), so the link works from disk and on any static host;
* ``on_page_content`` / ``on_post_page``: every formula becomes MathML (:mod:`attnverify.proofs_numeric.mathml`):
  arithmatex spans ``\(..\)`` / ``\[..\]``, reST ``:math:`` roles of docstrings and ``$..$`` in notebook
  Markdown cells; a reST ``Example::`` before a code block is shown as ``Example:``; every ``<script src="http...">`` and ``<link href="http...">`` is removed, so a page
  loads nothing from the network.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

from attnverify.proofs_numeric.mathml import MATH_PATTERN, tex_to_mathml

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("proofs_numeric", "bounds", "geometry", "attention", "experiments")
API_SRC = ROOT / "build" / "docs" / "api-src"

_ARITHMATEX = re.compile(r'<(span|div) class="arithmatex">\s*\\([(\[])(.+?)\\[)\]]\s*</\1>', re.S)
_ROLE = re.compile(r":math:<code>(.+?)</code>", re.S)
_DIRECTIVE = re.compile(r"<p>\.\. math::(.+?)</p>", re.S)  # a reST display formula: the rest of its paragraph
_XREF_ROLE = re.compile(r":(?:func|class|mod|meth|data|attr|obj|exc):(<code>)")
#: a reST literal-block marker ending a paragraph before a code block (``Example::``): one colon (``Example:``),
#: none after a space (``... ::``), as reST prints it
_RST_LITERAL = re.compile(r"(\s?)::</p>(\s*<(?:pre|div)\b)")
_REMOTE = re.compile(r"""<script[^>]+src=["']https?://[^"']*["'][^>]*>\s*</script>|<link[^>]+href=["']https?://[^"']*["'][^>]*>""", re.I)
_SKIP = re.compile(r"(<(pre|code|script|style|math|textarea|title)\b.*?</\2>)", re.S | re.I)


def _mathml_escaped(tex_html: str, display: bool = False) -> str:
    return tex_to_mathml(html.unescape(tex_html), display=display)


def _dollars(fragment: str) -> str:
    """``$..$`` / ``$$..$$`` in HTML text (outside pre, code, script, style, math) as MathML."""
    parts = _SKIP.split(fragment)
    out, i = [], 0
    while i < len(parts):
        pieces = re.split(r"(<[^>]*>)", parts[i])  # text nodes only: never inside a tag's attributes
        out.append("".join(p if p.startswith("<") else MATH_PATTERN.sub(
            lambda m: _mathml_escaped(m.group(1), True) if m.group(1) is not None else _mathml_escaped(m.group(2)), p)
            for p in pieces))
        if i + 1 < len(parts):
            out.append(parts[i + 1])  # the skipped element, unchanged
        i += 3
    return "".join(out)


def render_math(page_html: str, *, dollars: bool = False) -> str:
    """All maths of a page as MathML; ``dollars``: also ``$..$`` in text (notebook Markdown cells)."""
    page_html = _ARITHMATEX.sub(lambda m: _mathml_escaped(m.group(3), m.group(2) == "["), page_html)
    page_html = _ROLE.sub(lambda m: _mathml_escaped(m.group(1)), page_html)
    page_html = _DIRECTIVE.sub(lambda m: "<p>" + _mathml_escaped(re.sub(r"<[^>]+>", "", m.group(1)), True) + "</p>", page_html)
    page_html = _XREF_ROLE.sub(r"\1", page_html)
    page_html = _RST_LITERAL.sub(lambda m: ("</p>" if m.group(1) else ":</p>") + m.group(2), page_html)
    return _dollars(page_html) if dollars else page_html


@event_priority(100)
def on_config(config, **kwargs):
    """The source tree mkdocstrings reads: ``attnverify/<folder>`` -> ``<folder>`` (setup.py's mapping)."""
    pkg = API_SRC / "attnverify"
    pkg.mkdir(parents=True, exist_ok=True)
    for name in [p.name for p in (ROOT / "attnverify").iterdir() if p.suffix in (".py", ".typed")] + list(FOLDERS):
        link, target = pkg / name, (ROOT / "attnverify" / name) if (ROOT / "attnverify" / name).exists() else ROOT / name
        if link.is_symlink() or link.exists():
            if link.is_symlink() and Path(os.readlink(link)) == target:
                continue
            link.unlink()
        link.symlink_to(target)
    return config


_MD_LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def _source_target(page_src: Path, href: str) -> Path | None:
    """The repository file a Markdown link of ``page_src`` points to outside ``docs/`` (None otherwise)."""
    if re.match(r"^[a-z][a-z0-9+.-]*:|^#", href):
        return None
    target = (page_src.parent / href.split("#", 1)[0]).resolve()
    if (ROOT / "docs") in target.parents or ROOT not in target.parents or not target.exists():
        return None
    if target.is_dir():
        target = target / "__init__.py"
    return target if target.is_file() else None


def _source_uri(target: Path) -> str:
    return f"source/{target.relative_to(ROOT).as_posix()}.txt"


@event_priority(100)
def on_files(files, config, **kwargs):
    """The notebooks of ``notebooks/`` as pages under ``notebooks/`` (mkdocs-jupyter renders them), and a text
    copy of every repository file a Markdown page links to."""
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        f = File(f"notebooks/{nb.name}", str(ROOT), config["site_dir"], config["use_directory_urls"])
        if files.get_file_from_path(f.src_uri) is None:
            files.append(f)
    for page in [f for f in files if f.src_uri.endswith(".md") and f.abs_src_path]:
        for m in _MD_LINK.finditer(Path(page.abs_src_path).read_text(encoding="utf-8")):
            target = _source_target(Path(page.abs_src_path), m.group(2))
            if target is not None and files.get_file_from_path(_source_uri(target)) is None:
                files.append(File.generated(config, _source_uri(target), content=target.read_text(encoding="utf-8", errors="replace")))
    return files


def on_page_markdown(markdown, page, config, files, **kwargs):
    """Links to repository files outside ``docs/`` point to their copies under ``source/``."""
    if not page.file.abs_src_path or not page.file.src_uri.endswith(".md"):
        return markdown
    src, up = Path(page.file.abs_src_path), "../" * page.file.src_uri.count("/")

    def fix(m: re.Match) -> str:
        target = _source_target(src, m.group(2))
        if target is None:
            return m.group(0)
        frag = "#" + m.group(2).split("#", 1)[1] if "#" in m.group(2) else ""
        return f"{m.group(1)}{up}{_source_uri(target)}{frag}{m.group(3)}"

    return _table_math(_MD_LINK.sub(fix, markdown))


def _table_math(markdown: str) -> str:
    r"""Maths in Markdown table rows as MathML *before* the table is parsed: a statement's pipes are escaped
    for the table (``\\|`` for TeX's ``\|``, ``\|`` for ``|``), which would otherwise split its cell."""
    def row(line: str) -> str:
        if not line.lstrip().startswith("|") or "$" not in line:
            return line
        return MATH_PATTERN.sub(lambda m: tex_to_mathml(re.sub(r"\\(?=\|)", "", m.group(1) if m.group(1) is not None else m.group(2)),
                                                        display=False), line)

    return "\n".join(row(line) for line in markdown.split("\n"))


def on_page_content(html_text, page, config, files, **kwargs):
    return render_math(html_text)


def on_post_page(output, page, config, **kwargs):
    """``$..$`` of notebook pages (cells, headings and their table of contents) as MathML; no network: drop
    remote scripts and style sheets (the theme's fonts are off in mkdocs.yml)."""
    if page.file.src_uri.endswith(".ipynb"):
        output = _notebook_links(_dollars(output))
    return _REMOTE.sub("", output)


def _notebook_links(page_html: str) -> str:
    """A notebook's links into ``../docs/X.md`` as site pages, and table-of-contents anchors that mkdocs-jupyter
    cut short (a heading with code in it) completed to the heading's id."""
    page_html = re.sub(r'href="\.\./docs/([^"#]+)\.md(#[^"]*)?"', lambda m: f'href="../{m.group(1)}.html{m.group(2) or ""}"', page_html)
    ids = set(re.findall(r'\sid="([^"]+)"', page_html))

    def anchor(m: re.Match) -> str:
        if m.group(1) in ids:
            return m.group(0)
        longer = [i for i in ids if i.startswith(m.group(1))]
        return f'href="#{longer[0]}"' if len(longer) == 1 else m.group(0)

    return re.sub(r'href="#([^"]+)"', anchor, page_html)


def on_post_template(output_content, template_name, config, **kwargs):
    """The same for static templates (``404.html``)."""
    return _REMOTE.sub("", output_content)
