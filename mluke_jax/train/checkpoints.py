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
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orbax.checkpoint as ocp

from mluke_jax import remote
from mluke_jax.checkpoint import DamagedCheckpointError, drop_leftover_reports, release_frames, root_cause
from mluke_jax.paths import resolve
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
        self.directory = resolve(directory)  # a bucket too: Orbax writes there directly
        remote.check_reachable(self.directory)
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
        moved aside; with several processes, which read different shards, a damaged one is an
        error); a given ``step`` that is damaged raises :class:`DamagedCheckpointError`. An error
        of the machine rather than the files (out of memory, a storage service unavailable or
        timing out, a permission) is raised as it is, and nothing is moved.
        """
        import jax

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
                if jax.process_count() > 1:
                    raise DamagedCheckpointError(
                        f"{e}. With several processes a run does not fall back by itself (each reads its own "
                        f"shards): move {self.directory / str(step)} aside (e.g. to {step}{DAMAGED_SUFFIX}) and run "
                        "again"
                    ) from e
                damaged.append((step, e))
                continue
            self._warn_incomplete_newer(step)
            if damaged:
                self._set_aside([s for s, _ in damaged])
                warn(
                    f"resuming from step {step} of {self.directory}: the newer checkpoint"
                    f"{'s' if len(damaged) > 1 else ''} {', '.join(str(e) for _, e in damaged)}; moved aside to "
                    f"{', '.join(f'{s}{DAMAGED_SUFFIX}' for s, _ in damaged)}"
                )
            return position
        raise DamagedCheckpointError(
            f"no intact checkpoint in {self.directory}: {'; '.join(str(e) for _, e in damaged)}. Restore them from a "
            "copy, or start over in another output directory"
        )

    def _warn_incomplete_newer(self, step: int) -> None:
        """Name the step directories newer than ``step`` whose save never completed (killed
        during the write: a ``N.orbax-checkpoint-tmp-*`` directory, or in a bucket a ``N/``
        without Orbax's ``commit_success.txt``); Orbax never picks them, the user should know."""
        complete = set(self.manager.all_steps())
        incomplete = []
        for entry in self.directory.iterdir():
            head = entry.name.split(".", 1)[0]
            if head.isdigit() and int(head) > step and int(head) not in complete and DAMAGED_SUFFIX not in entry.name:
                incomplete.append(entry.name)
        if incomplete:
            warn(
                f"resuming from step {step} of {self.directory}: the newer {', '.join(sorted(incomplete))} "
                f"{'is an incomplete save' if len(incomplete) == 1 else 'are incomplete saves'} (the run was killed "
                "while writing it), not used"
            )

    def _restore_or_damaged(self, trainer: Trainer, step: int) -> dict[str, Any]:
        """:meth:`_restore` of one step; damaged files become one :class:`DamagedCheckpointError`
        naming the step directory and the part, any other error is raised as it is."""
        try:
            return self._restore(trainer, step)
        except _UnreadablePart as e:
            cause = e.__cause__
            release_frames(cause)
            if not _is_damage(cause):
                raise cause from None
            raise _damaged_step(self.directory / str(step), e.part, cause) from cause

    def _set_aside(self, steps: list[int]) -> None:
        """Move damaged step directories to ``N.damaged`` (process 0), so that a later save can
        write step N again; the manager then lists the intact ones only."""
        import jax

        if jax.process_index() == 0:
            for step in steps:
                target = self.directory / f"{step}{DAMAGED_SUFFIX}"
                remote.remove_tree(target)
                (self.directory / str(step)).rename(target)
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


# What the recipes and the pretraining runs write into their output directory.
RUN_OUTPUTS = (
    "run.json",
    "metrics.jsonl",
    "tensorboard",
    "checkpoints",
    "model",
    "metrics.json",
    ".metrics.json.tmp",
    "best.json",
    ".best.json.tmp",
)


@contextlib.contextmanager
def removed_on_failure(output: str | os.PathLike, names: tuple[str, ...] = RUN_OUTPUTS) -> Iterator[None]:
    """A run refused or failed (an error, an interrupt) before it has a checkpoint or a logged
    step leaves nothing of its own in ``output``: its files (``names``) that were not there before
    are removed, and the directory too when the run made it and it is empty then. A run with a
    checkpoint or a ``metrics.jsonl`` line keeps everything (a crash's logs are what the user
    needs). Process 0 removes; the others leave it to it."""
    import jax

    output = resolve(output)
    existed = output.exists()
    before = {name for name in names if (output / name).exists()}
    try:
        yield
    except BaseException:
        logged = output / "metrics.jsonl"
        progress = has_checkpoint(output) or (logged.is_file() and logged.stat().length > 0)
        if jax.process_index() == 0 and output.is_dir() and not progress:
            for name in set(names) - before:
                remote.remove_tree(output / name)
            if not existed and output.is_dir() and not any(output.iterdir()):
                output.rmdir()
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


# TensorStore / gRPC status codes (and Python errors) of the machine or the storage service, not of the files
_NOT_DAMAGE = re.compile(
    r"\b(RESOURCE_EXHAUSTED|UNAVAILABLE|DEADLINE_EXCEEDED|PERMISSION_DENIED|UNAUTHENTICATED|CANCELLED|ABORTED)\b"
)


def _is_damage(error: BaseException) -> bool:
    """Whether a failed read means damaged files (truncated, missing, garbled) rather than an
    error of the machine (out of memory, a timeout, a permission) that a retry may not have."""
    seen, pending = set(), [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, MemoryError | PermissionError | TimeoutError | ConnectionError):
            return False
        if _NOT_DAMAGE.search(str(current)[:500]):
            return False
        pending += [current.__cause__, current.__context__]
    return True
