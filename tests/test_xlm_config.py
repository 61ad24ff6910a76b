"""XLMConfig: hub-style config.json in (2019 keys, training-parameter dumps), round trip, checks."""

import pytest

from helpers import ENDE_HUB_CONFIG
from mluke_jax import XLMConfig


def test_hub_config_reads_like_the_preset():
    config = XLMConfig.from_hf_dict(ENDE_HUB_CONFIG)
    preset = XLMConfig.xlm_mlm_ende_1024()
    assert config == preset.replace(embed_init_std=config.embed_init_std)
    assert config.vocab_size == 64699 and config.pad_token_id == 2 and config.id2lang == {0: "de", 1: "en"}
    assert config.language_id("en") == 1 and config.hidden_size == 1024 and config.intermediate_size == 4096


def test_round_trip_through_transformers():
    transformers = pytest.importorskip("transformers")
    config = XLMConfig.xlm_mlm_17_1280(n_layers=2, vocab_size=99, emb_dim=32, n_heads=4)
    theirs = transformers.XLMConfig.from_dict(config.to_hf_dict())
    assert theirs.n_words == 99 and theirs.use_lang_emb is False and theirs.lang2id["zh"] == 16
    assert XLMConfig.from_hf_dict(theirs.to_dict()) == config


def test_pad_index_wins_over_pad_token_id():
    assert XLMConfig.from_hf_dict({**ENDE_HUB_CONFIG, "pad_token_id": 7}).pad_token_id == 2


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rotary_dim": 8}, "does not handle: \\['rotary_dim'\\]"),
        ({"is_encoder": False}, "is_encoder=False"),
        ({"use_memory": True}, "use_memory=True"),
        ({"summary_type": "attn"}, "summary_type 'attn'"),
        ({"n_heads": 7}, "not a multiple of n_heads"),
        ({"lang2id": {"de": 0, "en": 2}, "id2lang": None}, "outside 0..n_langs-1"),
        ({"pad_index": 70000}, "outside the vocabulary"),
    ],
)
def test_bad_configs_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        XLMConfig.from_hf_dict({**ENDE_HUB_CONFIG, **change})
