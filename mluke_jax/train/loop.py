"""The training loop: steps with a progress bar, periodic checkpoints, resume where it stopped."""

import sys
import time
from collections.abc import Callable

from mluke_jax.progress import progress_bar
from mluke_jax.train.checkpoints import TrainCheckpointer
from mluke_jax.train.data import BatchStream
from mluke_jax.train.preemption import PreemptionWatch
from mluke_jax.train.profiling import StepProfiler
from mluke_jax.train.trainer import Trainer


def fit(
    trainer: Trainer,
    stream: BatchStream,
    steps: int,
    *,
    checkpointer: TrainCheckpointer | None = None,
    resume: bool = True,
    progress: bool = True,
    log_every: int = 10,
    line_seconds: float = 30.0,
    on_step: Callable[[int, dict], None] | None = None,
    profiler: StepProfiler | None = None,
) -> list[float]:
    """Train until ``trainer.step == steps`` (micro-batches); returns the losses of the steps run.

    With a ``checkpointer`` that holds a checkpoint and ``resume``, the trainer state and the
    stream's position are restored first, so the run continues exactly where the saved one was.
    Checkpoints are saved at the checkpointer's interval and at the end. SIGTERM or SIGINT (one
    process; several: JAX's preemption service) stops the loop after the step under way: with a
    ``checkpointer`` a checkpoint of that step is saved (and waited for) first, then
    :class:`~mluke_jax.train.preemption.Preempted` is raised. The progress bar shows the
    loss and examples per second; where no bar can be drawn (a log file), a line with the same
    figures is printed every ``line_seconds`` and at the end. ``on_step(step, metrics)`` runs after
    every step. ``profiler`` traces the steps it names (``--profile-steps``).
    """
    if checkpointer is not None and resume and checkpointer.latest_step() is not None:
        stream.seek(checkpointer.restore(trainer))
        print(f"resumed from step {trainer.step} of {checkpointer.directory}", file=sys.stderr)
    with PreemptionWatch() as watch:
        return _steps(trainer, stream, steps, checkpointer, progress, log_every, line_seconds, on_step, watch, profiler)


def _steps(
    trainer, stream, steps, checkpointer, progress, log_every, line_seconds, on_step, watch, profiler
) -> list[float]:
    pending, losses, saved_at = [], [], None
    bar = progress_bar(total=steps, initial=trainer.step, enabled=progress, unit="step", dynamic_ncols=True)
    lines = progress and bar.disable  # a log, not a terminal: a plain line now and then
    started, examples = time.perf_counter(), 0
    last_line = started
    while trainer.step < steps:
        batch = next(stream)
        if profiler is not None:
            profiler.before_step(trainer.step + 1)
        metrics = trainer.train_step(batch)
        if profiler is not None:
            profiler.after_step(trainer.step, metrics, last_step=trainer.step == steps)
        examples += stream.batch_size
        pending.append(metrics["loss"])
        if checkpointer is not None and checkpointer.save(trainer, stream.position):
            saved_at = trainer.step
        if on_step is not None:
            on_step(trainer.step, metrics)
        if len(pending) >= log_every or trainer.step == steps:
            losses.extend(float(x) for x in pending)  # one device sync per log interval
            pending = []
            now = time.perf_counter()
            rate = examples / (now - started)
            bar.set_postfix(loss=f"{losses[-1]:.4f}", examples_per_s=f"{rate:.1f}")
            if lines and (now - last_line >= line_seconds or trainer.step == steps):
                print(
                    f"step {trainer.step}/{steps}: loss {losses[-1]:.4f}, {rate:.1f} examples/s",
                    file=sys.stderr,
                    flush=True,
                )
                last_line = now
        bar.update(1)
        if watch.should_stop(trainer.step) and trainer.step < steps:
            bar.close()
            if profiler is not None:
                profiler.after_step(trainer.step, metrics, last_step=True)
            if checkpointer is not None:
                watch.saving = True
                if saved_at != trainer.step:
                    checkpointer.save(trainer, stream.position, force=True)
                checkpointer.wait()
            raise watch.stopped(trainer.step)
    bar.close()
    losses.extend(float(x) for x in pending)
    if checkpointer is not None:
        if saved_at != trainer.step and checkpointer.latest_step() != trainer.step:
            checkpointer.save(trainer, stream.position, force=True)
        checkpointer.wait()
    return losses
