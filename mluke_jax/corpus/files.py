"""Files of the corpus stages: compressed text by name, and single output files written atomically."""

import bz2
import contextlib
import gzip
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from mluke_jax.paths import local_path
from mluke_jax.text_files import open_lines


def open_text(path: str | os.PathLike, mode: str = "rt") -> IO[str]:
    """``path`` as UTF-8 text, through bz2 or gzip when its name ends in ``.bz2`` / ``.gz``; read,
    a line that is not UTF-8 is an error naming the file and the line (:mod:`mluke_jax.text_files`)."""
    path = Path(path)
    if "r" in mode:
        return open_lines(path)
    if path.suffix == ".bz2":
        return bz2.open(path, mode, encoding="utf-8")
    if path.suffix == ".gz":
        return gzip.open(path, mode, encoding="utf-8", **({"compresslevel": 6} if "w" in mode else {}))
    return open(path, mode, encoding="utf-8")


@contextlib.contextmanager
def atomic_file(dst: str | os.PathLike, overwrite: bool = False, what: str = "an output file") -> Iterator[Path]:
    """Yield a temporary path next to ``dst``; it becomes ``dst`` only when the block succeeds.

    An existing ``dst`` is refused unless ``overwrite`` (and kept as it was on failure).
    """
    dst = local_path(dst)
    if dst.is_dir():
        raise FileExistsError(f"{dst} is a directory; {what} is a file")
    if dst.exists() and not overwrite:
        raise FileExistsError(f"{dst} already exists; pass overwrite (--overwrite) to replace it")
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dst.name}.tmp-", suffix="".join(dst.suffixes), dir=dst.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
