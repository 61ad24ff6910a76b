"""NER span F1 equals seqeval's (conlleval semantics, its default mode) on the same tag sequences:
gold tags read from a CoNLL file by the recipe's reader, predictions in IOB1, IOB2 or BIOES,
random and adversarial (``I-`` after ``O``, ``E-`` without ``B-``, type changes inside a chunk)."""

import random

import pytest

from mluke_jax.finetune.metrics import span_f1
from mluke_jax.finetune.readers import _entities_of, read_conll
from mluke_jax.finetune.tasks import non_overlapping

seqeval_metrics = pytest.importorskip("seqeval.metrics")

TYPES = ("PER", "LOC", "ORG")
PREFIXES = {"iob1": "I", "iob2": "BI", "bioes": "BIES", "mixed": "BIES"}

ADVERSARIAL = [
    ["I-PER", "I-PER", "O", "I-LOC"],  # IOB1: I- opens a chunk
    ["B-PER", "I-LOC", "I-LOC"],  # a type change inside a chunk starts another
    ["E-PER", "E-PER", "S-LOC", "E-LOC"],  # E- without B-, S- then E-
    ["B-PER", "E-PER", "I-PER", "E-PER"],  # I- after E- opens a new chunk
    ["S-ORG", "I-ORG", "B-ORG", "B-ORG", "I-ORG"],
    ["I-LOC", "B-LOC", "E-LOC", "S-LOC"],
    ["B-PER", "I-PER", "E-LOC"],
    ["O", "O", "O"],
]


def random_tags(rng: random.Random, scheme: str, length: int) -> list[str]:
    tags = []
    for _ in range(length):
        if rng.random() < 0.4:
            tags.append("O")
        else:
            tags.append(f"{rng.choice(PREFIXES[scheme])}-{rng.choice(TYPES)}")
    return tags


def seqeval_scores(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    return {
        "precision": seqeval_metrics.precision_score(gold, predicted, zero_division=0),
        "recall": seqeval_metrics.recall_score(gold, predicted, zero_division=0),
        "f1": seqeval_metrics.f1_score(gold, predicted, zero_division=0),
    }


def write_conll(path, sentences: list[list[str]]) -> None:
    blocks = ["-DOCSTART- -X- -X- O"]
    blocks += ["\n".join(f"w{i} NN I-NP {tag}" for i, tag in enumerate(tags)) for tags in sentences]
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")


@pytest.mark.parametrize("scheme", sorted(PREFIXES))
def test_span_f1_equals_seqeval_on_random_tag_sequences(scheme, tmp_path):
    rng = random.Random(scheme)
    compared = 0
    for trial in range(40):
        gold_tags = [random_tags(rng, scheme, rng.randint(1, 12)) for _ in range(rng.randint(1, 8))]
        predicted_tags = [random_tags(rng, scheme, len(tags)) for tags in gold_tags]
        if trial < len(ADVERSARIAL):
            gold_tags[0] = ADVERSARIAL[trial]
            predicted_tags[0] = ADVERSARIAL[-1 - trial]
            predicted_tags[0] = (predicted_tags[0] * 3)[: len(gold_tags[0])]
        write_conll(tmp_path / "gold.txt", gold_tags)
        gold = [set(s.entities) for s in read_conll(tmp_path / "gold.txt")]
        predicted = [set(_entities_of(tags, "predicted", 1)) for tags in predicted_tags]
        ours = span_f1(predicted, gold)
        theirs = seqeval_scores(gold_tags, predicted_tags)
        assert ours == pytest.approx(theirs, abs=1e-12), (gold_tags, predicted_tags)
        compared += sum(map(len, gold_tags))
    assert compared > 200


def test_the_recipes_decoded_spans_score_as_seqeval_scores_their_iob2_tags():
    """The NER recipe's predictions are spans (greedy, non-overlapping): written as IOB2 tags,
    seqeval gives the recipe's figure."""
    rng = random.Random(7)
    gold_tags, predicted_tags, gold, predicted = [], [], [], []
    for _ in range(60):
        length = rng.randint(1, 10)
        tags = random_tags(rng, "iob2", length)
        candidates = [
            (rng.random(), i, j, rng.choice(TYPES)) for i in range(length) for j in range(i, min(length, i + 3))
            if rng.random() < 0.3
        ]  # fmt: skip
        spans = {(i, j, kind) for _, i, j, kind in non_overlapping(candidates)}
        as_tags = ["O"] * length
        for i, j, kind in spans:
            as_tags[i : j + 1] = [f"B-{kind}"] + [f"I-{kind}"] * (j - i)
        gold_tags.append(tags)
        predicted_tags.append(as_tags)
        gold.append(set(_entities_of(tags, "gold", 1)))
        predicted.append(spans)
    assert span_f1(predicted, gold) == pytest.approx(seqeval_scores(gold_tags, predicted_tags), abs=1e-12)
