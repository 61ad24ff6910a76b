"""XLM parity with transformers (fp32, max abs diff <= 1e-4 on every output field).

Random transformers models (every parameter perturbed) are saved with ``save_pretrained`` (or as a
legacy ``.bin``), converted with ``python -m convert``, loaded and run on inputs with right and
left padding and several languages in a batch (and in a row).
"""

import numpy as np
import pytest

from helpers import (
    TINY_XLM,
    compare_outputs,
    convert,
    hf_xlm,
    save_hf,
    to_torch,
    xlm_inputs,
    xlm_task_inputs,
    xlm_task_labels,
)

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytestmark = pytest.mark.torch

import mluke_jax  # noqa: E402

ATOL = 1e-4  # fp32 bar of the project

# Config corners: positions, languages (3 / 2 / 1 / embeddings off), causal vs bidirectional, activation.
CONFIGS = {
    "learned-3langs-gelu": dict(),
    "sinusoidal-2langs-relu-causal": dict(n_langs=2, sinusoidal_embeddings=True, gelu_activation=False, causal=True),
    "1lang": dict(n_langs=1, lang2id=None),
    "langemb-off": dict(n_langs=2, use_lang_emb=False),
}

ARCHITECTURES = [
    "XLMModel",
    "XLMWithLMHeadModel",
    "XLMForSequenceClassification",
    "XLMForQuestionAnsweringSimple",
    "XLMForQuestionAnswering",
    "XLMForTokenClassification",
    "XLMForMultipleChoice",
]


def _run_both(tmp_path, architecture, config_name, fmt="save_pretrained", **call):
    hf = hf_xlm(architecture, **CONFIGS[config_name])
    convert(save_hf(hf, tmp_path / "hf", fmt=fmt), tmp_path / "jax")
    ours = getattr(mluke_jax, architecture).from_pretrained(tmp_path / "jax")
    config = {**TINY_XLM, **CONFIGS[config_name]}
    inputs = {**xlm_task_inputs(architecture, config), **call}
    flags = dict(output_hidden_states=True, output_attentions=True)
    with torch.no_grad():
        reference = hf(**to_torch(inputs), **flags)
    return compare_outputs(ours(**inputs, **flags), reference, ATOL)


@pytest.mark.parametrize("config_name", ["learned-3langs-gelu", "sinusoidal-2langs-relu-causal"])
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_head_matches_transformers(tmp_path, architecture, config_name):
    diffs = _run_both(tmp_path, architecture, config_name)
    assert diffs, "nothing compared"


@pytest.mark.parametrize("architecture", [a for a in ARCHITECTURES if a != "XLMModel"])
def test_losses_match_transformers(tmp_path, architecture):
    config = {**TINY_XLM}
    labels = xlm_task_labels(architecture, xlm_task_inputs(architecture, config), config)
    diffs = _run_both(tmp_path, architecture, "learned-3langs-gelu", **labels)
    assert "loss" in diffs


@pytest.mark.parametrize("config_name", ["1lang", "langemb-off"])
def test_language_corners(tmp_path, config_name):
    _run_both(tmp_path, "XLMWithLMHeadModel", config_name)


def test_lengths_instead_of_attention_mask(tmp_path):
    config = {**TINY_XLM}
    inputs = xlm_inputs(config, right_padding_only=True)
    lengths = inputs.pop("attention_mask").sum(axis=1)
    _run_both(tmp_path, "XLMModel", "learned-3langs-gelu", **inputs, lengths=lengths)
    # No mask and no lengths: padding found from pad_index (right padding assumed, as transformers).
    _run_both(
        tmp_path / "again",
        "XLMModel",
        "sinusoidal-2langs-relu-causal",
        **{k: v for k, v in inputs.items() if k != "langs"},
    )


