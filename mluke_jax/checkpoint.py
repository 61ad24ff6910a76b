"""Converted-checkpoint directories: Orbax parameters + ``config.json`` + ``mluke_jax.json``.

Layout of a directory written by ``python -m convert`` or ``save_pretrained``::

    config.json        the transformers config (no runtime fields)
    mluke_jax.json     architecture, parameter-tree structure flags, parameter dtype, provenance
    params/            Orbax (StandardCheckpointer) tree of the model's nnx.Param values
    <tokenizer files>  copied through from the source (sentencepiece.bpe.model, entity_vocab.json, ...)

Directories are written under a temporary name and renamed at the end: a failed write leaves
nothing behind. A directory in a bucket (``gs://``) is written locally and uploaded with
``mluke_jax.json`` last (:mod:`mluke_jax.remote`): without it, a reader sees no checkpoint there.
"""

import contextlib
import gc
import json
import logging
import os
import shutil
import sys
import tempfile
import traceback
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, traverse_util
from jax.typing import DTypeLike

from mluke_jax import remote, sharding
from mluke_jax.architectures import architecture_class
from mluke_jax.config import PretrainedConfig, dtype_name, read_config_dict
from mluke_jax.modeling import PreTrainedModel
from mluke_jax.paths import is_remote, local_path, resolve
from mluke_jax.warn import warn

logger = logging.getLogger(__name__)

FORMAT_NAME = "mluke-jax"
FORMAT_VERSION = 1
METADATA_FILE = "mluke_jax.json"
PARAMS_DIR = "params"

# Tokenizer and vocabulary files a checkpoint directory carries along.
TOKENIZER_FILES = (
    "sentencepiece.bpe.model",
    "entity_vocab.json",
    "entity_vocab.jsonl",
    "entity_vocab.tsv",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.json",
    "vocab.json",
    "merges.txt",
)


# --------------------------------------------------------------------------- paths and trees
def flatten(tree: dict[str, Any]) -> dict[str, Any]:
    """Nested dict -> ``{"a.b.c": leaf}`` (``flax.traverse_util.flatten_dict`` with dotted names)."""
    return {".".join(map(str, path)): leaf for path, leaf in traverse_util.flatten_dict(tree).items()}


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b.c": leaf}`` -> nested dict."""
    return traverse_util.unflatten_dict({tuple(name.split(".")): leaf for name, leaf in flat.items()})


def abstract_params(model: PreTrainedModel) -> dict[str, jax.ShapeDtypeStruct]:
    """``{"path.to.param": ShapeDtypeStruct}`` of a model (abstract or real), in checkpoint shapes:
    vocabulary tables at their real size, without the padding a mesh may add."""
    sizes, axes = model.config.vocabulary_sizes(), sharding.logical_axes(model)
    flat = {}
    for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        name, value = ".".join(map(str, path)), var.get_value()
        flat[name] = jax.ShapeDtypeStruct(sharding.unpadded_shape(tuple(value.shape), axes[name], sizes), value.dtype)
    return flat


