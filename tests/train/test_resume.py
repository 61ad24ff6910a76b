"""Resume after SIGKILL: the same losses and parameters, bit for bit, as an uninterrupted run."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    sys.path.insert(0, {tests!r})
    import numpy as np
    from flax import nnx
    import mluke_jax
    from mluke_jax.train import BatchStream, OptimizerConfig, TrainCheckpointer, Trainer, fit
    from helpers import TINY_LUKE, luke_inputs

    mluke_jax.enable_compilation_cache()  # $MLUKE_JAX_CACHE_DIR: the later runs load the compiled step

    mode, out = sys.argv[1], sys.argv[2]
    config = mluke_jax.LukeConfig(**TINY_LUKE)
    rows = luke_inputs(config.to_hf_dict(), batch=12, seed=0)
    rows["labels"] = np.random.RandomState(0).randint(0, 2, (12,))
    examples = [{{k: v[i] for k, v in rows.items()}} for i in range(12)]
    collate = lambda xs: {{k: np.stack([x[k] for x in xs]) for k in xs[0]}}
    stream = BatchStream(examples, 4, collate, shuffle=True, seed=5)  # 3 batches per epoch: 6 steps = 2 epochs
    optimizer = OptimizerConfig(learning_rate=1e-3, warmup_steps=2, total_steps=6)
    trainer = Trainer(mluke_jax.LukeForEntityClassification.build(config, seed=0), optimizer, seed=3)
    checkpointer = None if mode == "full" else TrainCheckpointer(out + "/ckpt", save_every=1, keep=2)

    def on_step(step, metrics):
        if mode.startswith("kill") and step == 3:
            if mode == "kill-after-save":
                checkpointer.wait()
            os.kill(os.getpid(), signal.SIGKILL)  # "kill-during-save": the step-3 save may be in flight

    losses = fit(trainer, stream, 6, checkpointer=checkpointer, progress=False, log_every=1, on_step=on_step)
    params = {{".".join(map(str, p)): np.asarray(v) for p, v in nnx.to_flat_state(trainer.state.params)}}
    np.savez(out + "/params.npz", **params)
    json.dump({{"losses": losses, "first_step": 6 - len(losses)}}, open(out + "/run.json", "w"))
    """
)


def run(script, mode, out, cache):
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLUKE_JAX_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-c", script, mode, str(out)], capture_output=True, text=True, timeout=600,
                          env=env)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The script run without interruption (once for both kinds of kill), and its compilation cache."""
    root = tmp_path_factory.mktemp("resume")
    script = SCRIPT.format(tests=str(Path(__file__).resolve().parents[1]))
    full = run(script, "full", root / "full", root / "xla-cache")
    assert full.returncode == 0, full.stderr[-3000:]
    return script, root


@pytest.mark.parametrize("kill", ["kill-during-save", "kill-after-save"])
def test_sigkill_then_resume_is_bit_exact(kill, uninterrupted, tmp_path):
    script, root = uninterrupted
    killed = run(script, kill, tmp_path / "resumed", root / "xla-cache")
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-3000:])
    resumed = run(script, "resume", tmp_path / "resumed", root / "xla-cache")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from step" in resumed.stderr

    expected = json.loads((root / "full" / "run.json").read_text())
    got = json.loads((tmp_path / "resumed" / "run.json").read_text())
    assert got["first_step"] in (2, 3)  # the last complete checkpoint: step 3, or 2 if 3 was cut short
    assert got["losses"] == expected["losses"][got["first_step"] :]  # exactly: same batches, same dropout
    a, b = np.load(root / "full" / "params.npz"), np.load(tmp_path / "resumed" / "params.npz")
    assert sorted(a) == sorted(b)
    for name in a:
        assert np.array_equal(a[name], b[name]), name


def test_resume_directory_of_another_model_is_refused(tmp_path):
    import mluke_jax
    from helpers import TINY_LUKE
    from mluke_jax.train import OptimizerConfig, TrainCheckpointer, Trainer

    config = mluke_jax.LukeConfig(**TINY_LUKE)
    optimizer = OptimizerConfig(learning_rate=1e-3, total_steps=2)
    with TrainCheckpointer(tmp_path / "ckpt", asynchronous=False) as checkpointer:
        checkpointer.save(Trainer(mluke_jax.LukeForEntityClassification.build(config), optimizer), force=True)
        with pytest.raises(
            ValueError,
            match="another model .*LukeForEntityClassification.*this run trains LukeForEntityPairClassification",
        ):
            checkpointer.restore(Trainer(mluke_jax.LukeForEntityPairClassification.build(config), optimizer))
        other = mluke_jax.LukeForEntityClassification.build(
            mluke_jax.LukeConfig(**{**TINY_LUKE, "hidden_dropout_prob": 0.2})
        )
        with pytest.raises(ValueError, match=r"another config: \['hidden_dropout_prob'\]"):
            checkpointer.restore(Trainer(other, optimizer))
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        TrainCheckpointer(tmp_path / "empty").restore(Trainer(other, optimizer))
