"""Training checkpoints with Orbax: save every N steps, keep K, asynchronously; resume exactly.

A checkpoint holds the whole :class:`~mluke_jax.train.TrainState` (parameters, optimiser state,
step, dropout key) and a JSON record: the model (architecture, config, parameter shapes) and the
data position, so that a resumed run draws the same batches and dropout masks and reaches the same
parameters bit for bit. Restoring reads each array straight into its sharding on the current mesh
(an abstract target: no full copy on one host). A checkpoint whose save was interrupted (the
process killed mid-write) is never picked: Orbax finalises a step directory only when complete.

A finalised checkpoint damaged afterwards (a file truncated, removed or overwritten on disk) is
found when it is restored: the newest intact one is used instead, with a warning naming the
damaged one, which is moved aside to ``N.damaged`` (a later save may need its step again); when
none is intact, :class:`~mluke_jax.checkpoint.DamagedCheckpointError` names each and why.
"""

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orbax.checkpoint as ocp

from mluke_jax.checkpoint import DamagedCheckpointError, drop_leftover_reports, release_frames, root_cause
from mluke_jax.paths import local_path
from mluke_jax.train.trainer import Trainer, TrainState
from mluke_jax.warn import warn

DAMAGED_SUFFIX = ".damaged"


class CheckpointMismatchError(ValueError):
    """The checkpoint directory holds checkpoints of another model (not damage: no fallback)."""


def model_fingerprint(trainer: Trainer) -> dict[str, Any]:
    """What must match for a checkpoint to belong to this training run's model."""
    model = trainer.model
    shapes = sorted((path, list(shape)) for path, shape in trainer.checkpoint_shapes())
    digest = hashlib.sha256(json.dumps(shapes).encode()).hexdigest()[:16]
    config = model.config.to_hf_dict()
    return {"architecture": type(model).__name__, "config": config, "parameter_shapes_sha256": digest}


