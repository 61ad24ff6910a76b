"""Parity of every LUKE class with transformers (the installed 5.x), fp32, max abs diff <= 1e-4.

Each case builds a random transformers model (every parameter perturbed), saves it with its
weights, converts it with ``python -m convert``, loads it with ``from_pretrained`` and compares
every output field transformers returns (losses, logits, hidden states of every layer, attention
probabilities) on inputs with right and left padding, a padded entity, multi-token mentions and,
where the config has two, both token types.
"""

import numpy as np
import pytest

import mluke_jax
from helpers import (
    compare_outputs,
    convert,
    hf_luke,
    luke_inputs,
    luke_task_inputs,
    luke_task_labels,
    save_hf,
    to_torch,
)

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytestmark = pytest.mark.torch

ATOL = 1e-4  # the project's fp32 bar, on every output field

CONFIGS = {
    # entity_emb_size < hidden_size (projection present), entity-aware attention, 2 token types
    "eaa-proj-2types": dict(use_entity_aware_attention=True),
    # entity_emb_size == hidden_size (no projection), plain attention, 1 token type
    "plain-noproj-1type": dict(use_entity_aware_attention=False, entity_emb_size=24, type_vocab_size=1),
}


ARCHITECTURES = [
    "LukeModel",
    "LukeForMaskedLM",
    "LukeForEntityClassification",
    "LukeForEntityPairClassification",
    "LukeForEntitySpanClassification",
    "LukeForSequenceClassification",
    "LukeForTokenClassification",
    "LukeForQuestionAnswering",
    "LukeForMultipleChoice",
]


NEEDS_LABEL_COUNT = (
    "LukeForEntityClassification",
    "LukeForEntityPairClassification",
    "LukeForEntitySpanClassification",
    "LukeForSequenceClassification",
    "LukeForTokenClassification",
)


def check_parity(tmp_path, architecture: str, overrides: dict) -> dict:
    overrides = dict(overrides)
    if architecture in NEEDS_LABEL_COUNT:
        overrides["num_labels"] = 5
    ref = hf_luke(architecture, **overrides)
    config = ref.config.to_dict()
    dst = convert(save_hf(ref, tmp_path / "hf"), tmp_path / "jax")
    ours = getattr(mluke_jax, architecture).from_pretrained(dst)

    inputs = luke_task_inputs(architecture, config)
    inputs.update(luke_task_labels(architecture, inputs, config, np.random.RandomState(3)))
    with torch.no_grad():
        expected = ref(**to_torch(inputs), output_hidden_states=True, output_attentions=True)
    got = ours(**inputs, output_hidden_states=True, output_attentions=True)
    diffs = compare_outputs(got, expected, atol=ATOL)
    assert "hidden_states" in diffs and "attentions" in diffs
    if architecture != "LukeModel":
        assert "loss" in diffs, "labels were given: the loss must be compared"
    return diffs


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_head_matches_transformers(tmp_path, architecture, config_name):
    check_parity(tmp_path, architecture, CONFIGS[config_name])


# The other two corners of (entity-aware attention, projection, token types), on the encoder-heavy classes.
MORE_CONFIGS = {
    "eaa-noproj-1type": dict(use_entity_aware_attention=True, entity_emb_size=24, type_vocab_size=1),
    "plain-proj-2types": dict(use_entity_aware_attention=False),
}


@pytest.mark.parametrize("config_name", sorted(MORE_CONFIGS))
@pytest.mark.parametrize("architecture", ["LukeModel", "LukeForMaskedLM", "LukeForEntitySpanClassification"])
def test_other_config_corners_match_transformers(tmp_path, architecture, config_name):
    check_parity(tmp_path, architecture, MORE_CONFIGS[config_name])


def test_every_label_ignored_gives_zero_not_nan(tmp_path):
    """A documented difference: torch's mean over no labels is NaN; ours is 0. The logits agree."""
    ref = hf_luke("LukeForTokenClassification", num_labels=3)
    ours = mluke_jax.LukeForTokenClassification.from_pretrained(
        convert(save_hf(ref, tmp_path / "hf"), tmp_path / "jax")
    )
    inputs = luke_inputs(ref.config.to_dict())
    inputs["labels"] = np.full(inputs["input_ids"].shape, -100)
    with torch.no_grad():
        expected = ref(**to_torch(inputs))
    got = ours(**inputs)
    assert np.isnan(expected.loss.item()) and float(got.loss) == 0.0
    np.testing.assert_allclose(np.asarray(got.logits), expected.logits.numpy(), atol=ATOL)


