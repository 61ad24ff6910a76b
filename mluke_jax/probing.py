"""Masked-entity probing: the entities a model puts in a prompt's blank (mLAMA with mLUKE).

A prompt is a text whose answer is written as ``<mask>`` words (one or more, consecutive):
``"Tokyo is the capital of <mask>."``. A ``[MASK]`` entity spans those words; the entity logits
of ``LukeForMaskedLM`` at it rank the entity vocabulary, or the candidates given (mLAMA gives
each relation's candidate objects). The entities the prompt names can be given as spans and names,
or found by an :class:`~mluke_jax.linking.EntityLinker` (as the mLUKE paper's entity-input
setting): they are the model's other entity inputs.

    predictions = rank_masked_entities(model, tok, ["Tokyo is the capital of <mask>."], language="en",
                                       candidates=["en:Japan", "en:France"])
    predictions[0][0].name  # the best candidate

Prompts are encoded in batches padded to a multiple of 16 words, so that prompts of similar
lengths share one compiled forward.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_PAD_MULTIPLE = 16


@dataclass(frozen=True)
class EntityPrediction:
    """An entity for a prompt's blank: its vocabulary ``name`` and ``entity_id``, and ``score``,
    its log-probability among the entities ranked (all of the vocabulary's, or the candidates)."""

    name: str
    entity_id: int
    score: float


def mask_span(prompt: str, mask_token: str = "<mask>") -> tuple[int, int]:
    """``(start, end)``: the characters of the prompt's ``<mask>`` words (consecutive, separated
    by spaces only), end exclusive."""
    starts = []
    position = prompt.find(mask_token)
    while position >= 0:
        starts.append(position)
        position = prompt.find(mask_token, position + len(mask_token))
    if not starts:
        raise ValueError(f"prompt {prompt!r} has no {mask_token} where the entity goes")
    for previous, start in zip(starts, starts[1:]):
        if prompt[previous + len(mask_token) : start].strip():
            raise ValueError(f"prompt {prompt!r} has two blanks: its {mask_token} words must be consecutive")
    return starts[0], starts[-1] + len(mask_token)


def rank_masked_entities(
    model: Any,
    tokenizer: Any,
    prompts: str | Sequence[str],
    *,
    candidates: Sequence[str] | Sequence[Sequence[str]] | None = None,
    top_k: int = 10,
    language: str | None = None,
    linker: Any | None = None,
    entity_spans: Sequence[Sequence[tuple[int, int]]] | None = None,
    entities: Sequence[Sequence[str]] | None = None,
    batch_size: int = 16,
) -> list[list[EntityPrediction]]:
    """The ``top_k`` entities for the blank of each prompt, best first (see the module docstring).

    Args:
        model: a ``LukeForMaskedLM`` (its ``entity_logits``, ``(B, E, entity vocabulary)``).
        tokenizer: its ``MLukeTokenizer``.
        prompts: one prompt or a list (one is a list of one), each with one blank of ``<mask>`` words.
        candidates: entity names to rank (one list for all prompts, or a list per prompt); ``None``
            ranks the whole vocabulary but its special entities.
        language: the prompts' language: names the vocabulary gives in several languages are
            reported in this one; plain titles in ``candidates``/``entities`` are looked up in it;
            the linker links in it.
        linker: finds the prompts' other entities (mentions overlapping the blank are left out).
        entity_spans, entities: the prompts' other entities, one list per prompt (not with ``linker``).
    Returns:
        per prompt, up to ``top_k`` :class:`EntityPrediction`, best first.
    """
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if linker is not None and (entity_spans is not None or entities is not None):
        raise ValueError("give either linker or entity_spans/entities, not both")
    if (entity_spans is None) != (entities is None):
        raise ValueError("entity_spans and entities go together")
    mask = tokenizer.convert_ids_to_tokens(tokenizer.mask_token_id)
    blanks = [mask_span(prompt, mask) for prompt in prompts]
    context = _context(prompts, blanks, language, linker, entity_spans, entities)
    ranked = _candidates(tokenizer, candidates, len(prompts), language)
    masked_entity = tokenizer.entity_special_tokens["mask"]
    results: list[list[EntityPrediction]] = []
    for first in range(0, len(prompts), batch_size):
        rows = range(first, min(first + batch_size, len(prompts)))
        batch = tokenizer(
            [prompts[i] for i in rows],
            entity_spans=[[blanks[i], *context[i][0]] for i in rows],
            entities=[[masked_entity, *context[i][1]] for i in rows],
            entity_language=language,
            padding=True,
            pad_to_multiple_of=_PAD_MULTIPLE,
            truncation=True,
            return_tensors="np",
        )
        output = model(**batch)
        if getattr(output, "entity_logits", None) is None:
            raise TypeError(f"probing needs a LukeForMaskedLM (entity logits), got {type(model).__name__}")
        logits = np.asarray(output.entity_logits[:, 0, :], dtype=np.float64)  # (rows, entity vocabulary)
        for row, i in enumerate(rows):
            ids, name = ranked[i]
            scores = logits[row, ids]
            scores = scores - np.logaddexp.reduce(scores)  # log-softmax among the ranked entities
            best = np.argsort(-scores, kind="stable")[:top_k]
            results.append([EntityPrediction(name(int(j)), int(ids[j]), float(scores[j])) for j in best])
    return results


def _context(prompts, blanks, language, linker, entity_spans, entities) -> list[tuple[list, list]]:
    """Each prompt's other entities: ``(spans, names)``."""
    if linker is not None:
        if language is None:
            raise ValueError("linking the prompts needs their language=")
        out = []
        for prompt, (start, end) in zip(prompts, blanks):
            kept = [m for m in linker(prompt, language).mentions if m.end <= start or m.start >= end]
            out.append(([m.span for m in kept], [m.entity for m in kept]))
        return out
    if entity_spans is None:
        return [([], [])] * len(prompts)
    if len(entity_spans) != len(prompts) or len(entities) != len(prompts):
        raise ValueError(
            f"entity_spans and entities need one list per prompt: {len(prompts)} prompts, {len(entity_spans)} "
            f"span lists, {len(entities)} entity lists"
        )
    return [(list(s), list(e)) for s, e in zip(entity_spans, entities)]


def _candidates(tokenizer, candidates, count: int, language: str | None) -> list[tuple[np.ndarray, Any]]:
    """For each prompt: the entity ids to rank and a function position -> the name reported."""
    vocab = tokenizer.entity_vocab
    if candidates is None:
        by_id: dict[int, list[str]] = {}
        for name, entity_id in vocab.items():
            by_id.setdefault(entity_id, []).append(name)
        special = {vocab[name] for name in tokenizer.entity_special_tokens.values()}
        every = np.array(sorted(set(vocab.values()) - special), dtype=np.int64)
        prefix = f"{language}:" if language else None

        def name_of(position: int) -> str:  # an id's name, in the prompts' language when it has one
            names = sorted(by_id[int(every[position])])
            return next((n for n in names if prefix and n.startswith(prefix)), names[0])

        return [(every, name_of)] * count

    def ids(names: Sequence[str]) -> tuple[np.ndarray, Any]:
        if isinstance(names, str) or not names:
            raise ValueError("candidates must be a non-empty list of entity names")
        found = []
        for name in names:
            entity_id = vocab.get(name, vocab.get(f"{language}:{name}") if language else None)
            if entity_id is None:
                raise ValueError(f"candidate {name!r} is not in the entity vocabulary")
            found.append(entity_id)
        return np.array(found, dtype=np.int64), lambda position: names[position]

    if isinstance(candidates[0], str):
        return [ids(list(candidates))] * count
    if len(candidates) != count:
        raise ValueError(f"candidates: {len(candidates)} lists for {count} prompts")
    return [ids(list(c)) for c in candidates]
