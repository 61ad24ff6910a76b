"""rank_masked_entities: the [MASK] entity's logits over the blank, ranked; candidates, languages,
context entities (given or linked), batching; bad prompts."""

import json

import numpy as np
import pytest

import mluke_jax
from helpers import MLUKE_TOKENIZER_DATA, TINY_LUKE, write_mention_db
from mluke_jax.probing import mask_span, rank_masked_entities

VOCAB = json.loads((MLUKE_TOKENIZER_DATA / "entity_vocab.json").read_text())


@pytest.fixture(scope="module")
def tok_and_model():
    tok = mluke_jax.MLukeTokenizer.from_pretrained(MLUKE_TOKENIZER_DATA)
    config = mluke_jax.LukeConfig(
        **dict(TINY_LUKE, vocab_size=len(tok), entity_vocab_size=max(VOCAB.values()) + 1, max_position_embeddings=80,
               hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    )
    return tok, mluke_jax.LukeForMaskedLM.build(config, seed=0)


def log_softmax(x):
    x = np.asarray(x, np.float64)
    return x - np.logaddexp.reduce(x)


def test_ranks_the_entity_logits_of_the_blank(tok_and_model):
    tok, model = tok_and_model
    prompts = ["Tokyo is the capital of <mask>.", "<mask> <mask> wurde in Köln geboren.", "東京は<mask>の首都です。"]
    predictions = rank_masked_entities(model, tok, prompts, top_k=5, batch_size=2)
    specials = {VOCAB[n] for n in ("[PAD]", "[UNK]", "[MASK]", "[MASK2]")}
    ranked = np.array(sorted(set(VOCAB.values()) - specials))
    for prompt, found in zip(prompts, predictions):
        # the same as the model's entity logits for a [MASK] entity over the <mask> words, by hand
        encoded = tok(prompt, entity_spans=[mask_span(prompt)], entities=["[MASK]"], return_tensors="np")
        logits = np.asarray(model(**encoded).entity_logits)[0, 0]
        expected = log_softmax(logits[ranked])
        order = np.argsort(-expected, kind="stable")[:5]
        assert [p.entity_id for p in found] == [int(ranked[j]) for j in order]
        np.testing.assert_allclose([p.score for p in found], expected[order], atol=1e-5)
        assert all(p.entity_id not in specials for p in found)
        assert [VOCAB[p.name] for p in found] == [p.entity_id for p in found]
    assert mask_span(prompts[1]) == (0, 13)
    # a single prompt is a batch of one; the batch size does not change the numbers
    (alone,) = rank_masked_entities(model, tok, prompts[2], top_k=5)
    assert [p.entity_id for p in alone] == [p.entity_id for p in predictions[2]]
    np.testing.assert_allclose([p.score for p in alone], [p.score for p in predictions[2]], atol=1e-5)


def test_candidates_context_entities_and_languages(tok_and_model, tmp_path):
    tok, model = tok_and_model
    prompt = "Tokyo is the capital of <mask>."
    candidates = ["en:New York", "fr:Paris", "ja:東京"]
    (found,) = rank_masked_entities(model, tok, [prompt], candidates=candidates, top_k=10)
    assert sorted(p.name for p in found) == sorted(candidates) and len(found) == 3
    assert sum(np.exp(p.score) for p in found) == pytest.approx(1.0)  # a distribution over the candidates
    # plain titles are looked up in the prompts' language; per-prompt candidate lists
    by_title = rank_masked_entities(model, tok, [prompt], candidates=["Tokyo", "New York"], language="en")
    assert sorted(p.name for p in by_title[0]) == ["New York", "Tokyo"]
    per_prompt = rank_masked_entities(model, tok, [prompt, prompt], candidates=[["en:Tokyo"], ["fr:Paris", "ja:東京"]])
    assert [len(p) for p in per_prompt] == [1, 2] and per_prompt[0][0].score == pytest.approx(0.0)
    # the prompt's other entities: given, or linked (a mention over the blank is left out)
    given = rank_masked_entities(model, tok, [prompt], entity_spans=[[(0, 5)]], entities=[["en:Tokyo"]], top_k=3)
    encoded = tok(prompt, entity_spans=[mask_span(prompt), (0, 5)], entities=["[MASK]", "en:Tokyo"],
                  return_tensors="np")
    logits = np.asarray(model(**encoded).entity_logits)[0, 0]
    assert given[0][0].entity_id == max((v for v in VOCAB.values() if v > 2 and v != 25), key=lambda i: logits[i])
    db = write_mention_db(tmp_path / "m.gz", [("en", "Tokyo", 10, [("Tokyo", 9)]), ("en", "mask", 10, [("Tokyo", 9)])])
    linker = mluke_jax.EntityLinker.from_pretrained(db, tok)
    linked = rank_masked_entities(model, tok, [prompt], linker=linker, language="en", top_k=3)
    assert [p.entity_id for p in linked[0]] == [p.entity_id for p in given[0]]
    np.testing.assert_allclose([p.score for p in linked[0]], [p.score for p in given[0]], atol=1e-5)


def test_bad_prompts_and_arguments(tok_and_model):
    tok, model = tok_and_model
    with pytest.raises(ValueError, match="has no <mask>"):
        rank_masked_entities(model, tok, ["Tokyo is the capital of Japan."])
    with pytest.raises(ValueError, match="two blanks"):
        rank_masked_entities(model, tok, ["<mask> is the capital of <mask>."])
    with pytest.raises(ValueError, match="'en:Osaka' is not in the entity vocabulary"):
        rank_masked_entities(model, tok, ["<mask> is big."], candidates=["en:Tokyo", "en:Osaka"])
    with pytest.raises(ValueError, match="one list per prompt"):
        rank_masked_entities(model, tok, ["<mask> is big."], entity_spans=[], entities=[])
    base = mluke_jax.LukeModel.build(model.config, seed=0)
    with pytest.raises(TypeError, match="needs a LukeForMaskedLM"):
        rank_masked_entities(base, tok, ["<mask> is big."])
