"""Sentence boundaries through ICU (PyICU), per language, as mLUKE's pretraining data was cut.

ICU's sentence break rules handle the corpus languages (CJK full stops, Thai, Devanagari danda,
...); for English, German, Spanish, Italian and Portuguese its abbreviation lists are switched on
(``@ss=standard``), as the original code does. ICU counts UTF-16 code units; the boundaries are
mapped back to Python's code points (the original replaced characters outside the BMP by spaces
instead, which changes the text).
"""

import re

_ABBREVIATION_LOCALES = frozenset({"en", "de", "es", "it", "pt", "fr", "ru"})
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


class SentenceSplitter:
    """``spans(text)``: the ``(start, end)`` of each sentence of ``text``, surrounding spaces excluded."""

    def __init__(self, language: str):
        try:
            import icu
        except ImportError:
            raise ImportError("sentence splitting needs PyICU: pip install 'mluke-jax[corpus]'") from None
        self.language = language
        locale = language + ("@ss=standard" if language in _ABBREVIATION_LOCALES else "")
        self._breaker = icu.BreakIterator.createSentenceInstance(icu.Locale(locale))

    def __getstate__(self) -> dict:
        return {"language": self.language}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["language"])

    def spans(self, text: str) -> list[tuple[int, int]]:
        self._breaker.setText(text)
        boundaries = [0, *self._breaker]
        if _ASTRAL.search(text):
            code_point_at = _code_points_of_utf16(text)
            boundaries = [code_point_at[b] for b in boundaries]
        out = []
        for start, end in zip(boundaries, boundaries[1:]):
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if end > start:
                out.append((start, end))
        return out


def _code_points_of_utf16(text: str) -> list[int]:
    """For each UTF-16 offset of ``text`` (and its end), the code point index it falls in."""
    out = []
    for index, char in enumerate(text):
        out.append(index)
        if ord(char) > 0xFFFF:
            out.append(index)  # the low surrogate
    out.append(len(text))
    return out
