"""A training checkpoint damaged on disk after it was written: the run resumes from the newest
intact one with a warning naming the damaged one, or stops with one error naming each; never
pages of Orbax / asyncio tracebacks."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import mluke_jax
from helpers import TINY_LUKE, luke_inputs
from mluke_jax.checkpoint import DamagedCheckpointError
from mluke_jax.train import BatchStream, OptimizerConfig, TrainCheckpointer, Trainer, fit
from mluke_jax.train.checkpoints import DAMAGED_SUFFIX, removed_on_failure


def make_run(seed=0):
    config = mluke_jax.LukeConfig(**TINY_LUKE)
    rows = luke_inputs(config.to_hf_dict(), batch=12, seed=0)
    rows["labels"] = np.random.RandomState(0).randint(0, 2, (12,))
    examples = [{k: v[i] for k, v in rows.items()} for i in range(12)]

    def collate(xs):
        return {k: np.stack([x[k] for x in xs]) for k in xs[0]}

    stream = BatchStream(examples, 4, collate, shuffle=True, seed=5)
    optimizer = OptimizerConfig(learning_rate=1e-3, warmup_steps=2, total_steps=6)
    trainer = Trainer(mluke_jax.LukeForEntityClassification.build(config, seed=seed), optimizer, seed=3)
    return trainer, stream


def params(trainer):
    return {k: np.asarray(v) for k, v in mluke_jax.checkpoint.checkpoint_params(trainer.model).items()}


def damage(step_dir: Path) -> Path:
    """Truncate the largest array data file of the step's training state (a disk filled up, a copy
    cut short); the metadata files beside them are sometimes larger, and fail otherwise."""
    data = [p for p in (step_dir / "state").glob("ocdbt.process_*/d/*") if p.is_file()]
    largest = max(data, key=lambda p: p.stat().st_size)
    largest.write_bytes(largest.read_bytes()[:100])
    return largest


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one_exactly(tmp_path):
    reference, stream = make_run()
    fit(reference, stream, 6, progress=False)

    trainer, stream = make_run()
    with TrainCheckpointer(tmp_path / "ckpt", save_every=2, keep=3) as checkpointer:
        fit(trainer, stream, 4, checkpointer=checkpointer, progress=False)
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir())[-2:] == ["2", "4"]
    damage(tmp_path / "ckpt" / "4")

    trainer, stream = make_run(seed=9)  # other initial values: everything must come from step 2
    with pytest.warns(UserWarning) as caught, TrainCheckpointer(tmp_path / "ckpt", save_every=2, keep=3) as ck:
        losses = fit(trainer, stream, 6, checkpointer=ck, progress=False)
    message = str(caught[0].message)
    assert f"resuming from step 2 of {tmp_path / 'ckpt'}" in message
    assert f"{tmp_path / 'ckpt' / '4'} is incomplete or damaged: its state/" in message
    assert "OUT_OF_RANGE" in message and f"moved aside to 4{DAMAGED_SUFFIX}" in message
    assert len(losses) == 4  # steps 3 to 6
    expected = params(reference)
    assert all(np.array_equal(v, expected[k]) for k, v in params(trainer).items())  # bit for bit
    # step 4 was written again; the damaged one is kept aside for a look, never picked
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir())[-4:] == ["2", "4", f"4{DAMAGED_SUFFIX}", "6"]


def test_no_intact_checkpoint_is_one_error_naming_each(tmp_path):
    trainer, stream = make_run()
    with TrainCheckpointer(tmp_path / "ckpt", save_every=2, keep=3) as checkpointer:
        fit(trainer, stream, 4, checkpointer=checkpointer, progress=False)
    damage(tmp_path / "ckpt" / "4")
    for older in (p for p in (tmp_path / "ckpt").iterdir() if p.name != "4"):  # 2 (and the first step's, 1)
        (older / "record" / "metadata").write_text("{not json")
    trainer, stream = make_run()
    with TrainCheckpointer(tmp_path / "ckpt", save_every=2) as checkpointer:
        with pytest.raises(DamagedCheckpointError) as raised:
            fit(trainer, stream, 6, checkpointer=checkpointer, progress=False)
    message = str(raised.value)
    assert message.startswith(f"no intact checkpoint in {tmp_path / 'ckpt'}: ")
    assert f"{tmp_path / 'ckpt' / '4'} is incomplete or damaged: its state/" in message
    assert f"{tmp_path / 'ckpt' / '2'} is incomplete or damaged: its record/" in message
    # a given step is not replaced by another
    with TrainCheckpointer(tmp_path / "ckpt", save_every=2) as checkpointer:
        with pytest.raises(DamagedCheckpointError, match=r"ckpt/4 is incomplete or damaged"):
            checkpointer.restore(trainer, 4)


def test_an_error_of_the_machine_is_not_taken_for_damage(tmp_path, monkeypatch):
    """Out of memory (or a storage service timing out) while restoring: raised as it is, and the
    good checkpoint is not moved aside for an older one."""
    trainer, stream = make_run()
    with TrainCheckpointer(tmp_path / "ckpt", save_every=2) as checkpointer:
        fit(trainer, stream, 4, checkpointer=checkpointer, progress=False)
    trainer, stream = make_run()
    with TrainCheckpointer(tmp_path / "ckpt", save_every=2) as checkpointer:
        real = checkpointer.manager.restore

        def out_of_memory(step, args=None):
            if "state" in args.keys():
                raise ValueError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 4.00GiB")
            return real(step, args=args)

        monkeypatch.setattr(checkpointer.manager, "restore", out_of_memory)
        with pytest.raises(ValueError, match="RESOURCE_EXHAUSTED"):
            fit(trainer, stream, 6, checkpointer=checkpointer, progress=False)
    assert not list((tmp_path / "ckpt").glob(f"*{DAMAGED_SUFFIX}"))


RESUME_DAMAGED = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from mluke_jax.train import TrainCheckpointer, fit
    from train.test_damaged_checkpoints import make_run

    trainer, stream = make_run()
    with TrainCheckpointer(sys.argv[1], save_every=2) as checkpointer:
        fit(trainer, stream, 6, checkpointer=checkpointer, progress=False)
    """
)


