"""Logical axis names on every parameter, mapped onto a (data, fsdp, tensor) mesh of 8 fake CPU devices."""

import subprocess
import sys
import textwrap
from pathlib import Path

from flax import nnx

import mluke_jax
from helpers import TINY_LUKE, fake_cpu_devices


def test_every_parameter_has_logical_axis_names():
    model = mluke_jax.LukeForMaskedLM.abstract(mluke_jax.LukeConfig(**TINY_LUKE, entity_aware_query_weights=True))
    known = {name for name, _ in mluke_jax.LOGICAL_AXIS_RULES}
    for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        names = var.get_metadata().get("out_sharding")
        shape = var.get_value().shape
        assert names is not None and len(names) == len(shape), f"{'.'.join(map(str, path))}: {names} for shape {shape}"
        assert set(names) <= known, f"{'.'.join(map(str, path))}: unknown logical axes {set(names) - known}"
        assert len(set(names)) == len(names), f"{'.'.join(map(str, path))}: an axis name twice {names}"


SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ.update({fake_devices!r})
    sys.path.insert(0, {tests!r})
    import jax, numpy as np
    from flax import nnx
    import mluke_jax
    from helpers import TINY_LUKE, luke_inputs
    assert len(jax.devices()) == 8
    # dims divisible by the mesh: hidden 24 (fsdp 2), vocab 38, heads*dim 24, mlp 40 (tensor 2)
    config = mluke_jax.LukeConfig(**dict(TINY_LUKE, vocab_size=38, entity_vocab_size=12))
    single = mluke_jax.LukeForMaskedLM.build(config, seed=0)
    single.save_pretrained({ckpt!r})
    inputs = luke_inputs(config.to_hf_dict(), batch=4)
    expected = np.asarray(single(**inputs).logits)

    mesh = mluke_jax.make_mesh(data=2, fsdp=2, tensor=2)
    with mluke_jax.use_mesh(mesh):
        built = mluke_jax.LukeForMaskedLM.build(config, seed=0)
        loaded = mluke_jax.LukeForMaskedLM.from_pretrained({ckpt!r})
        for model in (built, loaded):
            word = model.luke.embeddings.word_embeddings.embedding[...]
            fc_in = model.luke.encoder.layers.mlp.fc_in.kernel[...]
            assert word.sharding.spec == jax.sharding.PartitionSpec("tensor", "fsdp"), word.sharding
            assert fc_in.sharding.spec == jax.sharding.PartitionSpec(None, "fsdp", "tensor"), fc_in.sharding
            assert len(word.addressable_shards) == 8 and word.addressable_shards[0].data.shape == (19, 12)
            got = np.asarray(model(**inputs).logits)
            diff = float(np.abs(got - expected).max())
            assert diff < 1e-5, diff
    print("sharded ok", diff)
    """
)


def test_sharded_model_on_eight_cpu_devices_matches_one_device(tmp_path):
    script = SCRIPT.format(
        fake_devices=fake_cpu_devices(8), tests=str(Path(__file__).parent), ckpt=str(tmp_path / "ckpt")
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "sharded ok" in result.stdout, result.stderr[-4000:]
