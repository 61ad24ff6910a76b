"""Predictions on raw text (``python -m mluke_jax.finetune predict`` / ``mluke_jax.finetune.predict``):
each task's output against the model run directly, one compilation per length bucket, malformed
lines named while the rest is predicted."""

import json
import unicodedata

import numpy as np
import pytest

import mluke_jax
from mluke_jax import modeling
from mluke_jax.finetune import Predictor, PredictSettings, predict
from mluke_jax.finetune.__main__ import main
from mluke_jax.finetune.prediction import WORD, _candidate_spans

pytestmark = pytest.mark.torch
NER_LABELS = ["O", "LOC", "PER"]
TEXTS = [
    "Tokyo is the capital of Japan.",
    "Marie Curie lived in Paris, and later in New York with the Beatles!",
    "Köln",
    "Москва — столица России, а Байкал очень большой.",
    "東京は日本の首都です。",
]


@pytest.fixture(scope="module")
def ner_dir(head_dir):
    return head_dir("LukeForEntitySpanClassification", NER_LABELS)


def direct_ner_scores(model, tokenizer, text, max_span_words):
    """Every candidate span's label probabilities, from one unpadded model call on the text."""
    words = [m.span() for m in WORD.finditer(text)]
    starts, ends = _candidate_spans(len(words), max_span_words)
    spans = [(words[i][0], words[j][1]) for i, j in zip(starts, ends)]
    inputs = tokenizer(text, entity_spans=spans, task="entity_span_classification", return_tensors="np")
    logits = np.asarray(model(**inputs).logits)[0]
    p = np.exp(logits - logits.max(-1, keepdims=True))
    return spans, p / p.sum(-1, keepdims=True)


def test_ner_entities_are_the_models_own_decoded_spans(ner_dir):
    predictor = Predictor("ner", str(ner_dir), PredictSettings(batch_size=4, max_span_words=4))
    result = predictor.predict(TEXTS)
    assert not result.errors and [r["line"] for r in result.records] == [1, 2, 3, 4, 5]
    for text, record in zip(TEXTS, result.records):
        spans, probabilities = direct_ner_scores(predictor.model, predictor.tokenizer, text, 4)
        scored = {span: p for span, p in zip(spans, probabilities)}
        # every span is classified as the unpadded model classifies it (padding, buckets and
        # batching change nothing), and the kept ones do not overlap, highest score first
        candidates = sorted(((p.max(), span) for span, p in scored.items() if p.argmax() != 0), key=lambda c: -c[0])
        expected, used = [], set()
        for _, (start, end) in candidates:
            if not used & set(range(start, end)):
                expected.append((start, end))
                used |= set(range(start, end))
        got = [(e["start"], e["end"]) for e in record["entities"]]
        assert got == sorted(expected), text
        for entity in record["entities"]:
            p = scored[(entity["start"], entity["end"])]
            assert entity["text"] == text[entity["start"] : entity["end"]]
            assert entity["label"] == NER_LABELS[int(p.argmax())] and entity["score"] == pytest.approx(
                p.max(), abs=1e-5
            )
    assert any(record["entities"] for record in result.records)


def test_one_compilation_per_length_bucket(ner_dir):
    """A file of mixed lengths compiles the model once per bucket it uses; a second file of the
    same buckets compiles nothing."""
    predictor = Predictor("ner", str(ner_dir), PredictSettings(batch_size=4, buckets=(16, 32, 78), max_entities=32))
    rng = np.random.default_rng(0)
    words = "Tokyo is the capital of Japan and Marie Curie lived in Paris".split()
    texts = [" ".join(rng.choice(words, size=int(n))) for n in rng.integers(1, 60, size=40)]
    before = modeling._jitted_forward._cache_size()
    result = predictor.predict(texts)
    compiled = modeling._jitted_forward._cache_size() - before
    assert {length for _, length in result.shapes} == {16, 32, 78}
    assert compiled == len(result.shapes) == 3
    again = predictor.predict(list(reversed(texts)))
    assert modeling._jitted_forward._cache_size() - before == 3 and again.shapes == result.shapes


