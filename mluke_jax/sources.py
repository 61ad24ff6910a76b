"""Where a model's weights come from, and the one step that turns them into a model.

A *source* is opened first: a converted directory (``mluke_jax.json`` + Orbax ``params/``), or a
transformers checkpoint (a local directory, a hub repository, an original XLM ``.pth`` file),
converted in memory. Opening reads and validates everything but the parameter values and returns
a :class:`Source`: the transformers config, the architecture, the parameter-tree structure flags,
the stored dtype and a reader of the parameters. :func:`resolve_config` then applies the caller's
changes, once for every kind of source, and runs the family's own checks.
"""

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from mluke_jax import checkpoint
from mluke_jax.architectures import architecture_class
from mluke_jax.config import PretrainedConfig, dtype_name
from mluke_jax.hf.conversion import FAMILIES, convert_in_memory
from mluke_jax.hf.hub import existing_or_hub, resolve_source
from mluke_jax.modeling import PreTrainedModel


@dataclasses.dataclass
class Source:
    """An opened checkpoint.

    Attributes:
        where: the directory or file, for messages.
        name: what warnings call it (for a converted directory, the checkpoint it was converted from).
        hf_config: its ``config.json`` (transformers' fields).
        architecture: the transformers class name of what it holds.
        structure: parameter-tree flags the weights decide (e.g. an untied decoder).
        param_dtype: the dtype its parameters are stored in.
        read_params: ``dtype -> {"dotted.path": array}``; reads the values (once).
    """

    where: Path
    name: str
    hf_config: dict[str, Any]
    architecture: str
    structure: dict[str, Any]
    param_dtype: str
    read_params: Callable[[np.dtype], dict[str, np.ndarray]]


def is_converted(path: Path) -> bool:
    """Whether ``path`` is a directory written by ``python -m convert`` / ``save_pretrained``."""
    return (path / checkpoint.METADATA_FILE).is_file()


def open_converted(path: Path, name: str) -> Source:
    """A converted directory; its metadata and config are read and checked now."""
    metadata = checkpoint.read_metadata(path)
    return Source(
        where=path,
        name=metadata.get("source") or name,
        hf_config=checkpoint.read_config(path),
        architecture=metadata["architecture"],
        structure=metadata.get("structure", {}),
        param_dtype=metadata["param_dtype"],
        read_params=lambda dtype: checkpoint.read_params(path, dtype, metadata),
    )


def open_transformers(name_or_path: str | Path, revision: str | None) -> Source:
    """A transformers directory, hub repository or original XLM file, converted in memory now."""
    path = resolve_source(name_or_path, revision=revision)
    converted = convert_in_memory(path)

    def read(dtype: np.dtype) -> dict[str, np.ndarray]:  # hands the arrays over, casting one at a time
        return {k: converted.params.pop(k).astype(dtype, copy=False) for k in list(converted.params)}

    return Source(
        where=path,
        name=str(name_or_path),
        hf_config=converted.config.to_hf_dict(),
        architecture=converted.architecture,
        structure=converted.structure,
        param_dtype=converted.dtype,
        read_params=read,
    )


def open_source(name_or_path: str | Path, revision: str | None = None) -> Source:
    """Open whatever ``name_or_path`` names (see the module docstring)."""
    path = existing_or_hub(name_or_path)  # absolute (Orbax needs it); None for a hub repository id
    if path is not None and path.is_dir():
        if is_converted(path):
            return open_converted(path, str(name_or_path))
        if (path / checkpoint.PARAMS_DIR).is_dir():
            raise checkpoint.damaged(path, f"it has {checkpoint.PARAMS_DIR}/ but no {checkpoint.METADATA_FILE}")
    return open_transformers(name_or_path, revision)


def resolve_config(
    source: Source, *, dtype: Any = None, param_dtype: Any = None, changes: dict[str, Any]
) -> PretrainedConfig:
    """The model config of ``source`` with the caller's ``changes`` (config fields) applied.

    ``param_dtype`` defaults to the stored dtype and ``dtype`` (compute) to ``param_dtype``.
    Runtime fields (``remat``, ``scan_unroll``, ...) go to the config directly; the others replace
    ``config.json`` values (a new ``num_labels`` drops the stored labels, as in transformers).
    """
    model_type = source.hf_config.get("model_type")
    if model_type not in FAMILIES:
        raise ValueError(
            f"{source.where / 'config.json'}: model_type {model_type!r} is not supported "
            f"(supported: {sorted(FAMILIES)})"
        )
    family = FAMILIES[model_type]
    config_cls = family.CONFIG_CLASS
    param_dtype = dtype_name(param_dtype) if param_dtype is not None else source.param_dtype
    dtype = dtype_name(dtype) if dtype is not None else param_dtype
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise TypeError(
            f"from_pretrained got unexpected keyword arguments {unknown} (not {config_cls.__name__} fields)"
        )
    runtime = {k: v for k, v in changes.items() if k in config_cls.RUNTIME_FIELDS}
    hf = dict(source.hf_config)
    hf_changes = {k: v for k, v in changes.items() if k not in runtime}
    if "num_labels" in hf_changes and "id2label" not in hf_changes:
        hf.pop("id2label", None)
        hf.pop("label2id", None)
    hf.update(hf_changes)
    config = config_cls.from_hf_dict(hf, **{**source.structure, "param_dtype": param_dtype, "dtype": dtype, **runtime})
    family.check_config(config, source.name)
    return config


def load_pretrained(
    name_or_path: str | Path,
    cls: type[PreTrainedModel] | None,
    *,
    dtype: Any = None,
    param_dtype: Any = None,
    seed: int = 0,
    revision: str | None = None,
    output_loading_info: bool = False,
    **config_changes: Any,
) -> PreTrainedModel | tuple[PreTrainedModel, dict[str, list[str]]]:
    """Load a model from a converted directory, a transformers directory or a hub name.

    ``cls=None`` loads the architecture the checkpoint holds. A head loaded from a checkpoint of
    another architecture gets its encoder from the checkpoint and a freshly initialised head
    (``seed``), with a warning naming the new parameters, as transformers does. With
    ``output_loading_info`` the result is ``(model, {"missing_keys", "unexpected_keys", ...})``,
    as transformers' (the keys as dotted mluke-jax parameter names).
    """
    source = open_source(name_or_path, revision)
    config = resolve_config(source, dtype=dtype, param_dtype=param_dtype, changes=config_changes)
    if cls is None:
        cls = architecture_class(source.architecture, str(source.where))
    if cls.config_class is not type(config):
        raise ValueError(
            f"{cls.__name__} cannot load a checkpoint of model_type {config.model_type!r} ({source.where})"
        )
    params = source.read_params(jnp.dtype(config.param_dtype))
    info: dict[str, list[str]] = {}
    model = checkpoint.assemble(
        cls, config, params, source.architecture, seed=seed, where=str(source.where), loading_info=info
    )
    return (model, info) if output_loading_info else model
