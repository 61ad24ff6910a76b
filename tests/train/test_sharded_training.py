"""Training on a mesh of 8 fake CPU devices gives the single-device losses and parameters."""

import subprocess
import sys
import textwrap
from pathlib import Path

from helpers import fake_cpu_devices

SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ.update({fake_devices!r})
    sys.path.insert(0, {tests!r})
    import jax, numpy as np
    from flax import nnx
    import mluke_jax
    from mluke_jax.train import OptimizerConfig, Trainer
    from helpers import TINY_LUKE, luke_inputs
    assert len(jax.devices()) == 8
    config = mluke_jax.LukeConfig(**dict(TINY_LUKE, vocab_size=38, entity_vocab_size=12))
    rs = np.random.RandomState(0)
    batches = []
    for seed in range(3):
        inputs = luke_inputs(config.to_hf_dict(), batch=8, seed=seed)
        inputs["labels"] = rs.randint(0, 2, (8,))
        batches.append(inputs)
    optimizer = OptimizerConfig(learning_rate=1e-3, warmup_steps=1, total_steps=4)

    def train(mesh=None):
        def run():
            model = mluke_jax.LukeForEntityClassification.build(config, seed=0)
            trainer = Trainer(model, optimizer, seed=0)  # dropout on: same keys on every mesh
            losses = [float(trainer.train_step(b)["loss"]) for b in batches]
            return trainer, losses
        if mesh is None:
            return run()
        with mluke_jax.use_mesh(mesh):
            return run()

    single, expected = train()
    reference = {{k: np.asarray(v) for k, v in nnx.to_flat_state(single.state.params)}}
    from mluke_jax.train import TrainCheckpointer
    with TrainCheckpointer({ckpt!r}) as checkpointer:  # saved from one device ...
        checkpointer.save(single, {{"epoch": 0, "batch": 3}}, force=True)
    with mluke_jax.use_mesh(mluke_jax.make_mesh(data=2, fsdp=4)):  # ... restored sharded on eight
        fresh = Trainer(mluke_jax.LukeForEntityClassification.build(config, seed=1), optimizer)
        with TrainCheckpointer({ckpt!r}) as checkpointer:
            assert checkpointer.restore(fresh) == {{"epoch": 0, "batch": 3}}
        assert fresh.step == 3
        word = fresh.state.params["luke"]["embeddings"]["word_embeddings"]["embedding"][...]
        assert "fsdp" in str(word.sharding.spec) and word.addressable_shards[0].data.size < word.size
        for path, value in nnx.to_flat_state(fresh.state.params):
            assert np.array_equal(np.asarray(value), reference[path]), path
    for axes in (dict(data=8), dict(data=2, fsdp=4), dict(data=2, fsdp=2, tensor=2)):
        trainer, losses = train(mluke_jax.make_mesh(**axes))
        assert np.allclose(losses, expected, atol=1e-5), (axes, losses, expected)
        worst = 0.0
        for path, value in nnx.to_flat_state(trainer.state.params):
            worst = max(worst, float(np.abs(np.asarray(value) - reference[path]).max()))
        assert worst < 1e-5, (axes, worst)
        word = trainer.state.params["luke"]["embeddings"]["word_embeddings"]["embedding"][...]
        mu = trainer.state.opt_state[1][0].mu["luke"]["embeddings"]["word_embeddings"]["embedding"][...]
        if axes.get("fsdp", 1) > 1:
            assert "fsdp" in str(word.sharding.spec) and len({{s.data.shape for s in word.addressable_shards}}) == 1
            assert word.addressable_shards[0].data.size < word.size  # really split
            assert mu.sharding.spec == word.sharding.spec, (mu.sharding, word.sharding)  # optimiser state too
        print("mesh", axes, "max param diff", worst)
    try:
        with mluke_jax.use_mesh(mluke_jax.make_mesh(data=8)):
            six = {{**batches[0], **{{k: v[:6] for k, v in batches[0].items()}}}}
            Trainer(mluke_jax.LukeForEntityClassification.build(config), optimizer).train_step(six)
        raise SystemExit("a batch of 6 on 8 devices was accepted")
    except ValueError as e:
        assert "batch size 6 does not divide" in str(e), e
    print("sharded training ok")
    """
)


def test_data_parallel_and_fsdp_training_match_one_device(tmp_path):
    script = SCRIPT.format(
        fake_devices=fake_cpu_devices(8), tests=str(Path(__file__).resolve().parents[1]), ckpt=str(tmp_path / "ckpt")
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0 and "sharded training ok" in result.stdout, (
        result.stdout[-2000:] + result.stderr[-4000:]
    )
    print(result.stdout)
