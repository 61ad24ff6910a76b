"""save_pretrained / from_pretrained: converted directories, transformers directories, other heads."""

import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from flax import nnx

import mluke_jax
from helpers import TINY_LUKE, convert, hf_luke, luke_inputs, save_hf, to_torch
from mluke_jax import checkpoint, sources


def _params(model):
    return {k: np.asarray(v) for k, v in checkpoint.flatten(nnx.to_pure_dict(nnx.state(model, nnx.Param))).items()}


def test_save_and_load_round_trip(tmp_path):
    config = mluke_jax.LukeConfig(**TINY_LUKE, num_labels=4)
    model = mluke_jax.LukeForEntitySpanClassification.build(config, seed=3)
    model.save_pretrained(tmp_path / "ckpt")
    again = mluke_jax.LukeForEntitySpanClassification.from_pretrained(tmp_path / "ckpt")
    a, b = _params(model), _params(again)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert again.config == config
    loaded = mluke_jax.load_pretrained(tmp_path / "ckpt")
    assert type(loaded) is mluke_jax.LukeForEntitySpanClassification


def test_save_replaces_a_checkpoint_but_never_other_files(tmp_path):
    model = mluke_jax.LukeModel.build(mluke_jax.LukeConfig(**TINY_LUKE))
    model.save_pretrained(tmp_path / "ckpt")
    model.save_pretrained(tmp_path / "ckpt")  # an earlier checkpoint is replaced
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "train.py").write_text("keep me")
    with pytest.raises(FileExistsError, match="holds other files"):
        model.save_pretrained(project)
    assert (project / "train.py").read_text() == "keep me" and (project / "data").is_dir()


