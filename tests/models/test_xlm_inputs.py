"""XLM input handling without torch: bad inputs name the problem; language names; jit reuse."""

import numpy as np
import pytest

import mluke_jax
from helpers import TINY_XLM, xlm_inputs


@pytest.fixture(scope="module")
def model():
    return mluke_jax.XLMWithLMHeadModel.build(mluke_jax.XLMConfig(**TINY_XLM))


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(langs=np.full((3, 9), 3)), r"langs\[0, 0\] = 3 is outside the languages \(n_langs=3\)"),
        (dict(langs="xx"), "unknown language 'xx': this model knows \\['de', 'en', 'fr'\\]"),
        (dict(langs=5), "language id 5 is outside"),
        (
            dict(input_ids=np.zeros((1, 41), np.int64), attention_mask=None, langs=None),
            "at most max_position_embeddings=40",
        ),
        (dict(lengths=np.array([9, 10, 3]), attention_mask=None), r"lengths\[1\] = 10 is outside the sequence length"),
        (dict(lengths=np.array([9, 3])), r"lengths must have shape \(batch,\)"),
        (dict(input_ids=np.full((3, 9), 37)), "outside the vocabulary"),
        (dict(position_ids=np.full((3, 9), 40)), "outside the position table"),
        (dict(labels=np.full((3, 9), 99)), "outside the label ids"),
        (dict(token_type_ids=np.full((3, 9), -1)), "word table"),
        (dict(attention_mask=np.ones((3, 8))), "attention_mask must have shape"),
    ],
)
def test_bad_inputs_are_named(model, change, message):
    inputs = {**xlm_inputs(TINY_XLM), **change}
    with pytest.raises(ValueError, match=message):
        model(**{k: v for k, v in inputs.items() if v is not None})


def test_squad_head_refuses_ignored_start_positions():
    qa = mluke_jax.XLMForQuestionAnswering.build(mluke_jax.XLMConfig(**TINY_XLM))
    inputs = xlm_inputs(TINY_XLM)
    with pytest.raises(ValueError, match="start_positions"):
        qa(**inputs, start_positions=np.array([1, -100, 2]), end_positions=np.array([3, 4, 5]))


def test_language_names_and_ids_broadcast(model):
    inputs = xlm_inputs(TINY_XLM)
    by_array = model(**{**inputs, "langs": np.full((3, 9), 2)}).logits
    np.testing.assert_array_equal(model(**{**inputs, "langs": "fr"}).logits, by_array)
    np.testing.assert_array_equal(model(**{**inputs, "langs": 2}).logits, by_array)
    assert not np.allclose(model(**{**inputs, "langs": "de"}).logits, by_array)


def test_padding_is_zeroed_and_masked(model):
    inputs = xlm_inputs(TINY_XLM)
    out = model.transformer(**inputs, output_hidden_states=True)
    for states in out.hidden_states:
        np.testing.assert_array_equal(np.asarray(states)[1, -3:], 0.0)
    changed = inputs["input_ids"].copy()
    changed[1, -3:] = 7  # masked tokens must not change the real ones
    again = model.transformer(**{**inputs, "input_ids": changed})
    np.testing.assert_allclose(
        np.asarray(again.last_hidden_state)[1, :-3], np.asarray(out.last_hidden_state)[1, :-3], atol=1e-6
    )


def test_unknown_keyword_and_multiple_choice_lengths_warning():
    config = mluke_jax.XLMConfig(**TINY_XLM)
    with pytest.raises(TypeError, match="cache"):
        mluke_jax.XLMModel.build(config)(input_ids=np.zeros((1, 3), np.int64), cache={})
    mc = mluke_jax.XLMForMultipleChoice.build(config)
    ids = np.full((2, 2, 5), 7)
    with pytest.warns(UserWarning, match="ignores lengths"):
        out = mc(input_ids=ids, lengths=np.full((2, 2), 5), langs="en")
    assert out.logits.shape == (2, 2)


def test_dropout_only_with_rngs(model):
    inputs = xlm_inputs(TINY_XLM)
    eval_logits = np.asarray(model(**inputs).logits)
    np.testing.assert_array_equal(np.asarray(model(**inputs).logits), eval_logits)
    train = np.asarray(model(**inputs, rngs=0).logits)
    assert not np.allclose(train, eval_logits)
    np.testing.assert_array_equal(np.asarray(model(**inputs, rngs=0).logits), train)
