"""Surface forms: how a mention's text is compared with the anchors of the mention database.

As the original LUKE mention database does with BERT's basic tokenizer, a text is lower-cased, its
accents are stripped and it is cut into words: each punctuation mark or symbol is a word of its own,
and so is each character of the scripts written without spaces (Han, kana, Thai, Lao, Khmer,
Myanmar), so that a Japanese or Chinese anchor matches inside running text. Only the combining
accents of the Latin, Greek and Cyrillic block (U+0300-U+036F) are stripped: kana voicing marks
and the vowel signs of Indic scripts are letters, not accents. The key of a text is its words
joined by single spaces: ``surface_key("Tōkyō-to")`` is ``"tokyo - to"``.
"""

import functools
import re
import unicodedata

_ACCENTS = re.compile("[\u0300-\u036f]+")
# Scripts written without spaces between words: every character is a word.
_UNSPACED = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff\u31f0-\u31ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\U00020000-\U0002ebef\U0002f800-\U0002fa1f"
)


# Punctuation and symbols are looked up in planes 0 and 1 (planes 2-3 are Han, the rest has none).
_LAST_SCANNED = 0x1FFFF


@functools.cache
def _word_pattern() -> re.Pattern:
    """Words: single separators (punctuation, symbols, unspaced scripts) or runs of anything else."""
    ranges, start = [], None
    for code in range(_LAST_SCANNED + 1):
        separate = unicodedata.category(chr(code))[0] in "PS"
        if separate and start is None:
            start = code
        elif not separate and start is not None:
            ranges.append((start, code - 1))
            start = None
    if start is not None:
        ranges.append((start, _LAST_SCANNED))
    marks = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    separators = f"[{marks}{_UNSPACED}]"
    return re.compile(rf"{separators}|[^\s{marks}{_UNSPACED}]+")


def normalize_surface(text: str) -> str:
    """``text`` lower-cased, Latin/Greek/Cyrillic accents stripped (same length not guaranteed)."""
    text = unicodedata.normalize("NFD", text.lower())
    return unicodedata.normalize("NFC", _ACCENTS.sub("", text))


def words(text: str) -> list[str]:
    """The words of an already normalised ``text`` (see the module docstring)."""
    return _word_pattern().findall(text)


def word_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each word of ``text``, in ``text``'s own characters."""
    return [m.span() for m in _word_pattern().finditer(text)]


def surface_key(text: str) -> str:
    """The key under which ``text`` is looked up: normalised words joined by single spaces."""
    return " ".join(words(normalize_surface(text)))
