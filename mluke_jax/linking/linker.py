"""Mentions and their entities in raw text, from a mention database (the original LUKE's linker).

:class:`EntityLinker` finds the surface forms of a :class:`~mluke_jax.linking.mention_db.MentionDB`
in a text and keeps, from left to right, the longest one starting at each word that is not inside
an earlier mention (greedy longest match over word boundaries, at most ``max_mention_length``
words), among those whose link probability is at least ``min_link_prob`` (0.01, as the original).
A mention's entity is the most linked title of its surface form that the entity vocabulary holds;
a matched surface form with no such title still takes up its words (no shorter form inside it is
tried), as the original does.

The text's words are normalised as the database's keys are
(:func:`~mluke_jax.linking.surface.surface_key`); at each word, one prefix search of the language's
MARISA trie finds every surface form starting there; the matches are mapped back to character
offsets of the original text.
"""

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from mluke_jax.linking.mention_db import Candidate, MentionDB
from mluke_jax.linking.surface import normalize_surface, word_spans, words

MULTILINGUAL_NAMES = "{language}:{title}"  # mLUKE's entity vocabulary: "en:Tokyo"
TITLE_NAMES = "{title}"  # English LUKE's: "Tokyo"
_CACHED_ROWS = 1 << 20  # surface forms whose candidates are kept parsed


class EntityCandidate(NamedTuple):
    """One entity a mention may refer to: its name in the entity vocabulary, and how often the
    mention's surface form links to it (``prior_prob``, among all its links)."""

    name: str
    prior_prob: float
    link_count: int


@dataclass(frozen=True)
class Mention:
    """``text[start:end]`` (character offsets of the linked text, end exclusive) refers to
    ``entity`` (the best of ``candidates``); ``link_prob``: how often its surface form is a link."""

    start: int
    end: int
    text: str
    entity: str
    link_prob: float
    candidates: tuple[EntityCandidate, ...]

    @property
    def span(self) -> tuple[int, int]:
        return self.start, self.end


@dataclass(frozen=True)
class Linking:
    """The mentions found in one text, left to right, not overlapping.

    ``tokenizer(text, **linking.tokenizer_inputs())`` feeds them to ``MLukeTokenizer``."""

    text: str
    language: str
    mentions: tuple[Mention, ...]

    @property
    def entity_spans(self) -> list[tuple[int, int]]:
        return [m.span for m in self.mentions]

    @property
    def entities(self) -> list[str]:
        return [m.entity for m in self.mentions]

    def tokenizer_inputs(self) -> dict[str, list]:
        """``{"entity_spans": [...], "entities": [...]}``."""
        return {"entity_spans": self.entity_spans, "entities": self.entities}

    def __len__(self) -> int:
        return len(self.mentions)