def test_what_a_user_sees_is_the_warning_alone(tmp_path):
    """In a process of its own, as a user runs it: the fallback prints its warning and the resume
    line, not Orbax's asyncio tracebacks ("Event loop is closed", "Task exception was never
    retrieved", coroutines ignored at exit)."""
    trainer, stream = make_run()
    with TrainCheckpointer(tmp_path / "ckpt", save_every=2) as checkpointer:
        fit(trainer, stream, 4, checkpointer=checkpointer, progress=False)
    damage(tmp_path / "ckpt" / "4")
    script = RESUME_DAMAGED.format(tests=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "ckpt")], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "is incomplete or damaged" in lines[0] and "OUT_OF_RANGE" in lines[0]  # a read that fails mid-restore
    assert "resumed from step 2" in done.stderr
    assert len(lines) <= 4, done.stderr[:3000]
    assert "Traceback" not in done.stderr and "Event loop is closed" not in done.stderr


def test_a_run_that_fails_before_its_first_checkpoint_leaves_nothing_it_made(tmp_path):
    with pytest.raises(RuntimeError):
        with removed_on_failure(tmp_path / "new"):
            (tmp_path / "new").mkdir()
            (tmp_path / "new" / "run.json").write_text("{}")
            raise RuntimeError("refused")
    assert not (tmp_path / "new").exists()
    mine = tmp_path / "mine"  # a directory the user made: only the run's own files go
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(KeyboardInterrupt):
        with removed_on_failure(mine):
            (mine / "run.json").write_text("{}")
            (mine / "tensorboard").mkdir()
            (mine / "written-meanwhile.txt").write_text("not the run's")
            raise KeyboardInterrupt
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt", "written-meanwhile.txt"]
    logged = tmp_path / "logged"  # a crash after logged steps: its logs are what the user needs
    with pytest.raises(FloatingPointError):
        with removed_on_failure(logged):
            logged.mkdir()
            (logged / "metrics.jsonl").write_text('{"step": 1, "loss": NaN}\n')
            raise FloatingPointError("nan loss")
    assert (logged / "metrics.jsonl").is_file()
    resumable = tmp_path / "resumable"  # with a checkpoint: everything stays
    (resumable / "checkpoints" / "stage2" / "4").mkdir(parents=True)
    with pytest.raises(ValueError):
        with removed_on_failure(resumable):
            (resumable / "metrics.jsonl").write_text("")
            raise ValueError("later")
    assert (resumable / "metrics.jsonl").exists()


def test_a_damaged_checkpoint_in_a_bucket_falls_back_and_is_moved_aside(bucket):
    """The same fallback with the checkpoints in a ``gs://`` bucket (GCS emulator): the damaged
    step's objects are moved (copied and removed: a bucket has no rename) to ``N.damaged``."""
    from etils import epath

    reference, stream = make_run()
    fit(reference, stream, 6, progress=False)
    directory = epath.Path(f"{bucket}/ckpt")
    trainer, stream = make_run()
    with TrainCheckpointer(directory, save_every=2, keep=3) as checkpointer:
        fit(trainer, stream, 4, checkpointer=checkpointer, progress=False)
    data = [p for p in (directory / "4" / "state").glob("ocdbt.process_*/d/*") if p.is_file()]
    largest = max(data, key=lambda p: p.stat().length)
    largest.write_bytes(largest.read_bytes()[:100])

    trainer, stream = make_run(seed=9)
    with pytest.warns(UserWarning) as caught, TrainCheckpointer(directory, save_every=2, keep=3) as ck:
        fit(trainer, stream, 6, checkpointer=ck, progress=False)
    message = " ".join(str(w.message) for w in caught)
    assert f"resuming from step 2 of {bucket}/ckpt" in message and f"moved aside to 4{DAMAGED_SUFFIX}" in message
    expected = params(reference)
    assert all(np.array_equal(v, expected[k]) for k, v in params(trainer).items())  # bit for bit
    assert {"2", "4", f"4{DAMAGED_SUFFIX}", "6"} <= {p.name for p in directory.iterdir()}
