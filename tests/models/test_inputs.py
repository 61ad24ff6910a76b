"""Bad input raises a ValueError naming the argument, before anything is traced."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mluke_jax
from helpers import TINY_LUKE, luke_inputs


@pytest.fixture(scope="module")
def config():
    return mluke_jax.LukeConfig(**TINY_LUKE, num_labels=4)


@pytest.fixture(scope="module")
def model(config):
    return mluke_jax.LukeModel(config, rngs=__import__("flax").nnx.Rngs(0))


@pytest.fixture(scope="module")
def span_model(config):
    return mluke_jax.LukeForEntitySpanClassification.build(config)


def _inputs(**changes):
    x = luke_inputs(TINY_LUKE)
    x.update(changes)
    return {k: v for k, v in x.items() if v is not None}


def _raises(model, match, **inputs):
    with pytest.raises(ValueError, match=match):
        model(**inputs)


def test_valid_inputs_run(model):
    out = model(**_inputs())
    assert out.last_hidden_state.shape == (3, 9, 24) and out.entity_last_hidden_state.shape == (3, 3, 24)


def test_sequence_longer_than_the_model_allows(model, config):
    length = config.max_word_length + 1  # 40 positions, pad 1: at most 38 tokens
    ids = np.full((1, length), 5)
    _raises(model, r"input_ids has a row of 39 tokens; the model allows at most 38", input_ids=ids)
    model(input_ids=ids[:, :-1])  # 38 is fine
    padded = np.concatenate([ids[:, :-1], np.full((1, 5), config.pad_token_id)], axis=1)
    model(input_ids=padded)  # padding does not use positions


def test_position_ids_out_of_range(model):
    _raises(
        model,
        r"position_ids\[0, 2\] = 40 is outside the position table",
        **_inputs(position_ids=np.tile(np.arange(38, 47), (3, 1))),
    )


def test_entity_position_ids_past_the_sequence(model):
    positions = luke_inputs(TINY_LUKE)["entity_position_ids"].copy()
    positions[0, 1, 0] = 9  # the sequence has 9 tokens: 0..8
    _raises(
        model,
        r"entity_position_ids\[0, 1, 0\] = 9 is outside the word sequence \[0, 9\) \(or -1\)",
        **_inputs(entity_position_ids=positions),
    )
    positions[0, 1, 0] = -2
    _raises(model, r"entity_position_ids\[0, 1, 0\] = -2", **_inputs(entity_position_ids=positions))


def test_ids_outside_the_vocabularies(model):
    ids = luke_inputs(TINY_LUKE)["input_ids"].copy()
    ids[2, 4] = 37
    _raises(model, r"input_ids\[2, 4\] = 37 is outside the word vocabulary \[0, 37\)", **_inputs(input_ids=ids))
    ids[2, 4] = -1
    _raises(model, r"input_ids\[2, 4\] = -1", **_inputs(input_ids=ids))
    entity_ids = luke_inputs(TINY_LUKE)["entity_ids"].copy()
    entity_ids[0, 0] = 11
    _raises(
        model, r"entity_ids\[0, 0\] = 11 is outside the entity vocabulary \[0, 11\)", **_inputs(entity_ids=entity_ids)
    )
    _raises(
        model, r"token_type_ids\[0, 0\] = 2 is outside the token types", **_inputs(token_type_ids=np.full((3, 9), 2))
    )
    _raises(model, r"entity_token_type_ids", **_inputs(entity_token_type_ids=np.full((3, 3), 5)))


def test_mismatched_shapes(model):
    _raises(
        model,
        r"attention_mask must have shape \(batch, length\) of input_ids = \(3, 9\), got \(3, 8\)",
        **_inputs(attention_mask=np.ones((3, 8))),
    )
    _raises(model, r"entity_ids has batch size 2, input_ids has 3", **_inputs(entity_ids=np.zeros((2, 3), int)))
    _raises(
        model, r"entity_position_ids has shape \(3, 2, 4\)", **_inputs(entity_position_ids=-np.ones((3, 2, 4), int))
    )
    _raises(model, r"entity_attention_mask must have shape", **_inputs(entity_attention_mask=np.ones((3, 4))))
    _raises(model, r"input_ids must have shape \(batch, length\)", input_ids=np.ones(5, int))
    _raises(model, r"input_ids must hold integers", input_ids=np.ones((2, 5), np.float32))
    _raises(model, r"ragged", input_ids=[[1, 2, 3], [4, 5]])
    _raises(model, r"exactly one of input_ids and inputs_embeds")


def test_entity_arguments_need_each_other(model):
    _raises(model, r"entity_ids needs entity_position_ids", **_inputs(entity_position_ids=None))
    _raises(model, r"entity_attention_mask was given without entity_ids", **_inputs(entity_ids=None))


def test_heads_that_need_entities(config, span_model):
    words = {k: v for k, v in _inputs().items() if not k.startswith("entity")}
    for cls, match in [
        (mluke_jax.LukeForEntityClassification, "needs entity_ids"),
        (mluke_jax.LukeForEntityPairClassification, "needs entity_ids"),
    ]:
        _raises(cls.build(config), match, **words)
    one_entity = _inputs(
        entity_ids=np.zeros((3, 1), int),
        entity_position_ids=-np.ones((3, 1, 4), int),
        entity_attention_mask=None,
        entity_token_type_ids=None,
    )
    _raises(mluke_jax.LukeForEntityPairClassification.build(config), r"needs at least 2 entities", **one_entity)
    _raises(span_model, r"needs entity_ids", **words)
    _raises(span_model, r"needs entity_start_positions", **_inputs())
    starts = np.zeros((3, 3), int)
    _raises(
        span_model,
        r"entity_end_positions\[0, 0\] = 9 is outside the word sequence",
        **_inputs(entity_start_positions=starts, entity_end_positions=np.full((3, 3), 9)),
    )


def test_labels_are_checked(config, span_model):
    starts = np.zeros((3, 3), int)
    _raises(
        span_model,
        r"labels\[1, 2\] = 4 is outside the label ids \[0, 4\)",
        **_inputs(
            entity_start_positions=starts,
            entity_end_positions=starts,
            labels=np.array([[0, 1, 2], [3, 0, 4], [0, 0, 0]]),
        ),
    )
    _raises(
        mluke_jax.LukeForTokenClassification.build(config),
        r"labels must have shape",
        **_inputs(labels=np.zeros((3, 8), int)),
    )


def test_unknown_keyword_is_a_type_error(model):
    with pytest.raises(TypeError, match="unexpected keyword arguments \\['entity_span'\\]"):
        model(**_inputs(), entity_span=[(0, 1)])


def test_traced_inputs_skip_value_checks_but_stay_finite(model):
    """Inside a user's jit the values cannot be checked; out-of-range ids are clamped, never NaN."""
    inputs = _inputs()
    bad = dict(inputs)
    bad["input_ids"] = inputs["input_ids"].copy()
    bad["input_ids"][0, 1] = 10_000
    bad["entity_position_ids"] = inputs["entity_position_ids"].copy()
    bad["entity_position_ids"][0, 0, 0] = 500

    @jax.jit
    def run(arrays):
        return model(**arrays).last_hidden_state

    out = run({k: jnp.asarray(v) for k, v in bad.items()})
    assert np.isfinite(np.asarray(out)).all()
    with pytest.raises(ValueError, match=r"input_ids has shape|input_ids must have shape"):
        jax.jit(lambda ids: model(input_ids=ids).last_hidden_state)(jnp.ones((2, 3, 4), jnp.int32))


