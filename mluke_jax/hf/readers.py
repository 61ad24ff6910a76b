"""Reading transformers checkpoints tensor by tensor: safetensors, ``.bin`` and their sharded variants.

safetensors files are read with positioned reads of one tensor at a time (no memory map, so
memory stays at one tensor beyond what the caller keeps). ``.bin`` files go through
``torch.load(weights_only=True)``: a pickle that would run code is refused without running it.
"""

import ctypes
import json
import mmap
import os
import struct
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import ml_dtypes
import numpy as np

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TORCH_BIN = "pytorch_model.bin"
TORCH_BIN_INDEX = "pytorch_model.bin.index.json"

_SAFETENSORS_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "BF16": ml_dtypes.bfloat16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read as it claims to be."""


# ------------------------------------------------------------------------------ safetensors
class SafetensorsFile:
    """One ``.safetensors`` file: header parsed and checked against the file size up front."""

    def __init__(self, path: Path):
        self.path = Path(path)
        size = self.path.stat().st_size
        with open(self.path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{self.path} is truncated: {size} bytes, not even a safetensors header")
            (header_len,) = struct.unpack("<Q", head)
            if header_len > size - 8 or header_len > 100_000_000:
                raise CheckpointError(
                    f"{self.path} is truncated or not safetensors: header of {header_len} bytes in a {size}-byte file"
                )
            try:
                header = json.loads(f.read(header_len))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise CheckpointError(f"{self.path} has an unreadable safetensors header: {e}") from None
        header.pop("__metadata__", None)
        self.data_start = 8 + header_len
        self.entries: dict[str, tuple[np.dtype, tuple[int, ...], int, int]] = {}
        for key, info in header.items():
            dtype = _SAFETENSORS_DTYPES.get(info.get("dtype"))
            if dtype is None:
                raise CheckpointError(f"{self.path}: tensor {key} has unsupported dtype {info.get('dtype')!r}")
            shape = tuple(int(d) for d in info["shape"])
            begin, end = (int(x) for x in info["data_offsets"])
            expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
            if end - begin != expected:
                raise CheckpointError(
                    f"{self.path}: tensor {key} claims {end - begin} bytes for shape {shape} {info['dtype']}"
                )
            if self.data_start + end > size:
                raise CheckpointError(
                    f"{self.path} is truncated: tensor {key} ends at byte {self.data_start + end}, the file has {size} "
                    "bytes"
                )
            self.entries[key] = (np.dtype(dtype), shape, begin, end)

    def keys(self) -> Iterable[str]:
        return self.entries.keys()

    def shape(self, key: str) -> tuple[int, ...]:
        return self.entries[key][1]

    def read(self, key: str) -> np.ndarray:
        dtype, shape, begin, end = self.entries[key]
        out = np.empty(shape, dtype=dtype)
        view = memoryview(out.reshape(-1).view(np.uint8))
        with open(self.path, "rb") as f:
            f.seek(self.data_start + begin)
            got = f.readinto(view)
        if got != end - begin:
            raise CheckpointError(f"{self.path} is truncated: short read of tensor {key}")
        return out


# ---------------------------------------------------------------------------------- torch
def require_torch(purpose: str = "reading PyTorch .bin checkpoints") -> ModuleType:
    """Import torch, or fail with the install command (torch is an optional extra)."""
    try:
        import torch
    except ImportError:
        raise ImportError(
            f"{purpose} needs torch: pip install 'mluke-jax[torch]' (safetensors checkpoints need no torch)"
        ) from None
    return torch


class TorchBinFile:
    """One ``pytorch_model.bin`` loaded with ``torch.load(weights_only=True)``, memory-mapped when possible."""

    def __init__(self, path: Path):
        torch = require_torch()
        self.path = Path(path)
        try:
            try:
                state = torch.load(self.path, map_location="cpu", weights_only=True, mmap=True)
                self.mapped = True
            except RuntimeError as e:
                if "mmap" not in str(e):
                    raise
                state = torch.load(self.path, map_location="cpu", weights_only=True)  # legacy (non-zip) format
                self.mapped = False
        except Exception as e:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError, ...
            name = type(e).__name__
            if "Unpickl" in name or "weights_only" in str(e) or "GLOBAL" in str(e):
                raise CheckpointError(
                    f"refusing to load {self.path}: it is not a plain weights file and unpickling it could run code "
                    f"(torch.load(weights_only=True) said: {str(e).splitlines()[0]})"
                ) from None
            raise CheckpointError(
                f"could not read {self.path} (truncated or not a PyTorch checkpoint): {name}: {e}"
            ) from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise CheckpointError(f"{self.path} holds an object of type {type(state).__name__}, not a state dict")
        self.tensors = {k: t for k, t in state.items() if isinstance(t, torch.Tensor)}

    def keys(self) -> Iterable[str]:
        return self.tensors.keys()

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self.tensors[key].shape)

    def read(self, key: str) -> np.ndarray:
        torch = require_torch()
        t = self.tensors[key].detach()
        # Only pages of the file mapping may be released: heap memory (a legacy file, a contiguous
        # copy) would come back as zeros.
        release = self.mapped and t.is_contiguous()
        if not t.is_contiguous():
            t = t.contiguous()
        if t.dtype == torch.bfloat16:
            source = t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        else:
            source = t.numpy()
        # Copy out of the file mapping in slices, releasing each slice's pages behind us, so that at
        # most one slice is resident twice.
        out = np.empty(source.shape, source.dtype)
        flat_in, flat_out = source.reshape(-1), out.reshape(-1)
        step = max(1, _SLICE_BYTES // max(1, source.itemsize))
        for begin in range(0, flat_in.size, step):
            end = min(begin + step, flat_in.size)
            flat_out[begin:end] = flat_in[begin:end]
            if release:
                _release_pages(flat_in[begin:end].ctypes.data, (end - begin) * source.itemsize)
        return out


def _release_pages(address: int, nbytes: int) -> None:
    """Drop pages of a ``torch.load(mmap=True)`` file mapping from this process's resident set.

    The mapping is private and never written, so its pages are file-backed: touched again, they are
    read back from the file and ``MADV_DONTNEED`` loses nothing (page rounding may drop a neighbour's
    page, which also comes back from the file). Without it, every page a read touched stays resident
    until the mapping goes, doubling the converter's memory. Only for addresses inside such a
    mapping. Linux only; a no-op elsewhere.
    """
    if _LIBC is None or nbytes <= 0:
        return
    page = mmap.PAGESIZE
    start = address - address % page
    length = address + nbytes - start
    _LIBC.madvise(ctypes.c_void_p(start), ctypes.c_size_t(length), _MADV_DONTNEED)


def _load_libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        return libc
    except (OSError, AttributeError):
        return None


_MADV_DONTNEED = 4
_SLICE_BYTES = 64 * 2**20
_LIBC = _load_libc()


# ------------------------------------------------------------------------------- reader
class CheckpointReader:
    """All tensors of a transformers checkpoint directory, whatever its file layout."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.files = [self._open(p) for p in weight_files(self.directory)]
        self.where: dict[str, object] = {}
        for f in self.files:
            for key in f.keys():
                if key in self.where:
                    raise CheckpointError(
                        f"tensor {key} appears in two checkpoint files ({self.where[key].path.name}, {f.path.name})"
                    )
                self.where[key] = f

    @staticmethod
    def _open(path: Path):
        return SafetensorsFile(path) if path.suffix == ".safetensors" else TorchBinFile(path)

    def keys(self) -> list[str]:
        return list(self.where)

    def __contains__(self, key: str) -> bool:
        return key in self.where

    def shape(self, key: str) -> tuple[int, ...]:
        return self.where[key].shape(key)

    def read(self, key: str) -> np.ndarray:
        return self.where[key].read(key)


