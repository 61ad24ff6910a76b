"""SQuAD 1.1 extractive QA (``LukeForQuestionAnswering``): windows over long contexts, entities
found in the text.

Each question and its context become ``<s> question </s></s> window </s>`` features of
``max_length`` tokens: a context longer than fits is cut into windows of the context's tokens
that overlap by ``doc_stride`` tokens, as transformers' ``run_qa.py`` does. Training labels the
answer's first and last tokens in every window that holds the whole answer, and ``<s>`` (position
0) in the others. Evaluation takes the best span (start + end logit, at most ``max_answer_tokens``)
over all windows of a question; no question is dropped.

``entities="auto"``: question and context are linked with an :class:`~mluke_jax.EntityLinker`
(the mention database ``mention_db``, in ``language``) and the mentions inside each window, up
to ``max_entities`` (the question's first), are the model's entity inputs, as in the original
mLUKE-E setup; the tokens are cut at the mention boundaries as ``MLukeTokenizer`` cuts at
``entity_spans``.
"""

import functools

import numpy as np

from mluke_jax.finetune import metrics
from mluke_jax.finetune.readers import DataError

_SPECIALS_IN_PAIR = 4  # <s> question </s></s> context </s>


@functools.cache
def _linker(mention_db: str, tokenizer):
    from mluke_jax.linking import EntityLinker

    return EntityLinker.from_pretrained(mention_db, tokenizer)


def linker_for(settings, tokenizer):
    """The settings' entity linker (``entities="auto"``), or None; and the language to link in."""
    if settings.entities != "auto":
        return None, settings.language
    if not settings.mention_db:
        raise ValueError("--entities auto needs --mention-db (written by python -m mluke_jax.corpus mention-db)")
    linker = _linker(str(settings.mention_db), tokenizer)
    if settings.language is None and len(linker.languages) != 1:
        raise ValueError(f"--entities auto needs --language (the mention database has {linker.languages})")
    return linker, settings.language or linker.languages[0]


def question_features(example, tokenizer, settings, training: bool, linker=None, language=None, cut_at=()):
    """The features of one question (one per window, see the module docstring) and, for each, what
    decoding needs: ``(offset of the window in the feature, tokens of context in it, the window's
    first context token)``. ``cut_at``: character spans of the context that must start and end on
    token boundaries (prediction's words); their token spans come back as a third value."""
    answer = None
    if training:
        if not example.answers:
            raise DataError(f"question {example.id} has no answer to train on")
        text, start = example.answers[0]
        answer = (start, start + len(text))
    question_mentions = linker(example.question, language).mentions if linker else ()
    context_mentions = linker(example.context, language).mentions if linker else ()
    context_spans = ([answer] if answer else []) + list(cut_at) + [m.span for m in context_mentions]
    (question_ids, question_spans), (context_ids, context_token_spans) = tokenizer.encode_mentions(
        [example.question, example.context], [[m.span for m in question_mentions], context_spans]
    )
    question_ids = question_ids[: settings.max_question_tokens]
    answer_tokens = context_token_spans.pop(0) if answer else None
    cut_tokens, context_token_spans = context_token_spans[: len(cut_at)], context_token_spans[len(cut_at) :]
    window = settings.max_length - _SPECIALS_IN_PAIR - len(question_ids)
    if len(context_ids) > window and window <= settings.doc_stride:  # several windows, each a step forward
        raise ValueError(
            f"question {example.id}: {len(question_ids)} question tokens leave windows of {window} context tokens, "
            f"not more than --doc-stride {settings.doc_stride}: raise --max-length or lower --doc-stride"
        )
    question_entities = [
        (tokenizer.entity_id(m.entity), (a + 1, b + 1))
        for m, (a, b) in zip(question_mentions, question_spans)
        if a < b <= len(question_ids)
    ]
    context_entities = [(tokenizer.entity_id(m.entity), span) for m, span in zip(context_mentions, context_token_spans)]
    offset = len(question_ids) + 3  # where a window's first token sits
    features, keys = [], []
    for first in _window_starts(len(context_ids), window, settings.doc_stride):
        last = min(first + window, len(context_ids))
        ids = [tokenizer.cls_token_id, *question_ids, tokenizer.sep_token_id, tokenizer.sep_token_id]
        ids += [*context_ids[first:last], tokenizer.sep_token_id]
        feature = {
            "input_ids": np.full(settings.max_length, tokenizer.pad_token_id, np.int32),
            "attention_mask": np.zeros(settings.max_length, np.int32),
        }
        feature["input_ids"][: len(ids)] = ids
        feature["attention_mask"][: len(ids)] = 1
        if linker is not None:
            inside = [
                (entity, (a - first + offset, b - first + offset))
                for entity, (a, b) in context_entities
                if first <= a < b <= last
            ]
            feature.update(_entity_arrays(question_entities + inside, settings.max_entities, tokenizer))
        if training:
            a, b = answer_tokens
            held = first <= a < b <= last
            feature["start_positions"] = np.int32(a - first + offset if held else 0)
            feature["end_positions"] = np.int32(b - 1 - first + offset if held else 0)
        features.append(feature)
        keys.append((offset, last - first, first))
    return features, keys, cut_tokens


