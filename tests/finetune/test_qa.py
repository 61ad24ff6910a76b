"""QA features: long contexts in overlapping windows (labels, decoding over every window, nothing
dropped) and entities linked in question and context (--entities auto)."""

import numpy as np
import pytest

from helpers import MLUKE_TOKENIZER_DATA, write_mention_db
from mluke_jax import MLukeTokenizer
from mluke_jax.finetune.readers import QAExample
from mluke_jax.finetune.tasks import TASKS, Settings

FILLER = "the river was famous and old in the city of the north".split()


def long_example(tok, words_before: int, identifier: str = "q1") -> QAExample:
    rng = np.random.RandomState(len(identifier) + words_before)
    before = " ".join(rng.choice(FILLER, words_before))
    context = before + " Marie Curie lived in New York . " + " ".join(rng.choice(FILLER, 40))
    start = context.index("New York")
    return QAExample(identifier, "Where did Marie Curie live ?", context, [("New York", start)])


@pytest.fixture(scope="module")
def tok():
    return MLukeTokenizer.from_pretrained(MLUKE_TOKENIZER_DATA)


def test_a_context_three_times_the_length_is_read_in_windows(tok):
    task, settings = TASKS["qa"], Settings(max_length=48, doc_stride=16)
    example = long_example(tok, 110)
    context_tokens = len(tok(example.context, add_special_tokens=False)["input_ids"])
    assert context_tokens > 3 * settings.max_length
    train = task.prepare([example], tok, [], settings, True, lambda x: x)
    question = len(tok(example.question, add_special_tokens=False)["input_ids"])
    window = settings.max_length - 4 - question
    assert len(train.features) == int(np.ceil((context_tokens - window) / (window - settings.doc_stride))) + 1
    held = [f for f in train.features if f["start_positions"] > 0]
    assert 1 <= len(held) <= 2  # the windows that hold the whole answer; the others point at <s>
    for feature in held:
        span = feature["input_ids"][feature["start_positions"] : feature["end_positions"] + 1]
        assert tok.decode(span).strip() == "New York"
    for feature in train.features:
        assert feature["input_ids"].shape == (48,) and feature["attention_mask"].sum() <= 48
        assert feature["input_ids"][0] == tok.cls_token_id
    # evaluation: every window of every question, the best span over them; no question dropped
    examples = [example, long_example(tok, 5, "q2"), long_example(tok, 60, "q3")]
    evaluation = task.prepare(examples, tok, [], settings, False, lambda x: x)
    assert sorted({number for number, *_ in evaluation.keys}) == [0, 1, 2]
    outputs = []
    for (_, offset, length, _), feature in zip(evaluation.keys, evaluation.features):
        start, end = np.zeros(48, np.float32), np.zeros(48, np.float32)
        ids = list(feature["input_ids"][offset : offset + length])
        target = tok(" New York", add_special_tokens=False)["input_ids"]
        for s in range(len(ids) - len(target) + 1):
            if ids[s : s + len(target)] == target:
                start[offset + s], end[offset + s + len(target) - 1] = 5.0, 5.0
        outputs.append({"start_logits": start, "end_logits": end})
    scores = task.evaluate(evaluation, outputs, [], settings, tok)
    assert scores["exact_match"] == 100.0 and scores["f1"] == 100.0, scores


def test_windows_that_leave_no_room_are_an_error(tok):
    example = long_example(tok, 10)
    with pytest.raises(ValueError, match="raise --max-length or lower --doc-stride"):
        TASKS["qa"].prepare([example], tok, [], Settings(max_length=24, doc_stride=16), True, lambda x: x)


def test_entities_auto_feeds_the_linked_mentions(tok, tmp_path):
    db = write_mention_db(
        tmp_path / "m.gz",
        [("en", "Marie Curie", 10, [("Marie Curie", 9)]), ("en", "New York", 10, [("New York", 8)])],
    )
    task = TASKS["qa"]
    settings = Settings(max_length=48, doc_stride=16, entities="auto", mention_db=str(db), max_entities=4)
    example = long_example(tok, 60)
    train = task.prepare([example], tok, [], settings, True, lambda x: x)
    vocab = tok.entity_vocab
    for feature in train.features:
        assert feature["entity_ids"].shape == (4,) and feature["entity_position_ids"].shape == (4, 30)
        count = int(feature["entity_attention_mask"].sum())
        ids = list(feature["entity_ids"][:count])
        assert ids[0] == vocab["en:Marie Curie"]  # the question's mention, in every window
        for entity_id, positions in zip(ids, feature["entity_position_ids"][:count]):
            words = tok.decode(feature["input_ids"][positions[positions >= 0]]).strip()
            assert words == {vocab["en:Marie Curie"]: "Marie Curie", vocab["en:New York"]: "New York"}[entity_id]
    with_answer = [f for f in train.features if f["start_positions"] > 0]
    assert all(vocab["en:New York"] in f["entity_ids"] for f in with_answer)
    assert any(list(f["entity_ids"]).count(vocab["en:Marie Curie"]) == 2 for f in train.features)
    with pytest.raises(ValueError, match="needs --mention-db"):
        task.prepare([example], tok, [], Settings(entities="auto"), True, lambda x: x)
