"""Text helpers: the project's one Vietnamese diacritics folder, and markup in descriptions.

Citizens type with, without or with half their diacritics ("Thuỷ"/"Thủy", "Hoá"/"Hóa"), so every
comparison of names goes through `fold`. The NLU tokenizer reuses it, hence the precomputed table:
one `str.translate` per call instead of a per-character Unicode decomposition.
"""
from __future__ import annotations

import html
import re
import unicodedata

_SPACES = re.compile(r"\s+")
# What Open311 calls "html or code" in a description: tags and character entities. A lone "<"
# ("<3", "nhiệt độ < 30") is ordinary text.
_TAG = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>")
HTML = re.compile(_TAG.pattern + r"|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")


def _build_table(keep_case: bool) -> dict:
    table = {ord("đ"): "d", ord("Đ"): "D" if keep_case else "d"}
    # Latin-1, Latin Extended-A/B and Latin Extended Additional hold every Vietnamese letter.
    ranges = (range(0x41, 0x5B), range(0xC0, 0x250), range(0x1E00, 0x1F00))
    for block in ranges:
        for code in block:
            char = chr(code)
            base = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))
            folded = base if keep_case else base.lower()
            # Keep it one character per character so spans in folded text match the original.
            if folded != char and len(folded) == 1:
                table.setdefault(code, folded)
    return table


_TABLE = _build_table(keep_case=False)
_PLAIN = _build_table(keep_case=True)


def strip_marks(text: str) -> str:
    """The text as typed on a keyboard without Vietnamese marks ("Đường Huế" -> "Duong Hue"), case
    kept: how the NLU is measured on messages typed without diacritics."""
    return unicodedata.normalize("NFC", text).translate(_PLAIN)


def fold_chars(text: str) -> str:
    """Lowercase and strip diacritics one character for one character.

    For NFC text the result has the same length as the input, so a match span found in the
    folded text is the span of the original words (used to echo the user's own spelling).
    """
    return text.translate(_TABLE).lower()


def fold(text: str) -> str:
    """Lowercase, strip Vietnamese diacritics (đ -> d) and collapse whitespace."""
    if not text.isascii():
        # Some keyboards send decomposed letters (base + combining marks): compose them first,
        # then drop any mark that has no precomposed form.
        text = unicodedata.normalize("NFC", text)
        folded = fold_chars(text)
        if any(unicodedata.combining(c) for c in folded):
            folded = "".join(c for c in folded if not unicodedata.combining(c))
    else:
        folded = text.lower()
    return _SPACES.sub(" ", folded).strip()


def strip_html(text: str) -> str:
    """The text without tags, entities decoded ("&amp;" is "&"), for a citizen who pasted some:
    their words stay. Whatever still looks like markup after decoding is dropped."""
    return _SPACES.sub(" ", HTML.sub(" ", html.unescape(_TAG.sub(" ", text)))).strip()
