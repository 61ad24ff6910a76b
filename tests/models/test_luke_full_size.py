"""The one full-size LUKE check: the real studio-ousia/mluke-base-lite dimensions.

vocab 250004, 4 entities of size 256, hidden 768, 12 layers, 12 heads, eps 1e-5, 514 positions,
one token type, entity-aware attention off with its weights in the file, and the masked-LM decoders
missing from the file (as released): converted, loaded and compared on every output field
(fp32, max abs diff <= 1e-4). About a minute and 5 GiB on two cores.
"""

import numpy as np
import pytest

import mluke_jax
from helpers import MLUKE_BASE_LITE_CONFIG, compare_outputs, convert, luke_inputs, save_hf, to_torch

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.torch


def test_mluke_base_lite_dimensions(tmp_path):
    torch.manual_seed(0)
    hf_config = {k: v for k, v in MLUKE_BASE_LITE_CONFIG.items() if k not in ("transformers_version", "model_type")}
    # Written with the entity-aware weights, read with the released config (EAA off).
    writer_config = transformers.LukeConfig(**{**hf_config, "use_entity_aware_attention": True})
    model = transformers.LukeForMaskedLM(writer_config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    drop = ("lm_head.decoder.weight", "lm_head.decoder.bias", "entity_predictions.decoder.weight")
    src = save_hf(
        model, tmp_path / "hf", fmt="safetensors", drop=drop, config_changes={"use_entity_aware_attention": False}
    )

    # The reference: the same weights with plain attention and the decoders tied (transformers 4.x).
    model.config.use_entity_aware_attention = False
    for layer in model.luke.encoder.layer:
        layer.attention.self.use_entity_aware_attention = False
    with torch.no_grad():
        model.lm_head.decoder.weight = model.luke.embeddings.word_embeddings.weight
        model.lm_head.decoder.bias = model.lm_head.bias
        model.entity_predictions.decoder.weight = model.luke.entity_embeddings.entity_embeddings.weight

    dst = convert(src, tmp_path / "jax")
    ours = mluke_jax.LukeForMaskedLM.from_pretrained(dst)
    assert ours.config.vocab_size == 250004 and ours.luke.encoder.layers.attention.w2e_query is not None
    assert ours.lm_head.decoder.kernel is None  # tied, as the released checkpoint intends

    config = dict(MLUKE_BASE_LITE_CONFIG)
    inputs = luke_inputs(config, batch=2, length=24, entities=3, mention=30)
    with torch.no_grad():
        expected = model(**to_torch(inputs), output_hidden_states=True, output_attentions=True)
    got = ours(**inputs, output_hidden_states=True, output_attentions=True)
    diffs = compare_outputs(got, expected, atol=1e-4)
    print("mluke-base-lite dims, max abs diff per field:", {k: f"{v:.2e}" for k, v in diffs.items()})
    assert np.asarray(got.logits).shape == (2, 24, 250004)