def best_spans(keys, outputs, max_answer_tokens: int) -> dict[int, tuple[float, int, int, int]]:
    """Example number -> ``(score, feature index, start, end)`` of its best span (start + end logit,
    at most ``max_answer_tokens``, inside a window's context) over all its windows (``keys``:
    ``(example number, window offset, context tokens, first context token)`` per feature)."""
    best: dict[int, tuple[float, int, int, int]] = {}
    for index, ((number, offset, length, _), out) in enumerate(zip(keys, outputs)):
        start, end = out["start_logits"], out["end_logits"]
        for s in range(offset, offset + length):
            e_stop = min(offset + length - 1, s + max_answer_tokens - 1)
            e = s + int(end[s : e_stop + 1].argmax())
            score = float(start[s] + end[e])
            if number not in best or score > best[number][0]:
                best[number] = (score, index, s, e)
    return best


def best_answers(keys, features, outputs, examples, max_answer_tokens: int, tokenizer) -> list[str]:
    """The text of each example's best span over all its windows (:func:`best_spans`), in the
    examples' order ("" for one without a window). Not keyed by question id: MLQA and XQuAD
    share ids between the languages of one question."""
    best = best_spans(keys, outputs, max_answer_tokens)
    answers = []
    for n in range(len(examples)):
        if n not in best:
            answers.append("")
            continue
        _, index, s, e = best[n]
        answers.append(tokenizer.decode(features[index]["input_ids"][s : e + 1]).strip())
    return answers


def scores(predictions: list[str], examples) -> dict[str, float]:
    """Exact match and F1 over the examples with answers (``predictions`` in their order): MLQA's
    examples with MLQA's normalisation in their context's language, the others with SQuAD v1.1's."""
    answers = {n: [t for t, _ in e.answers] for n, e in enumerate(examples) if e.answers}
    languages = {n: e.language for n, e in enumerate(examples) if e.scoring == "mlqa"}
    return metrics.squad_scores(dict(enumerate(predictions)), answers, languages)


def _window_starts(length: int, window: int, stride: int) -> list[int]:
    """Where each window of ``window`` tokens starts, overlapping the previous by ``stride``, until one
    reaches the end (one window for a context that fits, even an empty one)."""
    starts = [0]
    while starts[-1] + window < length:
        starts.append(starts[-1] + window - stride)
    return starts


def _entity_arrays(entities: list[tuple[int, tuple[int, int]]], max_entities: int, tokenizer) -> dict[str, np.ndarray]:
    """``entity_ids``, ``entity_position_ids`` (-1 padded), ``entity_attention_mask`` of the first
    ``max_entities`` entities (id, token span in the feature)."""
    width = tokenizer.max_mention_length
    ids = np.full(max_entities, tokenizer.entity_pad_token_id, np.int32)
    positions = np.full((max_entities, width), -1, np.int32)
    mask = np.zeros(max_entities, np.int32)
    for k, (entity_id, (a, b)) in enumerate(entities[:max_entities]):
        ids[k], mask[k] = entity_id, 1
        span = np.arange(a, min(b, a + width))
        positions[k, : len(span)] = span
    return {"entity_ids": ids, "entity_position_ids": positions, "entity_attention_mask": mask}