class EntityLinker:
    """Greedy longest-match entity linking over a mention database (see the module docstring).

    Args:
        mention_db: a loaded :class:`MentionDB`.
        entity_vocab: the model's entity vocabulary (name -> id), or a tokenizer holding one; only
            its entities are linked. ``None`` keeps every title.
        entity_names: how the vocabulary spells an entity: ``"{language}:{title}"`` (mLUKE, the
            default) or ``"{title}"`` (English LUKE); a tokenizer passed as ``entity_vocab`` gives its own.
        min_link_prob: surface forms linked less often than this where they occur are not mentions.
        max_mention_length: longest mention in words (the database's ``max_mention_length``).
    """

    def __init__(
        self,
        mention_db: MentionDB,
        entity_vocab: Mapping[str, int] | Any | None = None,
        *,
        entity_names: str | None = None,
        min_link_prob: float = 0.01,
        max_mention_length: int | None = None,
    ):
        if not 0 <= min_link_prob <= 1:
            raise ValueError(f"min_link_prob must be within 0..1, got {min_link_prob}")
        if entity_vocab is not None and not isinstance(entity_vocab, Mapping):
            entity_names = entity_names or getattr(entity_vocab, "entity_names", None)
            entity_vocab = getattr(entity_vocab, "entity_vocab", None)
            if not isinstance(entity_vocab, Mapping):
                raise TypeError("entity_vocab must be a name -> id mapping or a tokenizer with an entity_vocab")
        self.entity_names = entity_names or MULTILINGUAL_NAMES
        if "{title}" not in self.entity_names:
            raise ValueError(f"entity_names must contain {{title}}, got {self.entity_names!r}")
        self.mention_db = mention_db
        self.entity_vocab = entity_vocab
        self.min_link_prob = min_link_prob
        self.max_mention_length = int(max_mention_length or mention_db.header.get("max_mention_length", 20))
        self._rows: dict[tuple[str, int], tuple[float, tuple[EntityCandidate, ...]]] = {}

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike,
        entity_vocab: Mapping[str, int] | Any | None = None,
        *,
        languages: Iterable[str] | None = None,
        progress: bool = False,
        **settings: Any,
    ) -> "EntityLinker":
        """Load the mention database at ``path`` (written by ``python -m mluke_jax.corpus
        mention-db``; only ``languages`` when given) and link into ``entity_vocab`` (see the class)."""
        return cls(MentionDB.load(path, languages, progress=progress), entity_vocab, **settings)

    @property
    def languages(self) -> list[str]:
        return self.mention_db.languages

    def __call__(self, text: str, language: str, *, k: int = 1) -> Linking:
        """The mentions of ``text`` (in ``language``), each with up to ``k`` candidates."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.mention_db.require_language(language)
        spans, keys = self._words(text)
        if not keys:
            return Linking(text, language, ())
        # the normalised text: word keys joined by single spaces; where each word starts / ends in it
        starts, ends, position = {}, {}, 0
        for index, key in enumerate(keys):
            starts[position] = index
            position += len(key)
            ends[position] = index
            position += 1
        normalised = " ".join(keys)
        longest: dict[int, list[tuple[int, int]]] = {}  # first word -> [(word after the last, row)]
        for start, end, row in self.mention_db.matches(normalised, language, starts):
            first, last = starts.get(start), ends.get(end)
            if first is not None and last is not None and last - first < self.max_mention_length:
                longest.setdefault(first, []).append((last + 1, row))
        mentions = []
        cursor = 0
        for first in sorted(longest):
            if first < cursor:
                continue
            for after, row in sorted(longest[first], reverse=True):
                link_prob, candidates = self._row(language, row)
                if link_prob < self.min_link_prob:
                    continue
                cursor = after  # a surface form takes up its words even when no entity of it is known
                if candidates:
                    start, end = spans[first][0], spans[after - 1][1]
                    mentions.append(
                        Mention(start, end, text[start:end], candidates[0].name, link_prob, candidates[:k])
                    )
                break
        return Linking(text, language, tuple(mentions))

    def link_batch(self, texts: Sequence[str], language: str, *, k: int = 1) -> list[Linking]:
        """:meth:`__call__` on each text."""
        return [self(text, language, k=k) for text in texts]

    def _words(self, text: str) -> tuple[list[tuple[int, int]], list[str]]:
        """The words of ``text`` that have a key: their character spans and normalised keys."""
        spans, keys = [], []
        for start, end in word_spans(text):
            key = " ".join(words(normalize_surface(text[start:end])))
            if key:  # a word of accents only has none
                spans.append((start, end))
                keys.append(key)
        return spans, keys

    def _row(self, language: str, row: int) -> tuple[float, tuple[EntityCandidate, ...]]:
        """A surface form's link probability and its candidates in the vocabulary, most linked first
        (cached: a text's frequent surface forms recur)."""
        cached = self._rows.get((language, row))
        if cached is None:
            found: list[Candidate] = self.mention_db.row(language, row)
            named = ((self.entity_names.format(language=c.language, title=c.title), c) for c in found)
            kept = tuple(
                EntityCandidate(name, c.prior_prob, c.link_count)
                for name, c in named
                if self.entity_vocab is None or name in self.entity_vocab
            )
            if len(self._rows) >= _CACHED_ROWS:
                self._rows.clear()
            cached = self._rows[(language, row)] = (found[0].link_prob if found else 0.0, kept)
        return cached
