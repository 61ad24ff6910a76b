"""Text files given by a user (training data, raw text to predict on, corpus text), read as UTF-8.

A file in another encoding (Latin-1, Windows-1252, UTF-16) is refused with :class:`NotUTF8Error`
naming the file, the line and the column of the first byte that is not UTF-8, and how to convert
it, instead of Python's bare ``'utf-8' codec can't decode byte 0xf6 in position 60``. A UTF-8 byte
order mark at the start is dropped.

- :func:`read_text`: a whole file.
- :func:`open_lines`: the lines of a file one at a time (a corpus of any size), through bz2 or
  gzip when its name ends in ``.bz2`` / ``.gz``.
"""

import bz2
import gzip
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class NotUTF8Error(ValueError):
    """A text file that is not UTF-8."""


def not_utf8(path: str | os.PathLike, line: int, line_bytes: bytes, offset: int) -> NotUTF8Error:
    """The error for the byte at ``offset`` of line ``line`` (its bytes ``line_bytes``) of ``path``."""
    name = Path(path).name
    if line == 1 and line_bytes.startswith(UTF16_BOMS):
        what, label, source = "the file is UTF-16 (it starts with a UTF-16 byte order mark)", "UTF-16", "utf-16"
    else:
        column = len(line_bytes[:offset].decode("utf-8", errors="replace")) + 1
        what, label, source = f"byte 0x{line_bytes[offset]:02x} at column {column} is not UTF-8", "Latin-1", "latin1"
    return NotUTF8Error(
        f"{path}:{line}: {what}; text files are read as UTF-8: convert it first, e.g. from {label}: "
        f"iconv -f {source} -t utf-8 {name} > utf8-{name}"
    )


def decode(data: bytes, path: str | os.PathLike, line: int = 1) -> str:
    """``data`` (the file's bytes from line ``line`` on) as text, or :class:`NotUTF8Error`."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        start = data.rfind(b"\n", 0, e.start) + 1
        end = data.find(b"\n", e.start)
        line_bytes = data[start : end if end >= 0 else len(data)]
        raise not_utf8(path, line + data.count(b"\n", 0, e.start), line_bytes, e.start - start) from None


def read_text(path: str | os.PathLike) -> str:
    """The whole file as text (a UTF-8 byte order mark dropped)."""
    data = Path(path).read_bytes()
    return decode(data.removeprefix(BOM), path)


class LineReader:
    """The decoded lines of a binary stream (each ending in ``"\\n"``, a ``"\\r\\n"`` too, as text
    mode reads them), numbered for the error."""

    def __init__(self, raw: IO[bytes], path: str | os.PathLike):
        self.raw, self.path, self.line = raw, path, 0

    def readline(self) -> str:
        data = self.raw.readline()
        if not data:
            return ""
        self.line += 1
        if self.line == 1:
            if data.startswith(UTF16_BOMS):
                raise not_utf8(self.path, 1, data, 0)
            data = data.removeprefix(BOM)
        if data.endswith(b"\r\n"):
            data = data[:-2] + b"\n"
        return decode(data, self.path, self.line)

    def __iter__(self) -> Iterator[str]:
        while line := self.readline():
            yield line

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> "LineReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_lines(path: str | os.PathLike) -> LineReader:
    """``path``'s lines as UTF-8 text, through bz2 or gzip when its name ends in ``.bz2`` / ``.gz``."""
    path = Path(path)
    if path.suffix == ".bz2":
        raw: IO[bytes] = bz2.open(path, "rb")
    elif path.suffix == ".gz":
        raw = gzip.open(path, "rb")
    else:
        raw = open(path, "rb")
    return LineReader(raw, path)