class ArrayReader:
    """The reader interface over tensors already in memory (``{key: numpy array}``)."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = arrays

    def keys(self) -> list[str]:
        return list(self.arrays)

    def __contains__(self, key: str) -> bool:
        return key in self.arrays

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self.arrays[key].shape)

    def read(self, key: str) -> np.ndarray:
        return self.arrays[key]


def weight_files(directory: Path) -> list[Path]:
    """The weight files of a checkpoint directory, preferring safetensors."""
    directory = Path(directory)
    for single, index in ((SAFETENSORS, SAFETENSORS_INDEX), (TORCH_BIN, TORCH_BIN_INDEX)):
        if (directory / single).is_file():
            return [directory / single]
        if (directory / index).is_file():
            try:
                weight_map = json.loads((directory / index).read_text(encoding="utf-8"))["weight_map"]
            except (json.JSONDecodeError, KeyError) as e:
                raise CheckpointError(f"{directory / index} is not a valid shard index: {e}") from None
            names = sorted(set(weight_map.values()))
            missing = [n for n in names if not (directory / n).is_file()]
            if missing:
                raise CheckpointError(f"{directory / index} lists shards that are missing: {missing}")
            return [directory / n for n in names]
    present = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
    raise FileNotFoundError(
        f"no weights in {directory}: expected {SAFETENSORS}, {SAFETENSORS_INDEX}, {TORCH_BIN} or {TORCH_BIN_INDEX}; "
        f"found {present}"
    )
