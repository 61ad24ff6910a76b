"""Text files given by a user (training data, raw text to predict on, corpus text), read as UTF-8.

A file in another encoding (Latin-1, Windows-1252, UTF-16) is refused with :class:`NotUTF8Error`
naming the file, the line and the column of the first byte that is not UTF-8, and a command that
converts it, instead of Python's bare ``'utf-8' codec can't decode byte 0xf6 in position 60``. A
UTF-8 byte order mark at the start is dropped.

- :func:`read_text`: a whole file.
- :func:`open_lines`: the lines of a file one at a time (a corpus of any size), through bz2 or
  gzip when its name ends in ``.bz2`` / ``.gz``, with text mode's universal newlines.
"""

import bz2
import gzip
import io
import os
import shlex
from pathlib import Path
from typing import IO

BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# how a file of each suffix is read and written again by a shell pipeline
_PIPES = {".gz": ("zcat", "gzip"), ".bz2": ("bzcat", "bzip2")}


class NotUTF8Error(ValueError):
    """A text file that is not UTF-8."""


def _conversion(path: str | os.PathLike, source: str) -> str:
    """A shell command that writes ``path`` converted from ``source`` to UTF-8 beside it."""
    path = Path(path)
    target = path.with_name(f"utf8-{path.name}")
    quoted, out = shlex.quote(str(path)), shlex.quote(str(target))
    if path.suffix in _PIPES:
        unpack, pack = _PIPES[path.suffix]
        return f"{unpack} {quoted} | iconv -f {source} -t utf-8 | {pack} > {out}"
    return f"iconv -f {source} -t utf-8 {quoted} > {out}"


def not_utf8(path: str | os.PathLike, line: int, line_bytes: bytes, offset: int) -> NotUTF8Error:
    """The error for the byte at ``offset`` of line ``line`` (its bytes ``line_bytes``) of ``path``."""
    if line == 1 and line_bytes.startswith(UTF16_BOMS):
        what, label, source = "the file is UTF-16 (it starts with a UTF-16 byte order mark)", "UTF-16", "utf-16"
    else:
        column = len(line_bytes[:offset].decode("utf-8", errors="replace")) + 1
        what, label, source = f"byte 0x{line_bytes[offset]:02x} at column {column} is not UTF-8", "Latin-1", "latin1"
    return NotUTF8Error(
        f"{path}:{line}: {what}; text files are read as UTF-8: convert it first, e.g. from {label}: "
        f"{_conversion(path, source)}"
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
    if data.startswith(UTF16_BOMS):
        raise not_utf8(path, 1, data, 0)
    return decode(data.removeprefix(BOM), path)


def _open_bytes(path: Path) -> IO[bytes]:
    if path.suffix == ".bz2":
        return bz2.open(path, "rb")
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _first_error(path: Path) -> NotUTF8Error:
    """Where ``path`` stops being UTF-8, read again line by line (only after a failed read)."""
    with _open_bytes(path) as raw:
        for number, line_bytes in enumerate(raw, 1):
            if number == 1:
                if line_bytes.startswith(UTF16_BOMS):
                    return not_utf8(path, 1, line_bytes, 0)
                line_bytes = line_bytes.removeprefix(BOM)
            try:
                line_bytes.decode("utf-8")
            except UnicodeDecodeError as e:
                return not_utf8(path, number, line_bytes.rstrip(b"\r\n"), e.start)
    # a sequence cut by the end of the file
    return NotUTF8Error(f"{path}: the file ends inside a UTF-8 character; text files are read as UTF-8")


class LineReader:
    """The lines of a text file as text mode reads them (``"\\n"``, ``"\\r\\n"`` and ``"\\r"`` end
    a line, each read as ``"\\n"``): decoded at the C decoder's speed, and a file that is not
    UTF-8 read again to say where (:class:`NotUTF8Error`)."""

    def __init__(self, path: Path):
        self.path = path
        self.text = io.TextIOWrapper(_open_bytes(path), encoding="utf-8-sig", errors="strict")

    def readline(self) -> str:
        try:
            return self.text.readline()
        except UnicodeDecodeError:
            raise _first_error(self.path) from None

    def __iter__(self) -> "LineReader":
        return self

    def __next__(self) -> str:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self) -> None:
        self.text.close()

    def __enter__(self) -> "LineReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_lines(path: str | os.PathLike) -> LineReader:
    """``path``'s lines as UTF-8 text, through bz2 or gzip when its name ends in ``.bz2`` / ``.gz``."""
    return LineReader(Path(path))
