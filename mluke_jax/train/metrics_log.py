"""A run's event log: ``metrics.jsonl`` (one JSON object a line: ``split``, ``step``, the figures)
and TensorBoard event files under ``tensorboard/`` (through tensorboardX when installed), written
by process 0. The pretraining runs and the fine-tuning recipes both log through it."""

import json
from pathlib import Path
from typing import Any

METRICS = "metrics.jsonl"
TENSORBOARD = "tensorboard"


class EventLog:
    """``metrics.jsonl`` lines and their numbers as TensorBoard scalars, tagged
    ``split/stage/prefix/name`` and plotted against each line's ``global_step``."""

    def __init__(self, output: Path, stage: str = ""):
        import jax

        self.stage = stage
        self.main = jax.process_index() == 0
        self.file = open(output / METRICS, "a", encoding="utf-8") if self.main else None
        self.board = _tensorboard(output / TENSORBOARD) if self.main else None

    def write(self, line: dict[str, Any], split: str, prefix: str = "") -> None:
        """A line of ``metrics.jsonl`` (``line`` holds ``step`` and ``global_step``); its numbers as
        TensorBoard scalars under ``split/stage/prefix``."""
        if not self.main:
            return
        self.file.write(json.dumps({"split": split, **line}) + "\n")
        self.file.flush()
        if self.board is not None:
            tag = "/".join(x for x in (split, self.stage, prefix or line.get("objective", "")) if x)
            for name, value in line.items():
                if isinstance(value, int | float) and name not in ("step", "global_step"):
                    self.board.add_scalar(f"{tag}/{name}", value, line["global_step"])
            self.board.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.board is not None:
            self.board.close()


def _tensorboard(directory: Path) -> Any:
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        from mluke_jax.warn import warn

        warn("tensorboardX is not installed: metrics go to metrics.jsonl only (pip install 'mluke-jax[pretrain]')")
        return None
    return SummaryWriter(logdir=str(directory), flush_secs=30)
