r"""LaTeX to MathML, offline: the claim statements and docstring maths as markup a browser renders itself.

Browsers render MathML Core natively (Chromium >= 109, Firefox, Safari), so a page built with these
helpers needs no script and no network to show $\mathrm{TV}(P,\widehat P)=\sum_{i>k}p_i$. The
conversion is :mod:`latex2mathml` (pure Python, from PyPI). A formula it cannot convert is shown as its
TeX source in a ``<code class="tex">`` element, never dropped. Two repairs follow the conversion:

- MathML Core (what Chromium renders) ignores ``mathvariant`` other than ``normal``, so an
  ``<mi mathvariant="double-struck">R</mi>`` (from ``\mathbb R``) would show a plain R: each letter or
  digit of such an ``<mi>`` becomes its Unicode mathematical alphanumeric (:func:`math_alphanumeric`:
  R -> ℝ, script N -> 𝒩, bold x -> 𝐱);
- the TeX escapes ``\%``, ``\_``, ``\&``, ``\#``, ``\$``, ``\{``, ``\}`` that latex2mathml copies verbatim into
  ``\text{...}``/``\texttt{...}`` (``<mtext>``) become the characters themselves (``27\%`` -> ``27%``).

Example::

    tex_to_mathml(r"\sum_{i>k} p_i")                 # '<math ...>...</math>'
    text_with_math("tail mass $\\sum_{i>k} p_i$ < 1")  # escaped text, the $...$ part as MathML
"""

from __future__ import annotations

import html
import re
import unicodedata

__all__ = ["tex_to_mathml", "text_with_math", "math_alphanumeric", "MATH_PATTERN"]

#: ``$$display$$`` or ``$inline$`` (no ``$`` inside, not an escaped ``\$``)
MATH_PATTERN = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|(?<![\\$])\$(?!\s)([^$]+?)(?<![\s\\])\$", re.S)


def tex_to_mathml(tex: str, display: bool = False) -> str:
    """The MathML of ``tex`` (``display``: a block formula), or its escaped source in
    ``<code class="tex">`` when :mod:`latex2mathml` is missing or cannot parse it."""
    if not isinstance(tex, str):
        raise TypeError(f"tex must be a string, got {type(tex).__name__}")
    try:
        from latex2mathml.converter import convert

        out = convert(tex.strip(), display="block" if display else "inline")
    except Exception:  # missing package or a construct latex2mathml does not know: show the source
        out = None
    if out is None or not _is_clean_mathml(out):
        return f'<code class="tex">{html.escape(tex)}</code>'
    return _MTEXT.sub(lambda m: m.group(1) + _TEX_ESCAPE.sub("", m.group(2)) + m.group(3), _MI_VARIANT.sub(_variant_mi, out))


#: the ``mathvariant`` values that MathML Core ignores, and their names in the Unicode character database
_VARIANT_NAMES = {"double-struck": ("DOUBLE-STRUCK",), "script": ("SCRIPT",), "bold": ("BOLD",),
                  "fraktur": ("FRAKTUR", "BLACK-LETTER"), "bold-italic": ("BOLD ITALIC",), "sans-serif": ("SANS-SERIF",),
                  "monospace": ("MONOSPACE",), "bold-script": ("BOLD SCRIPT",), "bold-fraktur": ("BOLD FRAKTUR",),
                  "bold-sans-serif": ("SANS-SERIF BOLD",), "sans-serif-italic": ("SANS-SERIF ITALIC",),
                  "italic": ("ITALIC",)}
_MI_VARIANT = re.compile(r'<(mi|mn) mathvariant="([a-z-]+)">([^<]+)</\1>')
_MTEXT = re.compile(r"(<mtext\b[^>]*>)([^<]*)(</mtext>)")
_TEX_ESCAPE = re.compile(r"\\(?=[%_#${}]|&amp;|&#x0005F;|&#x00025;)")


def math_alphanumeric(char: str, variant: str) -> str | None:
    """The Unicode mathematical alphanumeric of an ASCII letter or digit in a MathML ``mathvariant``
    (``("R", "double-struck")`` -> ``"ℝ"``, ``("x", "bold")`` -> ``"𝐱"``), or ``None`` when there is none.
    Letters that Unicode encoded before the block (ℝ, ℒ, ℭ, ℎ) come from the Letterlike Symbols."""
    if not (len(char) == 1 and char.isascii() and char.isalnum()) or variant not in _VARIANT_NAMES:
        return None
    what = unicodedata.name(char) if char.isdigit() else f"{'CAPITAL' if char.isupper() else 'SMALL'} {char.upper()}"
    for prefix in _VARIANT_NAMES[variant]:
        for name in (f"MATHEMATICAL {prefix} {what}", f"{prefix} {what}"):
            try:
                return unicodedata.lookup(name)
            except KeyError:
                continue
    return "\u210e" if (char, variant) == ("h", "italic") else None  # PLANCK CONSTANT


def _variant_mi(m: re.Match[str]) -> str:
    """``<mi mathvariant="v">text</mi>`` (or ``<mn>``) with every letter and digit mapped
    (:func:`math_alphanumeric`; a symbol such as ``_`` kept as it is), else unchanged."""
    tag, variant, text = m.group(1), m.group(2), html.unescape(m.group(3))
    if variant not in _VARIANT_NAMES:
        return m.group(0)
    mapped = [math_alphanumeric(c, variant) or (None if c.isalnum() else c) for c in text]
    if any(c is None for c in mapped):
        return m.group(0)
    return f"<{tag}>{html.escape(''.join(mapped))}</{tag}>"  # type: ignore[arg-type]


#: the presentation-MathML elements latex2mathml writes; anything else (an ``<img>`` smuggled through
#: ``\text{...}``, say) makes the formula fall back to its escaped source
_MATHML_TAGS = frozenset("""math mrow mi mn mo mtext mspace ms mfrac msqrt mroot mstyle merror mpadded mphantom
    mfenced menclose msub msup msubsup munder mover munderover mmultiscripts mprescripts none mtable mtr mtd
    mlabeledtr maligngroup malignmark semantics annotation""".split())


def _is_clean_mathml(markup: str) -> bool:
    """``markup`` parses as XML, uses MathML elements only, has no event-handler or link attribute and no
    unconverted TeX command (an ``<mi>\\name</mi>`` is raw TeX, not maths)."""
    import xml.etree.ElementTree as ET

    try:
        tree = ET.fromstring(markup)
    except ET.ParseError:
        return False
    for el in tree.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag not in _MATHML_TAGS or any(a.lower().startswith("on") or "href" in a.lower() for a in el.attrib):
            return False
        if tag in ("mi", "mo") and (el.text or "").startswith("\\"):
            return False
    return True


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
