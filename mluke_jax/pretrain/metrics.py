"""Per-objective metrics computed inside the compiled training step (``Trainer(metrics=...)``)."""

from typing import Any

import jax
import jax.numpy as jnp

IGNORE = -100


def _accuracy(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Accuracy over the positions with a label, and their count."""
    chosen = labels != IGNORE
    count = jnp.sum(chosen)
    right = jnp.sum((jnp.argmax(logits, axis=-1) == labels) & chosen)
    return right / jnp.maximum(count, 1), count


def word_targets(batch: dict[str, Any]) -> jax.Array:
    """The labels the word logits are for: ``labels`` (B, L), or read at ``masked_positions`` (B, K)
    when the batch has them (the word head then ran at those positions only)."""
    if batch.get("masked_positions") is None:
        return batch["labels"]
    from mluke_jax.models.luke_heads import labels_at

    return labels_at(batch["labels"], batch["masked_positions"])


def luke_metrics(outputs: Any, batch: dict[str, Any]) -> dict[str, jax.Array]:
    """Masked words and masked entities: each loss, accuracy and count of targets."""
    word_accuracy, words = _accuracy(outputs.logits, word_targets(batch))
    entity_accuracy, entities = _accuracy(outputs.entity_logits, batch["entity_labels"])
    return {
        "mlm_loss": outputs.mlm_loss,
        "mlm_accuracy": word_accuracy,
        "masked_words": words,
        "mep_loss": outputs.mep_loss,
        "mep_accuracy": entity_accuracy,
        "masked_entities": entities,
    }


def xlm_metrics(outputs: Any, batch: dict[str, Any]) -> dict[str, jax.Array]:
    """The predicted tokens' accuracy and count (the loss is the step's)."""
    accuracy, count = _accuracy(outputs.logits, batch["labels"])
    return {"accuracy": accuracy, "targets": count}
