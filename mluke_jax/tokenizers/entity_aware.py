"""What mLUKE's and English LUKE's tokenizers share: words plus entity spans, with transformers
**4.x** ids.

The word pieces come from a :class:`~mluke_jax.tokenizers.added_tokens.AddedTokenPieces`
(sentencepiece for mLUKE, byte-level BPE for LUKE); ``<ent>`` and ``<ent2>`` are added after the
vocabulary. Subclasses (:mod:`~mluke_jax.tokenizers.mluke`, :mod:`~mluke_jax.tokenizers.luke`) read
and write their files.

Entities: ``entity_spans`` are character offsets ``(start, end)``, end exclusive. The text is cut at
every span boundary (a space before a boundary goes with the following piece) and each piece is
tokenized on its own, so a mention always starts and ends on a token boundary. Each entity then
gets the token positions of its mention (offset by ``<s>``, and by ``len(first) + 3`` in the second
text of a pair), at most ``max_mention_length`` of them, padded with -1.

A call resolves its options once (:class:`EncodeOptions`), then runs stages that each return new
records: plan every row (cut at the mention boundaries), encode all rows with one subword-model call
(which spreads the work over all cores), mark the mentions for the entity tasks, truncate and add
the special tokens per row, pad.
"""

import itertools
import json
import logging
import operator
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from mluke_jax.hf.hub import tokenizer_directory
from mluke_jax.tokenizers.added_tokens import AddedTokenPieces, Unit
from mluke_jax.tokenizers.common import (
    check_pad_to_multiple_of,
    pad_columns,
    padding_strategy,
    round_up,
    to_arrays,
    truncate_pair,
    truncation_strategy,
    without_garbage_collection,
)
from mluke_jax.tokenizers.entity_vocab import find_entity_vocab, read_entity_vocab, write_entity_vocab

logger = logging.getLogger(__name__)

TASKS = ("entity_classification", "entity_pair_classification", "entity_span_classification")
_OWN_TASK = "<the tokenizer's task>"  # default of the call's task argument


class _Sequence(NamedTuple):
    """One text on its way to ids: its units (strings for the subword model, or fixed ids), then its
    ids and the token span of every mention. Stages return new records (``_replace``; a named
    tuple, as fast to copy as a tuple: a batch makes several per row)."""

    units: list[Unit]
    unit_spans: list[tuple[int, int]] | None
    entity_ids: list[int] | None
    where: str = ""
    char_spans: list[tuple[int, int]] | None = None
    ids: list[int] = []  # replaced, never mutated
    token_spans: list[tuple[int, int]] | None = None
    unknown_entities: tuple[str, ...] = ()  # names the vocabulary lacks (their ids are [UNK]'s)


@dataclass(frozen=True)
class EncodeOptions:
    """The settings of one ``__call__``, resolved and checked once (see ``__call__`` for each)."""

    task: str | None
    language: str | None
    add_special_tokens: bool
    padding: str  # a padding strategy: longest, max_length, do_not_pad
    truncation: str  # a truncation strategy
    max_length: int | None
    max_entity_length: int
    pad_to_multiple_of: int | None
    padding_side: str
    return_tensors: str | None
    token_type_ids: bool
    attention_mask: bool
    special_tokens_mask: bool


def _token_name(value: Any, default: str) -> str:
    """A special token from ``tokenizer_config.json``: a string or a serialised ``AddedToken``."""
    if value is None:
        return default
    return value["content"] if isinstance(value, dict) else str(value)


