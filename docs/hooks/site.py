r"""MkDocs hooks of the attnverify site (``mkdocs.yml``: ``hooks: [docs/hooks/site.py]``): offline, MathML maths.

* ``on_config``: lays out ``build/docs/api-src/attnverify/`` (symlinks to the package folders, as
  ``setup.py`` maps them) so that mkdocstrings reads ``attnverify.bounds`` and friends from source;
* ``on_files``: adds ``notebooks/*.ipynb`` as ``notebooks/NAME.ipynb`` pages (runs before mkdocs-jupyter,
  which renders and executes them);
* ``on_page_content`` / ``on_post_page``: every formula becomes MathML (:mod:`attnverify.proofs_numeric.mathml`):
  arithmatex spans ``\(..\)`` / ``\[..\]``, reST ``:math:`` roles of docstrings and ``$..$`` in notebook
  Markdown cells; every ``<script src="http...">`` and ``<link href="http...">`` is removed, so a page
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
_XREF_ROLE = re.compile(r":(?:func|class|mod|meth|data|attr|obj|exc):(<code>)")
_REMOTE = re.compile(r"""<script[^>]+src=["']https?://[^"']*["'][^>]*>\s*</script>|<link[^>]+href=["']https?://[^"']*["'][^>]*>""", re.I)
_SKIP = re.compile(r"(<(pre|code|script|style|math|textarea|title)\b.*?</\2>)", re.S | re.I)


def _mathml_escaped(tex_html: str, display: bool = False) -> str:
    return tex_to_mathml(html.unescape(tex_html), display=display)


def _dollars(fragment: str) -> str:
    """``$..$`` / ``$$..$$`` in HTML text (outside pre, code, script, style, math) as MathML."""
    parts = _SKIP.split(fragment)
    out, i = [], 0
    while i < len(parts):
        text = parts[i]
        out.append(MATH_PATTERN.sub(lambda m: _mathml_escaped(m.group(1), True) if m.group(1) is not None
                                    else _mathml_escaped(m.group(2)), text))
        if i + 1 < len(parts):
            out.append(parts[i + 1])  # the skipped element, unchanged
        i += 3
    return "".join(out)


def render_math(page_html: str, *, dollars: bool = False) -> str:
    """All maths of a page as MathML; ``dollars``: also ``$..$`` in text (notebook Markdown cells)."""
    page_html = _ARITHMATEX.sub(lambda m: _mathml_escaped(m.group(3), m.group(2) == "["), page_html)
    page_html = _ROLE.sub(lambda m: _mathml_escaped(m.group(1)), page_html)
    page_html = _XREF_ROLE.sub(r"\1", page_html)
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


@event_priority(100)
def on_files(files, config, **kwargs):
    """The notebooks of ``notebooks/`` as pages under ``notebooks/`` (mkdocs-jupyter renders them)."""
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        f = File(f"notebooks/{nb.name}", str(ROOT), config["site_dir"], config["use_directory_urls"])
        if files.get_file_from_path(f.src_uri) is None:
            files.append(f)
    return files


def on_page_content(html_text, page, config, files, **kwargs):
    return render_math(html_text)


def on_post_page(output, page, config, **kwargs):
    """``$..$`` of notebook pages (cells, headings and their table of contents) as MathML; no network: drop
    remote scripts and style sheets (the theme's fonts are off in mkdocs.yml)."""
    if page.file.src_uri.endswith(".ipynb"):
        output = _dollars(output)
    return _REMOTE.sub("", output)
