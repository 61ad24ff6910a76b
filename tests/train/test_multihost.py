"""Two processes on localhost with ``jax.distributed`` (CPU collectives through gloo) train like one."""

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from helpers import fake_cpu_devices

SCRIPT = textwrap.dedent(
    """
    import os, sys
    process, processes, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if processes == 1:
        os.environ.update({fake_devices!r})
    sys.path.insert(0, {tests!r})
    import jax
    if processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(coordinator_address="localhost:" + port, num_processes=processes, process_id=process)
    assert jax.device_count() == 2, jax.devices()
    import numpy as np
    from flax import nnx
    import mluke_jax
    from mluke_jax.train import BatchStream, OptimizerConfig, Trainer, fit
    from helpers import TINY_LUKE, luke_inputs

    config = mluke_jax.LukeConfig(**TINY_LUKE)
    rows = luke_inputs(config.to_hf_dict(), batch=16, seed=0)
    rows["labels"] = np.random.RandomState(0).randint(0, 2, (16,))
    examples = [{{k: v[i] for k, v in rows.items()}} for i in range(16)]
    collate = lambda xs: {{k: np.stack([x[k] for x in xs]) for k in xs[0]}}
    shard = (jax.process_index(), jax.process_count()) if processes > 1 else None
    stream = BatchStream(examples, 8, collate, seed=1, shard=shard)
    with mluke_jax.use_mesh(mluke_jax.make_mesh(data=2)):
        optimizer = OptimizerConfig(learning_rate=1e-3, warmup_steps=1, total_steps=3)
        trainer = Trainer(mluke_jax.LukeForEntityClassification.build(config, seed=0), optimizer, seed=2)
        losses = fit(trainer, stream, 3, progress=False, log_every=1)
        flat = nnx.to_flat_state(trainer.state.params)
        params = {{".".join(map(str, p)): np.asarray(v.addressable_data(0)) for p, v in flat}}
    if process == 0:
        np.savez(out, losses=np.array(losses), **params)
    print("done", process, losses, flush=True)
    if processes > 1:
        jax.distributed.shutdown()
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_agree_with_one(tmp_path):
    script = SCRIPT.format(fake_devices=fake_cpu_devices(2), tests=str(Path(__file__).resolve().parents[1]))
    single = subprocess.run(
        [sys.executable, "-c", script, "0", "1", "0", str(tmp_path / "one.npz")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    port = str(free_port())
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(i), "2", port, str(tmp_path / "two.npz")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = [w.communicate(timeout=600) for w in workers]
    for worker, (_, err) in zip(workers, results):
        assert worker.returncode == 0, err[-3000:]
    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    np.testing.assert_allclose(two["losses"], one["losses"], atol=1e-5)
    assert sorted(one) == sorted(two)
    worst = max(float(np.abs(one[k] - two[k]).max()) for k in one if k != "losses")
    assert worst < 1e-5, worst
