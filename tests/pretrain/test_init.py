"""mLUKE pretraining from XLM-RoBERTa: the word side is the checkpoint's, the entity side new."""

import numpy as np
import pytest

from helpers import convert, hf_xlm, save_hf
from mluke_jax.pretrain.init import entity_aware_queries_from_word_queries, luke_from_xlm_roberta

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.torch


def xlm_roberta(tmp_path, vocab_size=50):
    torch.manual_seed(0)
    config = transformers.XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=24,
        num_hidden_layers=2,
        num_attention_heads=3,
        intermediate_size=40,
        max_position_embeddings=40,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
    )
    model = transformers.XLMRobertaForMaskedLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.save_pretrained(tmp_path / "xlmr")
    return model, tmp_path / "xlmr"


def word_inputs():
    ids = np.array([[0, 5, 17, 23, 9, 2, 1, 1], [0, 44, 8, 30, 12, 41, 7, 2]])
    return ids, (ids != 1).astype(np.int64)


def test_the_word_side_reproduces_xlm_robertas_logits(tmp_path):
    reference, path = xlm_roberta(tmp_path)
    model = luke_from_xlm_roberta(path, entity_vocab_size=12, entity_emb_size=16, progress=False)
    assert model.config.entity_vocab_size == 12 and model.config.entity_emb_size == 16
    assert not model.config.use_entity_aware_attention
    ids, mask = word_inputs()
    with torch.no_grad():
        expected = reference(input_ids=torch.as_tensor(ids), attention_mask=torch.as_tensor(mask)).logits.numpy()
    got = np.asarray(model(input_ids=ids, attention_mask=mask).logits)
    assert np.max(np.abs(got - expected)[mask == 1]) <= 1e-4
    # the entity-aware queries start as copies of the word queries
    layers = model.luke.encoder.layers.attention
    for name in ("w2e_query", "e2w_query", "e2e_query"):
        np.testing.assert_array_equal(np.asarray(getattr(layers, name).kernel), np.asarray(layers.query.kernel))
        np.testing.assert_array_equal(np.asarray(getattr(layers, name).bias), np.asarray(layers.query.bias))
    # it saves as any mLUKE checkpoint and loads with entity-aware attention too
    import mluke_jax

    model.save_pretrained(tmp_path / "mluke")
    eaa = mluke_jax.LukeForMaskedLM.from_pretrained(tmp_path / "mluke", use_entity_aware_attention=True)
    np.testing.assert_allclose(np.asarray(eaa(input_ids=ids, attention_mask=mask).logits), got, atol=1e-5)


def test_ids_added_after_the_vocabulary_copy_the_rows_given(tmp_path):
    reference, path = xlm_roberta(tmp_path)
    model = luke_from_xlm_roberta(
        path, entity_vocab_size=4, entity_emb_size=16, vocab_size=52, extra_token_sources=[7, 9], progress=False
    )
    table = np.asarray(model.luke.embeddings.word_embeddings.embedding)
    np.testing.assert_array_equal(table[50], table[7])
    np.testing.assert_array_equal(table[51], table[9])
    bias = np.asarray(model.lm_head.decoder.bias)
    assert bias[50] == bias[7] and bias[51] == bias[9]
    ids, mask = word_inputs()
    with torch.no_grad():
        expected = reference(input_ids=torch.as_tensor(ids), attention_mask=torch.as_tensor(mask)).logits.numpy()
    got = np.asarray(model(input_ids=ids, attention_mask=mask).logits)
    assert got.shape[-1] == 52 and np.max(np.abs(got[..., :50] - expected)[mask == 1]) <= 1e-4
    with pytest.raises(ValueError, match="has 2 ids past the checkpoint's 50: give as many extra_token_sources"):
        luke_from_xlm_roberta(path, entity_vocab_size=4, vocab_size=52, progress=False)


def test_other_sources_are_refused(tmp_path):
    path = save_hf(hf_xlm("XLMWithLMHeadModel"), tmp_path / "xlm")
    with pytest.raises(ValueError, match="model_type 'xlm' is not a word encoder an mLUKE can start from"):
        luke_from_xlm_roberta(path, entity_vocab_size=4, progress=False)
    converted = convert(path, tmp_path / "jax")
    with pytest.raises(FileNotFoundError):
        luke_from_xlm_roberta(tmp_path / "missing", entity_vocab_size=4, progress=False)
    import mluke_jax

    with pytest.raises(ValueError, match="no entity-aware query projections"):
        entity_aware_queries_from_word_queries(mluke_jax.XLMWithLMHeadModel.from_pretrained(converted))
