r"""The SentencePiece-BPE tokenizer stored in a GGUF (``tokenizer.ggml.*``), rebuilt with :mod:`tokenizers`.

A ``tokenizer.ggml.model = "llama"`` vocabulary is a SentencePiece model: ``tokens`` (pieces, spaces
written ``▁``), ``scores`` and ``token_type`` (1 normal, 3 control, 4 user-defined, 6 byte). SentencePiece
BPE encodes by repeatedly merging the adjacent pair of symbols whose concatenation is a normal piece of
highest score (leftmost on ties); user-defined pieces (``\n``, runs of spaces, HTML tags) are matched
whole first and never merged; characters outside the vocabulary fall back to ``<0xXX>`` byte pieces.

:func:`gguf_tokenizer` expresses that as a :class:`tokenizers.models.BPE` whose merge list is every
split ``(l, r)`` of a normal piece $l r$ into two normal pieces, ranked by the score of $l r$ (the
construction of transformers' ``GGUFTokenizerSkeleton``), with the user-defined pieces as added tokens
and the control pieces as special tokens; a non-splitting ``Metaspace`` pre-tokenizer writes spaces as
``▁``. :func:`spm_encode_reference` is the merge loop itself, in plain Python, an independent check on
short texts. This GGUF stores the pure-space user-defined pieces with literal spaces: the tokenizer
matches them in the raw text, the reference as ``▁`` runs (as transformers' ``GGUFGemmaConverter``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["gguf_tokenizer", "spm_encode_reference", "spm_pieces"]

SPACE = "\u2581"
NORMAL, CONTROL, USER_DEFINED, BYTE = 1, 3, 4, 6
_FORMAT = 2  # version of the cached tokenizer.json layout (bump when _build changes)


def spm_pieces(meta: dict[str, Any]) -> tuple[list[str], list[float], list[int]]:
    """``(pieces, scores, types)`` from GGUF metadata, pure-space pieces rewritten as ``▁`` runs.
    **Raises:** ValueError naming the key when the vocabulary is missing, inconsistent or not SentencePiece."""
    if not isinstance(meta, Mapping):
        raise TypeError(f"meta must be the GGUF metadata mapping (gguf_metadata(path)), got {type(meta).__name__}")
    model = meta.get("tokenizer.ggml.model")
    if model != "llama":
        raise ValueError(f"tokenizer.ggml.model is {model!r}; only SentencePiece ('llama') vocabularies are supported")
    try:
        pieces, scores, types = (list(meta[f"tokenizer.ggml.{k}"]) for k in ("tokens", "scores", "token_type"))
    except KeyError as e:
        raise ValueError(f"GGUF metadata lacks {e.args[0]!r}") from e
    if not len(pieces) == len(scores) == len(types):
        raise ValueError(f"tokenizer.ggml.tokens/scores/token_type have lengths {len(pieces)}/{len(scores)}/{len(types)}")
    pieces = [SPACE * len(p) if p and not p.strip(" ") else p for p in pieces]
    return pieces, [float(s) for s in scores], [int(t) for t in types]


def _merges(pieces: Sequence[str], scores: Sequence[float], types: Sequence[int]) -> list[tuple[str, str]]:
    normal = {p: s for p, s, t in zip(pieces, scores, types) if t == NORMAL}
    ranked = []
    for piece, score in normal.items():
        splits = [(piece[:i], piece[i:]) for i in range(1, len(piece)) if piece[:i] in normal and piece[i:] in normal]
        splits.sort(key=lambda lr: (normal[lr[0]], normal[lr[1]]), reverse=True)
        ranked.extend((score, lr) for lr in splits)
    ranked.sort(key=lambda x: x[0], reverse=True)  # stable: ties keep the order above
    return [lr for _, lr in ranked]


def _build(meta: dict[str, Any], add_space_prefix: bool) -> Any:
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE

    pieces, scores, types = spm_pieces(meta)
    raw = list(meta["tokenizer.ggml.tokens"])  # user-defined pieces are matched in the raw text (literal spaces)
    vocab = {p: i for i, p in enumerate(raw)}
    unk = pieces[int(meta.get("tokenizer.ggml.unknown_token_id", vocab.get("<unk>", 0)))]
    tok = Tokenizer(BPE(vocab, _merges(pieces, scores, types), unk_token=unk, fuse_unk=True, byte_fallback=True))
    # spaces -> ▁ (and the dummy prefix on the first section) without splitting: SentencePiece does not pre-split
    tok.pre_tokenizer = pre_tokenizers.Metaspace(SPACE, prepend_scheme="first" if add_space_prefix else "never",
                                                 split=False)
    tok.decoder = decoders.Sequence([decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
                                    + ([decoders.Strip(" ", 1, 0)] if add_space_prefix else []))
    tok.add_special_tokens([AddedToken(p, special=True, normalized=False) for p, t in zip(pieces, types) if t == CONTROL])
    tok.add_tokens([AddedToken(r, special=False, normalized=False) for r, t in zip(raw, types) if t == USER_DEFINED])
    if meta.get("tokenizer.ggml.add_bos_token", True):
        bos = pieces[int(meta["tokenizer.ggml.bos_token_id"])]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, vocab[bos])])
    tok.no_padding()
    tok.no_truncation()
    return tok


def gguf_tokenizer(meta: dict[str, Any], *, add_space_prefix: bool = False, cache_key: str | None = None) -> Any:
    r"""A :class:`tokenizers.Tokenizer` for the SentencePiece vocabulary in GGUF ``meta``.

    ``encode(text).ids`` starts with ``<bos>`` when ``tokenizer.ggml.add_bos_token`` (Gemma: yes);
    ``decode(ids)`` drops it and inverts the text exactly (``▁`` to space, byte pieces fused).
    ``add_space_prefix``: prepend a space (SentencePiece's dummy prefix). Off by default for Gemma:
    this GGUF sets ``tokenizer.ggml.add_space_prefix`` but Gemma's own tokenizer (HF ``tokenizer.json``,
    transformers' ``GGUFGemmaConverter``) adds no prefix, and the model scores text better without it
    (``tests/test_gemma_real.py::test_no_dummy_prefix_scores_better``). With ``cache_key`` the serialised tokenizer is kept in the cache dir
    (``<cache>/gemma3/<key>.tokenizer.json``): building the 262 144 merges takes a few seconds.
    """
    from tokenizers import Tokenizer

    from attnverify.proofs_numeric.io import atomic_write_text

    from .gguf_file import cache_dir

    if not isinstance(meta, Mapping):
        raise TypeError(f"meta must be the GGUF metadata mapping (gguf_metadata(path)), got {type(meta).__name__}")
    f = cache_dir() / "gemma3" / f"{cache_key}.{'prefix.' if add_space_prefix else ''}tokenizer-v{_FORMAT}.json"
    if cache_key is not None and f.is_file():
        return Tokenizer.from_str(f.read_text())
    tok = _build(meta, add_space_prefix)
    if cache_key is not None:
        atomic_write_text(f, tok.to_str())
    return tok


def spm_encode_reference(text: str, meta: dict[str, Any], *, add_space_prefix: bool = False) -> list[int]:
    """SentencePiece-BPE encoding of ``text`` by the merge loop itself (no ``<bos>``): longest
    user-defined match first, then repeatedly merge the adjacent pair whose concatenation is the
    highest-scoring normal piece (leftmost on ties), then byte fallback. $O(n^2)$: short texts only."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    pieces, scores, types = spm_pieces(meta)
    ids = {p: i for i, p in enumerate(pieces)}
    normal = {p: s for p, s, t in zip(pieces, scores, types) if t == NORMAL}
    user = sorted((p for p, t in zip(pieces, types) if t == USER_DEFINED), key=len, reverse=True)
    s = ((" " if add_space_prefix else "") + text).replace(" ", SPACE)
    symbols: list[tuple[str, bool]] = []  # (symbol, frozen)
    i = 0
    while i < len(s):
        u = next((p for p in user if s.startswith(p, i)), None)
        symbols.append((u, True) if u else (s[i], False))
        i += len(u) if u else 1
    while True:
        best, at = None, -1
        for j in range(len(symbols) - 1):
            (a, fa), (b, fb) = symbols[j], symbols[j + 1]
            if not (fa or fb) and a + b in normal and (best is None or normal[a + b] > best):
                best, at = normal[a + b], j
        if best is None:
            break
        symbols[at:at + 2] = [(symbols[at][0] + symbols[at + 1][0], False)]
    out: list[int] = []
    for sym, _ in symbols:
        out.extend([ids[sym]] if sym in ids else [ids[f"<0x{b:02X}>"] for b in sym.encode("utf-8")])
    return out

