"""Masking for pretraining, per example, as the original code does it (a stream ``transform``).

The transforms take an example as the corpus loaders give it and a ``numpy.random.Generator``
(the loaders seed it from the seed and the example's place in the global stream, so masks are
deterministic and independent of the number of processes) and return the example with masked
inputs and labels (-100 where nothing is predicted, as transformers' losses expect).

- :class:`LukeMasking` (luke ``pretraining/batch_generator.py``): entities first, ``entity_prob``
  (15 %) of an example's entities and at least one, each replaced by ``[MASK]`` (the original's
  defaults never keep or randomise an entity); then words, ``round(word_prob * words)`` and at
  least one, whole words by default (a piece without sentencepiece's ``▁`` that is not
  punctuation continues the word before it; ``whole_word=False`` masks pieces, as mLUKE did),
  never ``<s>``/``</s>``/padding, never a word inside a masked entity's mention; each chosen word
  is ``<mask>`` with probability 0.8, a random token 0.1 (uniform over the ids after ``<pad>``),
  kept 0.1, one draw for all pieces of a word.
- :class:`XLMMasking` (XLM ``trainer.py mask_out``): with ``sample_alpha = 0`` each token is
  predicted with probability ``word_pred`` (0.15); with ``sample_alpha > 0`` exactly
  ``ceil(word_pred * tokens)`` positions are drawn without replacement with weight
  count ** -sample_alpha (special tokens weight 0). Padding and the first position are never
  predicted; a target becomes ``<special1>`` (XLM's mask), stays, or becomes a random id with
  probabilities 0.8 / 0.1 / 0.1 (random ids uniform over the vocabulary, as the original).
  ``at_least_one`` gives an example without a target one (a random non-padding position after the
  first), as XLM's evaluation does; with ``mask_prob=1`` every target is ``<special1>``.
"""

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

IGNORE = -100


def _is_punctuation(char: str) -> bool:
    """BERT's rule, as the original's whole-word masking uses it: ASCII symbols and Unicode P*."""
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def continuation_table(tokenizer: Any) -> np.ndarray:
    """``table[id]``: whether the piece continues the word before it (no ``▁``, not punctuation,
    not an added token) for an ``MLukeTokenizer``'s whole vocabulary."""
    pieces = tokenizer.pieces
    size = len(pieces)
    table = np.zeros(size, dtype=bool)
    added = set(pieces.added_tokens.values())
    for token_id in range(size):
        if token_id in added:
            continue
        try:
            piece = pieces.convert_ids_to_tokens(token_id)
        except ValueError:
            continue
        table[token_id] = not piece.startswith("\u2581") and not _is_punctuation(piece[0])
    return table


