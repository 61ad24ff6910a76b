"""NER on whole documents: each sentence read with as much of its document around it as fits,
candidate spans only in the sentence; a sentence longer than --max-length read in pieces."""

import numpy as np
import pytest

from helpers import MLUKE_TOKENIZER_DATA
from mluke_jax import MLukeTokenizer
from mluke_jax.finetune.readers import read_conll
from mluke_jax.finetune.tasks import TASKS, Settings

FILLER = "the river was famous and old in a city of the north where people lived".split()


def write_conll(path, documents):
    """``documents``: lists of sentences, each a list of (word, tag)."""
    lines = []
    for sentences in documents:
        lines += ["-DOCSTART- -X- -X- O", ""]
        for sentence in sentences:
            lines += [f"{word} NN O {tag}" for word, tag in sentence] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sentence(rng, length):
    words = [(w, "O") for w in rng.choice(FILLER, length)]
    place = rng.randint(0, length - 3)
    words[place : place + 2] = [("Marie", "B-PER"), ("Curie", "I-PER")]
    words[-1] = ("Tokyo", "B-LOC")
    return words


@pytest.fixture(scope="module")
def tok():
    return MLukeTokenizer.from_pretrained(MLUKE_TOKENIZER_DATA)


def features_by_sentence(prepared):
    found = {}
    for (number, group), feature in zip(prepared.keys, prepared.features):
        found.setdefault(number, []).append((group, feature))
    return found


def check(prepared, sentences, labels, settings, tok):
    """Every feature fits; each sentence's candidate spans are exactly its own (in the pieces);
    labels and mention positions line up; gold logits give F1 1."""
    by_sentence = features_by_sentence(prepared)
    assert sorted(by_sentence) == list(range(len(sentences)))  # no sentence dropped
    outputs = []
    for (number, group), feature in zip(prepared.keys, prepared.features):
        assert feature["input_ids"].shape == (settings.max_length,)
        gold = {(a, b): kind for a, b, kind in sentences[number].entities}
        logits = np.zeros((settings.max_entities, len(labels)), np.float32)
        for k, (i, j) in enumerate(group):
            assert j - i < settings.max_span_words and 0 <= i <= j < len(sentences[number].words)
            assert labels[feature["labels"][k]] == gold.get((i, j), "O")
            logits[k, feature["labels"][k]] = 10.0
            positions = feature["entity_position_ids"][k]
            words = tok.decode(feature["input_ids"][positions[positions >= 0]]).split()
            assert words == sentences[number].words[i : j + 1]
        outputs.append({"logits": logits})
    scores = TASKS["ner"].evaluate(prepared, outputs, labels, settings, tok)
    assert scores["f1"] == 1.0, scores
    return by_sentence


def test_a_document_of_two_thousand_words(tok, tmp_path):
    rng = np.random.RandomState(0)
    path = write_conll(tmp_path / "doc.txt", [[sentence(rng, 20) for _ in range(100)], [sentence(rng, 12)]])
    sentences = read_conll(path)
    assert sum(len(s.words) for s in sentences[:100]) == 2000
    assert [s.document for s in sentences] == [0] * 100 + [1]
    task, settings = TASKS["ner"], Settings(max_length=128, max_entities=64, max_span_words=4)
    labels = task.label_set(sentences)
    prepared = task.prepare(sentences, tok, labels, settings, True, lambda x: x)
    by_sentence = check(prepared, sentences, labels, settings, tok)
    for number, found in by_sentence.items():
        spans = sorted(span for group, _ in found for span in group)
        n = len(sentences[number].words)
        assert spans == sorted((i, j) for i in range(n) for j in range(i, min(n, i + 4)))
    # the context fills the length from the document: neighbours' words, never another document's
    middle = by_sentence[50][0][1]
    assert middle["attention_mask"].sum() > 100
    text = tok.decode(middle["input_ids"][middle["attention_mask"] == 1], skip_special_tokens=True).split()
    own = sentences[50].words
    at = next(i for i in range(len(text)) if text[i : i + len(own)] == own)
    assert text[at - 5 : at] == sentences[49].words[-5:]
    assert text[at + len(own) : at + len(own) + 5] == sentences[51].words[:5]
    last = by_sentence[100][0][1]
    text = tok.decode(last["input_ids"][last["attention_mask"] == 1], skip_special_tokens=True).split()
    assert text == sentences[100].words  # alone in its document
    # without context: the sentence alone
    alone = task.prepare(
        sentences[:3], tok, labels, Settings(max_length=128, max_span_words=4, ner_context=False), True, lambda x: x
    )
    first = alone.features[0]
    words = tok.decode(first["input_ids"][first["attention_mask"] == 1], skip_special_tokens=True).split()
    assert words == sentences[0].words


def test_a_sentence_of_seven_hundred_words_is_read_in_pieces(tok, tmp_path):
    rng = np.random.RandomState(1)
    path = write_conll(tmp_path / "long.txt", [[sentence(rng, 700)]])
    sentences = read_conll(path)
    assert len(sentences[0].words) == 700
    task, settings = TASKS["ner"], Settings(max_length=64, max_entities=32, max_span_words=3)
    labels = task.label_set(sentences)
    prepared = task.prepare(sentences, tok, labels, settings, True, lambda x: x)
    check(prepared, sentences, labels, settings, tok)
    assert len({int(f["input_ids"][1]) for f in prepared.features}) > 5  # several pieces
    found = sorted({span for group in (g for _, g in prepared.keys) for span in group})
    assert (699, 699) in found and (0, 0) in found
