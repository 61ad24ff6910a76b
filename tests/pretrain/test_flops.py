"""Model FLOPs of a training step against XLA's own count of the compiled gradient step."""

import jax
import numpy as np
from flax import nnx

import mluke_jax
from mluke_jax.pretrain.flops import luke_step_flops, peak_flops, xlm_step_flops
from mluke_jax.train.trainer import TRAINABLE

BATCH, WORDS, ENTITIES = 2, 32, 8


def xla_flops(model, batch):
    """XLA's FLOP count of value_and_grad of the loss (layers unrolled: a scanned loop body counts once)."""
    graphdef, params, rest = nnx.split(model, TRAINABLE, ...)
    arrays = model.prepare_inputs(batch)

    def loss(p):
        return nnx.merge(graphdef, p, rest).forward(**arrays, dropout_key=None).loss

    return jax.jit(jax.value_and_grad(loss)).lower(params).cost_analysis()["flops"]


def test_luke_and_xlm_step_flops_match_xla_within_10_percent():
    rng = np.random.default_rng(0)
    luke = mluke_jax.LukeConfig.from_hf_dict(
        dict(
            model_type="luke",
            vocab_size=500,
            entity_vocab_size=300,
            hidden_size=128,
            entity_emb_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=512,
            max_position_embeddings=64,
            type_vocab_size=1,
            use_entity_aware_attention=False,
        )
    ).replace(scan_unroll=True)
    batch = dict(
        input_ids=rng.integers(5, 500, (BATCH, WORDS)),
        attention_mask=np.ones((BATCH, WORDS), int),
        entity_ids=rng.integers(5, 300, (BATCH, ENTITIES)),
        entity_attention_mask=np.ones((BATCH, ENTITIES), int),
        entity_position_ids=np.tile(np.arange(ENTITIES)[None, :, None], (BATCH, 1, 1)),
        labels=rng.integers(5, 500, (BATCH, WORDS)),
        entity_labels=rng.integers(5, 300, (BATCH, ENTITIES)),
    )
    ratio = xla_flops(mluke_jax.LukeForMaskedLM.build(luke), batch) / (luke_step_flops(luke, WORDS, ENTITIES) * BATCH)
    assert 1.0 <= ratio <= 1.1, ratio  # XLA also counts the elementwise work (softmax, GELU, norms)
    xlm = mluke_jax.XLMConfig.from_hf_dict(
        dict(
            model_type="xlm", vocab_size=500, emb_dim=128, n_layers=2, n_heads=4, n_langs=2, max_position_embeddings=64
        )
    ).replace(scan_unroll=True)
    batch = dict(input_ids=rng.integers(5, 500, (BATCH, WORDS)), labels=rng.integers(5, 500, (BATCH, WORDS)))
    ratio = xla_flops(mluke_jax.XLMWithLMHeadModel.build(xlm), batch) / (xlm_step_flops(xlm, WORDS) * BATCH)
    assert 1.0 <= ratio <= 1.1, ratio


def test_peak_flops_given_known_or_measured():
    assert peak_flops(2e12)[0] == 2e12 * len(jax.local_devices())
    measured, source = peak_flops()
    assert source.startswith("measured float32") and measured > 1e8
