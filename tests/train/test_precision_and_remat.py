"""bf16 compute with float32 master weights, and rematerialisation, in training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import mluke_jax
from helpers import TINY_LUKE, luke_inputs
from mluke_jax.train import OptimizerConfig, Trainer, loss_and_gradients


def batch(config):
    inputs = luke_inputs(config.to_hf_dict(), batch=4, seed=0)
    inputs["labels"] = np.array([0, 1, 1, 0])
    return inputs


def test_remat_gives_the_same_gradients():
    config = mluke_jax.LukeConfig(**TINY_LUKE)
    plain = mluke_jax.LukeForEntityClassification.build(config, seed=0)
    remat = mluke_jax.LukeForEntityClassification.build(config.replace(remat=True), seed=0)
    (a_loss, a), (b_loss, b) = loss_and_gradients(plain, batch(config)), loss_and_gradients(remat, batch(config))
    assert float(a_loss) == float(b_loss)
    for (path, x), (_, y) in zip(nnx.to_flat_state(a), nnx.to_flat_state(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-6, err_msg=str(path))


def test_bf16_compute_keeps_float32_master_weights_and_learns():
    config = mluke_jax.LukeConfig(**TINY_LUKE, dtype="bfloat16")
    trainer = Trainer(
        mluke_jax.LukeForEntityClassification.build(config, seed=0),
        OptimizerConfig(learning_rate=3e-3, total_steps=30),
        dropout=False,
    )
    losses = [float(trainer.train_step(batch(config))["loss"]) for _ in range(30)]
    assert all(np.isfinite(losses)) and losses[-1] < 0.5 * losses[0], losses
    leaves = [leaf for _, leaf in nnx.to_flat_state(trainer.state.params)]
    assert all(jnp.asarray(x).dtype == jnp.float32 for x in leaves)  # parameters stay float32
    mu = trainer.state.opt_state[1][0].mu
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(mu))  # so does Adam's state


def xlm_batch(config):
    from helpers import xlm_inputs

    inputs = xlm_inputs(config.to_hf_dict(), batch=4, seed=0)
    inputs["labels"] = np.array([0, 1, 1, 0])
    return inputs


@pytest.mark.parametrize("family", ["luke", "xlm"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_unrolled_layers_compute_what_the_scan_computes(family, dtype):
    """``scan_unroll=True`` (and 2 of the 2 layers per iteration) changes the compiled program, not the
    result: same outputs, same loss and gradients with dropout on (the same per-layer keys)."""
    from helpers import TINY_XLM

    if family == "luke":
        config, cls, make = mluke_jax.LukeConfig(**TINY_LUKE, dtype=dtype), mluke_jax.LukeForEntityClassification, batch
    else:
        config, cls, make = (
            mluke_jax.XLMConfig(**TINY_XLM, dtype=dtype),
            mluke_jax.XLMForSequenceClassification,
            xlm_batch,
        )
    inputs, key = make(config), jax.random.key(3)
    scanned = cls.build(config, seed=0)
    expected_logits = np.asarray(scanned(**inputs).logits)
    expected_loss, expected = loss_and_gradients(scanned, inputs, dropout_key=key)
    tolerance = 1e-6  # measured: bit-identical, in bf16 too
    for unroll in (True, 2):
        model = cls.build(config.replace(scan_unroll=unroll), seed=0)
        np.testing.assert_allclose(np.asarray(model(**inputs).logits), expected_logits, atol=tolerance)
        loss, grads = loss_and_gradients(model, inputs, dropout_key=key)
        assert abs(float(loss) - float(expected_loss)) <= tolerance, (unroll, float(loss), float(expected_loss))
        for (path, x), (_, y) in zip(nnx.to_flat_state(grads), nnx.to_flat_state(expected)):
            scale = max(1.0, float(np.abs(np.asarray(y)).max()))
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=tolerance * scale, err_msg=f"{unroll} {path}")
