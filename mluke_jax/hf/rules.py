"""The mapping machinery: per-family tables of target parameter <- transformers key + transform.

Conversion is driven from the target: every parameter of the (abstract) JAX model is filled once
from the keys its rule names, shapes are checked before anything is read, and at the end every
checkpoint key that no rule consumed is an error (unless allow-listed, like ``position_ids``).
"""

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np
from jax.typing import DTypeLike

from mluke_jax.progress import progress_bar

if TYPE_CHECKING:
    from mluke_jax.hf.readers import ArrayReader, CheckpointReader


class ConversionError(ValueError):
    """The checkpoint does not fit the model: missing, unexpected or mis-shaped keys."""


@dataclasses.dataclass(frozen=True)
class Transform:
    """A named tensor transform and the source shape it expects for a given target shape."""

    name: str
    apply: Callable[[np.ndarray], np.ndarray]
    source_shape: Callable[[tuple[int, ...]], tuple[int, ...]]


IDENTITY = Transform("identity", lambda x: x, lambda shape: shape)
# torch Linear stores (out, in); nnx.Linear kernels are (in, out).
TRANSPOSE = Transform("transpose", lambda x: x.T, lambda shape: tuple(reversed(shape)))


@dataclasses.dataclass(frozen=True)
class Rule:
    """Fill ``target`` (dotted path in the JAX model) from the first of ``sources`` present.

    A source containing ``{i}`` names one tensor per encoder layer; they are stacked on a leading
    ``layers`` axis. Every candidate source present in the checkpoint counts as consumed.
    """

    target: str
    sources: tuple[str, ...]
    transform: Transform = IDENTITY

    @property
    def stacked(self) -> bool:
        return any("{i}" in s for s in self.sources)

    @staticmethod
    def make(target: str, source: str | Iterable[str], transform: Transform = IDENTITY) -> "Rule":
        return Rule(target, (source,) if isinstance(source, str) else tuple(source), transform)


def _keys_of(template: str, num_layers: int) -> list[str]:
    if "{i}" in template:
        return [template.format(i=i) for i in range(num_layers)]
    return [template]


def fill_params(
    targets: Mapping[str, object],
    rules: Iterable[Rule],
    reader: "CheckpointReader | ArrayReader",
    *,
    num_layers: int,
    dtype: DTypeLike,
    allow_unused: Callable[[str], bool] = lambda key: False,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Read, transform, stack and cast every target parameter.

    Args:
        targets: ``{dotted path: object with .shape}`` of the JAX model.
        rules: one rule per target.
        reader: ``keys() / __contains__ / shape(key) / read(key)`` over the checkpoint.
        num_layers: how many ``{i}`` layers to stack.
        dtype: output dtype.
        allow_unused: keys that may stay unconsumed (buffers such as ``position_ids``).

    Raises:
        ConversionError: listing every missing and every unexpected key, or naming a key whose shape
            is wrong together with both shapes.
    """
    by_target = {r.target: r for r in rules}
    no_rule = [t for t in targets if t not in by_target]
    if no_rule:
        raise ConversionError(f"no conversion rule for model parameters {no_rule}")
    available = set(reader.keys())
    plan, missing, used = {}, [], set()
    for target, spec in targets.items():
        rule = by_target[target]
        chosen = None
        for template in rule.sources:
            keys = _keys_of(template, num_layers)
            present = [k for k in keys if k in available]
            used.update(present)
            if chosen is None and len(present) == len(keys):
                chosen = keys
        if chosen is None:
            first = _keys_of(rule.sources[0], num_layers)
            missing.extend(k for k in first if k not in available)
            continue
        layer_shape = tuple(spec.shape[1:]) if rule.stacked else tuple(spec.shape)
        expected = rule.transform.source_shape(layer_shape)
        for key in chosen:
            if tuple(reader.shape(key)) != tuple(expected):
                raise ConversionError(
                    f"checkpoint key {key} has shape {tuple(reader.shape(key))}; the model expects {tuple(expected)}"
                )
        plan[target] = (chosen, rule.transform, rule.stacked)
    unused = sorted(k for k in available - used if not allow_unused(k))
    if missing or unused:
        parts = []
        if missing:
            parts.append(f"missing keys {sorted(missing)}")
        if unused:
            parts.append(f"unexpected keys {unused}")
        raise ConversionError("checkpoint does not match the model: " + "; ".join(parts))

    out: dict[str, np.ndarray] = {}
    bar = progress_bar(total=len(plan), desc="converting", unit="param", enabled=progress, leave=False)
    for target, (keys, transform, stacked) in plan.items():
        if stacked:
            array = np.empty(targets[target].shape, dtype=dtype)
            for i, key in enumerate(keys):
                array[i] = transform.apply(reader.read(key))
        else:
            array = np.ascontiguousarray(transform.apply(reader.read(keys[0])), dtype=dtype)
        out[target] = array
        bar.update(1)
    bar.close()
    return out


def linear_rules(target: str, source: str, bias: bool = True) -> list[Rule]:
    """``target.kernel`` (transposed) and ``target.bias`` from a torch ``Linear`` at ``source``."""
    rules = [Rule.make(f"{target}.kernel", f"{source}.weight", TRANSPOSE)]
    if bias:
        rules.append(Rule.make(f"{target}.bias", f"{source}.bias"))
    return rules


def norm_rules(target: str, source: str) -> list[Rule]:
    """``target.scale`` / ``target.bias`` from a torch ``LayerNorm`` at ``source``."""
    return [Rule.make(f"{target}.scale", f"{source}.weight"), Rule.make(f"{target}.bias", f"{source}.bias")]


def architecture_from(
    hf_config: dict, keys: Iterable[str], known: Iterable[str], family: str, head_prefix: str, bare_architecture: str
) -> str:
    """The checkpoint's class: the first known name in config.json's ``architectures``; without one,
    ``bare_architecture`` when no key carries ``head_prefix`` (an error otherwise)."""
    known = set(known)
    names = hf_config.get("architectures") or []
    for name in names:
        if name in known:
            return name
    if names:
        raise ValueError(
            f"config.json architectures {names} name no {family} class this converter knows ({sorted(known)}); pass "
            "--architecture"
        )
    if not any(k.startswith(head_prefix) for k in keys):
        return bare_architecture
    raise ValueError(
        f"config.json names no architecture and the keys carry the {head_prefix!r} prefix of a head; pass "
        "--architecture"
    )


def model_rules(model_class: type, encoder: list[Rule], head: list[Rule], key_prefix: str) -> list[Rule]:
    """Encoder rules with ``{p}`` filled in (the checkpoint's encoder prefix) and targets moved under
    the model's ``base_model_prefix`` when it is a head, followed by the head's rules."""
    target_prefix = model_class.encoder_prefix()
    moved = [
        Rule(target_prefix + r.target, tuple(s.replace("{p}", key_prefix) for s in r.sources), r.transform)
        for r in encoder
    ]
    return moved + list(head)
