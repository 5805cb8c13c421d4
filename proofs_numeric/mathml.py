r"""LaTeX to MathML, offline: the claim statements and docstring maths as markup a browser renders itself.

Browsers render MathML Core natively (Chromium >= 109, Firefox, Safari), so a page built with these
helpers needs no script and no network to show $\mathrm{TV}(P,\widehat P)=\sum_{i>k}p_i$. The
conversion is :mod:`latex2mathml` (pure Python, from PyPI). A formula it cannot convert is shown as its
TeX source in a ``<code class="tex">`` element, never dropped. Example::

    tex_to_mathml(r"\sum_{i>k} p_i")                 # '<math ...>...</math>'
    text_with_math("tail mass $\\sum_{i>k} p_i$ < 1")  # escaped text, the $...$ part as MathML
"""

from __future__ import annotations

import html
import re

__all__ = ["tex_to_mathml", "text_with_math", "MATH_PATTERN"]

#: ``$$display$$`` or ``$inline$`` (no ``$`` inside, not an escaped ``\$``)
MATH_PATTERN = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|(?<![\\$])\$(?!\s)([^$]+?)(?<![\s\\])\$", re.S)


def tex_to_mathml(tex: str, display: bool = False) -> str:
    """The MathML of ``tex`` (``display``: a block formula), or its escaped source in
    ``<code class="tex">`` when :mod:`latex2mathml` is missing or cannot parse it."""
    if not isinstance(tex, str):
        raise TypeError(f"tex must be a string, got {type(tex).__name__}")
    try:
        from latex2mathml.converter import convert

        return convert(tex.strip(), display="block" if display else "inline")
    except Exception:  # missing package or a construct latex2mathml does not know: show the source
        return f'<code class="tex">{html.escape(tex)}</code>'


def text_with_math(text: str) -> str:
    """HTML of plain ``text``: escaped, with each ``$...$`` (inline) and ``$$...$$`` (display) as MathML."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    out, pos = [], 0
    for m in MATH_PATTERN.finditer(text):
        out.append(html.escape(text[pos:m.start()]))
        out.append(tex_to_mathml(m.group(1), display=True) if m.group(1) is not None else tex_to_mathml(m.group(2)))
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)
