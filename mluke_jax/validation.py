"""Host-side input checks, run before anything is traced.

Every check raises ``ValueError`` naming the argument. Inputs that are JAX tracers (a caller's own
``jit``) get the shape checks only; their values cannot be read.
"""

from dataclasses import dataclass
from typing import Any

import jax
import numpy as np


@dataclass(frozen=True)
class InputSpec:
    """One encoder input of a model family.

    ``kind`` is what :func:`to_array` converts it to; ``choice_axes`` is the number of trailing
    axes of one example, so that multiple-choice inputs ``(batch, choices, *rest)`` flatten to
    ``(batch * choices, *rest[-choice_axes:])`` (0: one value per example, such as ``lengths``).
    """

    kind: str
    choice_axes: int


def is_traced(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def to_array(name: str, value: Any, kind: str) -> Any:
    """numpy / jax / list input -> array of the expected kind (``"int"`` -> int32, ``"float"`` -> float32).

    Concrete inputs become numpy arrays (checked on the host, moved to the device by ``jit``);
    tracers are returned as they are, cast if needed.
    """
    if value is None:
        return None
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor, maybe requiring grad
        value = value.detach().cpu().numpy()
    if is_traced(value) or isinstance(value, jax.Array):
        arr = value
        if kind == "int" and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
        if is_traced(arr):
            return arr.astype(np.int32) if kind == "int" else arr.astype(np.float32) if kind == "float" else arr
        value = np.asarray(arr)
    try:
        arr = np.asarray(value)
    except ValueError:  # ragged lists
        raise ValueError(f"{name} is ragged; pad its rows to one length (and pass the attention mask)") from None
    if arr.dtype == object:
        raise ValueError(f"{name} is ragged or not numeric; pad it to a rectangular array")
    if kind == "int":
        if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
        if arr.size and (arr.max() > np.iinfo(np.int32).max or arr.min() < np.iinfo(np.int32).min):
            raise ValueError(f"{name} has values outside int32")
        return arr.astype(np.int32)
    if kind == "float":
        return arr.astype(np.float32)
    if kind == "label":  # class ids stay integers, multi-label / regression targets become float32
        return arr.astype(np.int32) if np.issubdtype(arr.dtype, np.integer) else arr.astype(np.float32)
    raise AssertionError(kind)


def check_ndim(name: str, arr: Any, ndim: int, what: str) -> None:
    if arr is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have shape {what}, got shape {tuple(arr.shape)}")


def check_shape(name: str, arr: Any, shape: tuple[int, ...], what: str) -> None:
    if arr is not None and tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {what} = {tuple(shape)}, got {tuple(arr.shape)}")


def check_range(name: str, arr: Any, low: int, high: int, what: str, allowed: tuple[int, ...] = ()) -> None:
    """Every value in ``[low, high)`` (or in ``allowed``); names the first offending value."""
    if arr is None or is_traced(arr) or arr.size == 0:
        return
    bad = (arr < low) | (arr >= high)
    for a in allowed:
        bad &= arr != a
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        extra = f" (or {', '.join(map(str, allowed))})" if allowed else ""
        raise ValueError(f"{name}{list(index)} = {int(arr[index])} is outside {what} [{low}, {high}){extra}")


def check_class_labels(name: str, labels: Any, num_classes: int, ignore_index: int | None = -100) -> None:
    if labels is None or is_traced(labels) or not np.issubdtype(labels.dtype, np.integer):
        return
    allowed = () if ignore_index is None else (ignore_index,)
    check_range(name, labels, 0, num_classes, "the label ids", allowed)


def check_class_ids(
    name: str, labels: Any, shape: tuple[int, ...], what: str, num_classes: int, ignore_index: int = -100
) -> None:
    """Integer class ids of ``shape`` in ``[0, num_classes)`` (or ``ignore_index``)."""
    check_shape(name, labels, shape, f"{what} class ids")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} of shape {what} are class ids and must be integers, got dtype {labels.dtype}")
    check_class_labels(name, labels, num_classes, ignore_index)


def check_sequence_labels(labels: Any, batch: int, num_labels: int, problem_type: str) -> None:
    """Sequence-classification targets of the shape ``problem_type`` needs."""
    if labels is None:
        return
    if problem_type == "single_label_classification":
        check_class_ids("labels", labels, (batch,), "(batch,)", num_labels)
    elif problem_type == "multi_label_classification" or num_labels > 1:
        check_shape("labels", labels, (batch, num_labels), f"(batch, num_labels) {problem_type} targets")
    elif tuple(labels.shape) not in ((batch,), (batch, 1)):
        raise ValueError(f"labels must have shape (batch,) regression targets, got {tuple(labels.shape)}")


def span_positions(
    raw: dict[str, Any], batch: int, names: tuple[str, ...] = ("start_positions", "end_positions")
) -> dict[str, Any]:
    """Question-answering ``(batch,)`` (or ``(batch, 1)``) integer positions; both or neither."""
    out = {}
    for name in names:
        out[name] = to_array(name, raw.get(name), "int")
        if out[name] is not None and (out[name].shape[0] != batch or out[name].size != batch):
            raise ValueError(f"{name} must have shape (batch,) = ({batch},), got {tuple(out[name].shape)}")
    given = [out[n] is not None for n in names]
    if any(given) and not all(given):
        raise ValueError(f"pass both {' and '.join(names)}, or neither")
    return out
