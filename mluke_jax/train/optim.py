"""The optimiser of fine-tuning: AdamW with linear warm-up and decay, as transformers' recipes.

* ``learning_rate`` rises linearly from 0 over ``warmup_steps`` updates, then falls linearly to 0
  at ``total_steps`` (transformers' ``get_linear_schedule_with_warmup``: the first update uses a
  learning rate of 0 when there is a warm-up).
* Decoupled weight decay (``torch.optim.AdamW``), masked off every bias and LayerNorm scale.
* Gradient clipping by global norm, applied to the accumulated gradient.
* Gradient accumulation with ``optax.MultiSteps``: the inner optimiser (and its schedule) moves once
  every ``accumulation_steps`` micro-batches, on the mean of their gradients.

Defaults are mLUKE's fine-tuning recipe: eps 1e-6, weight decay 0.01, betas (0.9, 0.999).
"""

import dataclasses

import jax
import optax
from flax import nnx

from mluke_jax.layers.common import FrozenParam

# What the optimiser trains: every parameter except the fixed ones (XLM's sinusoidal positions).
TRAINABLE = nnx.All(nnx.Param, nnx.Not(FrozenParam))
NO_DECAY_NAMES = ("bias", "scale")  # biases, LayerNorm scales


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """AdamW settings. ``total_steps`` and ``warmup_steps`` count optimiser updates (one per
    ``accumulation_steps`` micro-batches)."""

    learning_rate: float = 2e-5
    total_steps: int = 1000
    warmup_steps: int = 0
    weight_decay: float = 0.01
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-6
    max_grad_norm: float | None = 1.0
    accumulation_steps: int = 1
    # Train only the parameters whose dotted path starts with one of these (LUKE's pretraining stage
    # 1: the entity embeddings and the entity head); the others get zero updates and no state.
    trainable_prefixes: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.total_steps < 1 or not 0 <= self.warmup_steps <= self.total_steps:
            raise ValueError(
                f"need total_steps >= 1 and 0 <= warmup_steps <= total_steps, got {self.total_steps} and "
                f"{self.warmup_steps}"
            )
        if self.accumulation_steps < 1:
            raise ValueError(f"accumulation_steps must be >= 1, got {self.accumulation_steps}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm must be > 0 or None, got {self.max_grad_norm}")


def linear_warmup_decay(learning_rate: float, warmup_steps: int, total_steps: int) -> optax.Schedule:
    """0 -> ``learning_rate`` over ``warmup_steps``, then linearly to 0 at ``total_steps``."""
    decay = optax.linear_schedule(learning_rate, 0.0, max(total_steps - warmup_steps, 1))
    if warmup_steps == 0:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, learning_rate, warmup_steps), decay], [warmup_steps])


def decay_mask(params: nnx.State) -> object:
    """``True`` where weight decay applies: every parameter but biases and LayerNorm scales."""

    def decays(path, _leaf) -> bool:
        last = path[-1]
        name = getattr(last, "key", getattr(last, "name", last))
        return str(name) not in NO_DECAY_NAMES

    return jax.tree_util.tree_map_with_path(decays, params)


def dotted_path(path: tuple) -> str:
    """A pytree path of a parameter state as the checkpoint names it (``luke.encoder.layers...``)."""
    return ".".join(str(getattr(part, "key", getattr(part, "name", getattr(part, "idx", part)))) for part in path)


def _labels_by_prefix(prefixes: tuple[str, ...]):
    """``params -> labels``: ``"train"`` for paths under one of ``prefixes``, else ``"frozen"``."""

    def labels(params):
        def label(path, _leaf) -> str:
            return "train" if dotted_path(path).startswith(prefixes) else "frozen"

        return jax.tree_util.tree_map_with_path(label, params)

    return labels


def make_optimizer(config: OptimizerConfig) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """The optax transformation and its learning-rate schedule."""
    schedule = linear_warmup_decay(config.learning_rate, config.warmup_steps, config.total_steps)
    parts = []
    if config.max_grad_norm is not None:
        parts.append(optax.clip_by_global_norm(config.max_grad_norm))
    parts.append(
        optax.adamw(
            schedule, b1=config.b1, b2=config.b2, eps=config.eps, weight_decay=config.weight_decay, mask=decay_mask
        )
    )
    tx = optax.chain(*parts)
    if config.trainable_prefixes is not None:
        prefixes = tuple(config.trainable_prefixes)
        tx = optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, _labels_by_prefix(prefixes))
    if config.accumulation_steps > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=config.accumulation_steps)
    return tx, schedule
