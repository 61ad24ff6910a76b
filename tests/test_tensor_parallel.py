"""Tensor parallelism with the released vocabularies on 8 fake CPU devices: mluke's 250,004 words
and mluke-base's 1,200,001 entities, xlm-mlm-ende-1024's 64,699 words, the -lite's 4 entities
(small other dimensions). Vocabulary tables are padded to divide over ``tensor`` (exactly: the same
outputs, training step and checkpoints as one device); any other dimension that does not divide
stays unsharded on its axis with a warning naming the parameter."""

import subprocess
import sys
import textwrap
from pathlib import Path

from helpers import fake_cpu_devices

HEADER = textwrap.dedent(
    """
    import os, sys, warnings
    os.environ.update({fake_devices!r})
    sys.path.insert(0, {tests!r})
    import jax, numpy as np
    from flax import nnx
    import mluke_jax
    from mluke_jax import checkpoint
    from mluke_jax.train import OptimizerConfig, TrainCheckpointer, Trainer
    from helpers import TINY_LUKE, TINY_XLM, luke_inputs, xlm_inputs
    assert len(jax.devices()) == 8
    optimizer = OptimizerConfig(learning_rate=1e-3, warmup_steps=1, total_steps=4)

    def params_of(model):
        return {{k: np.asarray(v) for k, v in checkpoint.checkpoint_params(model).items()}}

    def worst(a, b):
        assert a.keys() == b.keys()
        return max(float(np.abs(a[k] - b[k]).max()) for k in a)

    def check(cls, config, inputs, fields, ckpt, meshes, expect_sharded):
        single = cls.build(config, seed=0)
        expected = single(**inputs)
        single.save_pretrained(ckpt)
        initial, count = params_of(single), single.num_parameters
        trainer = Trainer(single, optimizer, dropout=False)  # donates single's arrays
        loss = float(trainer.train_step(inputs)["loss"])
        stepped = params_of(trainer.model)
        for axes in meshes:
            with mluke_jax.use_mesh(mluke_jax.make_mesh(**axes)):
                for model in (cls.build(config, seed=0), cls.from_pretrained(ckpt)):
                    for path, spec in expect_sharded(axes).items():
                        value = nnx.to_flat_state(nnx.state(model, nnx.Param))
                        array = dict((".".join(map(str, p)), v.get_value()) for p, v in value)[path]
                        assert array.sharding.spec == spec, (path, axes, array.sharding.spec, spec)
                        shards = array.addressable_shards
                        assert len({{s.data.shape for s in shards}}) == 1 and shards[0].data.size < array.size
                    got = model(**inputs)
                    for field in fields:
                        a, b = np.asarray(getattr(got, field)), np.asarray(getattr(expected, field))
                        assert a.shape == b.shape, (field, a.shape, b.shape)
                        assert np.abs(a - b).max() < 1e-5, (cls.__name__, axes, field, np.abs(a - b).max())
                    assert model.num_parameters == count
                model.save_pretrained(ckpt + "-mesh")  # the padding is never saved
                sharded = Trainer(model, optimizer, dropout=False)
                got_loss = float(sharded.train_step(inputs)["loss"])
                assert abs(got_loss - loss) < 1e-5, (axes, got_loss, loss)
                assert worst(params_of(sharded.model), stepped) < 1e-5, (cls.__name__, axes, "training step")
                with TrainCheckpointer(ckpt + "-train-" + str(axes["tensor"])) as checkpointer:
                    checkpointer.save(sharded, force=True)
            assert worst(params_of(mluke_jax.load_pretrained(ckpt + "-mesh")), initial) == 0.0
            # a training checkpoint written on this mesh resumes on one device, unpadded
            fresh = Trainer(cls.build(config, seed=1), optimizer, dropout=False)
            with TrainCheckpointer(ckpt + "-train-" + str(axes["tensor"])) as checkpointer:
                checkpointer.restore(fresh)
            assert worst(params_of(fresh.model), stepped) < 1e-5
        print(cls.__name__, "ok")

    P = jax.sharding.PartitionSpec
    """
)
PARTS = {
    # mLUKE: the MLM head ties both decoders to the two released vocabularies
    "mluke-vocabularies": textwrap.dedent(
        """
    # mLUKE: mluke-base's word and entity vocabularies (250,004 = 4 x 62,501 needs tensor=8 to be
    # padded; 1,200,001 is odd); the MLM head ties both decoders to them
    luke = mluke_jax.LukeConfig(**dict(TINY_LUKE, vocab_size=250004, entity_vocab_size=1200001, entity_emb_size=8))
    inputs = luke_inputs(luke.to_hf_dict(), batch=4)
    rs = np.random.RandomState(0)
    inputs["labels"] = np.where(rs.rand(4, 9) < 0.3, rs.randint(0, 250004, (4, 9)), -100)
    inputs["entity_labels"] = np.where(rs.rand(4, 3) < 0.5, rs.randint(0, 1200001, (4, 3)), -100)
    check(mluke_jax.LukeForMaskedLM, luke, inputs, ("logits", "entity_logits", "loss"), {ckpt_luke!r},
          [dict(data=1, fsdp=1, tensor=8)],
          lambda axes: {{"luke.embeddings.word_embeddings.embedding": P("tensor", "fsdp"),
                         "luke.entity_embeddings.entity_embeddings.embedding": P("tensor", None)}})

        """
    ),
    "xlm-vocabulary-and-generation": textwrap.dedent(
        """
    rs = np.random.RandomState(1)
    # XLM: xlm-mlm-ende-1024's vocabulary, its own (untied) LM projection padded the same way
    xlm = mluke_jax.XLMConfig(**dict(TINY_XLM, vocab_size=64699, emb_dim=32, n_heads=4, untied_decoder=True))
    inputs = xlm_inputs(xlm.to_hf_dict(), batch=4)
    inputs["labels"] = np.where(rs.rand(4, 9) < 0.3, rs.randint(0, 64699, (4, 9)), -100)
    check(mluke_jax.XLMWithLMHeadModel, xlm, inputs, ("logits", "loss"), {ckpt_xlm!r}, [dict(data=2, fsdp=2, tensor=2)],
          lambda axes: {{"transformer.embeddings.word_embeddings.embedding": P("tensor", "fsdp"),
                         "pred_layer.kernel": P("fsdp", "tensor")}})
    prompt = np.array([[0, 11, 12, 13]])
    tokens = mluke_jax.XLMWithLMHeadModel.from_pretrained({ckpt_xlm!r}).generate(prompt, langs="en", max_new_tokens=5)
    with mluke_jax.use_mesh(mluke_jax.make_mesh(data=1, fsdp=1, tensor=8)):
        sharded = mluke_jax.XLMWithLMHeadModel.from_pretrained({ckpt_xlm!r})
        assert np.array_equal(sharded.generate(prompt, langs="en", max_new_tokens=5), tokens)

        """
    ),
    "lite-entities-and-warnings": textwrap.dedent(
        """
    # -lite's 4 entities at tensor=8 (padded); an FFN width of 36 does not divide over 8: unsharded,
    # one warning per parameter
    lite = mluke_jax.LukeConfig(**dict(TINY_LUKE, entity_vocab_size=4, intermediate_size=36))
    inputs = luke_inputs(lite.to_hf_dict(), batch=2)
    expected = mluke_jax.LukeForMaskedLM.build(lite, seed=0)(**inputs)
    mesh = mluke_jax.make_mesh(data=1, fsdp=1, tensor=8)
    with mluke_jax.use_mesh(mesh), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = mluke_jax.LukeForMaskedLM.build(lite, seed=0)
        got = model(**inputs)
    ours = [w for w in caught if "does not divide" in str(w.message)]
    messages = [str(w.message) for w in ours]
    assert len(ours) == 3 and all(w.filename == "<string>" for w in ours), [(w.filename, str(w.message)) for w in ours]
    mlp = "luke.encoder.layers.mlp."
    for name in (mlp + "fc_in.kernel", mlp + "fc_in.bias", mlp + "fc_out.kernel"):
        assert sum(m.startswith(f"parameter {{name}} ") for m in messages) == 1, (name, messages)
    warning_text = "of size 36 does not divide over mesh axes ('tensor',) (8 devices); it is left unsharded on them"
    assert all(warning_text in m for m in messages), messages
    assert model.luke.entity_embeddings.entity_embeddings.embedding[...].shape == (8, 16)
    for field in ("logits", "entity_logits"):
        assert np.abs(np.asarray(getattr(got, field)) - np.asarray(getattr(expected, field))).max() < 1e-5
        """
    ),
}


def test_released_vocabularies_shard_over_any_mesh(tmp_path):
    # the three parts in one process: one start-up (imports, 8 devices) instead of three
    tests = str(Path(__file__).resolve().parent)
    script = (HEADER + "".join(PARTS[part] for part in sorted(PARTS)) + '\nprint("tensor parallel ok")\n').format(
        fake_devices=fake_cpu_devices(8), tests=tests, ckpt_luke=str(tmp_path / "luke"), ckpt_xlm=str(tmp_path / "xlm")
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0 and "tensor parallel ok" in result.stdout, (
        result.stdout[-2000:] + result.stderr[-5000:]
    )
    print(result.stdout)
