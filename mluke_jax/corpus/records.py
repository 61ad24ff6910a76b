"""Fixed-schema records of integer arrays in ArrayRecord shards (what the corpus stages write).

A :class:`RecordSchema` names the fields (name, dtype, number of dimensions); it is stored in the
data set's ``metadata.json``. A record holds, for each field in order, its shape (``uint32`` each)
and its values, little-endian, after a 4-byte magic: no pickle, readable from any language, and
decoded with one ``numpy.frombuffer`` per field. Shards are ArrayRecord files (random access by
index, which grain's global shuffle needs) written with ``group_size:1``.
"""

import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mluke_jax.paths import resolve

MAGIC = b"MJR1"
SHARD_SUFFIX = ".array_record"


@dataclass(frozen=True)
class RecordSchema:
    """``fields``: ``(name, dtype, ndim)`` for each array of a record, in their stored order."""

    fields: tuple[tuple[str, str, int], ...]

    @classmethod
    def from_json(cls, value: Sequence[Sequence[Any]]) -> "RecordSchema":
        return cls(tuple((str(name), str(dtype), int(ndim)) for name, dtype, ndim in value))

    def to_json(self) -> list[list[Any]]:
        return [list(field) for field in self.fields]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _, _ in self.fields)

    def encode(self, values: dict[str, Any]) -> bytes:
        parts = [MAGIC]
        for name, dtype, ndim in self.fields:
            array = np.asarray(values[name], dtype=np.dtype(dtype).newbyteorder("<"))
            if array.ndim != ndim:
                raise ValueError(f"record field {name!r} has {array.ndim} dimensions, the schema says {ndim}")
            parts.append(struct.pack(f"<{ndim}I", *array.shape))
            parts.append(array.tobytes())
        return b"".join(parts)

    def decode(self, data: bytes) -> dict[str, np.ndarray]:
        if data[:4] != MAGIC:
            raise ValueError(f"not a mluke-jax record (it starts with {bytes(data[:4])!r}, not {MAGIC!r})")
        out, offset = {}, 4
        for name, dtype, ndim in self.fields:
            shape = struct.unpack_from(f"<{ndim}I", data, offset)
            offset += 4 * ndim
            dt = np.dtype(dtype).newbyteorder("<")
            count = int(np.prod(shape)) if ndim else 1
            array = np.frombuffer(data, dtype=dt, count=count, offset=offset).reshape(shape)
            out[name] = array.astype(np.dtype(dtype), copy=False)
            offset += count * dt.itemsize
        if offset != len(data):
            raise ValueError(f"a record of {len(data)} bytes holds {offset} bytes of its schema's fields")
        return out


def _module():
    try:
        from array_record.python import array_record_module
    except ImportError:
        raise ImportError("ArrayRecord shards need array-record: pip install 'mluke-jax[corpus]'") from None
    return array_record_module


class ShardWriter:
    """Records into ``{prefix}-NNNNN.array_record`` files of at most ``records_per_shard`` each."""

    def __init__(self, directory: str | os.PathLike, prefix: str = "examples", records_per_shard: int = 100_000):
        self.directory, self.prefix, self.records_per_shard = Path(directory), prefix, records_per_shard
        self.shards: list[dict[str, Any]] = []  # {"file", "records"}
        self._writer = None

    def write(self, record: bytes) -> None:
        if self._writer is None or self.shards[-1]["records"] == self.records_per_shard:
            self._close_current()
            name = f"{self.prefix}-{len(self.shards):05d}{SHARD_SUFFIX}"
            self._writer = _module().ArrayRecordWriter(str(self.directory / name), "group_size:1")
            self.shards.append({"file": name, "records": 0})
        self._writer.write(record)
        self.shards[-1]["records"] += 1

    def write_all(self, records: Iterable[bytes]) -> None:
        for record in records:
            self.write(record)

    def _close_current(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> list[dict[str, Any]]:
        """Finish the last file; returns the shards written (file name, records)."""
        self._close_current()
        return self.shards


def open_shard(path: str | os.PathLike, expected_records: int | None = None) -> Any:
    """An ``ArrayRecordReader`` of ``path``; a file cut short or damaged is a ValueError naming it."""
    path = resolve(path)  # ArrayRecord reads gs:// itself
    if not path.is_file():
        raise FileNotFoundError(f"no such shard: {path}")
    try:
        reader = _module().ArrayRecordReader(os.fspath(path))
        ok = reader.ok()
        if not ok:
            reader.close()  # raises the reader's own reason
    except RuntimeError as e:
        raise ValueError(f"shard {path} is cut short or damaged ({e})") from None
    if not ok:
        raise ValueError(f"shard {path} is cut short or damaged (its ArrayRecord footer cannot be read)")
    if expected_records is not None and reader.num_records() != expected_records:
        count = reader.num_records()
        reader.close()
        raise ValueError(f"shard {path} holds {count} records, its metadata.json says {expected_records}")
    return reader