def test_unknown_from_pretrained_argument(tmp_path):
    mluke_jax.LukeModel.build(mluke_jax.LukeConfig(**TINY_LUKE)).save_pretrained(tmp_path / "ckpt")
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['remat_policy'\]"):
        mluke_jax.LukeModel.from_pretrained(tmp_path / "ckpt", remat_policy="dots")


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    model = mluke_jax.LukeModel.build(mluke_jax.LukeConfig(**TINY_LUKE))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(checkpoint, "write_directory", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        model.save_pretrained(tmp_path / "ckpt")
    assert list(tmp_path.iterdir()) == []


def test_new_head_on_a_base_checkpoint_and_base_from_a_head(tmp_path):
    config = mluke_jax.LukeConfig(**TINY_LUKE)
    mlm = mluke_jax.LukeForMaskedLM.build(config, seed=1)
    mlm.save_pretrained(tmp_path / "mlm")
    with pytest.warns(UserWarning) as caught:
        ner = mluke_jax.LukeForEntitySpanClassification.from_pretrained(tmp_path / "mlm", num_labels=5)
    messages = [str(w.message) for w in caught]
    assert any("newly initialised ['classifier.linear.bias', 'classifier.linear.kernel']" in m for m in messages)
    assert any("dropped 10 parameters" in m for m in messages)
    assert ner.classifier.linear.kernel[...].shape == (72, 5)
    np.testing.assert_array_equal(
        np.asarray(ner.luke.embeddings.word_embeddings.embedding[...]),
        np.asarray(mlm.luke.embeddings.word_embeddings.embedding[...]),
    )
    with pytest.warns(UserWarning, match="dropped"):
        base = mluke_jax.LukeModel.from_pretrained(tmp_path / "mlm")
    ner.save_pretrained(tmp_path / "ner")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mluke_jax.LukeForEntitySpanClassification.from_pretrained(tmp_path / "ner")
    inputs = luke_inputs(TINY_LUKE)
    np.testing.assert_allclose(
        np.asarray(base(**inputs).last_hidden_state), np.asarray(mlm.luke(**inputs).last_hidden_state), atol=1e-6
    )


@pytest.mark.torch
def test_from_pretrained_reads_a_transformers_directory_directly(tmp_path):
    pytest.importorskip("torch")
    ref = hf_luke("LukeForTokenClassification", num_labels=3)
    src = save_hf(ref, tmp_path / "hf")
    direct = mluke_jax.LukeForTokenClassification.from_pretrained(src)
    converted = mluke_jax.LukeForTokenClassification.from_pretrained(convert(src, tmp_path / "jax"))
    a, b = _params(direct), _params(converted)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    import torch

    inputs = luke_inputs(ref.config.to_dict())
    with torch.no_grad():
        expected = ref(**to_torch(inputs)).logits.numpy()
    np.testing.assert_allclose(np.asarray(direct(**inputs).logits), expected, atol=1e-4)


def test_hub_name_offline_fails_fast():
    with pytest.raises(OSError, match="HF_HUB_OFFLINE"):
        mluke_jax.LukeModel.from_pretrained("studio-ousia/mluke-base-lite")


def test_a_converted_model_runs_without_torch(tmp_path):
    """torch and transformers are conversion extras: loading and running must not import them."""
    model = mluke_jax.LukeForMaskedLM.build(mluke_jax.LukeConfig(**TINY_LUKE))
    model.save_pretrained(tmp_path / "ckpt")
    expected = np.asarray(model(**luke_inputs(TINY_LUKE)).logits)
    np.save(tmp_path / "expected.npy", expected)
    script = textwrap.dedent(
        f"""
        import sys, importlib.abc
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "transformers"):
                    raise ImportError(f"{{name}} is blocked in this test")
        sys.meta_path.insert(0, Block())
        sys.path.insert(0, {str(Path_tests())!r})
        import numpy as np, mluke_jax
        from helpers import TINY_LUKE, luke_inputs
        model = mluke_jax.LukeForMaskedLM.from_pretrained({str(tmp_path / "ckpt")!r})
        got = np.asarray(model(**luke_inputs(TINY_LUKE)).logits)
        assert np.array_equal(got, np.load({str(tmp_path / "expected.npy")!r}))
        assert "torch" not in sys.modules and "transformers" not in sys.modules
        print("ran without torch")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "ran without torch" in result.stdout, result.stderr[-3000:]


def Path_tests():
    from pathlib import Path

    return Path(__file__).parent


def test_loading_warnings_name_the_callers_line_and_every_parameter(tmp_path):
    """Whichever entry point is used, a warning points at the line that called the library, and
    the number of parameters it reports is the length of the list it gives."""
    import ast
    import re

    mluke_jax.LukeForMaskedLM.build(mluke_jax.LukeConfig(**TINY_LUKE)).save_pretrained(tmp_path / "mlm")
    loads = (
        lambda: mluke_jax.LukeModel.from_pretrained(tmp_path / "mlm"),
        lambda: mluke_jax.LukeForEntityClassification.from_pretrained(tmp_path / "mlm", num_labels=2),
        lambda: sources.load_pretrained(tmp_path / "mlm", mluke_jax.LukeModel),
    )
    for load in loads:
        with pytest.warns(UserWarning) as caught:
            load()
        assert caught and all(w.filename == __file__ for w in caught), [(w.filename, str(w.message)) for w in caught]
    message = next(str(w.message) for w in caught if "dropped" in str(w.message))
    count, names = re.search(r"dropped (\d+) parameters (\[.*\])", message).groups()
    assert int(count) == len(ast.literal_eval(names)) > 8, message


def _damaged_cases(directory):
    """Every way to damage a converted directory: each file under it removed, truncated to half,
    or filled with other bytes of the same length."""
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    assert len(files) > 5
    for path in files:
        data = path.read_bytes()
        yield path, "removed", None
        yield path, "truncated", data[: len(data) // 2]
        yield path, "garbled", bytes((b * 7 + 13) % 256 for b in data)


# Orbax's asyncio reads of a failed restore: the library closes their coroutines (checkpoint.py,
# _release_frames), but one may still report "Event loop is closed" when it is finalised
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_damaged_checkpoint_is_an_error_naming_it_whichever_file_is_hit(tmp_path):
    """Orbax alone raises OUT_OF_RANGE, 'NoneType' object has no attribute 'tree', or nothing at
    all, depending on the file: every damage must either leave the loaded values exactly right
    (a file Orbax does not need) or raise one error that names the checkpoint and the part."""
    directory = tmp_path / "ckpt"
    model = mluke_jax.LukeModel.build(mluke_jax.LukeConfig(**TINY_LUKE), seed=0)
    model.save_pretrained(directory)
    expected = checkpoint.checkpoint_params(model)
    outcomes = {"error": 0, "intact": 0}
    for path, damage, content in _damaged_cases(directory):
        original = path.read_bytes()
        if content is None:
            path.unlink()
        else:
            path.write_bytes(content)
        try:
            loaded = mluke_jax.LukeModel.from_pretrained(directory)
        except (ValueError, FileNotFoundError) as e:
            message = str(e)
            part = path.relative_to(directory)
            assert "incomplete or damaged" in message and str(directory) in message, (part, damage, message)
            if part.parts[0] != "params" or part.name == "_METADATA":
                assert str(part.parts[0]).rstrip("/") in message, (part, damage, message)
            outcomes["error"] += 1
        else:
            got = checkpoint.checkpoint_params(loaded)
            assert got.keys() == expected.keys(), (path, damage)
            for name in expected:
                assert np.array_equal(np.asarray(got[name]), np.asarray(expected[name])), (path, damage, name)
            outcomes["intact"] += 1
        finally:
            path.write_bytes(original)
    assert outcomes["error"] >= 20, outcomes
    # the directory is whole again; one written before checksums were recorded loads too
    metadata = json.loads((directory / checkpoint.METADATA_FILE).read_text())
    assert len(metadata.pop("checksums")) == len(expected)
    (directory / checkpoint.METADATA_FILE).write_text(json.dumps(metadata))
    loaded = checkpoint.checkpoint_params(mluke_jax.LukeModel.from_pretrained(directory))
    assert all(np.array_equal(np.asarray(loaded[k]), np.asarray(v)) for k, v in expected.items())


def test_architectures_are_listed_explicitly_and_a_subclass_is_not_added(tmp_path):
    names = {
        name
        for name in mluke_jax.__all__
        if name.startswith(("Luke", "XLM")) and not name.endswith(("Config", "Tokenizer", "PreTrainedModel"))
    }
    assert set(mluke_jax.ARCHITECTURES) == names and len(names) == 16
    with pytest.raises(TypeError):
        mluke_jax.ARCHITECTURES["Mine"] = mluke_jax.LukeModel  # read-only

    class MyEntityHead(mluke_jax.LukeForEntityClassification):
        pass

    assert "MyEntityHead" not in mluke_jax.ARCHITECTURES
    model = MyEntityHead.build(mluke_jax.LukeConfig(**TINY_LUKE), seed=0)
    model.save_pretrained(tmp_path / "mine")
    again = MyEntityHead.from_pretrained(tmp_path / "mine")  # the class itself loads its checkpoint
    assert type(again) is MyEntityHead
    with pytest.raises(
        ValueError, match=r"architecture 'MyEntityHead' is not implemented \(known: \['LukeForEntityClassification'"
    ):
        mluke_jax.load_pretrained(tmp_path / "mine")
