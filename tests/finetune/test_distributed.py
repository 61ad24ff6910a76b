"""Fine-tuning on two processes (``jax.distributed`` on localhost, one CPU device each, ``--mesh
data=2``, gloo collectives): the model of one process within 1e-5; SIGTERM to one of them stops
both at the step JAX's preemption service agrees on (exit 75), and the same commands again resume
to the uninterrupted two-process run's model, bit for bit."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mluke_jax
from helpers import sigterm_paused_processes
from mluke_jax.finetune.__main__ import main

pytestmark = pytest.mark.torch
DATA = Path(__file__).resolve().parents[1] / "data" / "finetune"

# Process 0 pauses after its fifth step (printing a line) until the test has sent its SIGTERM, then
# four seconds more for JAX's notifier and the coordination service; the other waits in a collective.
PAUSED = """
import sys, time, jax
from mluke_jax.train.trainer import Trainer
from mluke_jax.finetune.__main__ import main
real = Trainer.train_step
def train_step(self, batch):
    metrics = real(self, batch)
    if self.step == 5 and jax.process_index() == 0:
        print("paused", flush=True)
        sys.stdin.readline()
        time.sleep(4)
    return metrics
Trainer.train_step = train_step
sys.exit(main(sys.argv[1:]))
"""


def command(model, output, *extra):
    return ["ner", "--model", str(model), "--train", str(DATA / "conll_train.txt"), "--eval",
            str(DATA / "conll_eval.txt"), "--output", str(output), "--epochs", "1", "--batch-size", "8",
            "--learning-rate", "2e-3", "--max-length", "48", "--max-span-words", "3", "--save-every", "4",
            "--log-every", "1", "--quiet", *extra]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def two_processes(model, output, workdir, script=None):
    port = free_port()
    processes = []
    for i in range(2):
        args = command(model, output, "--mesh", "data=2", "--coordinator", f"localhost:{port}",
                       "--num-processes", "2", "--process-id", str(i))  # fmt: skip
        env = {**os.environ, "MLUKE_JAX_CACHE_DIR": str(workdir / f"cache-{i}"),
               "XLA_FLAGS": "--xla_backend_optimization_level=0"}  # fmt: skip
        processes.append(subprocess.Popen(
            [sys.executable, *(["-c", script] if script else ["-m", "mluke_jax.finetune"]), *args], cwd=workdir,
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))  # fmt: skip
    return processes


def params_of(directory):
    from mluke_jax.checkpoint import checkpoint_params

    model = mluke_jax.LukeForEntitySpanClassification.from_pretrained(directory)
    return {k: np.asarray(v) for k, v in checkpoint_params(model).items()}


def test_two_processes_train_like_one_and_resume_after_sigterm(mluke_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLUKE_JAX_CACHE_DIR", str(tmp_path / "cache"))
    assert main(command(mluke_dir, "one")) == 0
    one = params_of(tmp_path / "one" / "model")

    for process in two_processes(mluke_dir, "two", tmp_path):
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
    two = params_of(tmp_path / "two" / "model")
    assert sorted(one) == sorted(two)
    worst = max(float(np.abs(one[k] - two[k]).max()) for k in one)
    assert worst < 1e-5, worst
    losses = [json.loads(x)["loss"] for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
              if json.loads(x)["split"] == "train"]  # fmt: skip
    expected = [json.loads(x)["loss"] for x in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()
                if json.loads(x)["split"] == "train"]  # fmt: skip
    np.testing.assert_allclose(losses, expected, atol=1e-5)

    processes = two_processes(mluke_dir, "preempted", tmp_path, PAUSED)
    seconds = sigterm_paused_processes(processes)
    print(f"fine-tuning on two processes, SIGTERM to exit: {seconds:.1f} s (4 s of it the pause)")
    assert not (tmp_path / "preempted" / "model").exists()
    for process in two_processes(mluke_dir, "preempted", tmp_path):
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        assert "resumed from step" in err
    again = params_of(tmp_path / "preempted" / "model")
    assert all(np.array_equal(two[k], again[k]) for k in two)  # bit-identical
    assert json.loads((tmp_path / "preempted" / "metrics.json").read_text())["eval"] == json.loads(
        (tmp_path / "two" / "metrics.json").read_text()
    )["eval"]