def test_a_text_longer_than_the_model_is_read_in_pieces(ner_dir):
    text = " ".join(["Marie Curie lived in Paris."] * 40)  # 200 words, the model reads 78 tokens
    (record,) = predict("ner", str(ner_dir), [text], max_span_words=3).records
    assert record["entities"] and all(text[e["start"] : e["end"]] == e["text"] for e in record["entities"])
    assert max(e["end"] for e in record["entities"]) > len(text) // 2  # the later pieces are read too


def test_malformed_lines_are_named_and_the_rest_predicted(ner_dir, tmp_path, capsys):
    lines = [
        "Tokyo is big.",
        "{not json",
        '{"txt": "Tokyo"}',
        "",
        '{"text": "Marie Curie", "id": "doc-7"}',
        '{"text": 5}',
        "   ",
        '{"text": "  "}',
        "Köln liegt am Rhein.",
    ]
    source = tmp_path / "raw.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out" / "predictions.jsonl"
    code = main(["predict", "ner", "--model", str(ner_dir), "--input", str(source), "--output", str(out), "--quiet"])
    err = capsys.readouterr()
    assert code == 1
    for line, message in [
        (2, "not valid JSON"),
        (3, "the record lacks 'text'"),
        (6, "'text' must be a string"),
        (8, "'text' is empty"),
    ]:
        assert f"error: {source}:{line}: {message}" in err.err
    assert "3 of 7 records predicted" in err.out and "4 lines could not be read" in err.out  # blank lines skipped
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in records] == [1, 5, 9] and records[1]["id"] == "doc-7"


def test_relation_typing_and_xnli_labels(head_dir):
    relation = head_dir("LukeForEntityPairClassification", ["no_relation", "per:city", "org:founded"])
    text = "Marie Curie lived in Paris."
    records = [
        {"text": text, "head": [0, 11], "tail": [21, 26], "id": 1},
        {"text": text, "head": [0, 11], "tail": [3, 40]},
    ]
    result = predict("relation", str(relation), records)
    assert [r["line"] for r in result.records] == [1] and result.records[0]["id"] == 1
    assert "'tail' [3, 40] is outside the text" in result.errors[0] and result.errors[0].startswith("input:2:")
    model = mluke_jax.LukeForEntityPairClassification.from_pretrained(relation)
    tokenizer = mluke_jax.MLukeTokenizer.from_pretrained(relation)
    direct = model(
        **tokenizer(text, entity_spans=[(0, 11), (21, 26)], task="entity_pair_classification", return_tensors="np")
    )
    logits = np.asarray(direct.logits)[0]
    assert result.records[0]["label"] == ["no_relation", "per:city", "org:founded"][int(logits.argmax())]
    assert result.records[0]["score"] == pytest.approx(float(np.exp(logits.max()) / np.exp(logits).sum()), abs=1e-5)

    typing = head_dir("LukeForEntityClassification", ["person", "place", "city", "organisation"])
    (record,) = predict("entity-typing", str(typing), [{"text": text, "span": [21, 26]}]).records
    model = mluke_jax.LukeForEntityClassification.from_pretrained(typing)
    direct = model(**tokenizer(text, entity_spans=[(21, 26)], task="entity_classification", return_tensors="np"))
    positive = np.flatnonzero(np.asarray(direct.logits)[0] > 0)
    assert record["labels"] == [["person", "place", "city", "organisation"][i] for i in positive]
    assert all(0.5 < s <= 1 for s in record["scores"].values())

    xnli = head_dir("LukeForSequenceClassification", ["contradiction", "entailment", "neutral"])
    result = predict(
        "xnli", str(xnli), ["Tokyo is big.\tTokyo is a city.", '{"premise": "a", "hypothesis": "b"}', "no tab"]
    )
    assert [r["line"] for r in result.records] == [1, 2] and result.records[0]["label"] in (
        "contradiction",
        "entailment",
        "neutral",
    )
    assert "input:3: expected a JSON object with premise, hypothesis" in result.errors[0]

    # PAWS-X: the same head, sentence1/sentence2; a record's language is kept, --language fills the others
    paws = xnli  # a sequence-classification head (head_dir makes one per architecture)
    lines = ["Tokyo is big.\tBig is Tokyo.", '{"sentence1": "a", "sentence2": "b", "language": "de"}']
    result = predict("paws-x", str(paws), lines, language="en")
    assert [(r["line"], r["language"]) for r in result.records] == [(1, "en"), (2, "de")]
    assert all("label" in r and "score" in r for r in result.records) and not result.errors
    assert "language" not in predict("paws-x", str(paws), lines[:1]).records[0]


