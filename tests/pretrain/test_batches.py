"""Pretraining batches from the corpus pipeline: our losses on them equal transformers' (fp32, 1e-5)."""

import json

import numpy as np
import pytest

import mluke_jax
from helpers import convert, hf_luke, hf_xlm, save_hf, to_torch
from mluke_jax.pretrain.batches import LUKE_FIELDS, luke_batches, xlm_batches
from mluke_jax.tokenizers.entity_vocab import read_entity_vocab
from mluke_jax.tokenizers.mluke import MLukeTokenizer

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

TOLERANCE = 1e-5


def test_luke_masked_batches_give_transformers_loss(example_sets, tmp_path):
    vocab = read_entity_vocab(example_sets["entity_vocab"])
    tokenizer = MLukeTokenizer.from_pretrained(example_sets["tokenizer"], entity_vocab=vocab)
    stream = luke_batches([example_sets["en"], example_sets["de"]], 4, tokenizer, seed=0)
    batch = next(stream)
    assert sorted(batch) == sorted(LUKE_FIELDS) and batch["input_ids"].shape == (4, 16)
    with pytest.raises(ValueError, match=r"masked_positions\[0, 0\] = 16 is outside the word positions \[0, 16\)"):
        mluke_jax.LukeForMaskedLM.build(
            mluke_jax.LukeConfig(
                vocab_size=len(tokenizer),
                entity_vocab_size=9,
                hidden_size=8,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=16,
                entity_emb_size=8,
            )
        )(**{**batch, "masked_positions": np.full((4, 2), 16)})
    assert (batch["labels"] != -100).any() and (batch["entity_labels"] != -100).any()
    # as pretraining runs: no entity-aware attention
    ref = hf_luke(
        "LukeForMaskedLM",
        vocab_size=len(tokenizer),
        entity_vocab_size=max(vocab.values()) + 1,
        use_entity_aware_attention=False,
        type_vocab_size=1,
    )
    ours = mluke_jax.LukeForMaskedLM.from_pretrained(convert(save_hf(ref, tmp_path / "hf"), tmp_path / "jax"))
    for _ in range(3):
        # the word head at the masked positions only (masked_positions, our pretraining's) gives the
        # loss of transformers' head at every position
        positions = batch["masked_positions"]
        assert positions.shape == (4, 2)  # at most round(0.15 * 14) words of 16 tokens are masked
        np.testing.assert_array_equal((positions >= 0).sum(1), (batch["labels"] != -100).sum(1))
        with torch.no_grad():
            expected = ref(**to_torch({k: v.astype(np.int64) for k, v in batch.items() if k != "masked_positions"}))
        got = ours(**batch)
        assert abs(float(got.loss) - float(expected.loss)) <= TOLERANCE, (float(got.loss), float(expected.loss))
        assert abs(float(got.mlm_loss) - float(expected.mlm_loss)) <= TOLERANCE
        full = np.asarray(expected.logits)
        for b, row in enumerate(positions):
            for k, p in enumerate(row[row >= 0]):
                assert np.abs(np.asarray(got.logits)[b, k] - full[b, p]).max() <= 1e-4
        batch = next(stream)


@pytest.mark.parametrize("objective", ["mlm", "clm", "tlm", "mlm-sample-alpha"])
def test_xlm_batches_give_transformers_loss(xlm_data, tmp_path, objective):
    from mluke_jax.tokenizers.xlm import XLMTokenizer

    tokenizer = XLMTokenizer.from_pretrained(xlm_data / "tokenizer")
    name, _, extra = objective.partition("-")
    dirs = [xlm_data / "pairs"] if name == "tlm" else [xlm_data / "en-stream", xlm_data / "de-stream"]
    stream = xlm_batches(dirs, 4, tokenizer, name, bptt=24, max_len=12, sample_alpha=0.5 if extra else 0.0)
    batch = next(stream)
    labels = batch["labels"]
    if name == "clm":
        np.testing.assert_array_equal(labels[:, :-1], batch["input_ids"][:, 1:])  # the next token
    else:
        assert (labels != -100).any() and (batch["input_ids"][labels != -100] == tokenizer.encoder["<special1>"]).any()
    ref = hf_xlm(
        "XLMWithLMHeadModel",
        vocab_size=tokenizer.vocab_size,
        n_langs=len(tokenizer.lang2id),
        lang2id=tokenizer.lang2id,
        causal=name == "clm",
        max_position_embeddings=64,
        pad_token_id=2,
    )
    ours = mluke_jax.XLMWithLMHeadModel.from_pretrained(convert(save_hf(ref, tmp_path / "hf"), tmp_path / "jax"))
    with torch.no_grad():
        expected = ref(**to_torch({k: v.astype(np.int64) for k, v in batch.items()}))
    got = ours(**batch)
    assert abs(float(got.loss) - float(expected.loss)) <= TOLERANCE, (float(got.loss), float(expected.loss))
    if name == "tlm":  # the second sentence's positions restart and its langs are German's
        row = batch["position_ids"][0]
        assert row[0] == 0 and 0 in row[1:][batch["attention_mask"][0][1:] == 1]
        assert set(batch["langs"][0].tolist()) == {tokenizer.lang2id["en"], tokenizer.lang2id["de"]}
    json.dumps(stream.position)  # a checkpoint can store it
