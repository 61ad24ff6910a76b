"""``python -m convert``: every file layout, and every way a checkpoint can be wrong."""

import json
import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest

import mluke_jax
from convert.__main__ import main as convert_main
from helpers import compare_outputs, convert, hf_luke, luke_inputs, save_hf, to_torch

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def reference():
    return hf_luke("LukeForEntityPairClassification", num_labels=3)


def _expect_failure(tmp_path, src, capsys, *needles, extra=()):
    dst = tmp_path / "out"
    code = convert_main([str(src), str(dst), "--quiet", *extra])
    err = capsys.readouterr().err
    assert code == 1, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in: {err}"
    assert not dst.exists(), "a failed conversion must leave no output directory"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp")], "temporary directory left behind"
    return err


@pytest.mark.parametrize(
    "fmt", ["save_pretrained", "safetensors", "bin", "sharded-safetensors", "sharded-bin", "save_pretrained-shards"]
)
def test_file_layouts_convert_to_the_same_model(tmp_path, reference, fmt):
    if fmt == "save_pretrained-shards":  # transformers' own sharding (safetensors only in 5.x)
        src = tmp_path / "hf"
        reference.save_pretrained(src, max_shard_size="20KB")
        assert len(list(src.glob("model-*.safetensors"))) > 1 and (src / "model.safetensors.index.json").is_file()
    else:
        src = save_hf(reference, tmp_path / "hf", fmt=fmt)
    ours = mluke_jax.LukeForEntityPairClassification.from_pretrained(convert(src, tmp_path / "jax"))
    inputs = luke_inputs(reference.config.to_dict())
    with torch.no_grad():
        expected = reference(**to_torch(inputs))
    compare_outputs(ours(**inputs), expected, atol=1e-4)