def test_qa_answers_are_character_spans_of_long_contexts(head_dir):
    qa_dir = head_dir("LukeForQuestionAnswering", ["LABEL_0", "LABEL_1"])
    context = " ".join(["Marie Curie lived in Paris, and Tokyo is the capital of Japan."] * 20)  # > 78 tokens
    predictor = Predictor("qa", str(qa_dir), PredictSettings(doc_stride=16))
    result = predictor.predict([{"id": "q1", "question": "Where did Marie Curie live?", "context": context}])
    (record,) = result.records
    assert record["id"] == "q1" and 0 <= record["start"] < record["end"] <= len(context)
    assert record["answer"] == context[record["start"] : record["end"]] and record["answer"].strip()
    assert len(result.shapes) >= 1 and max(length for _, length in result.shapes) == 78


def test_english_luke_ner_as_on_the_model_card(tmp_path):
    """The conll-2003 stand-in (English LUKE tokenizer) predicts the model card's sentence: every
    entity is one of the spans the model card's own loop labels, with the same label."""
    from helpers import LUKE_TOKENIZER_DATA, convert, copy_luke_tokenizer, hf_luke, save_hf

    labels = {0: "NIL", 1: "MISC", 2: "PER", 3: "ORG", 4: "LOC"}
    vocab = len(json.loads((LUKE_TOKENIZER_DATA / "vocab.json").read_text(encoding="utf-8"))) + 2
    src = save_hf(
        hf_luke(
            "LukeForEntitySpanClassification", vocab_size=vocab, entity_vocab_size=10, num_labels=5, id2label=labels
        ),
        tmp_path / "hf",
    )
    copy_luke_tokenizer(src, task="entity_span_classification")
    model_dir = convert(src, tmp_path / "jax")
    text = "Beyoncé lives in Los Angeles"
    (record,) = predict("ner", str(model_dir), [text]).records
    model = mluke_jax.LukeForEntitySpanClassification.from_pretrained(model_dir)
    tokenizer = mluke_jax.LukeTokenizer.from_pretrained(model_dir)
    starts, ends = [0, 8, 14, 17, 21], [7, 13, 16, 20, 28]
    spans = [(s, e) for i, s in enumerate(starts) for e in ends[i:]]
    predicted = np.asarray(model(**tokenizer(text, entity_spans=spans, return_tensors="np")).logits).argmax(-1)[0]
    card = {span: labels[int(c)] for span, c in zip(spans, predicted) if c != 0}
    assert record["entities"] and all(card[(e["start"], e["end"])] == e["label"] for e in record["entities"])


