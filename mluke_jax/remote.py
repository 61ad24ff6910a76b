"""Remote file systems (``gs://`` buckets): reaching them, copying from and to them, and writing
outputs that only look complete once they are.

A bucket has no rename: an output written there is complete only when its *marker* object (a
converted model's ``mluke_jax.json``, a corpus's ``metadata.json``) exists, and the marker is the
last object written. Readers look for the marker first, so a run killed half-way through an upload
leaves nothing that looks complete. Single objects are written whole or not at all by the store
itself (an upload that fails leaves no object).
"""

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from etils import epath

from mluke_jax.paths import is_remote

# How long the first request to a bucket may take before we call it unreachable.
REACH_TIMEOUT_SECONDS = float(os.environ.get("MLUKE_JAX_REMOTE_TIMEOUT", "30"))
_CHUNK = 16 << 20
_checked: set[str] = set()


def bucket_of(path: epath.Path | str) -> str:
    """``gs://bucket`` of ``gs://bucket/a/b``."""
    text = os.fspath(path)
    scheme, rest = text.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}"


def check_reachable(path: epath.Path | str, timeout: float | None = None) -> None:
    """Make sure the bucket of ``path`` exists and answers, once per bucket and process.

    Raises:
        FileNotFoundError: the bucket does not exist.
        ConnectionError: it does not answer within ``timeout`` seconds, or refuses the request
            (no credentials, no network); the message names the URI and the cause.
    """
    if not is_remote(path):
        return
    bucket = bucket_of(path)
    if bucket in _checked:
        return
    timeout = REACH_TIMEOUT_SECONDS if timeout is None else timeout

    answer: list = []

    def ask() -> None:  # a daemon thread: a client still retrying does not keep the process alive
        try:
            answer.append(epath.Path(bucket + "/").exists())
        except BaseException as e:  # noqa: BLE001 - client libraries raise many types for the same failure
            answer.append(e)

    thread = threading.Thread(target=ask, name="mluke-jax-reach", daemon=True)
    thread.start()
    thread.join(timeout)
    if not answer:
        raise ConnectionError(
            f"{path}: {bucket} did not answer within {timeout:g} s (no network, or no credentials: on a machine "
            "outside Google Cloud run `gcloud auth application-default login`)"
        )
    found = answer[0]
    if isinstance(found, BaseException):
        reason = (str(found).strip().splitlines() or [""])[0][:300]
        raise ConnectionError(f"{path}: cannot reach {bucket} ({type(found).__name__}: {reason})") from None
    if not found:
        raise FileNotFoundError(f"{path}: the bucket {bucket} does not exist (or this account cannot see it)")
    _checked.add(bucket)


# ---------------------------------------------------------------------------------- reading
_downloads: list[str] = []


def _remove_downloads() -> None:
    for directory in _downloads:
        shutil.rmtree(directory, ignore_errors=True)


atexit.register(_remove_downloads)


def download(source: epath.Path, skip: tuple[str, ...] = ()) -> Path:
    """Copy a remote file or directory (less the top-level entries in ``skip``) into a fresh
    local temporary directory (removed at exit); returns the local copy's path, which ends with the
    whole remote path (``.../bucket/x-final/de/test_2k.tsv``: readers that take the language from
    a directory name still find it)."""
    check_reachable(source)
    if not source.exists():
        raise FileNotFoundError(f"no such file or directory: {source}")
    root = tempfile.mkdtemp(prefix="mluke-jax-download-")
    _downloads.append(root)
    target = Path(root) / os.fspath(source).split("://", 1)[1].strip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not source.is_dir():
        copy_file(source, target)
        return target
    target.mkdir()
    for entry in source.iterdir():
        if entry.name not in skip:
            copy_tree(entry, target / entry.name)
    return target


def copy_file(source: epath.Path | Path, target: epath.Path | Path) -> None:
    """One file, streamed (local or remote on either side)."""
    with epath.Path(source).open("rb") as src, epath.Path(target).open("wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)


def copy_tree(source: epath.Path | Path, target: epath.Path | Path, skip: tuple[str, ...] = ()) -> list[str]:
    """A file, or a directory recursively (top-level entries in ``skip`` left out); returns the
    copied files' paths relative to ``target``."""
    source, target = epath.Path(source), epath.Path(target)
    if not source.is_dir():
        if not is_remote(target):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        copy_file(source, target)
        return [target.name]
    copied = []
    if not is_remote(target):
        Path(target).mkdir(parents=True, exist_ok=True)
    for entry in sorted(source.iterdir()):
        if entry.name in skip:
            continue
        copied += [f"{entry.name}/{name}" if entry.is_dir() else name for name in copy_tree(entry, target / entry.name)]
    return copied


# ---------------------------------------------------------------------------------- writing
def remove_tree(path: epath.Path) -> None:
    """Remove a file or a whole prefix / directory, if there."""
    if path.is_dir():
        path.rmtree(missing_ok=True)
    elif path.exists():
        path.unlink()


def publish(local: Path, target: epath.Path, marker: str) -> None:
    """Upload the directory ``local`` to ``target`` (replacing what is there) with ``marker`` last.

    An earlier output at ``target`` loses its marker first: from then until the new marker is
    written, nothing at ``target`` looks complete.
    """
    check_reachable(target)
    if target.exists():
        (target / marker).unlink(missing_ok=True)
        remove_tree(target)
    files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    for name in files:
        if name != marker:
            copy_file(local / name, target / name)
    if (local / marker).is_file():
        copy_file(local / marker, target / marker)


@contextlib.contextmanager
def staged(target: epath.Path, marker: str) -> Iterator[Path]:
    """A local temporary directory to write an output into; on success it is published to the
    remote ``target`` (:func:`publish`), on failure nothing is uploaded. Removed either way."""
    tmp = Path(tempfile.mkdtemp(prefix=f"mluke-jax-{target.name}-"))
    try:
        yield tmp
        publish(tmp, target, marker)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def glob(pattern: str) -> list[str]:
    """The URIs a remote glob pattern (``gs://b/x-final/*/test_2k.tsv``) matches, sorted."""
    scheme, rest = pattern.split("://", 1)
    parts = rest.split("/")
    first = next(i for i, part in enumerate(parts) if any(c in part for c in "*?["))
    base = epath.Path(f"{scheme}://{'/'.join(parts[:first])}")
    check_reachable(base)
    return sorted(os.fspath(p) for p in base.glob("/".join(parts[first:])))


def write_text_atomic(path: epath.Path | Path, text: str) -> None:
    """``path`` holds ``text`` whole or keeps what it held: a local file through a temporary file
    renamed over it; an object in a bucket by one upload (the store makes it atomic)."""
    path = epath.Path(path)
    if is_remote(path):
        path.write_text(text, encoding="utf-8")
        return
    tmp = Path(path).parent / f".{path.name}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
