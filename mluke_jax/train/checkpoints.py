"""Training checkpoints with Orbax: save every N steps, keep K, asynchronously; resume exactly.

A checkpoint holds the whole :class:`~mluke_jax.train.TrainState` (parameters, optimiser state,
step, dropout key) and a JSON record: the model (architecture, config, parameter shapes) and the
data position, so that a resumed run draws the same batches and dropout masks and reaches the same
parameters bit for bit. Restoring reads each array straight into its sharding on the current mesh
(an abstract target: no full copy on one host). A checkpoint whose save was interrupted (the
process killed mid-write) is never picked: Orbax finalises a step directory only when complete.
"""

import hashlib
import json
import os
from typing import Any

import orbax.checkpoint as ocp

from mluke_jax.paths import local_path
from mluke_jax.train.trainer import Trainer, TrainState


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
        data position saved with it. Refuses a checkpoint of another model."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no complete checkpoint in {self.directory}")
        record = self.manager.restore(step, args=ocp.args.Composite(record=ocp.args.JsonRestore()))["record"]
        expected = model_fingerprint(trainer)
        if (
            record.get("architecture") != expected["architecture"]
            or record.get("parameter_shapes_sha256") != expected["parameter_shapes_sha256"]
        ):
            raise ValueError(
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
            raise ValueError(f"{self.directory} holds checkpoints of a model with another config: {changed} differ")
        target = trainer.checkpoint_target()
        state = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target)))["state"]
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