def test_what_the_tokenizer_refuses_is_that_lines_error(ner_dir, head_dir, tmp_path):
    """A span of spaces only, overlapping pair spans, a zero-width character as a word, a line
    separator inside a JSON string, a BOM, too small buckets: each line is predicted or named."""
    relation = head_dir("LukeForEntityPairClassification", ["no_relation", "per:city", "org:founded"])
    records = [
        {"text": "Tokyo  is big", "head": [5, 6], "tail": [7, 9]},  # a head of spaces only
        {"text": "Marie Curie", "head": [0, 11], "tail": [6, 11]},  # overlapping
        {"text": "Marie Curie lived in Paris.", "head": [0, 11], "tail": [21, 26]},
    ]
    result = predict("relation", str(relation), records)
    assert [r["line"] for r in result.records] == [3] and records[0]["head"] == [5, 6]  # the caller's dicts untouched
    assert "input:1:" in result.errors[0] and "covers no token" in result.errors[0]
    assert "input:2:" in result.errors[1] and "overlap" in result.errors[1]

    source = tmp_path / "texts.jsonl"
    lines = ['{"text": "Tokyo \\u200b is big"}', json.dumps({"text": "Marie\u2028Curie"}, ensure_ascii=False), "Köln"]
    source.write_text("\ufeff" + "\n".join(lines) + "\r\n", encoding="utf-8")
    long_text = " ".join(["Marie Curie lived in Paris."] * 12)
    result = predict("ner", str(ner_dir), source, buckets=(16,))  # 16 and the model's 78
    assert not result.errors and [r["line"] for r in result.records] == [1, 2, 3]
    assert result.records[1]["text"] == "Marie\u2028Curie"
    result = predict("ner", str(ner_dir), [long_text], buckets=(16,))
    assert not result.errors and {length for _, length in result.shapes} == {78}
    with pytest.raises(ValueError, match="max_span_words must be at least 1"):
        PredictSettings(max_span_words=0)


def test_qa_answers_leave_the_contexts_tokens_as_training_reads_them(head_dir):
    qa_dir = head_dir("LukeForQuestionAnswering", ["LABEL_0", "LABEL_1"])
    predictor = Predictor("qa", str(qa_dir))
    context = "In 1,000 years, Paris (the capital) grew; U.S. cities too."
    record = {"question": "Which city grew?", "context": context}
    features, _, _ = qa_features(predictor, record, cut=True)
    plain, _, _ = qa_features(predictor, record, cut=False)
    assert [f["input_ids"].tolist() for f in features] == [f["input_ids"].tolist() for f in plain]
    (answer,) = predictor.predict([record]).records
    assert answer["answer"] == context[answer["start"] : answer["end"]]
    assert not unicodedata.category(answer["answer"][-1]).startswith("P") or len(answer["answer"]) == 1


def qa_features(predictor, record, cut):
    import re

    from mluke_jax.finetune import qa
    from mluke_jax.finetune.readers import QAExample

    example = QAExample("q", record["question"], record["context"], [])
    words = [m.span() for m in re.finditer(r"\S+", record["context"])] if cut else []
    return qa.question_features(example, predictor.tokenizer, predictor._recipe, False, cut_at=words)


def test_bf16_predictions_follow_float32(ner_dir):
    """--bf16: bfloat16 compute with float32 accumulation gives the float32 logits to bf16 precision."""
    texts = TEXTS[:2]
    exact, low = Predictor("ner", str(ner_dir)), Predictor("ner", str(ner_dir), PredictSettings(bf16=True))
    assert low.model.config.dtype == "bfloat16"
    rows = [row for text in texts for row, _ in exact._rows_ner({"text": text})]
    (a, _), (b, _) = exact._run(rows, False), low._run(rows, False)
    for x, y in zip(a, b):
        assert np.abs(x["logits"] - y["logits"]).max() < 0.05
    result = low.predict(texts)
    assert not result.errors and [r["line"] for r in result.records] == [1, 2]


def test_predict_from_and_into_a_bucket(ner_dir, bucket, tmp_path):
    """``predict --model/--input/--output`` all in a bucket: the records a local run writes."""
    from etils import epath

    from mluke_jax import remote

    remote.copy_tree(ner_dir, epath.Path(f"{bucket}/model"))
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS[:3]), encoding="utf-8")
    remote.copy_file(source, epath.Path(f"{bucket}/in/texts.jsonl"))
    local, uploaded = tmp_path / "out.jsonl", f"{bucket}/out/predictions.jsonl"
    common = ["--max-span-words", "3", "--quiet"]
    assert main(["predict", "ner", "--model", str(ner_dir), "--input", str(source), "--output", str(local),
                 *common]) == 0  # fmt: skip
    assert main(["predict", "ner", "--model", f"{bucket}/model", "--input", f"{bucket}/in/texts.jsonl",
                 "--output", uploaded, *common]) == 0  # fmt: skip
    assert epath.Path(uploaded).read_text(encoding="utf-8") == local.read_text(encoding="utf-8")