@dataclass(frozen=True)
class LukeMasking:
    """Masked words and masked entities of one mLUKE example (see the module docstring).

    Build it with :meth:`for_tokenizer`. Input fields: ``word_ids`` (``<s> ... </s>``),
    ``entity_ids`` [E], ``entity_position_ids`` [E, M] (-1 padded); added: ``labels`` (the
    original word ids where predicted) and ``entity_labels`` (the original entity ids where
    masked), both -100 elsewhere.
    """

    vocab_size: int
    mask_id: int
    pad_id: int
    special_ids: tuple[int, ...]
    entity_mask_id: int
    continuation: np.ndarray | None = field(default=None, repr=False)  # None: sub-word masking
    word_prob: float = 0.15
    entity_prob: float = 0.15
    mask_prob: float = 0.8
    random_prob: float = 0.1
    max_predictions: int | None = None  # adds ``masked_positions`` [max_predictions] (-1 padded)

    def predictions_for(self, max_seq_length: int) -> int:
        """The most words an example of ``max_seq_length`` tokens gets masked (``<s>``/``</s>`` aside)."""
        return max(1, int(round((max_seq_length - 2) * self.word_prob)))

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, *, whole_word: bool = True, **settings: Any) -> "LukeMasking":
        return cls(
            vocab_size=len(tokenizer),
            mask_id=tokenizer.mask_token_id,
            pad_id=1,
            special_ids=tuple(sorted(tokenizer.all_special_ids)),
            entity_mask_id=tokenizer.entity_mask_token_id,
            continuation=continuation_table(tokenizer) if whole_word else None,
            **settings,
        )

    def __call__(self, example: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
        entity_ids = np.array(example["entity_ids"], copy=True)
        entity_labels = np.full(entity_ids.shape, IGNORE, dtype=np.int32)
        in_masked_mentions: set[int] = set()
        if len(entity_ids):
            count = max(1, int(round(len(entity_ids) * self.entity_prob)))
            chosen = rng.permutation(len(entity_ids))[:count]
            entity_labels[chosen] = entity_ids[chosen]
            entity_ids[chosen] = self.entity_mask_id
            positions = example["entity_position_ids"][chosen]
            in_masked_mentions = {int(p) for p in positions[positions >= 0]}
        words = np.array(example["word_ids"], copy=True)
        labels = np.full(words.shape, IGNORE, dtype=np.int32)
        groups = self._word_groups(words, in_masked_mentions)
        ordinary = int(np.sum(~np.isin(words, self.special_ids)))
        target = max(1, int(round(ordinary * self.word_prob)))
        done = 0
        for index in rng.permutation(len(groups)):
            group = groups[index]
            if len(group) > target - done:
                continue
            self._mask(words, labels, group, rng)
            done += len(group)
            if done == target:
                break
        if done == 0:  # whole words may all be too long for the target: one piece, as the original
            candidates = [i for g in groups for i in g] or [
                i for i in range(len(words)) if words[i] not in self.special_ids
            ]
            if candidates:
                i = candidates[int(rng.integers(len(candidates)))]
                labels[i] = words[i]
                words[i] = self.mask_id
        masked = {
            **example,
            "word_ids": words,
            "labels": labels,
            "entity_ids": entity_ids,
            "entity_labels": entity_labels,
        }
        if self.max_predictions is not None:
            where = np.flatnonzero(labels != IGNORE)
            if len(where) > self.max_predictions:
                raise ValueError(f"{len(where)} masked words, more than max_predictions={self.max_predictions}")
            positions = np.full(self.max_predictions, -1, np.int32)
            positions[: len(where)] = where
            masked["masked_positions"] = positions
        return masked

    def _word_groups(self, words: np.ndarray, excluded: set[int]) -> list[list[int]]:
        """The maskable words as lists of positions (one piece each with sub-word masking)."""
        groups: list[list[int]] = []
        specials = set(self.special_ids)
        for i, token in enumerate(words.tolist()):
            if token in specials:
                groups.append([])  # a special token ends the word before it
                continue
            if self.continuation is not None and groups and groups[-1] and self.continuation[token]:
                groups[-1].append(i)
            else:
                groups.append([i])
        return [g for g in groups if g and not any(i in excluded for i in g)]

    def _mask(self, words: np.ndarray, labels: np.ndarray, group: Sequence[int], rng: np.random.Generator) -> None:
        draw = rng.random()
        for i in group:
            labels[i] = words[i]
            if draw < self.mask_prob:
                words[i] = self.mask_id
            elif draw < self.mask_prob + self.random_prob:
                words[i] = int(rng.integers(self.pad_id + 1, self.vocab_size))


@dataclass(frozen=True)
class XLMMasking:
    """XLM's MLM masking of one stream window or pair (see the module docstring).

    Input ``input_ids`` [L]; output it masked and ``labels`` [L] (-100 where not predicted).
    ``weights``: per-token-id sampling weights (count ** -sample_alpha, 0 for special tokens)
    for ``sample_alpha > 0``; see :meth:`for_counts`.
    """

    vocab_size: int
    mask_id: int
    pad_id: int
    word_pred: float = 0.15
    mask_prob: float = 0.8
    keep_prob: float = 0.1
    weights: np.ndarray | None = field(default=None, repr=False)
    at_least_one: bool = False  # an example without a target gets one (XLM's evaluation)

    @classmethod
    def for_counts(
        cls, counts: np.ndarray, sample_alpha: float, special_ids: Sequence[int], **settings: Any
    ) -> "XLMMasking":
        """With sampling weights count ** -alpha (XLM's ``mask_scores``), specials weight 0."""
        weights = np.maximum(np.asarray(counts, dtype=np.float64), 1) ** -sample_alpha
        weights[list(special_ids)] = 0
        return cls(weights=weights, **settings)

    def __call__(self, example: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
        ids = np.array(example["input_ids"], copy=True)
        if self.weights is None:
            predict = rng.random(ids.shape) <= self.word_pred
        else:
            scores = self.weights[ids]
            count = min(int(math.ceil(self.word_pred * len(ids))), int(np.sum(scores > 0)))
            predict = np.zeros(ids.shape, dtype=bool)
            if count:
                predict[rng.choice(len(ids), count, replace=False, p=scores / scores.sum())] = True
        predict[ids == self.pad_id] = False
        predict[0] = False
        if self.at_least_one and not predict.any():
            candidates = np.flatnonzero(ids[1:] != self.pad_id) + 1
            if len(candidates):
                predict[candidates[int(rng.integers(len(candidates)))]] = True
        labels = np.where(predict, ids, IGNORE).astype(np.int32)
        choice = rng.random(ids.shape)
        random_ids = rng.integers(0, self.vocab_size, ids.shape)
        replaced = np.where(
            choice < self.mask_prob, self.mask_id, np.where(choice < self.mask_prob + self.keep_prob, ids, random_ids)
        )
        ids = np.where(predict, replaced, ids).astype(ids.dtype)
        return {**example, "input_ids": ids, "labels": labels}


def causal_targets(example: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """CLM targets (XLM ``clm_step``): ``labels[t]`` is the next token, -100 at the end and where the
    next token is padding (``rng`` is unused: a stream transform's signature)."""
    ids = np.asarray(example["input_ids"])
    labels = np.full(ids.shape, IGNORE, dtype=np.int32)
    labels[:-1] = ids[1:]
    if "attention_mask" in example:
        labels[:-1][np.asarray(example["attention_mask"])[1:] == 0] = IGNORE
    return {**example, "labels": labels}
