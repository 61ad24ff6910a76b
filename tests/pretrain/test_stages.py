"""LUKE's two pretraining stages: stage 1 trains only the entity side and leaves the rest bit-identical."""

import numpy as np
from flax import nnx

import mluke_jax
from helpers import TINY_LUKE
from mluke_jax.checkpoint import flatten
from mluke_jax.pretrain.batches import luke_batches
from mluke_jax.tokenizers.entity_vocab import read_entity_vocab
from mluke_jax.tokenizers.mluke import MLukeTokenizer
from mluke_jax.train import OptimizerConfig, Trainer

STAGE1 = ("luke.entity_embeddings.", "entity_predictions.")


def params_of(model):
    return {k: np.asarray(v) for k, v in flatten(nnx.to_pure_dict(nnx.state(model, nnx.Param))).items()}


def test_stage1_trains_the_entity_side_only(example_sets):
    vocab = read_entity_vocab(example_sets["entity_vocab"])
    tokenizer = MLukeTokenizer.from_pretrained(example_sets["tokenizer"], entity_vocab=vocab)
    config = mluke_jax.LukeConfig.from_hf_dict({
        **TINY_LUKE, "model_type": "luke", "vocab_size": len(tokenizer), "entity_vocab_size": max(vocab.values()) + 1,
        "use_entity_aware_attention": False, "type_vocab_size": 1,
    })
    model = mluke_jax.LukeForMaskedLM.build(config, seed=0)
    before = params_of(model)
    optimizer = OptimizerConfig(learning_rate=5e-3, total_steps=4, trainable_prefixes=STAGE1)
    trainer = Trainer(model, optimizer, seed=0)
    stream = luke_batches([example_sets["en"], example_sets["de"]], 4, tokenizer, seed=0)
    for _ in range(4):
        trainer.train_step(next(stream))
    after = params_of(trainer.model)
    changed = sorted(k for k in before if not np.array_equal(before[k], after[k]))
    frozen = [k for k in before if not k.startswith(STAGE1)]
    assert frozen and all(np.array_equal(before[k], after[k]) for k in frozen)  # bit-identical
    assert "luke.entity_embeddings.entity_embeddings.embedding" in changed
    assert "entity_predictions.dense.kernel" in changed and all(k.startswith(STAGE1) for k in changed)
    # stage 2: a fresh optimiser over everything moves the rest too
    trainer2 = Trainer(trainer.model, OptimizerConfig(learning_rate=1e-3, total_steps=2), seed=0)
    trainer2.train_step(next(stream))
    final = params_of(trainer2.model)
    assert not np.array_equal(final["luke.encoder.layers.attention.query.kernel"],
                              after["luke.encoder.layers.attention.query.kernel"])
