"""The pretraining command on a mesh and on two hosts: the losses and parameters of one device, within 1e-5.

8 fake CPU devices with ``--mesh fsdp=8`` (parameters and optimiser state sharded), and two
processes on localhost (``--coordinator``, one device each, ``--mesh data=2``; CPU collectives
through gloo), against the same command on one device in this process. This is also the test of
the training library on several processes (each passing its rows of the global batch,
checkpoints written by all, the model by process 0).
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np

import mluke_jax
from helpers import fake_cpu_devices
from mluke_jax.pretrain.__main__ import main


def command(example_sets, output, *extra):
    return [
        "luke",
        "--data",
        str(example_sets["en"]),
        str(example_sets["de"]),
        "--init",
        "tiny.json",
        "--tokenizer",
        str(example_sets["tokenizer"]),
        "--output",
        output,
        "--batch-size",
        "8",
        "--stage1-steps",
        "1",
        "--max-steps",
        "2",
        "--log-every",
        "1",
        "--quiet",
        *extra,
    ]


def losses(path):
    return [x["loss"] for x in map(json.loads, (path / "metrics.jsonl").read_text().splitlines())]


def params_of(directory):
    from mluke_jax.checkpoint import checkpoint_params

    model = mluke_jax.LukeForMaskedLM.from_pretrained(directory)
    return {k: np.asarray(v) for k, v in checkpoint_params(model).items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def run(args, env, cwd):
    return subprocess.Popen(
        [sys.executable, "-m", "mluke_jax.pretrain", *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_fsdp_on_8_devices_and_two_processes_give_the_losses_of_one_device(example_sets, workdir, capsys):
    assert main(command(example_sets, "one")) == 0, capsys.readouterr().err
    reference, expected = losses(workdir / "one"), params_of(workdir / "one" / "model")
    assert len(reference) == 3
    port = str(free_port())
    jobs = {  # one after the other: two cores
        "fsdp": lambda: [run(command(example_sets, "fsdp", "--mesh", "fsdp=8"), fake_cpu_devices(8), workdir)],
        "hosts": lambda: [
            run(
                command(
                    example_sets,
                    "hosts",
                    "--mesh",
                    "data=2",
                    "--coordinator",
                    f"localhost:{port}",
                    "--num-processes",
                    "2",
                    "--process-id",
                    str(i),
                ),
                # compile-bound like the 8-device run: LLVM -O0 (helpers.fake_cpu_devices)
                {"MLUKE_JAX_CACHE_DIR": str(workdir / f"cache-{i}"), "XLA_FLAGS": "--xla_backend_optimization_level=0"},
                workdir,
            )
            for i in range(2)
        ],
    }
    for name, start in jobs.items():
        for process in start():
            _, err = process.communicate(timeout=600)
            assert process.returncode == 0, (name, err[-3000:])
        np.testing.assert_allclose(losses(workdir / name), reference, atol=1e-5, err_msg=name)
        got = params_of(workdir / name / "model")
        assert sorted(got) == sorted(expected)
        worst = max(float(np.abs(got[k] - expected[k]).max()) for k in got)
        assert worst < 1e-5, (name, worst)