def checkpoint_params(model: PreTrainedModel) -> dict[str, Any]:
    """``{"path.to.param": array}`` of a model as a checkpoint holds them (vocabulary padding cut off)."""
    sizes, axes = model.config.vocabulary_sizes(), sharding.logical_axes(model)
    params = flatten(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    return {name: sharding.unpad(value, axes[name], sizes) for name, value in params.items()}


def host_params(model: PreTrainedModel) -> dict[str, Any]:
    """:func:`checkpoint_params` as whole host arrays, gathered from every process when there are
    several (``jax.distributed``); every process must call it."""
    params = checkpoint_params(model)
    if jax.process_count() == 1:
        return params
    from jax.experimental import multihost_utils

    return {k: np.asarray(multihost_utils.process_allgather(v, tiled=True)) for k, v in params.items()}


# ------------------------------------------------------------------------ atomic directories
def check_destination(
    dst: str | os.PathLike, overwrite: bool, marker: str = METADATA_FILE, what: str = "a mluke-jax checkpoint"
) -> Path:
    """Refuse a destination that would lose data; returns it as an absolute path (a URI as it is,
    its bucket checked: it must exist and answer).

    A new or empty directory is fine; an earlier output of the same kind (a directory holding
    ``marker``: a checkpoint's ``mluke_jax.json``, a corpus's ``metadata.json``) is replaced only
    with ``overwrite``; a directory with anything else in it is never replaced.
    """
    dst = resolve(dst)
    remote.check_reachable(dst)
    if not dst.exists():
        return dst
    if not dst.is_dir():
        raise FileExistsError(f"{dst} exists and is not a directory")
    if not any(dst.iterdir()):
        return dst
    if not (dst / marker).is_file():
        raise FileExistsError(f"{dst} holds other files; write {what} to a new or empty directory")
    if not overwrite:
        raise FileExistsError(f"{dst} already holds {what}; pass overwrite (--overwrite) to replace it")
    return dst


@contextlib.contextmanager
def atomic_directory(
    dst: str | os.PathLike,
    overwrite: bool = False,
    marker: str = METADATA_FILE,
    what: str = "a mluke-jax checkpoint",
    last: str | None = None,
) -> Iterator[Path]:
    """Yield a fresh temporary directory next to ``dst``; it becomes ``dst`` only on success.

    See :func:`check_destination` for what may be replaced. On any failure the temporary directory
    is removed and an existing ``dst`` is left as it was. A ``dst`` in a bucket gets the files
    uploaded with ``last`` (default: ``marker``) as the last object.
    """
    dst = check_destination(dst, overwrite, marker, what)
    if is_remote(dst):
        with remote.staged(dst, last or marker) as tmp:
            yield tmp
        return
    dst = local_path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.tmp-", dir=dst.parent))
    try:
        yield tmp
        if not dst.exists():
            os.rename(tmp, dst)
            return
        trash = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old-", dir=dst.parent))
        os.rename(dst, trash / "old")
        try:
            os.rename(tmp, dst)
        except BaseException:
            os.rename(trash / "old", dst)
            raise
        shutil.rmtree(trash, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def copy_tokenizer_files(src: str | os.PathLike, dst: str | os.PathLike) -> list[str]:
    """Copy the tokenizer files (:data:`TOKENIZER_FILES`) ``src`` has into the local ``dst``; ``src``
    may be in a bucket. Returns the names copied."""
    copied = []
    for name in TOKENIZER_FILES:
        path = resolve(src) / name
        if path.is_file():
            remote.copy_file(path, Path(dst) / name)
            copied.append(name)
    return copied


def write_directory(
    path: Path, params: dict[str, Any], config: PretrainedConfig, architecture: str, source: str | None = None
) -> None:
    """Write a checkpoint into an existing (empty, temporary) directory ``path``.

    ``params`` maps dotted parameter paths to numpy or jax arrays, all of one dtype.
    """
    import orbax.checkpoint as ocp

    path = local_path(path)
    dtypes = {dtype_name(a.dtype) for a in params.values()}
    if len(dtypes) != 1:
        raise ValueError(f"parameters of mixed dtypes {sorted(dtypes)}")
    (path / "config.json").write_text(config.to_json_string(), encoding="utf-8")
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "architecture": architecture,
        "model_type": config.model_type,
        "structure": config.structure(),
        "param_dtype": dtypes.pop(),
        "num_parameters": int(sum(int(np.prod(a.shape)) for a in params.values())),
        "source": source,
        "checksums": _checksums(params),
    }
    (path / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    # Memory: Orbax's default numpy handler deep-copies every host array, and zstd compression
    # buffers a second encoded copy; either doubles the converter's peak (measured on mluke-base:
    # +2 GiB each). Random-looking float weights barely compress, so both are off. Nothing modifies
    # the arrays before the save returns.
    registry = ocp.type_handlers.create_type_handler_registry(
        (np.ndarray, ocp.type_handlers.NumpyHandler(deepcopy_host_arrays=False)),
        (jax.Array, ocp.type_handlers.ArrayHandler()),
    )
    # With several processes (jax.distributed) one of them writes the host arrays alone: no barrier
    # with the others, which do not call this.
    alone = ocp.options.MultiprocessingOptions(primary_host=jax.process_index(), active_processes={jax.process_index()})
    handler = ocp.PyTreeCheckpointHandler(
        type_handler_registry=registry, use_compression=False, multiprocessing_options=alone
    )
    with ocp.Checkpointer(handler, multiprocessing_options=alone) as checkpointer:
        checkpointer.save(path / PARAMS_DIR, args=ocp.args.PyTreeSave(unflatten(params)))


class DamagedCheckpointError(ValueError):
    """A converted checkpoint directory with a missing, truncated or unreadable part."""


def damaged(path: Path, what: str, error: BaseException | None = None) -> DamagedCheckpointError:
    detail = ""
    if error is not None:
        first_line = (str(error).strip().splitlines() or [""])[0]
        detail = f" ({type(error).__name__}: {first_line[:300]})"
    return DamagedCheckpointError(
        f"the checkpoint at {path} is incomplete or damaged: {what}{detail}; convert or save it again"
    )


def release_frames(error: BaseException) -> None:
    """Free the local variables of a failed Orbax restore's frames now, keeping its traceback
    printable, and keep the restore's leftovers off the terminal.

    A failed restore leaves the coroutines of the reads it had not finished in the frames of the
    error and of the errors chained to it; closed later, anywhere, each raises again inside its
    ``finally`` and Python reports that as an "Exception ignored in <coroutine ...>". They are
    closed here. TensorStore reads still in flight finish after Orbax's event loop is closed and
    report "RuntimeError: Event loop is closed" through ``sys.excepthook``, and asyncio logs the
    failed reads no one awaited: hundreds of tracebacks of one error already raised.
    :func:`drop_leftover_reports` (installed before each restore) filters those reports, and
    nothing else."""
    drop_leftover_reports()
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "coroutine ... was never awaited"
            seen: set[int] = set()
            pending = [error]
            while pending:
                current = pending.pop()
                if current is None or id(current) in seen:
                    continue
                seen.add(id(current))
                traceback.clear_frames(current.__traceback__)
                pending += [current.__cause__, current.__context__]
            gc.collect()
    finally:
        sys.unraisablehook = hook


_ORBAX_DIR = os.sep + os.path.join("orbax", "checkpoint") + os.sep
# Orbax's read coroutines, reported "never awaited" when a failed restore's are collected
_ORBAX_READS = r"coroutine '(_read_\w+|async_deserialize\w*|_deserialize\w*)' was never awaited"


def _is_closed_loop_callback(exc_type: Any, value: BaseException | None, tb: Any) -> bool:
    """TensorStore's callback into Orbax's closed event loop: "Event loop is closed" raised with
    asyncio's own frames alone (from a TensorStore thread, no caller's code above them)."""
    frames = [frame.f_code.co_filename for frame, _ in traceback.walk_tb(tb)]
    return (
        exc_type is RuntimeError
        and str(value) == "Event loop is closed"
        and bool(frames)
        and all(name.endswith(os.path.join("asyncio", "base_events.py")) for name in frames)
    )


def _is_leftover_read(exc_type: Any, value: BaseException | None, tb: Any) -> bool:
    """A report of a failed restore's leftovers: a closed-loop callback, an error raised in
    Orbax's code or TensorStore's failed read, none of which anyone awaits any more."""
    if _is_closed_loop_callback(exc_type, value, tb):
        return True
    message = str(value)
    return (
        any(_ORBAX_DIR in frame.f_code.co_filename for frame, _ in traceback.walk_tb(tb))
        or " in OCDBT database at " in message
        or message.startswith("Encountered error while reading array index")
    )


_FILTERING = False


def drop_leftover_reports() -> None:
    """Install (once) the filters of :func:`release_frames`: in ``sys.excepthook`` the closed-loop
    callbacks only (an uncaught error of the program itself always shows), in
    ``sys.unraisablehook`` and the ``asyncio`` logger ("exception was never retrieved") the
    leftovers of Orbax's reads, and the warnings of its read coroutines never awaited. Every other
    report goes where it went before."""
    global _FILTERING
    if _FILTERING:
        return
    _FILTERING = True
    excepthook, unraisablehook = sys.excepthook, sys.unraisablehook

    def filtered_excepthook(exc_type, value, tb):
        if not _is_closed_loop_callback(exc_type, value, tb):
            excepthook(exc_type, value, tb)

    def filtered_unraisablehook(unraisable):
        code = getattr(unraisable.object, "cr_code", None)
        from_orbax = code is not None and _ORBAX_DIR in code.co_filename
        if not (from_orbax or _is_leftover_read(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback)):
            unraisablehook(unraisable)

    def not_leftover(record: logging.LogRecord) -> bool:
        return not (record.exc_info and record.exc_info[0] and _is_leftover_read(*record.exc_info))

    sys.excepthook, sys.unraisablehook = filtered_excepthook, filtered_unraisablehook
    logging.getLogger("asyncio").addFilter(not_leftover)
    warnings.filterwarnings("ignore", message=_ORBAX_READS, category=RuntimeWarning)


def root_cause(error: BaseException) -> BaseException:
    """The first error of ``error``'s ``raise ... from`` chain (Orbax wraps TensorStore's precise
    one in a generic ``Exception`` whose message is a page of specs)."""
    seen = set()
    while error.__cause__ is not None and id(error) not in seen:
        seen.add(id(error))
        error = error.__cause__
    return error


def _checksum(array) -> str:
    """CRC-32 of an array's bytes as stored (2.7 GB/s: under a second for mluke-base)."""
    return (
        f"{zlib.crc32(np.ascontiguousarray(array).reshape(-1).view(np.uint8)):08x}"  # a byte view: any dtype, bf16 too
    )


def _checksums(params: dict[str, Any]) -> dict[str, str] | None:
    """Per-parameter CRC-32s, or None when some array is not on this host (multi-host saves):
    Orbax does not checksum uncompressed arrays, so a flipped byte would otherwise load silently."""
    if not all(getattr(a, "is_fully_addressable", True) for a in params.values()):
        return None
    return {name: _checksum(a) for name, a in params.items()}


def read_metadata(path: Path) -> dict[str, Any]:
    """``mluke_jax.json`` of a converted directory (format, architecture, structure, dtype, size)."""
    try:
        metadata = json.loads(resolve(path / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise damaged(path, f"{METADATA_FILE} cannot be read", e) from e
    if (
        not isinstance(metadata, dict)
        or metadata.get("format") != FORMAT_NAME
        or metadata.get("format_version", 0) > FORMAT_VERSION
    ):
        raise ValueError(f"{path / METADATA_FILE} is not a mluke-jax format {FORMAT_VERSION} checkpoint")
    for key in ("architecture", "param_dtype"):
        if key not in metadata:
            raise damaged(path, f"{METADATA_FILE} has no {key!r}")
    return metadata


def read_config(path: Path) -> dict[str, Any]:
    """``config.json`` of a converted directory; a missing or malformed one is a damaged checkpoint."""
    try:
        return read_config_dict(path / "config.json")
    except (OSError, ValueError) as e:
        raise damaged(path, "config.json is missing or not valid JSON", e) from e


def read_params(path: Path, dtype: DTypeLike, metadata: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Restore the Orbax parameters as ``{"dotted.path": array}`` cast to ``dtype``.

    With ``metadata`` (:func:`read_metadata`) the values are checked against it: their count, and
    each parameter's CRC-32 where the checkpoint records them. Raises
    :class:`DamagedCheckpointError` naming the directory and the part that failed when
    ``params/`` is missing, truncated, unreadable or disagrees with ``mluke_jax.json``.
    """
    import orbax.checkpoint as ocp

    path = resolve(path)  # Orbax reads relative paths as paths under its own root; buckets directly
    params_dir = path / PARAMS_DIR
    metadata = metadata or {}
    checksums = metadata.get("checksums")
    if not params_dir.is_dir():
        raise damaged(path, f"{PARAMS_DIR}/ is missing")
    if not (params_dir / "_METADATA").is_file():
        raise damaged(path, f"{PARAMS_DIR}/_METADATA (the parameter tree) is missing")
    drop_leftover_reports()  # a damaged file: one error, not pages of asyncio reports (release_frames)
    checkpointer = ocp.StandardCheckpointer()
    try:
        try:
            item = checkpointer.metadata(params_dir).item_metadata
        except Exception as e:  # Orbax and TensorStore raise many types; all mean the same here
            release_frames(e)
            raise damaged(path, f"{PARAMS_DIR}/_METADATA (the parameter tree) cannot be read", e) from e
        if item is None or getattr(item, "tree", None) is None:
            raise damaged(path, f"{PARAMS_DIR}/_METADATA (the parameter tree) cannot be read")
        # read in the stored dtype when there are checksums to verify, cast afterwards; into host
        # arrays, whatever devices wrote them (a model saved from a mesh loads on one device)
        read_dtype = jnp.dtype(metadata["param_dtype"]) if checksums else dtype
        target = jax.tree.map(lambda m: np.empty(tuple(m.shape), read_dtype), item.tree)
        try:
            restored = checkpointer.restore(params_dir, target)
        except Exception as e:
            release_frames(e)
            raise damaged(path, f"the parameter arrays under {PARAMS_DIR}/ cannot be read", e) from e
    finally:
        checkpointer.close()
    flat = flatten(restored)
    expected_count = metadata.get("num_parameters")
    count = sum(int(np.prod(a.shape)) for a in flat.values())
    if expected_count is not None and count != expected_count:
        raise damaged(path, f"{PARAMS_DIR}/ holds {count} values, {METADATA_FILE} records {expected_count}")
    if checksums:
        if set(checksums) != set(flat):
            raise damaged(
                path,
                f"{PARAMS_DIR}/ holds other parameters than {METADATA_FILE} lists: "
                f"{sorted(set(flat) ^ set(checksums))[:5]}",
            )
        for name in flat:
            value = np.asarray(flat[name])
            if _checksum(value) != checksums[name]:
                raise damaged(path, f"parameter {name} under {PARAMS_DIR}/ fails its checksum")
            flat[name] = value.astype(dtype, copy=False)
    return flat


# --------------------------------------------------------------------------------- loading
def assemble(
    cls: type[PreTrainedModel],
    config: PretrainedConfig,
    params: dict[str, Any],
    source_architecture: str,
    *,
    seed: int = 0,
    where: str = "",
    loading_info: dict[str, list[str]] | None = None,
) -> PreTrainedModel:
    """Build ``cls`` from ``params`` (dotted paths of ``source_architecture``'s tree).

    Encoder parameters move between the bare-model and head layouts; head parameters are taken
    only from a checkpoint of the same architecture. Parameters still missing are initialised
    (warning); checkpoint parameters left over are dropped (warning) when the architectures
    differ and an error when they are the same. ``loading_info``, when given, gets transformers'
    ``missing_keys`` (initialised) and ``unexpected_keys`` (dropped), as dotted parameter names.
    """
    abstract = cls.abstract(config)
    targets = abstract_params(abstract)
    same = source_architecture == cls.__name__
    src_prefix = (cls if same else architecture_class(source_architecture, where)).encoder_prefix()
    dst_prefix = cls.encoder_prefix()

    filled = {}
    for name, spec in targets.items():
        if same:
            source = name
        elif name.startswith(dst_prefix):
            source = src_prefix + name[len(dst_prefix) :]
        else:
            source = None  # a head parameter of another architecture
        if source is None or source not in params:
            continue
        if tuple(params[source].shape) != tuple(spec.shape):
            raise ValueError(
                f"{where}: parameter {source} has shape {tuple(params[source].shape)}, {cls.__name__} expects "
                f"{tuple(spec.shape)} at {name}"
            )
        filled[name] = params.pop(source)  # one reference, so each host copy is freed once on the device
    missing = sorted(set(targets) - set(filled))
    unused = sorted(params)
    if loading_info is not None:
        loading_info.update(missing_keys=missing, unexpected_keys=unused, mismatched_keys=[], error_msgs=[])
    if same and (missing or unused):
        raise ValueError(f"{where}: checkpoint does not match {cls.__name__}: missing {missing}, unexpected {unused}")
    if unused:  # every name: the count and the list agree
        warn(
            f"{cls.__name__} loaded from the {source_architecture} checkpoint: dropped {len(unused)} parameters "
            f"{unused}"
        )
    if missing:
        warn(
            f"{cls.__name__} loaded from the {source_architecture} checkpoint: newly initialised {missing}; train them "
            "before use"
        )
        model = cls.build(config, seed=seed)
        update_params(model, filled)
        return model
    graphdef, state = nnx.split(abstract)
    nnx.replace_by_pure_dict(state, unflatten(_to_device(filled, state)))
    return nnx.merge(graphdef, state)


def update_params(model: PreTrainedModel, flat: dict[str, Any]) -> None:
    """Replace the named parameters of ``model`` in place: ``{"path.to.param": array}`` in
    checkpoint shapes (vocabulary tables at their real size; padded again for an active mesh)."""
    shapes = abstract_params(model)
    unknown = sorted(set(flat) - set(shapes))
    if unknown:
        raise KeyError(f"{type(model).__name__} has no parameters {unknown}")
    for name, value in flat.items():
        expected = tuple(shapes[name].shape)
        if tuple(np.shape(value)) != expected:
            raise ValueError(f"parameter {name} has shape {tuple(np.shape(value))}; the model's is {expected}")
    state = nnx.state(model, nnx.Param)
    current = flatten(nnx.to_pure_dict(state))
    current.update(flat)
    nnx.replace_by_pure_dict(state, unflatten(_to_device(current, state)))
    nnx.update(model, state)


def _to_device(flat: dict[str, Any], state) -> dict[str, Any]:
    """Numpy leaves -> jax arrays of the state's shapes (vocabulary tables zero-padded for the
    mesh), placed by their logical axes when a mesh is active.

    Empties ``flat`` as it goes, so each host array can be freed as soon as it is on the device.
    """
    mesh = sharding.current_mesh()
    specs = None if mesh is None else flatten(nnx.to_pure_dict(sharding.partition_specs(state)))
    shapes = {".".join(map(str, path)): tuple(var.get_value().shape) for path, var in nnx.to_flat_state(state)}
    out = {}
    for name in list(flat):
        value = flat.pop(name)
        if tuple(value.shape) != shapes[name]:
            value = sharding.pad_to(np.asarray(value), shapes[name])
        out[name] = (
            jnp.asarray(value)
            if specs is None
            else jax.device_put(value, jax.sharding.NamedSharding(mesh, specs[name]))
        )
    return out


# ---------------------------------------------------------------------------------- saving
def save_pretrained(model: PreTrainedModel, path: str | os.PathLike, overwrite: bool = True) -> None:
    """Write ``model`` to ``path``: new, empty, or an earlier checkpoint (replaced); never a directory
    of other files."""
    params = checkpoint_params(model)
    with atomic_directory(path, overwrite=overwrite) as tmp:
        write_directory(tmp, params, model.config, type(model).__name__, source=None)
