"""Metrics of the recipes: span F1, micro F1 (relations without the negative class, multi-label
typing), SQuAD exact match / F1, accuracy."""

import collections
import re
import string
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


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(c for c in text.lower() if c not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def squad_scores(predictions: dict[str, str], answers: dict[str, list[str]]) -> dict[str, float]:
    """SQuAD 1.1 exact match and token F1 (best over the gold answers), in percent."""
    exact = f1 = 0.0
    for qid, golds in answers.items():
        prediction = normalize_answer(predictions.get(qid, ""))
        exact += max(float(prediction == normalize_answer(g)) for g in golds)
        best = 0.0
        for g in golds:
            p_tokens, g_tokens = prediction.split(), normalize_answer(g).split()
            common = sum((collections.Counter(p_tokens) & collections.Counter(g_tokens)).values())
            if common:
                precision, recall = common / len(p_tokens), common / len(g_tokens)
                best = max(best, 2 * precision * recall / (precision + recall))
        f1 += best
    n = max(len(answers), 1)
    return {"exact_match": 100 * exact / n, "f1": 100 * f1 / n}
