"""Paths given by a user: relative names, ``~``, cloud URIs (``gs://``), and telling a path from a
hub repository name.

Every public entry point that takes a path resolves it here first. :func:`resolve` gives the one
path type of the library, ``etils.epath.Path`` (what Orbax and grain take): a local path made
absolute (Orbax, and anything run later from another working directory, needs that; a user types
relative ones), or a URI as it is, served by the ``fsspec`` file system of its scheme (``gcsfs``
for ``gs://``). Code that needs a real local file (sentencepiece, memory-mapped tries, numpy)
reads a remote one through :func:`local_copy`; outputs written by local-only code are uploaded by
:mod:`mluke_jax.remote` with their marker object last.
"""

import os
import re
from pathlib import Path

from etils import epath

# ``scheme://...``: a URI (``file://`` is local).
URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")

# The package that serves each common scheme (fsspec's registry names the rest).
SCHEME_PACKAGES = {"gs": "gcsfs", "gcs": "gcsfs", "s3": "s3fs", "az": "adlfs", "abfs": "adlfs", "hf": "huggingface_hub"}

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


def uri_scheme(path: str | os.PathLike) -> str | None:
    """``"gs"`` for ``gs://bucket/x``; ``None`` for a local path (``file://`` included)."""
    match = URI.match(os.fspath(path)) if isinstance(path, str | os.PathLike) else None
    if match is None or match.group(1).lower() == "file":
        return None
    return match.group(1).lower()


def is_remote(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a URI of a remote file system (``gs://...``), not a local path."""
    return uri_scheme(path) is not None


def check_scheme(uri: str) -> None:
    """Refuse a URI whose scheme no installed file system serves, naming the package to install."""
    scheme = uri_scheme(uri)
    if scheme is None:
        return
    import fsspec

    try:
        fsspec.get_filesystem_class(scheme)
    except (ImportError, ValueError) as e:
        package = SCHEME_PACKAGES.get(scheme)
        hint = f": pip install {package}" if package else ""
        raise ValueError(f"{uri}: no installed file system handles {scheme}:// paths{hint} ({e})") from None


def resolve(path: str | os.PathLike) -> epath.Path:
    """``path`` as the library's path type: a URI as it is (its scheme checked), a local path with
    ``~`` expanded and made absolute against the current working directory."""
    text = os.fspath(path)
    if is_remote(text):
        check_scheme(text)
        return epath.Path(text)
    return epath.Path(local_path(text))


def local_path(path: str | os.PathLike) -> Path:
    """A local ``path`` with ``~`` expanded, made absolute against the current working directory.

    For code that can only use local files; a URI is refused (read it through :func:`local_copy`).
    """
    text = os.fspath(path)
    if is_remote(text):
        raise ValueError(f"{text} is a {uri_scheme(text)}:// URI; this needs a local path")
    if text.startswith("file://"):
        text = text[len("file://") :]
    return Path(os.path.expanduser(text)).absolute()


def local_copy(path: str | os.PathLike, skip: tuple[str, ...] = ()) -> Path:
    """A local path holding what ``path`` holds: ``path`` itself when local, else a copy of the
    remote file or directory (without the top-level entries named in ``skip``) downloaded into a
    fresh temporary directory, removed when the process exits.

    Raises:
        FileNotFoundError: ``path`` does not exist (a remote one: no object or prefix there).
    """
    if not is_remote(path):
        return local_path(path)
    from mluke_jax import remote

    return remote.download(resolve(path), skip=skip)


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
