"""bf16 compute with float32 master weights, and rematerialisation, in training."""

import jax
import jax.numpy as jnp
import numpy as np
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
    trainer = Trainer(mluke_jax.LukeForEntityClassification.build(config, seed=0), OptimizerConfig(learning_rate=3e-3, total_steps=30), dropout=False)
    losses = [float(trainer.train_step(batch(config))["loss"]) for _ in range(30)]
    assert all(np.isfinite(losses)) and losses[-1] < 0.5 * losses[0], losses
    leaves = [leaf for _, leaf in nnx.to_flat_state(trainer.state.params)]
    assert all(jnp.asarray(x).dtype == jnp.float32 for x in leaves)  # parameters stay float32
    mu = trainer.state.opt_state[1][0].mu
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(mu))  # so does Adam's state