class EntityAwareTokenizer:
    """transformers-4.x-compatible LUKE-family tokenizer (see the module docstring); build a
    subclass (:class:`~mluke_jax.MLukeTokenizer`, :class:`~mluke_jax.LukeTokenizer`).

    Args:
        pieces: the word pieces, ``<ent>``/``<ent2>`` among their added tokens.
        entity_vocab: entity name -> id (mLUKE ``"en:Tokyo"``, LUKE ``"Tokyo"``; the special entities
            bare), or the path of an entity vocabulary file.
        task: ``None`` or one of ``TASKS``: the default of every call.
        max_entity_length: entities per sequence kept by truncation / added by padding (``task``
            entity_classification: 1, entity_pair_classification: 2).
        max_mention_length: token positions kept per mention.
        model_max_length: longest word sequence (512 for (m)LUKE).
        entity_*_token: names of the special entities.
    """

    model_input_names = ["input_ids", "attention_mask"]
    padding_side = "right"
    entity_names = "{language}:{title}"  # how the entity vocabulary spells a title (for EntityLinker)
    word_files: tuple[str, ...] = ()  # the word vocabulary's files in a tokenizer directory
    family = "a LUKE"  # for errors: "... not {family} tokenizer directory"
    appendable_specials: tuple[str, ...] = ()  # specials a word vocabulary may lack (then added after it)

    def __init__(
        self,
        pieces: AddedTokenPieces,
        entity_vocab: dict[str, int] | str | os.PathLike,
        *,
        task: str | None = None,
        max_entity_length: int = 32,
        max_mention_length: int = 30,
        model_max_length: int = 512,
        entity_unk_token: str = "[UNK]",
        entity_pad_token: str = "[PAD]",
        entity_mask_token: str = "[MASK]",
        entity_mask2_token: str = "[MASK2]",
    ):
        self._check_task(task)
        self.task = task
        self._max_entity_length = max_entity_length
        self.max_mention_length = max_mention_length
        self.model_max_length = model_max_length
        self.pieces = pieces
        self.mask_token_id = pieces.mask_token_id
        self.added_tokens = pieces.added_tokens
        self.bos_token_id = self.cls_token_id = self.added_tokens["<s>"]
        self.eos_token_id = self.sep_token_id = self.added_tokens["</s>"]
        self.pad_token_id = self.added_tokens["<pad>"]
        self.unk_token_id = self.added_tokens["<unk>"]
        self.entity_token_1_id, self.entity_token_2_id = self.added_tokens["<ent>"], self.added_tokens["<ent2>"]

        if isinstance(entity_vocab, (str, os.PathLike)):  # a file, any format read_entity_vocab reads
            entity_vocab = read_entity_vocab(entity_vocab)
        self.entity_vocab = dict(entity_vocab)
        self.entity_special_tokens = {
            "unk": entity_unk_token,
            "pad": entity_pad_token,
            "mask": entity_mask_token,
            "mask2": entity_mask2_token,
        }
        missing = [t for t in self.entity_special_tokens.values() if t not in self.entity_vocab]
        if missing:
            raise ValueError(
                f"the entity vocabulary lacks the special entities {missing}: is it a LUKE entity vocabulary?"
            )
        self.entity_unk_token_id = self.entity_vocab[entity_unk_token]
        self.entity_pad_token_id = self.entity_vocab[entity_pad_token]
        self.entity_mask_token_id = self.entity_vocab[entity_mask_token]
        self.entity_mask2_token_id = self.entity_vocab[entity_mask2_token]

    # --------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike, *, revision: str | None = None, **overrides: Any
    ) -> "EntityAwareTokenizer":
        """Read the word vocabulary (``word_files``), the entity vocabulary (``entity_vocab.json``,
        or the original ``entity_vocab.jsonl`` / ``.tsv``), ``tokenizer_config.json`` and
        ``added_tokens.json`` from a directory (a converted model directory has them) or a hub
        repository. ``overrides`` replace settings, e.g. ``task="entity_span_classification"``, or
        ``entity_vocab=`` (a name -> id dict) the directory's entity vocabulary."""
        path = tokenizer_directory(name_or_path, revision)
        for name in cls.word_files:
            if not (path / name).is_file():
                raise FileNotFoundError(f"{path} has no {name}: not {cls.family} tokenizer directory")
        settings: dict[str, Any] = {}
        if (path / "tokenizer_config.json").is_file():
            settings = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
        added = {}
        for key, token in (settings.get("added_tokens_decoder") or {}).items():
            added[_token_name(token, "")] = int(key)
        if (path / "added_tokens.json").is_file():
            added.update(json.loads((path / "added_tokens.json").read_text(encoding="utf-8")))
        ent, ent2 = (
            _token_name(settings.get("entity_token_1"), "<ent>"),
            _token_name(settings.get("entity_token_2"), "<ent2>"),
        )
        kwargs: dict[str, Any] = {}
        if ent in added and ent2 in added:
            kwargs["entity_token_ids"] = (int(added[ent]), int(added[ent2]))
        specials = {t: int(added[t]) for t in cls.appendable_specials if t in added}
        if specials:  # ids of the specials a vocabulary lacked, as transformers saved them
            kwargs["special_token_ids"] = specials
        for key in ("entity_unk_token", "entity_pad_token", "entity_mask_token", "entity_mask2_token"):
            if key in settings:
                kwargs[key] = _token_name(settings[key], "")
        for key in ("task", "max_entity_length", "max_mention_length"):
            if key in settings:
                kwargs[key] = settings[key]
        max_length = settings.get("model_max_length")
        kwargs["model_max_length"] = int(max_length) if max_length and max_length < 10**6 else 512
        kwargs.update(overrides)
        entity_vocab = kwargs.pop("entity_vocab", None)
        if entity_vocab is None:
            entity_vocab = read_entity_vocab(find_entity_vocab(path))
        return cls(*(path / name for name in cls.word_files), entity_vocab, **kwargs)

    def _write_word_files(self, path: Path) -> None:
        raise NotImplementedError

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write transformers' files: the word vocabulary, ``entity_vocab.json``,
        ``added_tokens.json``, ``tokenizer_config.json``, ``special_tokens_map.json``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._write_word_files(path)
        write_entity_vocab(self.entity_vocab, path / "entity_vocab.json")
        added = {**self.pieces.appended_specials, "<ent>": self.entity_token_1_id, "<ent2>": self.entity_token_2_id}
        (path / "added_tokens.json").write_text(json.dumps(added) + "\n")
        names = {
            "bos_token": "<s>",
            "eos_token": "</s>",
            "sep_token": "</s>",
            "cls_token": "<s>",
            "unk_token": "<unk>",
            "pad_token": "<pad>",
        }
        mask = {
            "content": "<mask>",
            "lstrip": True,
            "rstrip": False,
            "single_word": False,
            "normalized": True,
            "__type": "AddedToken",
        }
        config = {
            "tokenizer_class": type(self).__name__,
            **names,
            "mask_token": mask,
            "entity_token_1": "<ent>",
            "entity_token_2": "<ent2>",
            "additional_special_tokens": ["<ent>", "<ent2>"],
            **{f"entity_{k}_token": v for k, v in self.entity_special_tokens.items()},
            "task": self.task,
            "max_entity_length": self._max_entity_length,
            "max_mention_length": self.max_mention_length,
            "model_max_length": self.model_max_length,
        }
        (path / "tokenizer_config.json").write_text(
            json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        special = {**names, "mask_token": mask, "additional_special_tokens": ["<ent>", "<ent2>"]}
        (path / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")

    # ----------------------------------------------------------------------------- words
    @property
    def vocab_size(self) -> int:
        """transformers' ``vocab_size`` (``len()`` adds ``<ent>``/``<ent2>``)."""
        return self.pieces.vocab_size

    def __len__(self) -> int:
        return len(self.pieces)

    @property
    def all_special_ids(self) -> list[int]:
        return self.pieces.all_special_ids

    def tokenize(self, text: str) -> list[str]:
        """Pieces of ``text`` (added tokens whole), as transformers' ``tokenize``."""
        return self.pieces.tokenize(text)

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        return self.pieces.convert_tokens_to_ids(tokens)

    def convert_ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool = False) -> str | list[str]:
        return self.pieces.convert_ids_to_tokens(ids, skip_special_tokens=skip_special_tokens)

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        """Text of ``ids`` as transformers 4.x decodes it: pieces joined with ``▁`` as spaces;
        ``<ent>``/``<ent2>`` (added after the vocabulary) set apart by spaces."""
        return self.pieces.decode(ids, skip_special_tokens=skip_special_tokens)

    def _encode(self, sequences: list[_Sequence]) -> list[_Sequence]:
        """Every sequence with its ``ids`` (and mention ``token_spans``), from one subword-model call."""
        out = []
        units = [s.units for s in sequences]
        with_starts = [s.unit_spans is not None for s in sequences]
        for sequence, (ids, starts) in zip(sequences, self.pieces.encode_units(units, with_starts)):
            if sequence.unit_spans is None:
                out.append(sequence._replace(ids=ids))
                continue
            token_spans = [(starts[a], starts[b]) for a, b in sequence.unit_spans]
            for (start, end), span in zip(token_spans, sequence.char_spans):
                if start == end:
                    raise ValueError(f"{sequence.where}: entity span {span} covers no token (only spaces)")
            out.append(sequence._replace(ids=ids, token_spans=token_spans))
        return out

    @without_garbage_collection
    def encode_mentions(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """Word ids of each text (no ``<s>``/``</s>``) and the token span ``[start, end)`` of each of
        its character spans, cut exactly as ``__call__`` cuts at ``entity_spans``, with one
        subword-model call for all texts. A span that covers no token comes back empty
        (``start == end``) instead of raising. (The corpus builder's path: texts without added
        tokens skip ``__call__``'s per-unit records.)"""
        out: list = [None] * len(texts)
        strings: list[str] = []
        layouts = []
        general = []
        for n, (text, text_spans) in enumerate(zip(texts, spans, strict=True)):
            if "<" in text:  # may hold added tokens (<mask>, <ent>): the general path
                general.append(n)
                continue
            checked = list(text_spans)
            length = len(text)
            for a, b in checked:  # the common case inline; _check_span explains anything else
                if a.__class__ is not int or b.__class__ is not int or not 0 <= a < b <= length:
                    checked = [self._check_span(span, text, f"text {n}") for span in text_spans]
                    break
            first, unit_at, cursor = len(strings), {}, 0
            for position in sorted({p for span in checked for p in span}):
                cut = position - 1 if position > 0 and text[position - 1] == " " else position  # _cut, inline
                if cut != cursor:
                    strings.append(text[cursor:cut])
                    cursor = cut
                unit_at[position] = len(strings) - first
            if cursor < len(text):
                strings.append(text[cursor:])
            layouts.append((n, first, len(strings), unit_at, checked))
        encoded = self.pieces.encode_strings(strings) if strings else []
        for n, first, last, unit_at, checked in layouts:
            segments = encoded[first:last]
            starts = [0, *itertools.accumulate(map(len, segments))]
            ids = [i for segment in segments for i in segment]
            out[n] = (ids, [(starts[unit_at[a]], starts[unit_at[b]]) for a, b in checked])
        sequences = [
            self._plan(texts[n], list(spans[n]) if spans[n] else None, None, f"text {n}", None) for n in general
        ]
        encoded_general = self.pieces.encode_units(
            [s.units for s in sequences], [s.unit_spans is not None for s in sequences]
        )
        for n, sequence, (ids, starts) in zip(general, sequences, encoded_general):
            out[n] = (ids, [(starts[a], starts[b]) for a, b in sequence.unit_spans] if sequence.unit_spans else [])
        return out

    def build_inputs_with_special_tokens(self, ids_0: list[int], ids_1: list[int] | None = None) -> list[int]:
        """``<s> A </s>`` or ``<s> A </s></s> B </s>``."""
        if ids_1 is None:
            return [self.cls_token_id, *ids_0, self.sep_token_id]
        return [self.cls_token_id, *ids_0, self.sep_token_id, self.sep_token_id, *ids_1, self.sep_token_id]

    # -------------------------------------------------------------------------- entities
    @staticmethod
    def _check_task(task: str | None) -> None:
        if task is not None and task not in TASKS:
            raise ValueError(f"unknown task {task!r}: choose None or one of {TASKS}")

    def max_entity_length_for(self, task: str | None) -> int:
        return {"entity_classification": 1, "entity_pair_classification": 2}.get(task, self._max_entity_length)

    @property
    def max_entity_length(self) -> int:
        return self.max_entity_length_for(self.task)

    def entity_id(self, name: str, language: str | None = None) -> int:
        """Id of an entity name (``"en:Tokyo"``, or ``"Tokyo"`` with ``language="en"``); ``[UNK]``'s
        id when the vocabulary lacks it."""
        if name in self.entity_vocab:
            return self.entity_vocab[name]
        if language is not None:
            return self.entity_vocab.get(f"{language}:{name}", self.entity_unk_token_id)
        return self.entity_unk_token_id

    def _plan(
        self,
        text: str,
        spans,
        entities,
        where: str,
        language: str | None,
        default_entity: int | None = None,
        *,
        pair: bool = False,
    ) -> _Sequence:
        """Cut ``text`` at the span boundaries (transformers' rule: a space before a boundary
        belongs to the following piece) and look the entities up. ``pair``: ``text`` is the
        ``text_pair`` (errors name ``entity_spans_pair`` / ``entities_pair``)."""
        spans_name, entities_name = ("entity_spans_pair", "entities_pair") if pair else ("entity_spans", "entities")
        if not isinstance(text, str):
            raise ValueError(f"{where}: text must be a string, got {type(text).__name__}")
        if spans is None:
            if entities is not None:
                raise ValueError(f"{where}: {entities_name} were given without {spans_name}")
            return _Sequence(self.pieces.units(text), None, None)
        _check_entity_input(spans, entities, spans_name, entities_name, where)
        spans = [self._check_span(span, text, where) for span in spans]
        if entities is not None:
            if len(entities) != len(spans):
                raise ValueError(
                    f"{where}: {entities_name} and {spans_name} must be lists of the same length, got "
                    f"{len(entities)} entities and {len(spans)} spans"
                )
            entity_ids = [self.entity_id(name, language) for name in entities]
            unknown = tuple(
                name
                for name, entity_id in zip(entities, entity_ids)
                if entity_id == self.entity_unk_token_id and name != self.entity_special_tokens["unk"]
            )
        else:
            unknown = ()
            entity_ids = [self.entity_mask_token_id if default_entity is None else default_entity] * len(spans)
        units: list = []
        unit_at: dict[int, int] = {}
        cursor = 0
        for position in sorted({p for span in spans for p in span}):
            cut = _cut(text, position)
            if cut != cursor:
                units.extend(self.pieces.units(text[cursor:cut]))
                cursor = cut
            unit_at[position] = len(units)
        units.extend(self.pieces.units(text[cursor:]))
        return _Sequence(
            units, [(unit_at[s], unit_at[e]) for s, e in spans], entity_ids, where, spans, unknown_entities=unknown
        )

    @staticmethod
    def _check_span(span, text: str, where: str) -> tuple[int, int]:
        try:
            start, end = span
            start, end = operator.index(start), operator.index(end)
        except (TypeError, ValueError):
            raise ValueError(
                f"{where}: an entity span must be a (start, end) pair of character offsets, got {span!r}"
            ) from None
        if not 0 <= start < end <= len(text):
            raise ValueError(
                f"{where}: entity span {(start, end)} is outside the text (length {len(text)}) or empty: need 0 <= "
                "start < end <= length"
            )
        return start, end

    def _mark_mentions(self, sequence: _Sequence, task: str, where: str) -> _Sequence:
        """``sequence`` with ``<ent>`` (``<ent2>`` for the pair task's second entity) around the mentions."""
        spans = sequence.token_spans
        ids = sequence.ids
        if task == "entity_classification":
            (start, end), marker = spans[0], self.entity_token_1_id
            ids = ids[:start] + [marker] + ids[start:end] + [marker] + ids[end:]
            return sequence._replace(ids=ids, token_spans=[(start, end + 2)])
        (head_start, head_end), (tail_start, tail_end) = spans
        if max(head_start, tail_start) < min(head_end, tail_end):
            raise ValueError(
                f"{where}: the two entity spans overlap; entity_pair_classification needs separate mentions"
            )
        # Markers go in from the right so that earlier positions stay valid.
        order = [((head_start, head_end), self.entity_token_1_id), ((tail_start, tail_end), self.entity_token_2_id)]
        for (start, end), marker in sorted(order, key=lambda item: item[0][0], reverse=True):
            ids = ids[:start] + [marker] + ids[start:end] + [marker] + ids[end:]
        if head_start < tail_start:
            token_spans = [(head_start, head_end + 2), (tail_start + 2, tail_end + 4)]
        else:
            token_spans = [(head_start + 2, head_end + 4), (tail_start, tail_end + 2)]
        return sequence._replace(ids=ids, token_spans=token_spans)

    # ----------------------------------------------------------------------------- calls
    @without_garbage_collection
    def __call__(
        self,
        text: str | Sequence[str],
        text_pair: str | Sequence[str] | None = None,
        entity_spans: Sequence | None = None,
        entity_spans_pair: Sequence | None = None,
        entities: Sequence | None = None,
        entities_pair: Sequence | None = None,
        *,
        linker: Any | None = None,
        task: str | None = _OWN_TASK,
        entity_language: str | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        max_entity_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_special_tokens_mask: bool = False,
    ) -> dict[str, Any]:
        """Encode one text (or pair) or a batch, with transformers' keyword names and outputs.

        Single: ``text`` a string, ``entity_spans`` a list of ``(start, end)``, ``entities`` a list
        of names. Batch: lists of those, one per row.
        ``task``: the tokenizer's task unless given (``None`` for plain encoding).
        ``entities``: names such as ``"en:Tokyo"``; a plain title is looked up under
        ``entity_language`` when given; unknown names become ``[UNK]`` (a warning counts them);
        without ``entities`` every mention is ``[MASK]``.
        ``linker``: an :class:`~mluke_jax.EntityLinker` that finds the spans and entities of every
        text (and ``text_pair``), in ``entity_language`` (needed unless its database has one language).
        ``padding``: ``True``/``"longest"`` pads words and entities to the longest row, each on its
        own; ``"max_length"`` to ``max_length`` / ``max_entity_length``.
        ``truncation``: ``True``/``"longest_first"``, ``"only_first"``, ``"only_second"``; entities
        whose mention is cut off are dropped, then entities beyond ``max_entity_length``.
        ``pad_to_multiple_of``: padded lengths (words and entities) rounded up to a multiple of it;
        with truncation too, ``max_length`` must be one (transformers 4.x's rule).
        ``entity_spans`` / ``entities`` (and their ``_pair``) of a text must be lists, the entities
        strings (as transformers 4.x requires); a batch's outer list may be a tuple.
        Returns a dict: ``input_ids``, ``attention_mask`` and, with entities, ``entity_ids``,
        ``entity_position_ids`` (rows of ``max_mention_length``, -1 padded),
        ``entity_attention_mask`` (+ ``entity_start_positions``/``entity_end_positions``, inclusive,
        for ``entity_span_classification``); lists, or arrays with a batch axis for
        ``return_tensors="np"|"jax"``.
        """
        options = self._options(
            task=self.task if task is _OWN_TASK else task,
            language=entity_language,
            add_special_tokens=add_special_tokens,
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            max_entity_length=max_entity_length,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side,
            return_tensors=return_tensors,
            return_token_type_ids=return_token_type_ids,
            return_attention_mask=return_attention_mask,
            return_special_tokens_mask=return_special_tokens_mask,
        )
        batched = not isinstance(text, str)
        rows = _rows(text, text_pair, entity_spans, entity_spans_pair, entities, entities_pair)
        if linker is not None:
            rows = _linked_rows(rows, linker, entity_language)
        plans = [self._plan_row(i, *row, options=options) for i, row in enumerate(rows)]
        _warn_unknown_entities([s for pair in plans for s in pair if s is not None])
        encoded = iter(self._encode([s for pair in plans for s in pair if s is not None]))
        plans = [(next(encoded), None if second is None else next(encoded)) for _, second in plans]
        if options.task in ("entity_classification", "entity_pair_classification"):
            plans = [(self._mark_mentions(first, options.task, f"row {i}"), None) for i, (first, _) in enumerate(plans)]
        with_entities = any(s is not None and s.entity_ids is not None for pair in plans for s in pair)
        encoded_rows = [self._prepare(first, second, with_entities, options) for first, second in plans]
        outputs = {key: [row[key] for row in encoded_rows] for key in encoded_rows[0]} if encoded_rows else {}
        outputs = outputs or {"input_ids": []}
        for row in outputs["input_ids"]:
            if len(row) > self.model_max_length:
                logger.warning(
                    "a sequence of %d tokens is longer than this model's %d: truncate it (truncation=True) before "
                    "running the model",
                    len(row),
                    self.model_max_length,
                )
                break
        outputs = self._pad(outputs, options)
        padded_to = None
        if options.padding == "max_length":
            padded_to = round_up(options.max_length, options.pad_to_multiple_of)
        outputs = to_arrays(outputs, options.return_tensors, padded_to)
        if not batched and options.return_tensors is None:
            outputs = {k: v[0] for k, v in outputs.items()}
        return outputs

    def _options(
        self,
        *,
        task: str | None,
        language: str | None,
        add_special_tokens: bool,
        padding: bool | str,
        truncation: bool | str | None,
        max_length: int | None,
        max_entity_length: int | None,
        pad_to_multiple_of: int | None,
        padding_side: str | None,
        return_tensors: str | None,
        return_token_type_ids: bool | None,
        return_attention_mask: bool | None,
        return_special_tokens_mask: bool,
    ) -> EncodeOptions:
        """A call's arguments checked, with the tokenizer's defaults filled in."""
        self._check_task(task)
        padding_kind = padding_strategy(padding)
        strategy = truncation_strategy(truncation, max_length, padding)
        if max_length is None and (strategy != "do_not_truncate" or padding_kind == "max_length"):
            max_length = self.model_max_length
        check_pad_to_multiple_of(padding_kind, strategy, max_length, pad_to_multiple_of)
        if return_token_type_ids and not add_special_tokens:
            raise ValueError("token_type_ids need add_special_tokens=True (as in transformers)")
        side = padding_side or self.padding_side
        if side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', got {side!r}")
        return EncodeOptions(
            task=task,
            language=language,
            add_special_tokens=add_special_tokens,
            padding=padding_kind,
            truncation=strategy,
            max_length=max_length,
            max_entity_length=max_entity_length if max_entity_length is not None else self.max_entity_length_for(task),
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=side,
            return_tensors=return_tensors,
            token_type_ids=bool(return_token_type_ids),
            attention_mask=return_attention_mask is not False,
            special_tokens_mask=return_special_tokens_mask,
        )

    def _plan_row(
        self, index: int, text, text_pair, spans, spans_pair, entities, entities_pair, *, options: EncodeOptions
    ) -> tuple[_Sequence, _Sequence | None]:
        """Row ``index`` planned: its text (and pair) cut at the mention boundaries, entities looked up."""
        task, language = options.task, options.language
        where = f"row {index}"
        if task is None:
            first = self._plan(text, spans, entities, where, language)
            second = (
                None
                if text_pair is None
                else self._plan(text_pair, spans_pair, entities_pair, where + " (text_pair)", language, pair=True)
            )
            return first, second
        if text_pair is not None or spans_pair is not None:
            raise ValueError(
                f"task {task!r} takes a single text: text_pair / entity_spans_pair are not used by it (transformers "
                "ignores them silently)"
            )
        if entities is not None or entities_pair is not None:
            raise ValueError(f"task {task!r} sets the entities itself ([MASK], [MASK2]): do not pass entities")
        count = {"entity_classification": "exactly one", "entity_pair_classification": "exactly two"}.get(
            task, "at least one"
        )
        wanted = {"entity_classification": (1,), "entity_pair_classification": (2,)}.get(task)
        if spans is None or isinstance(spans, str) or (wanted and len(spans) not in wanted) or len(spans) == 0:
            raise ValueError(f"{where}: task {task!r} needs {count} entity span(s), got {_count(spans)}")
        first = self._plan(text, spans, None, where, language)
        if task == "entity_pair_classification":
            first = first._replace(entity_ids=[self.entity_mask_token_id, self.entity_mask2_token_id])
        return first, None

    def _prepare(
        self, first: _Sequence, second: _Sequence | None, with_entities: bool, options: EncodeOptions
    ) -> dict[str, list]:
        """One row: truncate, add the special tokens, keep the entities whose mentions survive."""
        add_special_tokens, strategy, max_length = options.add_special_tokens, options.truncation, options.max_length
        max_entity_length, token_types = options.max_entity_length, options.token_type_ids
        ids, pair_ids = first.ids, None if second is None else second.ids
        specials = (2 if pair_ids is None else 4) if add_special_tokens else 0
        total = len(ids) + len(pair_ids or []) + specials
        if strategy != "do_not_truncate" and max_length and total > max_length:
            ids, pair_ids = truncate_pair(ids, pair_ids, total - max_length, strategy)
        if add_special_tokens:
            sequence = self.build_inputs_with_special_tokens(ids, pair_ids)
            offset, pair_offset = 1, len(ids) + 3
        else:
            sequence = ids + (pair_ids or [])
            offset, pair_offset = 0, len(ids)
        row: dict[str, list] = {"input_ids": sequence}
        if token_types:
            row["token_type_ids"] = [0] * len(sequence)
        if options.special_tokens_mask:
            row["special_tokens_mask"] = (
                ([1] + [0] * len(ids) + [1] + ([] if pair_ids is None else [1] + [0] * len(pair_ids) + [1]))
                if add_special_tokens
                else [0] * len(sequence)
            )
        if not with_entities:
            return row

        def surviving(seq: _Sequence | None, kept_ids: list[int] | None):
            """Entities whose mention ends inside the (truncated) text; None without entities."""
            if seq is None or seq.entity_ids is None:
                return None, None
            if len(kept_ids) == len(seq.ids):  # nothing truncated
                return seq.entity_ids, seq.token_spans
            kept = [(e, span) for e, span in zip(seq.entity_ids, seq.token_spans) if span[1] <= len(kept_ids)]
            return [e for e, _ in kept], [span for _, span in kept]

        entity_ids, spans = surviving(first, ids)
        if entity_ids is None:  # entities only in text_pair (transformers drops them all)
            entity_ids, spans = [], []
        pair_entity_ids, pair_spans = surviving(second, pair_ids)
        dropped = (
            len(first.entity_ids or [])
            + len((second.entity_ids if second else None) or [])
            - len(entity_ids)
            - len(pair_entity_ids or [])
        )
        if dropped:
            logger.warning("%d entities are dropped: truncation cut their mentions", dropped)
        total_entities = len(entity_ids) + len(pair_entity_ids or [])
        if strategy != "do_not_truncate" and total_entities > max_entity_length:
            entity_ids, pair_entity_ids = truncate_pair(
                entity_ids, pair_entity_ids, total_entities - max_entity_length, strategy, "entities"
            )
            spans = spans[: len(entity_ids)]
            pair_spans = None if pair_spans is None else pair_spans[: len(pair_entity_ids)]
        row["entity_ids"] = entity_ids + (pair_entity_ids or [])
        positions, starts, ends = [], [], []
        width = self.max_mention_length
        for token_spans, shift in ((spans, offset), (pair_spans or [], pair_offset)):
            for start, end in token_spans:
                start, end = start + shift, end + shift
                mention = list(range(start, min(end, start + width)))
                positions.append(mention + [-1] * (width - len(mention)))
                starts.append(start)
                ends.append(end - 1)
        row["entity_position_ids"] = positions
        if options.task == "entity_span_classification":
            row["entity_start_positions"] = starts
            row["entity_end_positions"] = ends
        if token_types:
            row["entity_token_type_ids"] = [0] * len(row["entity_ids"])
        return row

    def _pad(self, outputs: dict[str, list], options: EncodeOptions) -> dict[str, list]:
        """Attention masks, then padding: words and entities each to their own length."""
        outputs = dict(outputs)
        has_entities = "entity_ids" in outputs
        if options.attention_mask:
            outputs["attention_mask"] = [[1] * len(r) for r in outputs["input_ids"]]
            if has_entities:
                outputs["entity_attention_mask"] = [[1] * len(r) for r in outputs["entity_ids"]]
        if options.padding == "do_not_pad" or not outputs["input_ids"]:
            return outputs
        max_length, max_entity_length = options.max_length, options.max_entity_length
        if options.padding == "longest":
            max_length = max(len(r) for r in outputs["input_ids"])
            max_entity_length = max(len(r) for r in outputs["entity_ids"]) if has_entities else 0
        words = round_up(max_length, options.pad_to_multiple_of)
        entities = round_up(max_entity_length, options.pad_to_multiple_of)
        fills = {
            "input_ids": (self.pad_token_id, words),
            "attention_mask": (0, words),
            "token_type_ids": (0, words),
            "special_tokens_mask": (1, words),
            "entity_ids": (self.entity_pad_token_id, entities),
            "entity_attention_mask": (0, entities),
            "entity_token_type_ids": (0, entities),
            "entity_position_ids": ([-1] * self.max_mention_length, entities),
            "entity_start_positions": (0, entities),
            "entity_end_positions": (0, entities),
        }
        return pad_columns(outputs, fills, options.padding_side)


def _cut(text: str, position: int) -> int:
    """Where ``text`` is cut for a span boundary at ``position``: a space before it belongs to the
    piece after it (transformers' rule)."""
    return position - 1 if position > 0 and text[position - 1] == " " else position


def _linked_rows(rows: list[tuple], linker: Any, language: str | None) -> list[tuple]:
    """``rows`` with the spans and entities ``linker`` finds in each text (and pair)."""
    if any(row[2] is not None or row[3] is not None or row[4] is not None or row[5] is not None for row in rows):
        raise ValueError("give either entity_spans/entities or linker, not both")
    if language is None:
        if len(linker.languages) != 1:
            raise ValueError(
                f"linking needs the texts' language: pass entity_language= (the database has {linker.languages})"
            )
        language = linker.languages[0]
    out = []
    for text, text_pair, *_ in rows:
        first = linker(text, language)
        second = None if text_pair is None else linker(text_pair, language)
        out.append(
            (
                text,
                text_pair,
                first.entity_spans,
                None if second is None else second.entity_spans,
                first.entities,
                None if second is None else second.entities,
            )
        )
    return out


def _warn_unknown_entities(sequences: list[_Sequence]) -> None:
    unknown = [name for sequence in sequences for name in sequence.unknown_entities]
    if unknown:
        logger.warning(
            "%d entity names are not in the entity vocabulary and became [UNK] (e.g. %r)", len(unknown), unknown[0]
        )


def _check_entity_input(spans, entities, spans_name: str, entities_name: str, where: str) -> None:
    """transformers 4.x's input rules: the spans of one text a ``list`` (not a tuple), its entities
    a ``list`` of names (strings: an id or other value would silently become ``[UNK]``). A batch's
    outer list may be a tuple; each row's may not."""
    if not isinstance(spans, list):
        raise ValueError(
            f"{where}: {spans_name} must be a list of (start, end) character offsets, got a {type(spans).__name__}"
        )
    if entities is None:
        return
    if not isinstance(entities, list):
        raise ValueError(f"{where}: {entities_name} must be a list of entity names, got a {type(entities).__name__}")
    for n, name in enumerate(entities):
        if not isinstance(name, str):
            raise ValueError(
                f"{where}: {entities_name} must be entity names (strings), but {entities_name}[{n}] is {name!r} "
                f"({type(name).__name__})"
            )


def _count(values) -> str:
    return "none" if values is None else str(len(values)) if not isinstance(values, str) else "a string"


def _rows(text, text_pair, entity_spans, entity_spans_pair, entities, entities_pair) -> list[tuple]:
    """The call's arguments as one tuple per row (a single text is a batch of one)."""
    if isinstance(text, str):
        if text_pair is not None and not isinstance(text_pair, str):
            raise ValueError("text is a single string, so text_pair must be one too")
        return [(text, text_pair, entity_spans, entity_spans_pair, entities, entities_pair)]
    if not isinstance(text, (list, tuple)) or not all(isinstance(t, str) for t in text):
        raise ValueError("text must be a string or a list of strings")
    rows = len(text)

    def column(values, name):
        if values is None:
            return [None] * rows
        if len(values) != rows:
            raise ValueError(f"{name} has {len(values)} rows but text has {rows}")
        return list(values)

    return list(
        zip(
            text,
            column(text_pair, "text_pair"),
            column(entity_spans, "entity_spans"),
            column(entity_spans_pair, "entity_spans_pair"),
            column(entities, "entities"),
            column(entities_pair, "entities_pair"),
        )
    )
