"""Fine-tuning: AdamW recipe, jitted train step on one device or a mesh."""

from mluke_jax.train.optim import TRAINABLE, OptimizerConfig, decay_mask, linear_warmup_decay, make_optimizer
from mluke_jax.train.trainer import Trainer, TrainState, loss_and_gradients

__all__ = ["TRAINABLE", "OptimizerConfig", "TrainState", "Trainer", "decay_mask", "linear_warmup_decay", "make_optimizer", "loss_and_gradients"]