def test_cli_prints_time_and_peak_memory_and_copies_tokenizer_files(tmp_path, reference):
    src = save_hf(reference, tmp_path / "hf")
    (src / "sentencepiece.bpe.model").write_bytes(b"spm")
    (src / "entity_vocab.json").write_text(json.dumps({"[PAD]": 0, "[UNK]": 1, "[MASK]": 2}))
    dst = tmp_path / "jax"
    result = subprocess.run(
        [sys.executable, "-m", "convert", str(src), str(dst)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "peak memory" in result.stdout and " s, " in result.stdout
    assert "converting" in result.stderr  # the progress bar
    assert (dst / "sentencepiece.bpe.model").read_bytes() == b"spm"
    assert (dst / "entity_vocab.json").is_file() and (dst / "config.json").is_file() and (dst / "params").is_dir()
    meta = json.loads((dst / "mluke_jax.json").read_text())
    assert meta["architecture"] == "LukeForEntityPairClassification" and meta["param_dtype"] == "float32"


def test_missing_key_is_an_error_listing_it(tmp_path, reference, capsys):
    src = save_hf(reference, tmp_path / "hf", fmt="safetensors", drop=("luke.encoder.layer.1.output.dense.bias",))
    _expect_failure(tmp_path, src, capsys, "missing keys", "luke.encoder.layer.1.output.dense.bias")


def test_unexpected_key_is_an_error_listing_it(tmp_path, reference, capsys):
    src = save_hf(reference, tmp_path / "hf")
    from safetensors.numpy import load_file, save_file

    state = load_file(src / "model.safetensors")
    state["luke.encoder.layer.0.attention.self.surprise.weight"] = np.zeros((2, 2), np.float32)
    save_file(state, src / "model.safetensors")
    _expect_failure(tmp_path, src, capsys, "unexpected keys", "surprise.weight")


def test_position_ids_buffer_is_tolerated(tmp_path, reference):
    src = save_hf(reference, tmp_path / "hf")
    from safetensors.numpy import load_file, save_file

    state = load_file(src / "model.safetensors")
    state["luke.embeddings.position_ids"] = np.arange(40, dtype=np.int64)[None]
    save_file(state, src / "model.safetensors")
    convert(src, tmp_path / "jax")


def test_wrong_shape_names_the_key_and_both_shapes(tmp_path, reference, capsys):
    src = save_hf(reference, tmp_path / "hf")
    from safetensors.numpy import load_file, save_file

    state = load_file(src / "model.safetensors")
    state["luke.encoder.layer.1.intermediate.dense.weight"] = np.zeros((41, 24), np.float32)
    save_file(state, src / "model.safetensors")
    _expect_failure(tmp_path, src, capsys, "luke.encoder.layer.1.intermediate.dense.weight", "(41, 24)", "(40, 24)")


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_truncated_file_is_an_error(tmp_path, reference, capsys, fmt):
    src = save_hf(reference, tmp_path / "hf", fmt=fmt)
    path = src / ("model.safetensors" if fmt == "safetensors" else "pytorch_model.bin")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _expect_failure(tmp_path, src, capsys, "truncated" if fmt == "safetensors" else "could not read")


class _RunsCode:
    """Unpickling this would create a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_bin_whose_pickle_would_run_code_is_refused_without_running_it(tmp_path, reference, capsys):
    src = save_hf(reference, tmp_path / "hf", fmt="bin")
    marker = tmp_path / "pwned"
    state = dict(reference.state_dict())
    state["payload"] = _RunsCode(marker)
    torch.save(state, src / "pytorch_model.bin", pickle_module=pickle)
    _expect_failure(tmp_path, src, capsys, "refusing to load", "could run code")
    assert not marker.exists(), "the pickle's code ran"


def test_existing_destination_needs_overwrite(tmp_path, reference, capsys):
    src = save_hf(reference, tmp_path / "hf")
    dst = convert(src, tmp_path / "jax")
    code = convert_main([str(src), str(dst), "--quiet"])
    assert code == 1 and "already holds a mluke-jax checkpoint" in capsys.readouterr().err
    convert(src, dst, "--overwrite")
    assert (dst / "params").is_dir()
    # a directory with anything else in it is never replaced, --overwrite or not
    other = tmp_path / "project"
    other.mkdir()
    (other / "train.py").write_text("keep me")
    code = convert_main([str(src), str(other), "--quiet", "--overwrite"])
    assert code == 1 and "holds other files" in capsys.readouterr().err
    assert (other / "train.py").read_text() == "keep me"


def test_bare_model_without_prefix_and_without_pooler(tmp_path):
    ref = hf_luke("LukeModel")
    drop = ("pooler.dense.weight", "pooler.dense.bias")
    src = save_hf(ref, tmp_path / "hf", fmt="safetensors", drop=drop)
    ours = mluke_jax.LukeModel.from_pretrained(convert(src, tmp_path / "jax"))
    assert ours.pooler is None
    inputs = luke_inputs(ref.config.to_dict())
    with torch.no_grad():
        expected = ref(**to_torch(inputs))
    got = ours(**inputs)
    assert got.pooler_output is None
    np.testing.assert_allclose(np.asarray(got.last_hidden_state), expected.last_hidden_state.numpy(), atol=1e-4)


def test_bfloat16_conversion(tmp_path, reference):
    dst = convert(save_hf(reference, tmp_path / "hf"), tmp_path / "jax", "--dtype", "bfloat16")
    assert json.loads((dst / "mluke_jax.json").read_text())["param_dtype"] == "bfloat16"
    ours = mluke_jax.LukeForEntityPairClassification.from_pretrained(dst)
    assert ours.classifier.linear.kernel[...].dtype == np.dtype("bfloat16")
    inputs = luke_inputs(reference.config.to_dict())
    with torch.no_grad():
        expected = reference(**to_torch(inputs)).logits.numpy()
    got = np.asarray(ours(**inputs).logits, dtype=np.float32)
    # bf16 weights and compute: about 3 significant digits; logits here are O(1).
    np.testing.assert_allclose(got, expected, atol=0.1)
    ours32 = mluke_jax.LukeForEntityPairClassification.from_pretrained(dst, param_dtype="float32")
    assert ours32.classifier.linear.kernel[...].dtype == np.float32


def test_hub_name_fails_fast_offline(tmp_path, capsys):
    start = time.perf_counter()
    code = convert_main(["studio-ousia/mluke-base-lite", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "studio-ousia/mluke-base-lite" in err and "HF_HUB_OFFLINE" in err
    assert time.perf_counter() - start < 10


def test_hub_name_without_network_fails_fast(tmp_path):
    """Not forced offline: the download attempt itself must fail quickly with a clear message."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env["HF_HUB_CACHE"] = str(tmp_path / "cache")
    code = (
        "from mluke_jax.hf.hub import resolve_source\n"
        "try:\n    resolve_source('studio-ousia/mluke-base-lite')\n"
        "except OSError as e:\n    print('ERR', e)\n"
    )
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    if "ERR" not in result.stdout:
        pytest.fail(f"the hub download did not fail here (online?): {result.stdout} {result.stderr}")
    assert "offline" in result.stdout.lower() and elapsed < 60


def test_source_that_is_not_a_checkpoint(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    _expect_failure(tmp_path, tmp_path / "empty", capsys, "config.json")
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text(json.dumps({"model_type": "luke", "architectures": ["LukeModel"]}))
    _expect_failure(tmp_path, tmp_path / "cfg", capsys, "no weights")


def test_unknown_model_type(tmp_path, capsys):
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    _expect_failure(tmp_path, tmp_path / "bert", capsys, "model_type 'bert'")


def test_bin_with_shared_storages(tmp_path):
    """torch.save of a live state dict keeps tied tensors in one storage; reading one (and releasing
    its mapped pages) must not disturb the other."""
    ref = hf_luke("LukeForMaskedLM")
    src = tmp_path / "hf"
    src.mkdir()
    ref.config.architectures = ["LukeForMaskedLM"]
    ref.config.save_pretrained(src)
    state = ref.state_dict()
    assert (
        state["entity_predictions.decoder.weight"].data_ptr()
        == state["luke.entity_embeddings.entity_embeddings.weight"].data_ptr()
    )
    torch.save(state, src / "pytorch_model.bin")
    ours = mluke_jax.LukeForMaskedLM.from_pretrained(convert(src, tmp_path / "jax"))
    inputs = luke_inputs(ref.config.to_dict())
    with torch.no_grad():
        expected = ref(**to_torch(inputs))
    compare_outputs(ours(**inputs), expected, atol=1e-4)


def test_progress_in_a_log_is_lines_not_a_bar(tmp_path, reference, capsys):
    """stderr is not a terminal under pytest, as in a log file: no half-drawn bar (a lone "0%")."""
    src = save_hf(reference, tmp_path / "hf")
    capsys.readouterr()  # transformers' own save_pretrained draws bars
    assert convert_main([str(src), str(tmp_path / "jax")]) == 0
    err = capsys.readouterr().err
    assert "%|" not in err and "\r" not in err, err
    assert f"converting {src} ..." in err and "writing Orbax checkpoint" in err