class TrainCheckpointer:
    """Orbax ``CheckpointManager`` for a :class:`Trainer`.

    Args:
        directory: where the step directories go (created).
        save_every: save when the step is a multiple of this (and always when ``force=True``).
        keep: most recent checkpoints kept.
        asynchronous: write in the background while training goes on.
    """

    def __init__(
        self, directory: str | os.PathLike, *, save_every: int = 100, keep: int = 3, asynchronous: bool = True
    ):
        if save_every < 1 or keep < 1:
            raise ValueError(f"save_every and keep must be >= 1, got {save_every} and {keep}")
        self.directory = local_path(directory)
        options = ocp.CheckpointManagerOptions(
            save_interval_steps=save_every, max_to_keep=keep, enable_async_checkpointing=asynchronous
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "record"))

    def save(self, trainer: Trainer, data_position: dict[str, Any] | None = None, *, force: bool = False) -> bool:
        """Save at ``trainer.step`` if due (or ``force``); returns whether a save started."""
        step = trainer.step
        record = {**model_fingerprint(trainer), "step": step, "data_position": data_position or {}}
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(trainer.checkpoint_state()), record=ocp.args.JsonSave(record)
        )
        return bool(self.manager.save(step, args=args, force=force))

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def restore(self, trainer: Trainer, step: int | None = None) -> dict[str, Any]:
        """Put the checkpointed state into ``trainer`` (sharded like its current state); returns the
        data position saved with it. Refuses a checkpoint of another model.

        ``step=None``: the newest intact checkpoint (damaged newer ones are named in a warning and
        moved aside); a given ``step`` that is damaged raises :class:`DamagedCheckpointError`.
        """
        if step is not None:
            return self._restore_or_damaged(trainer, step)
        steps = sorted(self.manager.all_steps(), reverse=True)
        if not steps:
            raise FileNotFoundError(f"no complete checkpoint in {self.directory}")
        damaged = []
        for step in steps:
            try:
                position = self._restore_or_damaged(trainer, step)
            except DamagedCheckpointError as e:
                damaged.append((step, e))
                continue
            if damaged:
                self._set_aside([s for s, _ in damaged])
                warn(
                    f"resuming from step {step} of {self.directory}: the newer checkpoint"
                    f"{'s' if len(damaged) > 1 else ''} {', '.join(str(e) for _, e in damaged)}; moved aside to "
                    f"{', '.join(f'{s}{DAMAGED_SUFFIX}' for s, _ in damaged)}"
                )
            return position
        raise DamagedCheckpointError(
            f"no intact checkpoint in {self.directory}: {'; '.join(str(e) for _, e in damaged)}. Remove the directory "
            "(or pass --no-resume, where the command has it) to start over"
        )

    def _restore_or_damaged(self, trainer: Trainer, step: int) -> dict[str, Any]:
        """:meth:`_restore` of one step; what Orbax or TensorStore raise reading it becomes one
        :class:`DamagedCheckpointError` naming the step directory and the part (agreed on by every
        process: one that read its shards whole falls back with the others)."""
        error = position = None
        try:
            position = self._restore(trainer, step)
        except _UnreadablePart as e:
            error = e
            release_frames(e.__cause__)
        if _any_process(error is not None):
            part, cause = (error.part, error.__cause__) if error else ("state/", RuntimeError("another process failed"))
            raise _damaged_step(self.directory / str(step), part, cause) from cause
        return position

    def _set_aside(self, steps: list[int]) -> None:
        """Move damaged step directories to ``N.damaged`` (process 0), so that a later save can
        write step N again; the manager then lists the intact ones only."""
        import jax

        if jax.process_index() == 0:
            for step in steps:
                target = self.directory / f"{step}{DAMAGED_SUFFIX}"
                shutil.rmtree(target, ignore_errors=True)
                os.replace(self.directory / str(step), target)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("mluke_jax.train: damaged checkpoints set aside")
        self.manager.reload()

    def _restore(self, trainer: Trainer, step: int) -> dict[str, Any]:
        """Restore ``step`` (no fallback); a part that cannot be read is an :class:`_UnreadablePart`."""
        drop_leftover_reports()  # what Orbax's reads report after a failure is dropped from the start
        try:
            record = self.manager.restore(step, args=ocp.args.Composite(record=ocp.args.JsonRestore()))["record"]
            if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
                raise ValueError("it holds no model fingerprint")
        except Exception as e:  # Orbax and TensorStore raise many types; all mean the same here
            raise _UnreadablePart("record/ (the run's record)") from e
        expected = model_fingerprint(trainer)
        if (
            record.get("architecture") != expected["architecture"]
            or record.get("parameter_shapes_sha256") != expected["parameter_shapes_sha256"]
        ):
            raise CheckpointMismatchError(
                f"{self.directory} holds checkpoints of another model ({record.get('architecture')}, parameter shapes "
                f"{record.get('parameter_shapes_sha256')}); this run trains {expected['architecture']} "
                f"({expected['parameter_shapes_sha256']})"
            )
        changed = sorted(
            k
            for k in set(record["config"]) | set(expected["config"])
            if record["config"].get(k) != expected["config"].get(k)
        )
        if changed:
            raise CheckpointMismatchError(
                f"{self.directory} holds checkpoints of a model with another config: {changed} differ"
            )
        target = trainer.checkpoint_target()
        try:
            state = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target)))
        except Exception as e:
            raise _UnreadablePart("state/ (parameters and optimiser state)") from e
        state = state["state"]
        trainer.restore_checkpoint_state(state if isinstance(state, TrainState) else TrainState(**state))
        return record.get("data_position", {})

    def wait(self) -> None:
        """Block until background saves are on disk."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def has_checkpoint(output: Path) -> bool:
    """Whether a run directory holds a finalised training checkpoint (``checkpoints/N``, or
    ``checkpoints/STAGE/N`` for the pretraining stages)."""
    root = output / "checkpoints"
    if not root.is_dir():
        return False
    for entry in root.iterdir():
        if entry.is_dir() and (entry.name.isdigit() or any(p.name.isdigit() and p.is_dir() for p in entry.iterdir())):
            return True
    return False


@contextlib.contextmanager
def removed_on_failure(output: str | os.PathLike) -> Iterator[None]:
    """A run that fails (an error, an interrupt) before its first checkpoint leaves nothing it
    created in ``output``: the directory when the run made it, else the entries the run added to
    it. A run with a checkpoint to resume from keeps everything."""
    output = local_path(output)
    existed = output.exists()
    before = set(os.listdir(output)) if output.is_dir() else set()
    try:
        yield
    except BaseException:
        if output.is_dir() and not has_checkpoint(output):
            if not existed:
                shutil.rmtree(output, ignore_errors=True)
            else:
                for name in set(os.listdir(output)) - before:
                    path = output / name
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
        raise


class _UnreadablePart(Exception):
    """A part of a step directory Orbax could not read (the cause chained)."""

    def __init__(self, part: str):
        super().__init__(part)
        self.part = part


def _damaged_step(directory: Path, part: str, error: BaseException) -> DamagedCheckpointError:
    error = root_cause(error)
    first_line = (str(error).strip().splitlines() or [""])[0]
    return DamagedCheckpointError(
        f"{directory} is incomplete or damaged: its {part} cannot be read ({type(error).__name__}: {first_line[:300]})"
    )


def _any_process(flag: bool) -> bool:
    """Whether ``flag`` holds on any process (this one alone without ``jax.distributed``)."""
    import jax

    if jax.process_count() == 1:
        return flag
    import numpy as np
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.array([flag]))))
