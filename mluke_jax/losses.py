"""Losses with transformers' (torch) semantics, computed in float32."""

import jax
import jax.numpy as jnp

Array = jax.Array


def cross_entropy(logits: Array, labels: Array, ignore_index: int = -100) -> Array:
    """Mean cross entropy over the labels that are not ``ignore_index`` (torch ``CrossEntropyLoss``).

    ``logits`` ``(..., C)``, integer ``labels`` ``(...)``. When every label is ignored torch returns
    NaN (0/0); this returns 0 so that such a batch does not poison training.
    """
    logits = logits.astype(jnp.float32).reshape(-1, logits.shape[-1])
    labels = labels.reshape(-1).astype(jnp.int32)
    valid = labels != ignore_index
    safe = jnp.where(valid, labels, 0)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(log_probs, safe[:, None], axis=-1)[:, 0]
    total = -jnp.sum(jnp.where(valid, picked, 0.0))
    return total / jnp.maximum(valid.sum(), 1).astype(jnp.float32)


def binary_cross_entropy_with_logits(logits: Array, labels: Array) -> Array:
    """Mean element-wise BCE on logits (torch ``BCEWithLogitsLoss``)."""
    x = logits.astype(jnp.float32).reshape(-1)
    y = labels.astype(jnp.float32).reshape(-1)
    return jnp.mean(jnp.maximum(x, 0) - x * y + jnp.log1p(jnp.exp(-jnp.abs(x))))


def mean_squared_error(predictions: Array, targets: Array) -> Array:
    return jnp.mean((predictions.astype(jnp.float32) - targets.astype(jnp.float32)) ** 2)


def classification_loss(logits: Array, labels: Array, single_label_ndim: int) -> Array:
    """LUKE entity heads: cross entropy when ``labels.ndim == single_label_ndim``, else multi-label BCE."""
    if labels.ndim == single_label_ndim:
        return cross_entropy(logits, labels)
    return binary_cross_entropy_with_logits(logits, labels)


def span_extraction_loss(start_logits: Array, end_logits: Array, start_positions: Array, end_positions: Array) -> Array:
    """Question answering: positions clamped to ``[0, L]``, ``L`` ignored, mean of start and end CE."""
    length = start_logits.shape[1]
    start = jnp.clip(start_positions.reshape(start_positions.shape[0], -1)[:, 0], 0, length)
    end = jnp.clip(end_positions.reshape(end_positions.shape[0], -1)[:, 0], 0, length)
    return (
        cross_entropy(start_logits, start, ignore_index=length) + cross_entropy(end_logits, end, ignore_index=length)
    ) / 2


def problem_type_of(problem_type: str | None, num_labels: int, labels: Array) -> str:
    """transformers' sequence-classification rule: the configured type, else one label ->
    regression, integer labels -> single-label, otherwise multi-label."""
    if problem_type is not None:
        return problem_type
    if num_labels == 1:
        return "regression"
    if jnp.issubdtype(labels.dtype, jnp.integer):
        return "single_label_classification"
    return "multi_label_classification"


def sequence_classification_loss(logits: Array, labels: Array, problem_type: str, num_labels: int) -> Array:
    """MSE, cross entropy or multi-label BCE of ``(B, C)`` logits, by ``problem_type``."""
    if problem_type == "regression":
        if num_labels == 1:
            return mean_squared_error(jnp.squeeze(logits), jnp.squeeze(labels))
        return mean_squared_error(logits, labels)
    if problem_type == "single_label_classification":
        return cross_entropy(logits, labels)
    return binary_cross_entropy_with_logits(logits, labels)
