"""Masked-word prediction, the model cards' direct use: transformers' ``pipeline("fill-mask")``
for ``XLMWithLMHeadModel`` and ``LukeForMaskedLM`` (words; entities: :mod:`mluke_jax.probing`).

    fill_mask(model, tokenizer, ["Paris is the <special1> of France ."], top_k=5, lang="en")
    # [[[{"score": 0.61, "token": 1234, "token_str": "capital", "sequence": "paris is the capital ..."}, ...]]]

Every mask token of every text gets the ``top_k`` words the model's LM head gives it, each with
its softmax probability (``score``), its id (``token``), the word (``token_str``) and the text
with that mask filled (``sequence``), as the pipeline's post-processing writes them: a text with
one mask decodes without special tokens, a text with several keeps them (the other masks stay
visible). XLM takes each text's language (``lang``: one for all, or one per text) as its
language embedding (``langs``) and Moses rules, which the pipeline cannot pass; ``lang=None``
runs without a language embedding, as the pipeline does.

Texts are encoded one by one (each in its language) and batched with their word axis padded to a
multiple of 16, so that texts of similar lengths share one compiled forward.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

_PAD_MULTIPLE = 16


def fill_mask(
    model: Any,
    tokenizer: Any,
    texts: str | Sequence[str],
    *,
    top_k: int = 5,
    lang: str | Sequence[str | None] | None = None,
    batch_size: int = 16,
) -> list[list[list[dict[str, Any]]]]:
    """The ``top_k`` fillings of every mask token of every text (see the module docstring).

    Args:
        model: an ``XLMWithLMHeadModel`` or ``LukeForMaskedLM``.
        tokenizer: its tokenizer (``XLMTokenizer``, ``MLukeTokenizer``, ``LukeTokenizer``).
        texts: one text or several, each with at least one mask token.
        lang: XLM: the texts' language (one, or one per text; None: no language embedding).
    Returns:
        per text, per mask token (in text order), ``top_k`` dicts ``score``, ``token``,
        ``token_str``, ``sequence``, best first.
    """
    texts = [texts] if isinstance(texts, str) else list(texts)
    languages = list(lang) if isinstance(lang, list | tuple) else [lang] * len(texts)
    if len(languages) != len(texts):
        raise ValueError(f"lang holds {len(languages)} languages for {len(texts)} texts")
    rows = [encode_text(model, tokenizer, text, language, number) for number, (text, language) in
            enumerate(zip(texts, languages))]  # fmt: skip
    return fill_encoded(model, tokenizer, rows, top_k=top_k, batch_size=batch_size)


def encode_text(model: Any, tokenizer: Any, text: str, language: str | None = None, number: int = 0) -> tuple:
    """``(input_ids, langs or None)`` of one text in its language; an error names text ``number``
    when it has no mask token or more tokens than the model's positions."""
    mask_id = int(tokenizer.mask_token_id)  # <mask> for (m)LUKE, <special1> for XLM
    xlm = type(tokenizer).__name__ == "XLMTokenizer"
    if language is not None and not xlm:
        raise ValueError(f"lang is XLM's language embedding; {type(tokenizer).__name__} takes none")
    encoded = tokenizer(text, lang=language) if language is not None else tokenizer(text)
    ids = np.asarray(encoded["input_ids"], np.int32).reshape(-1)
    if mask_id not in ids:
        raise ValueError(f"text {number}: {text[:80]!r} has no mask token {tokenizer.convert_ids_to_tokens(mask_id)}")
    limit = _max_length(model)
    if limit is not None and len(ids) > limit:
        raise ValueError(f"text {number}: {len(ids)} tokens, longer than the model's {limit} positions")
    return ids, (np.asarray(encoded["langs"]).reshape(-1) if "langs" in encoded else None)


def fill_encoded(model: Any, tokenizer: Any, rows: list[tuple], *, top_k: int = 5, batch_size: int = 16) -> list:
    """:func:`fill_mask` of texts encoded by :func:`encode_text`."""
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    mask_id = int(tokenizer.mask_token_id)
    results: list[list[list[dict[str, Any]]]] = [[] for _ in rows]
    # texts with a language apart from those without, similar lengths together
    groups = [[i for i in range(len(rows)) if (rows[i][1] is None) == without] for without in (False, True)]
    batches = []
    for group in groups:
        group.sort(key=lambda i: len(rows[i][0]))
        batches += [group[start : start + batch_size] for start in range(0, len(group), batch_size)]
    for chosen in batches:
        width = -(-max(len(rows[i][0]) for i in chosen) // _PAD_MULTIPLE) * _PAD_MULTIPLE
        batch = _batch([rows[i] for i in chosen], width, tokenizer.pad_token_id)
        logits = np.asarray(model(**batch).logits, dtype=np.float32)  # (rows, width, vocabulary)
        for row, i in enumerate(chosen):
            ids = rows[i][0]
            positions = np.flatnonzero(ids == mask_id)
            for position in positions:
                results[i].append(
                    _fillings(logits[row, position], ids, position, top_k, len(positions) == 1, tokenizer)
                )
    return results


def _fillings(logits: np.ndarray, ids: np.ndarray, position: int, top_k: int, single: bool, tokenizer) -> list[dict]:
    """The pipeline's post-processing of one mask: softmax, the ``top_k`` best, each decoded."""
    shifted = logits - logits.max()
    probabilities = np.exp(shifted) / np.exp(shifted).sum()
    best = np.argsort(-probabilities, kind="stable")[:top_k]
    out = []
    for token in best:
        filled = ids.copy()
        filled[position] = token
        out.append(
            {
                "score": float(probabilities[token]),
                "token": int(token),
                "token_str": tokenizer.decode([int(token)]),
                "sequence": tokenizer.decode(filled.tolist(), skip_special_tokens=single),
            }
        )
    return out


def _batch(rows: list[tuple[np.ndarray, np.ndarray | None]], width: int, pad_id: int) -> dict[str, np.ndarray]:
    """``input_ids`` padded with ``pad_id``, ``attention_mask``, and XLM's ``langs`` (padded with
    each row's last language) when the rows have them."""
    ids = np.full((len(rows), width), pad_id, np.int32)
    mask = np.zeros((len(rows), width), np.int32)
    for r, (row_ids, _) in enumerate(rows):
        ids[r, : len(row_ids)] = row_ids
        mask[r, : len(row_ids)] = 1
    batch = {"input_ids": ids, "attention_mask": mask}
    if rows[0][1] is not None:  # every row has a language (fill_mask batches them apart)
        langs = np.zeros((len(rows), width), np.int32)
        for r, (_, row_langs) in enumerate(rows):
            langs[r, : len(row_langs)] = row_langs
            langs[r, len(row_langs) :] = row_langs[-1]
        batch["langs"] = langs
    return batch


def _max_length(model: Any) -> int | None:
    """The longest input the model's positions allow (RoBERTa's start after ``<pad>``)."""
    config = getattr(model, "config", None)
    positions = getattr(config, "max_position_embeddings", None)
    if not positions:
        return None
    return positions - 2 if getattr(config, "model_type", "") == "luke" else positions
