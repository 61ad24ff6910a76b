"""Metrics of the recipes: span F1, micro F1 (relations without the negative class, multi-label
typing), SQuAD v1.1 and MLQA exact match / F1, accuracy."""

import collections
import functools
import re
import string
import sys
import unicodedata
from collections.abc import Iterable


def precision_recall_f1(correct: int, predicted: int, gold: int) -> dict[str, float]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def span_f1(predicted: Iterable[set], gold: Iterable[set]) -> dict[str, float]:
    """Entity-level micro F1 (CoNLL): per sentence, sets of ``(start, end, type)``."""
    correct = n_pred = n_gold = 0
    for p, g in zip(predicted, gold):
        correct += len(p & g)
        n_pred += len(p)
        n_gold += len(g)
    return precision_recall_f1(correct, n_pred, n_gold)


def relation_f1(predicted: list[str], gold: list[str], negative: str = "no_relation") -> dict[str, float]:
    """TACRED's micro F1: the negative class counts neither as a prediction nor as a gold relation."""
    correct = sum(p == g != negative for p, g in zip(predicted, gold))
    return precision_recall_f1(correct, sum(p != negative for p in predicted), sum(g != negative for g in gold))


def multilabel_f1(predicted: list[set], gold: list[set]) -> dict[str, float]:
    """Micro F1 over (example, label) pairs (Open Entity)."""
    correct = sum(len(p & g) for p, g in zip(predicted, gold))
    return precision_recall_f1(correct, sum(map(len, predicted)), sum(map(len, gold)))


def accuracy(predicted: list, gold: list) -> dict[str, float]:
    return {"accuracy": sum(p == g for p, g in zip(predicted, gold)) / max(len(gold), 1)}


# SQuAD v1.1's evaluation script: ASCII punctuation, English articles, whitespace tokens.
_SQUAD_PUNCTUATION = frozenset(string.punctuation)
# MLQA's evaluation script (mlqa_evaluation_v1.py): every Unicode punctuation character, articles per
# language, whitespace tokens, and for Chinese each CJK character (and punctuation mark) a token.
_MLQA_ARTICLES = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "hi": None,  # no formal articles
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "ar": re.compile(r"\sال^|ال"),  # as the script has it: every "ال", inside words too
    "zh": None,
}
MLQA_LANGUAGES = tuple(_MLQA_ARTICLES)
_CJK = re.compile(r"[\u4e00-\u9fa5]")


@functools.cache
def _mlqa_punctuation() -> frozenset[str]:
    """Every character of a Unicode punctuation category, and ASCII's (built once, when first needed)."""
    return frozenset(chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")) | (
        _SQUAD_PUNCTUATION
    )


def normalize_answer(text: str, language: str | None = None) -> str:
    """An answer as the official scripts compare it. ``language=None``: SQuAD v1.1's (lower case,
    no ASCII punctuation, no English articles, single spaces), which XQuAD is scored with too.
    A language: MLQA's (lower case, no Unicode punctuation, that language's articles, and for
    ``zh`` every CJK character a token of its own); an error for a language MLQA has no rules for."""
    text = text.lower()
    if language is None:
        text = "".join(c for c in text if c not in _SQUAD_PUNCTUATION)
        return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())
    if language not in _MLQA_ARTICLES:
        raise ValueError(
            f"MLQA's evaluation has no rules for language {language!r}: it scores {list(MLQA_LANGUAGES)} "
            "(XQuAD and SQuAD are scored with SQuAD v1.1's rules, language=None)"
        )
    punctuation = _mlqa_punctuation()
    text = "".join(c for c in text if c not in punctuation)
    if _MLQA_ARTICLES[language] is not None:
        text = _MLQA_ARTICLES[language].sub(" ", text)
    tokens = _mixed_segmentation(text) if language == "zh" else text.split()
    return " ".join(t for t in tokens if t.strip())


def _mixed_segmentation(text: str) -> list[str]:
    """MLQA's Chinese tokens: each CJK character or punctuation mark alone, the runs between them
    split on whitespace."""
    tokens, run, punctuation = [], "", _mlqa_punctuation()
    for char in text:
        if _CJK.search(char) or char in punctuation:
            tokens += run.split()
            run = ""
            tokens.append(char)
        else:
            run += char
    return tokens + run.split()


def answer_f1(prediction: str, gold: str, language: str | None = None) -> float:
    """Token F1 of two normalised answers (0 when they share no token)."""
    p_tokens = normalize_answer(prediction, language).split()
    g_tokens = normalize_answer(gold, language).split()
    common = sum((collections.Counter(p_tokens) & collections.Counter(g_tokens)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p_tokens), common / len(g_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_scores(
    predictions: dict, answers: dict[object, list[str]], languages: dict | None = None
) -> dict[str, float]:
    """Exact match and token F1 (best over the gold answers), in percent over every question of
    ``answers``, as SQuAD v1.1's and MLQA's evaluation scripts compute them: a question without a
    prediction scores 0. ``languages``: question id -> MLQA language (its context's), None or
    absent: SQuAD v1.1's normalisation."""
    languages = languages or {}
    exact = f1 = 0.0
    for qid, golds in answers.items():
        if qid not in predictions:
            continue
        language = languages.get(qid)
        prediction = normalize_answer(predictions[qid], language)
        exact += max(float(prediction == normalize_answer(g, language)) for g in golds)
        f1 += max(answer_f1(predictions[qid], g, language) for g in golds)
    n = max(len(answers), 1)
    return {"exact_match": 100 * exact / n, "f1": 100 * f1 / n}
