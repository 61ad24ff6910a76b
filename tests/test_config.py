"""LukeConfig: read from config.json dictionaries, validated, round-tripped."""

import dataclasses
import json

import pytest

from helpers import MLUKE_BASE_LITE_CONFIG, TINY_LUKE
from mluke_jax import LukeConfig


def test_reads_the_released_mluke_base_lite_config():
    config = LukeConfig.from_hf_dict(MLUKE_BASE_LITE_CONFIG)
    assert (config.vocab_size, config.entity_vocab_size, config.entity_emb_size) == (250004, 4, 256)
    assert config.layer_norm_eps == 1e-5 and config.type_vocab_size == 1 and config.max_position_embeddings == 514
    assert config.use_entity_aware_attention is False and config.hidden_act == "gelu"
    assert config.max_word_length == 512 and config.head_dim == 64
    preset = LukeConfig.mluke_base_lite()
    assert dataclasses.replace(preset, entity_aware_query_weights=None) == config
    assert LukeConfig.mluke_base().entity_vocab_size == 1200001


def test_round_trip_through_the_hf_dict():
    config = LukeConfig(
        **TINY_LUKE,
        id2label={0: "O", 1: "PER", 2: "LOC"},
        classifier_dropout=0.2,
        dtype="bfloat16",
        remat=True,
        scan_unroll=True,
    )
    data = json.loads(config.to_json_string())
    assert not {"dtype", "remat", "scan_unroll"} & set(data)  # runtime fields stay out of config.json
    assert data["id2label"] == {"0": "O", "1": "PER", "2": "LOC"} and data["label2id"]["LOC"] == 2
    again = LukeConfig.from_hf_dict(data, dtype="bfloat16", remat=True, scan_unroll=True)
    assert again == config and again.num_labels == 3


def test_transformers_reads_what_we_write():
    transformers = pytest.importorskip("transformers")
    config = LukeConfig(**TINY_LUKE, id2label={0: "O", 1: "PER"})
    theirs = transformers.LukeConfig.from_dict(config.to_hf_dict())
    assert theirs.num_labels == 2 and theirs.entity_emb_size == 16 and theirs.layer_norm_eps == 1e-5
    # and we read what transformers writes
    assert LukeConfig.from_hf_dict(theirs.to_dict()).hidden_size == 24


def test_unknown_key_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"does not handle: \['rotary_dim'\]"):
        LukeConfig.from_hf_dict({**MLUKE_BASE_LITE_CONFIG, "rotary_dim": 32})


@pytest.mark.parametrize(
    "key, value",
    [
        ("is_decoder", True),
        ("add_cross_attention", True),
        ("position_embedding_type", "relative_key"),
        ("pruned_heads", {"0": [1]}),
    ],
)
def test_keys_that_would_change_the_maths_are_refused(key, value):
    with pytest.raises(ValueError, match=key):
        LukeConfig.from_hf_dict({**MLUKE_BASE_LITE_CONFIG, key: value})


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(hidden_size=25), "not a multiple of num_attention_heads"),
        (dict(hidden_act="mish"), "hidden_act 'mish'"),
        (dict(layer_norm_eps=0), "layer_norm_eps must be > 0"),
        (dict(hidden_dropout_prob=1.0), "hidden_dropout_prob must be in"),
        (dict(vocab_size=0), "vocab_size must be a positive integer"),
        (dict(pad_token_id=40), "pad_token_id 40 is outside the vocabulary"),
        (dict(num_labels=3, id2label={0: "a"}), "disagrees with id2label"),
        (dict(problem_type="ranking"), "problem_type"),
        (dict(dtype="int8"), "unsupported dtype"),
        (dict(scan_unroll=0), "scan_unroll must be a positive number of layers or True"),
        (dict(scan_unroll=False), "scan_unroll must be a positive number of layers or True"),
    ],
)
def test_validation_errors(changes, match):
    with pytest.raises(ValueError, match=match):
        LukeConfig(**{**TINY_LUKE, **changes})


def test_model_type_must_be_luke():
    with pytest.raises(ValueError, match="model_type 'xlm'"):
        LukeConfig.from_hf_dict({"model_type": "xlm"})


def test_id2label_keys_from_json_are_ints():
    config = LukeConfig.from_hf_dict({**MLUKE_BASE_LITE_CONFIG, "id2label": {"0": "O", "1": "B"}})
    assert config.id2label == {0: "O", 1: "B"} and config.num_labels == 2
