"""Moses pre-processing of XLM's tokenizer: punctuation normalisation, word tokenisation, and the
text clean-ups transformers runs around them (its ``XLMTokenizer`` port of the Moses scripts).

The normaliser and tokenizer are sacremoses' (pinned in ``pyproject.toml`` to the 0.1-0.2 series
that the two speed-up subclasses below were written and checked against), one instance per language.
"""

import functools
import re
import unicodedata
from typing import Any

# replace-unicode-punctuation.perl (Moses), as transformers ports it: plain replacements, then the
# two that also eat the whitespace after them.
_PUNCT = {
    "，": ",", "、": ",", "”": '"', "“": '"', "∶": ":", "：": ":", "？": "?", "《": '"', "》": '"', "）": ")",
    "！": "!", "（": "(", "；": ";", "１": "1", "」": '"', "「": '"', "０": "0", "３": "3", "２": "2", "５": "5",
    "６": "6", "９": "9", "７": "7", "８": "8", "４": "4", "～": "~", "’": "'", "…": "...", "━": "-", "〈": "<",
    "〉": ">", "【": "[", "】": "]", "％": "%",
}  # fmt: skip


def replace_unicode_punct(text: str) -> str:
    text = text.replace("，", ",")
    text = re.sub(r"。\s*", ". ", text)
    for source, target in _PUNCT.items():
        if source == "～":
            text = re.sub(r"．\s*", ". ", text)  # transformers' order: the full-width stop comes before ～
        text = text.replace(source, target)
    return text


def remove_non_printing_char(text: str) -> str:
    """Drop Unicode category C* (control, format, ...) characters."""
    if text.isprintable():  # no C* character (isprintable is false for all of them)
        return text
    return "".join(c for c in text if not unicodedata.category(c).startswith("C"))


def romanian_preprocessing(text: str) -> str:
    """Sennrich's WMT16 Romanian normalisation (cedilla -> comma forms, then diacritics removed)."""
    for source, target in (("\u015e", "\u0218"), ("\u015f", "\u0219"), ("\u0162", "\u021a"), ("\u0163", "\u021b")):
        text = text.replace(source, target)
    for source, target in (
        ("\u0218", "S"),
        ("\u0219", "s"),
        ("\u021a", "T"),
        ("\u021b", "t"),
        ("\u0102", "A"),
        ("\u0103", "a"),
        ("\u00c2", "A"),
        ("\u00e2", "a"),
        ("\u00ce", "I"),
        ("\u00ee", "i"),
    ):
        text = text.replace(source, target)
    return text


class MosesTools:
    """sacremoses' punctuation normaliser and tokenizer, one of each per language, made on first use."""

    def __init__(self):
        try:
            import sacremoses
        except ImportError:
            raise ImportError("XLMTokenizer needs sacremoses: pip install sacremoses") from None
        self._normalizer_class, self._tokenizer_class = _fast_classes(sacremoses)
        self._tools: dict[tuple[str, str], Any] = {}

    def _tool(self, kind: str, lang: str) -> Any:
        key = (kind, lang)
        if key not in self._tools:
            cls = self._normalizer_class if kind == "norm" else self._tokenizer_class
            self._tools[key] = cls(lang=lang)
        return self._tools[key]

    def normalise(self, text: str, lang: str) -> str:
        """transformers' ``moses_pipeline``: Unicode punctuation, Moses normalisation, C* characters removed."""
        text = replace_unicode_punct(text)
        text = self._tool("norm", lang).normalize(text)
        return remove_non_printing_char(text)

    def tokenize(self, text: str, lang: str) -> list[str]:
        """Moses words of ``text`` (already normalised), unescaped."""
        return self._tool("tok", lang).tokenize(text, return_str=False, escape=False)


@functools.cache
def _fast_classes(sacremoses) -> tuple[type, type]:
    """sacremoses' normaliser and tokenizer with the same output, faster: patterns compiled once
    (its normaliser looks each one up by string per call) and the character sets of
    ``islower``/``isanyalpha`` built once (it rebuilds a set of thousands of characters per call)."""

    class MosesPunctNormalizer(sacremoses.MosesPunctNormalizer):
        def __init__(self, lang: str):
            super().__init__(lang=lang)
            self._compiled = [(re.compile(pattern), replacement) for pattern, replacement in self.substitutions]

        def normalize(self, text: str) -> str:
            if self.pre_replace_unicode_punct:
                text = self.replace_unicode_punct(text)
            for pattern, replacement in self._compiled:
                text = pattern.sub(replacement, text)
            if self.post_remove_control_chars:
                text = self.remove_control_chars(text)
            return text.strip()

    class MosesTokenizer(sacremoses.MosesTokenizer):
        def __init__(self, lang: str):
            super().__init__(lang=lang)
            self._lower = frozenset(self.IsLower)
            self._alpha = frozenset(self.IsAlpha)

        def islower(self, text: str) -> bool:
            return not set(text).difference(self._lower)

        def isanyalpha(self, text: str) -> bool:
            return bool(set(text).intersection(self._alpha))

    return MosesPunctNormalizer, MosesTokenizer
