"""Fine-tuning: AdamW recipe, jitted train step on one device or a mesh, Orbax checkpoints, the loop."""

from mluke_jax.train.checkpoints import TrainCheckpointer
from mluke_jax.train.data import BatchStream
from mluke_jax.train.loop import fit
from mluke_jax.train.optim import TRAINABLE, OptimizerConfig, decay_mask, linear_warmup_decay, make_optimizer
from mluke_jax.train.preemption import EXIT_PREEMPTED, Preempted
from mluke_jax.train.trainer import Trainer, TrainState, loss_and_gradients

__all__ = [
    "EXIT_PREEMPTED",
    "Preempted",
    "TRAINABLE",
    "BatchStream",
    "OptimizerConfig",
    "TrainCheckpointer",
    "TrainState",
    "Trainer",
    "decay_mask",
    "fit",
    "linear_warmup_decay",
    "loss_and_gradients",
    "make_optimizer",
]