def test_lite_checkpoint_with_unused_entity_aware_weights(tmp_path):
    """EAA off in config.json but w2e/e2w/e2e weights in the file (as mluke-base-lite): kept, unused."""
    writer = hf_luke("LukeForMaskedLM", use_entity_aware_attention=True)
    src = save_hf(writer, tmp_path / "hf", config_changes={"use_entity_aware_attention": False})
    ref = type(writer).from_pretrained(src).eval()  # transformers drops the extra weights
    dst = convert(src, tmp_path / "jax")
    ours = mluke_jax.LukeForMaskedLM.from_pretrained(dst)
    assert ours.luke.encoder.layers.attention.w2e_query is not None
    np.testing.assert_array_equal(
        np.asarray(ours.luke.encoder.layers.attention.e2e_query.kernel[0]),
        writer.luke.encoder.layer[0].attention.self.e2e_query.weight.detach().numpy().T,
    )
    inputs = luke_inputs(writer.config.to_dict())
    with torch.no_grad():
        expected = ref(**to_torch(inputs), output_hidden_states=True)
    compare_outputs(ours(**inputs, output_hidden_states=True), expected, atol=ATOL)


def test_released_masked_lm_without_decoder_weights(tmp_path):
    """Released mLUKE files lack the tied decoders: they must be tied to the embeddings (transformers 4.x).

    transformers 5 leaves ``lm_head.decoder.weight`` random for such files, so the reference is a 5.x
    model whose decoders are tied by hand.
    """
    ref = hf_luke("LukeForMaskedLM", use_entity_aware_attention=False)
    with torch.no_grad():
        ref.lm_head.decoder.weight = ref.luke.embeddings.word_embeddings.weight
        ref.lm_head.decoder.bias = ref.lm_head.bias
        ref.entity_predictions.decoder.weight = ref.luke.entity_embeddings.entity_embeddings.weight
    drop = ("lm_head.decoder.weight", "lm_head.decoder.bias", "entity_predictions.decoder.weight")
    dst = convert(save_hf(ref, tmp_path / "hf", fmt="bin", drop=drop), tmp_path / "jax")
    ours = mluke_jax.LukeForMaskedLM.from_pretrained(dst)
    assert ours.lm_head.decoder.kernel is None and ours.entity_predictions.decoder.kernel is None
    inputs = luke_inputs(ref.config.to_dict())
    with torch.no_grad():
        expected = ref(**to_torch(inputs))
    diffs = compare_outputs(ours(**inputs), expected, atol=ATOL)
    assert set(diffs) >= {"logits", "entity_logits"}


def test_word_and_entity_inputs_without_entities(tmp_path):
    """No entity inputs at all: word outputs match, entity fields are None."""
    ref = hf_luke("LukeModel")
    ours = mluke_jax.LukeModel.from_pretrained(convert(save_hf(ref, tmp_path / "hf"), tmp_path / "jax"))
    inputs = {k: v for k, v in luke_inputs(ref.config.to_dict()).items() if not k.startswith("entity")}
    with torch.no_grad():
        expected = ref(**to_torch(inputs), output_hidden_states=True)
    got = ours(**inputs, output_hidden_states=True)
    compare_outputs(got, expected, atol=ATOL)
    assert got.entity_last_hidden_state is None and got.entity_hidden_states is None


def test_multilabel_and_regression_losses(tmp_path):
    """The BCE (multi-label) branch of the entity heads and MSE regression of sequence classification."""
    rs = np.random.RandomState(0)
    ref = hf_luke("LukeForEntityClassification", num_labels=4)
    ours = mluke_jax.LukeForEntityClassification.from_pretrained(convert(save_hf(ref, tmp_path / "a"), tmp_path / "ja"))
    inputs = luke_inputs(ref.config.to_dict())
    inputs["labels"] = rs.randint(0, 2, (3, 4)).astype(np.float32)
    with torch.no_grad():
        expected = ref(**to_torch(inputs))
    compare_outputs(ours(**inputs), expected, atol=ATOL)

    ref = hf_luke("LukeForSequenceClassification", num_labels=1)
    ours = mluke_jax.LukeForSequenceClassification.from_pretrained(
        convert(save_hf(ref, tmp_path / "b"), tmp_path / "jb")
    )
    inputs = luke_inputs(ref.config.to_dict())
    inputs["labels"] = rs.randn(3).astype(np.float32)
    with torch.no_grad():
        expected = ref(**to_torch(inputs))
    compare_outputs(ours(**inputs), expected, atol=ATOL)
