"""Fine-tuning with ``--output`` (and ``--model``, ``--train``, ``--eval``) in a ``gs://`` bucket,
stopped by SIGTERM mid-run and resumed from the bucket: the same model, bit for bit, as a run never
stopped. Against a real GCS emulator (``tests/gcs_emulator.py``)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from etils import epath

pytestmark = pytest.mark.torch

DATA = Path(__file__).resolve().parents[1] / "data" / "finetune"

# The fine-tuning command line, paused after step PAUSE_AT (printing a line) until the run's own
# handler has seen a signal, so that the test's SIGTERM arrives mid-run at a known place; the signal
# itself is a real one.
WRAPPER = textwrap.dedent(
    """
    import os, sys, time
    from mluke_jax.train import preemption
    from mluke_jax.train.trainer import Trainer
    pause_at = int(os.environ.get("PAUSE_AT", "0"))
    original = Trainer.train_step

    def train_step(self, batch):
        metrics = original(self, batch)
        if self.step == pause_at:
            print(f"paused after step {self.step}", flush=True)
            for _ in range(2400):  # until the run's handler has seen the signal (at most 2 minutes)
                if preemption.requested():
                    break
                time.sleep(0.05)
        return metrics

    Trainer.train_step = train_step
    from mluke_jax.finetune.__main__ import main
    sys.exit(main(sys.argv[1:]))
    """
)


def _command(model, train, evaluation, output):
    return [
        sys.executable, "-c", WRAPPER, "ner", "--model", model, "--train", train, "--eval", evaluation,
        "--output", output, "--epochs", "4", "--batch-size", "8", "--learning-rate", "2e-3", "--max-length", "48",
        "--max-span-words", "3", "--save-every", "4", "--log-every", "2", "--quiet",
    ]  # fmt: skip


def _params(directory):
    import mluke_jax
    from mluke_jax.checkpoint import checkpoint_params

    model = mluke_jax.LukeForEntitySpanClassification.from_pretrained(directory)
    return {k: np.asarray(v) for k, v in checkpoint_params(model).items()}


def test_sigterm_in_a_bucket_run_then_resume_is_bit_exact(mluke_dir, tmp_path, bucket):
    env = {**os.environ, **bucket.env, "MLUKE_JAX_CACHE_DIR": str(tmp_path / "xla")}
    # inputs in the bucket too: the model, the training file, the evaluation files by a glob
    model = f"{bucket}/models/mluke"
    from mluke_jax import remote

    remote.copy_tree(mluke_dir, epath.Path(model))
    remote.copy_file(DATA / "conll_train.txt", epath.Path(f"{bucket}/data/train.txt"))
    remote.copy_file(DATA / "conll_eval.txt", epath.Path(f"{bucket}/data/eval/en.txt"))
    train, evaluation = f"{bucket}/data/train.txt", f"{bucket}/data/eval/*.txt"

    full = subprocess.run(  # profiled: steps 2 to 3 traced into local/tensorboard
        _command(str(mluke_dir), str(DATA / "conll_train.txt"), str(DATA / "conll_eval.txt"), "local")
        + ["--profile-steps", "2:3"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert full.returncode == 0, full.stderr[-3000:]
    assert "profile of steps 2-3 written to" in full.stderr
    assert list((tmp_path / "local" / "tensorboard" / "plugins" / "profile").glob("*/*.xplane.pb"))

    output = f"{bucket}/runs/ner"
    process = subprocess.Popen(
        _command(model, train, evaluation, output), cwd=tmp_path, env={**env, "PAUSE_AT": "6"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = process.stdout.readline()
    assert line.startswith("paused after step 6"), (line, process.stderr.read()[-3000:])
    process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=300)
    elapsed = time.monotonic() - sent
    print(f"SIGTERM to exit: {elapsed:.1f} s")
    assert process.returncode == 75, stderr[-3000:]  # EXIT_PREEMPTED
    assert "stopped by SIGTERM: checkpoint saved at step 6" in stderr
    assert elapsed < 30  # a spot VM's grace period
    assert [p.name for p in epath.Path(f"{output}/checkpoints").iterdir() if p.name.isdigit()] == ["4", "6"]
    assert not epath.Path(f"{output}/model").exists() and not epath.Path(f"{output}/metrics.json").exists()
    logged = [json.loads(x) for x in epath.Path(f"{output}/metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in logged] == [2, 4, 6]  # uploaded (the log closed) before the process exited

    # a save cut short in a bucket: step 6 without Orbax's commit marker is passed over, with a warning
    epath.Path(f"{output}/checkpoints/6/commit_success.txt").unlink()
    resumed = subprocess.run(
        _command(model, train, evaluation, output), cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from step 4" in resumed.stderr
    assert "the newer 6 is an incomplete save" in resumed.stderr

    expected = json.loads((tmp_path / "local" / "metrics.json").read_text())
    got = json.loads(epath.Path(f"{output}/metrics.json").read_text())
    assert got["eval"] == expected["eval"] and got["steps"] == expected["steps"]
    a, b = _params(tmp_path / "local" / "model"), _params(f"{output}/model")
    assert sorted(a) == sorted(b)
    for name in a:
        assert np.array_equal(a[name], b[name]), name
    assert epath.Path(f"{output}/tensorboard").is_dir()
