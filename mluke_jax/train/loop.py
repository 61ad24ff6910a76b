"""The training loop: steps with a progress bar, periodic checkpoints, resume where it stopped."""

import sys
import time
from typing import Callable

from tqdm.auto import tqdm

from mluke_jax.train.checkpoints import TrainCheckpointer
from mluke_jax.train.data import BatchStream
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
    on_step: Callable[[int, dict], None] | None = None,
) -> list[float]:
    """Train until ``trainer.step == steps`` (micro-batches); returns the losses of the steps run.

    With a ``checkpointer`` that holds a checkpoint and ``resume``, the trainer state and the
    stream's position are restored first, so the run continues exactly where the saved one was.
    Checkpoints are saved at the checkpointer's interval and at the end. The progress bar shows the
    loss and examples per second. ``on_step(step, metrics)`` runs after every step.
    """
    if checkpointer is not None and resume and checkpointer.latest_step() is not None:
        stream.seek(checkpointer.restore(trainer))
        print(f"resumed from step {trainer.step} of {checkpointer.directory}", file=sys.stderr)
    pending, losses, saved_at = [], [], None
    bar = tqdm(total=steps, initial=trainer.step, disable=not progress, unit="step", dynamic_ncols=True)
    started, examples = time.perf_counter(), 0
    while trainer.step < steps:
        batch = next(stream)
        metrics = trainer.train_step(batch)
        examples += stream.batch_size
        pending.append(metrics["loss"])
        if checkpointer is not None and checkpointer.save(trainer, stream.position):
            saved_at = trainer.step
        if on_step is not None:
            on_step(trainer.step, metrics)
        if len(pending) >= log_every or trainer.step == steps:
            losses.extend(float(x) for x in pending)  # one device sync per log interval
            pending = []
            bar.set_postfix(loss=f"{losses[-1]:.4f}", examples_per_s=f"{examples / (time.perf_counter() - started):.1f}")
        bar.update(1)
    bar.close()
    losses.extend(float(x) for x in pending)
    if checkpointer is not None:
        if saved_at != trainer.step and checkpointer.latest_step() != trainer.step:
            checkpointer.save(trainer, stream.position, force=True)
        checkpointer.wait()
    return losses