def test_empty_batch(model):
    _raises(model, r"input_ids is empty: shape \(0, 9\)", input_ids=np.zeros((0, 9), int))


def test_torch_tensors_that_require_grad_are_accepted(model):
    torch = pytest.importorskip("torch")
    inputs = _inputs()
    as_torch = {k: torch.as_tensor(v) for k, v in inputs.items()}
    as_torch["attention_mask"] = as_torch["attention_mask"].float().requires_grad_()
    np.testing.assert_array_equal(
        np.asarray(model(**as_torch).last_hidden_state), np.asarray(model(**inputs).last_hidden_state)
    )


def test_class_ids_must_be_integers(config):
    _raises(
        mluke_jax.LukeForEntityClassification.build(config),
        r"labels of shape \(batch,\) are class ids and must be integers",
        **_inputs(labels=np.array([0.0, 1.0, 2.0])),
    )


def test_sequence_classification_label_shapes(config):
    single = mluke_jax.LukeForSequenceClassification.build(config)
    _raises(single, r"labels must have shape \(batch,\) class ids = \(3,\)", **_inputs(labels=np.zeros((3, 2), int)))
    _raises(
        single,
        r"labels must have shape \(batch, num_labels\) multi_label_classification targets",
        **_inputs(labels=np.zeros((3, 2), np.float32)),
    )
    regression = mluke_jax.LukeForSequenceClassification.build(config.replace(num_labels=1, id2label=None))
    regression(**_inputs(labels=np.zeros((3, 1), np.float32)))
    _raises(regression, r"regression targets", **_inputs(labels=np.zeros((3, 2), np.float32)))
