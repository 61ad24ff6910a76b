"""``--profile-steps A:B``: a ``jax.profiler`` trace of training steps A to B (1-based, inclusive)
written next to the run's TensorBoard logs (``OUTPUT/tensorboard/plugins/profile/<time>/``, the
layout TensorBoard's profile plugin, ``tensorboard-plugin-profile`` / XProf, reads). The last step
is waited for before the trace stops, so that its device work is in it. For an output in a bucket
the trace is written locally and uploaded when it stops.
"""

import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from mluke_jax.paths import is_remote, resolve


def parse_profile_steps(text: str | None) -> tuple[int, int] | None:
    """``"5:8"`` -> ``(5, 8)``; ``"7"`` -> ``(7, 7)``; None stays None."""
    if text is None:
        return None
    first, _, last = str(text).partition(":")
    try:
        steps = (int(first), int(last or first))
    except ValueError:
        raise ValueError(f"--profile-steps {text}: expected FIRST:LAST step numbers, e.g. 5:8") from None
    if steps[0] < 1 or steps[1] < steps[0]:
        raise ValueError(f"--profile-steps {text}: steps start at 1 and LAST must not be before FIRST")
    return steps


@dataclasses.dataclass
class StepProfiler:
    """Traces steps ``first`` to ``last`` into ``directory`` (a run's ``tensorboard/``).

    ``offset``: steps before this loop's (the earlier pretraining stages'), so that ``first`` and
    ``last`` count the run's steps as ``global_step`` does. Only process 0 traces.
    """

    first: int
    last: int
    directory: Any
    offset: int = 0
    _local: Path | None = None
    tracing: bool = False

    def before_step(self, step: int) -> None:
        """Called with the number the next step will have (1-based, within this loop)."""
        import jax

        if self.tracing or jax.process_index() != 0 or not self.first <= self.offset + step <= self.last:
            return
        target = resolve(self.directory)
        self._local = Path(tempfile.mkdtemp(prefix="mluke-jax-profile-")) if is_remote(target) else Path(target)
        jax.profiler.start_trace(str(self._local))
        self.tracing = True

    def after_step(self, step: int, metrics: Any, last_step: bool = False) -> None:
        """Called when step ``step`` has run: stops the trace after ``last`` (or at the loop's end)."""
        if not self.tracing or (self.offset + step < self.last and not last_step):
            return
        import jax

        jax.block_until_ready(metrics)
        jax.profiler.stop_trace()
        self.tracing = False
        target = resolve(self.directory)
        if is_remote(target):
            from mluke_jax import remote

            remote.copy_tree(self._local, target)
            shutil.rmtree(self._local, ignore_errors=True)
        print(
            f"profile of steps {max(self.first, self.offset + 1)}-{self.offset + step} written to "
            f"{os.fspath(target)}/plugins/profile (TensorBoard's profile plugin)",
            file=sys.stderr,
        )
