"""``python -m convert`` for XLM: transformers directories of every head, and original .pth files."""

import json
import os
import pickle
import warnings

import numpy as np
import pytest

import mluke_jax
from convert.__main__ import main as convert_main
from helpers import TINY_XLM, compare_outputs, convert, hf_xlm, save_hf, save_original_xlm, to_torch, xlm_inputs

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytestmark = pytest.mark.torch


def _expect_failure(tmp_path, src, capsys, *needles):
    dst = tmp_path / "out"
    code = convert_main([str(src), str(dst), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in: {err}"
    assert not dst.exists(), "a failed conversion must leave no output directory"
    return err


@pytest.mark.parametrize("objective, legacy", [("clm", False), ("mlm", True)])
def test_original_checkpoint_converts_and_matches(tmp_path, objective, legacy):
    reference = hf_xlm("XLMWithLMHeadModel", causal=objective == "clm")
    src = save_original_xlm(reference, tmp_path / f"{objective}_tiny.pth", objective=objective, legacy=legacy)
    dst = convert(src, tmp_path / "jax")
    config = json.loads((dst / "config.json").read_text())
    assert config["causal"] is (objective == "clm")
    assert config["lang2id"] == {"de": 0, "en": 1, "fr": 2} and config["n_langs"] == 3 and config["vocab_size"] == 37
    vocab = json.loads((dst / "vocab.json").read_text())
    assert vocab["<special1>"] == 5 and vocab["w0</w>"] == 14 and vocab["w1"] == 15  # fastBPE "@@" -> HF "</w>" form
    ours = mluke_jax.load_pretrained(dst)
    assert type(ours).__name__ == "XLMWithLMHeadModel" and ours.config.decoder_tied
    inputs = xlm_inputs(TINY_XLM)
    with torch.no_grad():
        expected = reference(**to_torch(inputs), output_hidden_states=True)
    compare_outputs(ours(**inputs, output_hidden_states=True), expected, atol=1e-4)
    # from_pretrained reads the .pth directly too (in-memory conversion).
    direct = mluke_jax.XLMWithLMHeadModel.from_pretrained(src)
    np.testing.assert_array_equal(np.asarray(direct(**inputs).logits), np.asarray(ours(**inputs).logits))


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_original_checkpoint_with_code_in_params_is_refused(tmp_path, capsys):
    src = save_original_xlm(hf_xlm("XLMWithLMHeadModel"), tmp_path / "evil.pth")
    data = torch.load(src, weights_only=False)
    marker = tmp_path / "pwned"
    data["params"]["payload"] = _RunsCode(marker)
    torch.save(data, src, pickle_module=pickle)
    _expect_failure(tmp_path, src, capsys, "could run code")
    assert not marker.exists(), "the pickle's code ran"


def test_original_checkpoint_errors(tmp_path, capsys):
    reference = hf_xlm("XLMWithLMHeadModel")
    src = save_original_xlm(reference, tmp_path / "a.pth", module_prefix=False)
    data = torch.load(src, weights_only=False)
    del data["model"]["attentions.1.q_lin.weight"]
    data["model"]["memory.keys"] = torch.zeros(3)
    torch.save(data, tmp_path / "b.pth")
    _expect_failure(
        tmp_path,
        tmp_path / "b.pth",
        capsys,
        "missing keys ['transformer.attentions.1.q_lin.weight']",
        "unexpected keys ['transformer.memory.keys']",
    )
    torch.save({"state_dict": data["model"]}, tmp_path / "c.pth")
    _expect_failure(tmp_path, tmp_path / "c.pth", capsys, "not an original XLM checkpoint", "'model' and 'params'")
    data["params"]["asm"] = True
    torch.save(data, tmp_path / "d.pth")
    _expect_failure(tmp_path, tmp_path / "d.pth", capsys, "adaptive softmax")
    torch.save({"encoder": data["model"], "decoder": data["model"], "params": data["params"]}, tmp_path / "e.pth")
    _expect_failure(tmp_path, tmp_path / "e.pth", capsys, "encoder-decoder (translation) checkpoint")


def test_file_with_only_the_projection_ties_the_embeddings_to_it(tmp_path):
    """transformers 5 accepts a tied file that kept pred_layer.proj.weight instead of the embeddings."""
    reference = hf_xlm("XLMWithLMHeadModel")
    save_hf(reference, tmp_path / "hf", fmt="safetensors", drop=("transformer.embeddings.weight",))
    ours = mluke_jax.XLMWithLMHeadModel.from_pretrained(tmp_path / "hf")
    assert ours.config.decoder_tied
    inputs = xlm_inputs(TINY_XLM)
    with torch.no_grad():
        expected = reference(**to_torch(inputs))
    compare_outputs(ours(**inputs), expected, atol=1e-4)


@pytest.mark.parametrize("fmt", ["save_pretrained", "bin"])
def test_xlm_directory_layouts(tmp_path, fmt):
    reference = hf_xlm("XLMForTokenClassification", num_labels=4)
    ours = mluke_jax.XLMForTokenClassification.from_pretrained(
        convert(save_hf(reference, tmp_path / "hf", fmt=fmt), tmp_path / "jax")
    )
    inputs = xlm_inputs(TINY_XLM)
    with torch.no_grad():
        expected = reference(**to_torch(inputs))
    compare_outputs(ours(**inputs), expected, atol=1e-4)


def test_xlm_wrong_shape_and_missing_key(tmp_path, capsys):
    reference = hf_xlm("XLMForSequenceClassification")
    save_hf(reference, tmp_path / "hf", fmt="safetensors", drop=("transformer.layer_norm2.1.bias",))
    _expect_failure(tmp_path, tmp_path / "hf", capsys, "missing keys ['transformer.layer_norm2.1.bias']")
    save_hf(
        reference,
        tmp_path / "hf2",
        fmt="safetensors",
        config_changes={"n_langs": 2, "lang2id": {"de": 0, "en": 1}, "id2lang": {"0": "de", "1": "en"}},
    )
    _expect_failure(
        tmp_path,
        tmp_path / "hf2",
        capsys,
        "transformer.lang_embeddings.weight has shape (3, 24); the model expects (2, 24)",
    )


def test_clm_named_bidirectional_model_warns(tmp_path):
    reference = hf_xlm("XLMWithLMHeadModel")
    src = save_hf(reference, tmp_path / "xlm-clm-tiny")
    with pytest.warns(UserWarning, match="looks like a causal LM"):
        model = mluke_jax.XLMWithLMHeadModel.from_pretrained(src)
    assert not model.config.causal
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        causal = mluke_jax.XLMWithLMHeadModel.from_pretrained(src, causal=True)
    assert causal.config.causal