def test_token_types_index_the_word_table(tmp_path):
    inputs = xlm_inputs(TINY_XLM)
    token_types = np.zeros_like(inputs["input_ids"])
    token_types[:, 4:] = 1
    _run_both(
        tmp_path,
        "XLMWithLMHeadModel",
        "learned-3langs-gelu",
        token_type_ids=token_types,
        position_ids=np.tile(np.arange(9)[::-1], (3, 1)),
    )


def test_legacy_bin_and_qa_inference_with_p_mask(tmp_path):
    p_mask = np.zeros((3, 9), np.float32)
    p_mask[:, 0] = 1.0
    p_mask[1, -3:] = 1.0
    _run_both(
        tmp_path,
        "XLMForQuestionAnswering",
        "learned-3langs-gelu",
        fmt="bin",
        p_mask=p_mask,
        cls_index=np.array([0, 1, 2]),
    )


def test_summary_variants(tmp_path):
    """mean (padding included) / last / cls_index summaries, a tanh, projection to the hidden size."""
    for i, summary in enumerate(
        [
            dict(summary_type="mean", summary_activation="tanh"),
            dict(summary_type="last", summary_proj_to_labels=False, summary_last_dropout=0.1),
            dict(summary_type="cls_index"),
        ]
    ):
        hf = hf_xlm("XLMForSequenceClassification", **summary)
        convert(save_hf(hf, tmp_path / f"hf{i}"), tmp_path / f"jax{i}")
        ours = mluke_jax.XLMForSequenceClassification.from_pretrained(tmp_path / f"jax{i}")
        inputs = xlm_inputs(TINY_XLM)
        with torch.no_grad():
            reference = hf(**to_torch(inputs))
        compare_outputs(ours(**inputs), reference, ATOL)


def test_untied_projection_kept_like_transformers(tmp_path):
    """A stored LM projection that differs from the embeddings is kept (transformers 5 does not tie it)."""
    hf = hf_xlm("XLMWithLMHeadModel")
    hf.config.tie_word_embeddings = True
    state = {k: v.clone().contiguous() for k, v in hf.state_dict().items()}
    state["pred_layer.proj.weight"] = torch.randn_like(state["pred_layer.proj.weight"])
    from safetensors.torch import save_file

    (tmp_path / "hf").mkdir()
    hf.config.architectures = ["XLMWithLMHeadModel"]
    hf.config.save_pretrained(tmp_path / "hf")
    save_file(state, tmp_path / "hf" / "model.safetensors", metadata={"format": "pt"})
    import transformers

    reference_model = transformers.XLMWithLMHeadModel.from_pretrained(tmp_path / "hf").eval()
    ours = mluke_jax.XLMWithLMHeadModel.from_pretrained(tmp_path / "hf")
    assert ours.config.untied_decoder and ours.pred_layer.kernel is not None
    inputs = xlm_inputs(TINY_XLM)
    with torch.no_grad():
        reference = reference_model(**to_torch(inputs))
    compare_outputs(ours(**inputs), reference, ATOL)


def test_asm_is_refused():
    config = mluke_jax.XLMConfig(**{**TINY_XLM, "asm": True})
    with pytest.raises(NotImplementedError, match="adaptive softmax"):
        mluke_jax.XLMWithLMHeadModel.build(config)
    mluke_jax.XLMModel.build(config)  # the encoder does not use it


def test_sinusoidal_table_is_transformers_and_frozen():
    from transformers.models.xlm.modeling_xlm import create_sinusoidal_embeddings

    from mluke_jax.layers.common import FrozenParam
    from mluke_jax.layers.embeddings import sinusoidal_table

    reference = create_sinusoidal_embeddings(40, 24, torch.empty(40, 24))
    np.testing.assert_array_equal(sinusoidal_table(40, 24), reference.numpy())
    model = mluke_jax.XLMModel.build(mluke_jax.XLMConfig(**{**TINY_XLM, "sinusoidal_embeddings": True}))
    table = model.embeddings.position_embeddings.embedding
    assert isinstance(table, FrozenParam)
    np.testing.assert_array_equal(np.asarray(table[...]), reference.numpy())
