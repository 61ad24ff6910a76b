"""``python -m convert --to-hf``: mluke-jax checkpoints back to transformers, bit-exact round trips."""

import numpy as np
import pytest

from convert.__main__ import main
from helpers import convert, hf_luke, hf_xlm, luke_inputs, save_hf, to_torch, xlm_inputs
from mluke_jax.hf import luke as luke_family
from mluke_jax.hf import xlm as xlm_family

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

# every class the converter knows
LUKE, XLM = list(luke_family.HEAD_RULES), list(xlm_family.HEAD_RULES)


def load_without_warnings(cls, directory):
    model, info = cls.from_pretrained(str(directory), output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    return model.eval()


@pytest.mark.parametrize("architecture", LUKE + XLM)
def test_round_trip_hf_jax_hf_is_bit_exact(architecture, tmp_path):
    import transformers

    extra = dict(sinusoidal_embeddings=True) if architecture == "XLMForSequenceClassification" else {}
    original = hf_luke(architecture) if architecture.startswith("Luke") else hf_xlm(architecture, **extra)
    jax_dir = convert(save_hf(original, tmp_path / "hf"), tmp_path / "jax")
    assert main([str(jax_dir), str(tmp_path / "back"), "--to-hf", "--quiet"]) == 0
    assert (tmp_path / "back" / "model.safetensors").is_file()
    back = load_without_warnings(getattr(transformers, architecture), tmp_path / "back")
    expected, got = original.state_dict(), back.state_dict()
    assert sorted(expected) == sorted(got)
    for key in expected:
        assert torch.equal(expected[key], got[key]), key


def test_fine_tuned_model_exports_with_its_numbers(tmp_path):
    """Train a few steps in JAX, export: transformers gives the trained model's logits."""
    import transformers

    import mluke_jax
    from mluke_jax.train import OptimizerConfig, Trainer

    original = hf_luke("LukeForEntityClassification")
    model = mluke_jax.LukeForEntityClassification.from_pretrained(save_hf(original, tmp_path / "hf"))
    inputs = luke_inputs(original.config.to_dict(), batch=3)
    trainer = Trainer(model, OptimizerConfig(learning_rate=1e-3, total_steps=3))
    for _ in range(3):
        trainer.train_step({**inputs, "labels": np.array([0, 1, 0])})
    trainer.model.save_pretrained(tmp_path / "tuned")
    assert main([str(tmp_path / "tuned"), str(tmp_path / "back"), "--to-hf", "--quiet"]) == 0
    back = load_without_warnings(transformers.LukeForEntityClassification, tmp_path / "back")
    with torch.no_grad():
        theirs = back(**to_torch(inputs)).logits.numpy()
        before = original(**to_torch(inputs)).logits.numpy()
    ours = np.asarray(trainer.model(**inputs).logits)
    assert np.abs(ours - theirs).max() < 1e-4
    assert np.abs(before - theirs).max() > 1e-3  # the training really changed it


def test_xlm_released_style_tied_projection_and_errors(tmp_path, capsys):
    import transformers

    original = hf_xlm("XLMWithLMHeadModel")
    jax_dir = convert(save_hf(original, tmp_path / "hf"), tmp_path / "jax")
    assert main([str(jax_dir), str(tmp_path / "back"), "--to-hf", "--quiet"]) == 0
    back = load_without_warnings(transformers.XLMWithLMHeadModel, tmp_path / "back")
    inputs = xlm_inputs(original.config.to_dict())
    with torch.no_grad():
        assert torch.equal(back(**to_torch(inputs)).logits, original(**to_torch(inputs)).logits)
    assert main([str(tmp_path / "hf"), str(tmp_path / "x"), "--to-hf", "--quiet"]) == 1
    assert "not a mluke-jax checkpoint" in capsys.readouterr().err
    assert main([str(jax_dir), str(tmp_path / "hf"), "--to-hf", "--quiet"]) == 1  # never over other files
    assert "holds other files" in capsys.readouterr().err
