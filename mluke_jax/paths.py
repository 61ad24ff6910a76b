"""Paths given by a user: relative names, ``~``, and telling a local path from a hub repository name.

Every public entry point that takes a path resolves it here first: Orbax (and anything run later
from another working directory) needs absolute paths, and a user types relative ones.
"""

import os
import re
from pathlib import Path

# A hub repository id: ``name`` or ``org/name`` (letters, digits, ``_ . -``).
HUB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")

# File names no hub repository id ends with: checkpoint, tokenizer and data files.
FILE_SUFFIXES = (
    ".pth",
    ".pt",
    ".bin",
    ".safetensors",
    ".ckpt",
    ".json",
    ".jsonl",
    ".tsv",
    ".txt",
    ".model",
    ".msgpack",
    ".h5",
    ".npz",
)


def local_path(path: str | os.PathLike) -> Path:
    """``path`` with ``~`` expanded, made absolute against the current working directory."""
    return Path(os.path.expanduser(os.fspath(path))).absolute()


def looks_like_path(name: str | os.PathLike) -> bool:
    """Whether ``name`` can only mean a local file or directory, never a hub repository id.

    A path object; a leading ``.``, ``~`` or separator; a backslash or a second ``/``; a checkpoint
    or data file extension; anything that is not a valid repository id.
    """
    if not isinstance(name, str):
        return True
    if name.startswith((".", "~", "/", os.sep)) or "\\" in name or name.count("/") > 1:
        return True
    if name.lower().endswith(FILE_SUFFIXES):
        return True
    return not HUB_NAME.match(name)
