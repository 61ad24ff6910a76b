"""A run's event log: ``metrics.jsonl`` (one JSON object a line: ``split``, ``step``, the figures)
and TensorBoard event files under ``tensorboard/`` (through tensorboardX when installed), written
by process 0. The pretraining runs and the fine-tuning recipes both log through it.

In a bucket (``gs://``), where objects cannot be appended to, ``metrics.jsonl`` and the TensorBoard
event files (written into a local temporary directory) are uploaded whole: after an evaluation
line, at most every ``upload_seconds`` for training lines, and when the log is closed (a run
stopped by a signal closes it too). tensorboardX's own GCS writer is not used: it uploads the whole
file again whenever it is garbage-collected, after ``close`` too, and an unreachable bucket then
holds the process's exit for two minutes."""

import json
import os
import time
from pathlib import Path
from typing import Any

from etils import epath

from mluke_jax.paths import is_remote

METRICS = "metrics.jsonl"
TENSORBOARD = "tensorboard"


class EventLog:
    """``metrics.jsonl`` lines and their numbers as TensorBoard scalars, tagged
    ``split/stage/prefix/name`` and plotted against each line's ``global_step``."""

    def __init__(self, output: Path | epath.Path, stage: str = "", upload_seconds: float = 30.0):
        import jax

        self.stage = stage
        self.main = jax.process_index() == 0
        self.file = None
        if self.main:
            path = output / METRICS
            remote = is_remote(path)
            self.file = _ObjectLines(epath.Path(path), upload_seconds) if remote else open(path, "a", encoding="utf-8")
        self.board = None
        if self.main:
            board = output / TENSORBOARD
            self.board = _RemoteBoard(epath.Path(board), upload_seconds) if is_remote(board) else _tensorboard(board)

    def write(self, line: dict[str, Any], split: str, prefix: str = "") -> None:
        """A line of ``metrics.jsonl`` (``line`` holds ``step`` and ``global_step``); its numbers as
        TensorBoard scalars under ``split/stage/prefix``."""
        if not self.main:
            return
        self.file.write(json.dumps({"split": split, **line}) + "\n")
        self.file.flush()
        if split != "train" and isinstance(self.file, _ObjectLines):
            self.file.sync()
        if self.board is not None:
            tag = "/".join(x for x in (split, self.stage, prefix or line.get("objective", "")) if x)
            for name, value in line.items():
                if isinstance(value, int | float) and name not in ("step", "global_step"):
                    self.board.add_scalar(f"{tag}/{name}", value, line["global_step"])
            self.board.flush()
            if split != "train" and isinstance(self.board, _RemoteBoard):
                self.board.sync()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.board is not None:
            self.board.close()


class _ObjectLines:
    """A text file in a bucket that grows by lines: the earlier content read once, the whole object
    uploaded again when flushed (a bucket has no append)."""

    def __init__(self, path: epath.Path, upload_seconds: float):
        self.path, self.upload_seconds = path, upload_seconds
        self.text = path.read_text(encoding="utf-8") if path.exists() else ""
        self.uploaded, self.dirty = time.monotonic(), False

    def write(self, text: str) -> None:
        self.text += text
        self.dirty = True

    def flush(self) -> None:
        """Upload if the last upload is ``upload_seconds`` old."""
        if time.monotonic() - self.uploaded >= self.upload_seconds:
            self.sync()

    def sync(self) -> None:
        """Upload now (if anything was written since)."""
        if self.dirty:
            self.path.write_text(self.text, encoding="utf-8")
            self.uploaded, self.dirty = time.monotonic(), False

    def close(self) -> None:
        self.sync()


class _RemoteBoard:
    """A TensorBoard writer into a local temporary directory whose event files are uploaded to the
    bucket directory ``target`` (throttled like :class:`_ObjectLines`, and on ``sync``/``close``)."""

    def __init__(self, target: epath.Path, upload_seconds: float):
        import tempfile

        self.target, self.upload_seconds = target, upload_seconds
        self.local = Path(tempfile.mkdtemp(prefix="mluke-jax-tensorboard-"))
        self.writer = _tensorboard(self.local)
        self.uploaded = time.monotonic()

    def add_scalar(self, *args, **kwargs) -> None:
        if self.writer is not None:
            self.writer.add_scalar(*args, **kwargs)

    def flush(self) -> None:
        if time.monotonic() - self.uploaded >= self.upload_seconds:
            self.sync()

    def sync(self) -> None:
        from mluke_jax import remote

        if self.writer is not None:
            self.writer.flush()
            for file in self.local.iterdir():
                remote.copy_file(file, self.target / file.name)
        self.uploaded = time.monotonic()

    def close(self) -> None:
        import shutil

        if self.writer is not None:
            self.writer.close()
            self.sync()
        shutil.rmtree(self.local, ignore_errors=True)


def _tensorboard(directory: Path) -> Any:
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        from mluke_jax.warn import warn

        warn("tensorboardX is not installed: metrics go to metrics.jsonl only (pip install 'mluke-jax[pretrain]')")
        return None
    return SummaryWriter(logdir=os.fspath(directory), flush_secs=30)
