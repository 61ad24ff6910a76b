"""The one full-size XLM check: the real xlm-mlm-ende-1024 dimensions.

vocab 64699, emb_dim 1024, 6 layers, 8 heads, 2 languages {de: 0, en: 1}, GELU, learned positions,
the LM projection tied (absent from the file, as transformers writes it): converted from the hub
config's layout, loaded and compared on every output field (fp32, max abs diff <= 1e-4) on a batch
with padding and both languages.
"""

import numpy as np
import pytest

import mluke_jax
from helpers import ENDE_HUB_CONFIG, compare_outputs, convert, save_hf, to_torch, xlm_inputs

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.torch


def test_xlm_mlm_ende_1024_dimensions(tmp_path):
    torch.manual_seed(0)
    hub = {k: v for k, v in ENDE_HUB_CONFIG.items() if k != "model_type"}
    model = transformers.XLMWithLMHeadModel(transformers.XLMConfig(**hub)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    dst = convert(save_hf(model, tmp_path / "hf"), tmp_path / "jax")
    ours = mluke_jax.XLMWithLMHeadModel.from_pretrained(dst)
    assert ours.config == mluke_jax.XLMConfig.xlm_mlm_ende_1024(embed_init_std=ours.config.embed_init_std)
    assert ours.pred_layer.kernel is None  # tied to the word embeddings

    config = {"vocab_size": 64699, "pad_token_id": 2, "n_langs": 2}
    inputs = xlm_inputs(config, batch=2, length=32)
    inputs["langs"][0] = np.where(np.arange(32) < 16, 1, 0)  # an en-de translation pair in one row
    with torch.no_grad():
        expected = model(**to_torch(inputs), output_hidden_states=True, output_attentions=True)
    got = ours(**inputs, output_hidden_states=True, output_attentions=True)
    diffs = compare_outputs(got, expected, atol=1e-4)
    print("xlm-mlm-ende-1024 dims, max abs diff per field:", {k: f"{v:.2e}" for k, v in diffs.items()})
    assert np.asarray(got.logits).shape == (2, 32, 64699)
