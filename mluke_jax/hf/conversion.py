"""Conversion of a transformers checkpoint (or an original XLM ``.pth`` file) into JAX parameters,
in memory (``from_pretrained`` on a transformers directory) or to a mluke-jax directory on disk."""

import dataclasses
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from mluke_jax import checkpoint
from mluke_jax.architectures import architecture_class
from mluke_jax.config import dtype_name, read_config_dict
from mluke_jax.hf import luke as luke_family
from mluke_jax.hf import readers, xlm_original
from mluke_jax.hf import xlm as xlm_family
from mluke_jax.hf.hub import resolve_source
from mluke_jax.hf.rules import fill_params
from mluke_jax.paths import local_path

# model_type -> module with CONFIG_CLASS, architecture_of, structure_of, key_prefix, rules_for, allow_unused
FAMILIES = {"luke": luke_family, "xlm": xlm_family}


@dataclasses.dataclass
class Converted:
    architecture: str
    structure: dict[str, Any]
    config: Any
    params: dict[str, np.ndarray]
    dtype: str
    seconds: float
    # Files to write next to the checkpoint (an original XLM checkpoint's vocabulary).
    extra_files: dict[str, str] = dataclasses.field(default_factory=dict)


def _family(hf_config: dict[str, Any], where: Path):
    model_type = hf_config.get("model_type")
    if model_type not in FAMILIES:
        raise ValueError(
            f"{where / 'config.json'}: model_type {model_type!r} cannot be converted (supported: {sorted(FAMILIES)})"
        )
    return FAMILIES[model_type]


def convert_in_memory(
    src: str | Path, *, dtype: str = "float32", architecture: str | None = None, progress: bool = True
) -> Converted:
    """Read a transformers directory (or an original XLM ``.pth``) and return the JAX parameter tree
    (numpy, dotted paths)."""
    start = time.perf_counter()
    src = local_path(src)
    extra_files = {}
    if xlm_original.is_original_checkpoint(src):
        data = xlm_original.load(src)
        weights = xlm_original.state_dict(data)
        hf_config = xlm_original.hf_config(data["params"], weights)
        vocab = xlm_original.vocab_json(data)
        if vocab:
            extra_files["vocab.json"] = json.dumps(vocab, ensure_ascii=False, indent=1) + "\n"
        del data
        reader = readers.ArrayReader(weights)
        family = _family(hf_config, src)
    else:
        hf_config = read_config_dict(src / "config.json")
        family = _family(hf_config, src)  # before reading weights: an unsupported model fails first
        reader = readers.CheckpointReader(src)
    keys = reader.keys()
    architecture = architecture or family.architecture_of(hf_config, keys)
    model_class = architecture_class(architecture, str(src))
    structure = family.structure_of(architecture, keys, reader)
    config = family.CONFIG_CLASS.from_hf_dict(hf_config, **structure).replace(architectures=(architecture,))
    targets = checkpoint.abstract_params(model_class.abstract(config))
    params = fill_params(
        targets,
        family.rules_for(architecture, family.key_prefix(keys)),
        reader,
        num_layers=config.num_hidden_layers,
        dtype=jnp.dtype(dtype_name(dtype)),
        allow_unused=family.allow_unused,
        progress=progress,
    )
    return Converted(
        architecture, structure, config, params, dtype_name(dtype), time.perf_counter() - start, extra_files
    )


def peak_memory_bytes() -> int:
    """Peak resident memory of this process.

    Linux ``VmHWM`` (reset by exec, unlike ``ru_maxrss``, which a child started from a large parent
    can inherit); ``ru_maxrss`` elsewhere.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def convert_checkpoint(
    src: str,
    dst: str | Path,
    *,
    dtype: str = "float32",
    architecture: str | None = None,
    overwrite: bool = False,
    revision: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Convert ``src`` (directory or hub name) into a mluke-jax directory ``dst``.

    ``dst`` appears only when everything was written. Returns a report: architecture, parameter
    count, source size, seconds, peak memory.
    """
    start = time.perf_counter()
    dst = checkpoint.check_destination(dst, overwrite)  # before any work
    src_dir = resolve_source(src, revision=revision)
    if progress:
        print(f"converting {src} ...", file=sys.stderr)
    converted = convert_in_memory(src_dir, dtype=dtype, architecture=architecture, progress=progress)
    FAMILIES[converted.config.model_type].check_config(converted.config, str(src))
    with checkpoint.atomic_directory(dst, overwrite=overwrite) as tmp:
        if progress:
            print(f"writing Orbax checkpoint to {dst} ...", file=sys.stderr)
        checkpoint.write_directory(tmp, converted.params, converted.config, converted.architecture, source=str(src))
        copied = checkpoint.copy_tokenizer_files(src_dir, tmp) if src_dir.is_dir() else []
        for name, text in converted.extra_files.items():
            (tmp / name).write_text(text, encoding="utf-8")
            copied.append(name)
    return {
        "architecture": converted.architecture,
        "num_parameters": int(sum(a.size for a in converted.params.values())),
        "num_tensors": len(converted.params),
        "dtype": converted.dtype,
        "structure": converted.structure,
        "tokenizer_files": copied,
        "source_bytes": src_dir.stat().st_size
        if src_dir.is_file()
        else sum(p.stat().st_size for p in readers.weight_files(src_dir)),
        "seconds": time.perf_counter() - start,
        "peak_memory_bytes": peak_memory_bytes(),
    }
