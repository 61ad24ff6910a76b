"""Generation: greedy tokens equal transformers' ``generate``; the cached path equals the uncached one."""

import numpy as np
import pytest

from helpers import convert, hf_xlm, save_hf

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytestmark = pytest.mark.torch

import mluke_jax  # noqa: E402

PROMPTS = np.array([[0, 5, 9, 11, 7], [0, 12, 30, 4, 6]])


def _pair(tmp_path, **config):
    hf = hf_xlm("XLMWithLMHeadModel", noise=0.5, **config)
    with torch.no_grad():
        # transformers finds XLM's padding by value during generation: a generated pad token would
        # mask the wrong position there. Keep the random model from producing it.
        hf.pred_layer.proj.bias[hf.config.pad_token_id] = -1e4
    convert(save_hf(hf, tmp_path / "hf"), tmp_path / "jax")
    return hf, mluke_jax.XLMWithLMHeadModel.from_pretrained(tmp_path / "jax")


def _reference(hf, **kwargs):
    with torch.no_grad():
        return hf.generate(torch.tensor(PROMPTS), do_sample=False, **kwargs).numpy()


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidirectional"])
def test_greedy_equals_transformers(tmp_path, causal):
    hf, ours = _pair(tmp_path, causal=causal)
    reference = _reference(hf, max_new_tokens=20)
    tokens = ours.generate(PROMPTS, max_new_tokens=20)
    assert tokens.shape == reference.shape == (2, 25)
    np.testing.assert_array_equal(tokens, reference)
    if causal:
        np.testing.assert_array_equal(ours.generate(PROMPTS, max_new_tokens=20, use_cache=False), tokens)
    else:
        with pytest.raises(ValueError, match="causal"):
            ours.generate(PROMPTS, use_cache=True)


def test_eos_stops_rows_like_transformers(tmp_path):
    hf, ours = _pair(tmp_path, causal=True)
    free = ours.generate(PROMPTS, max_new_tokens=12, eos_token_id=None)
    eos = int(free[0, 8])  # a token row 0 produces: it ends there and is padded afterwards
    reference = _reference(hf, max_new_tokens=12, eos_token_id=eos)
    np.testing.assert_array_equal(ours.generate(PROMPTS, max_new_tokens=12, eos_token_id=eos), reference)


def test_sampling_is_seeded_and_filters(tmp_path):
    _, ours = _pair(tmp_path, causal=True)
    a = ours.generate(PROMPTS, max_new_tokens=10, do_sample=True, seed=3)
    np.testing.assert_array_equal(a, ours.generate(PROMPTS, max_new_tokens=10, do_sample=True, seed=3))
    greedy = ours.generate(PROMPTS, max_new_tokens=10, eos_token_id=None)
    top1 = ours.generate(PROMPTS, max_new_tokens=10, do_sample=True, top_k=1, seed=5, eos_token_id=None)
    np.testing.assert_array_equal(top1, greedy)  # top-k 1 sampling is greedy
    nucleus = ours.generate(
        PROMPTS, max_new_tokens=10, do_sample=True, top_k=None, top_p=1e-6, seed=5, eos_token_id=None
    )
    np.testing.assert_array_equal(nucleus, greedy)  # a tiny nucleus keeps only the best token


def test_generation_bad_input(tmp_path):
    _, ours = _pair(tmp_path, causal=True)
    with pytest.raises(ValueError, match="pad token"):
        ours.generate(np.array([[0, 5, 2, 2]]))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        ours.generate(PROMPTS, max_new_tokens=36)
    # Exactly the position table (40 = 5 + 35), as transformers allows; cached and uncached agree.
    full = ours.generate(PROMPTS, max_new_tokens=35, eos_token_id=None)
    assert full.shape == (2, 40)
    np.testing.assert_array_equal(ours.generate(PROMPTS, max_new_tokens=35, eos_token_id=None, use_cache=False), full)
    masked_as_pad = mluke_jax.XLMWithLMHeadModel.build(ours.config.replace(mask_token_id=ours.config.pad_token_id))
    with pytest.raises(ValueError, match="mask_token_id equals pad_token_id"):
        masked_as_pad.generate(PROMPTS)
    with pytest.raises(ValueError, match="unknown language 'xx'"):
        ours.generate(PROMPTS, langs="xx")
    with pytest.raises(ValueError, match="langs"):
        ours.generate(PROMPTS, langs=np.full(PROMPTS.shape, 7))
    # A language for the whole text, or per prompt token.
    assert ours.generate(PROMPTS, langs="fr", max_new_tokens=3).shape[0] == 2
    assert ours.generate(PROMPTS, langs=np.ones_like(PROMPTS), max_new_tokens=3).shape[0] == 2
