"""Every entry point as a user calls it: from their own working directory, with relative names
(and ``~``); local paths are never taken for hub names; a ``convert.py`` of the user's does not
shadow anything the library needs."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import mluke_jax
from helpers import luke_inputs

pytest.importorskip("torch")
pytestmark = pytest.mark.torch
DATA = Path(__file__).resolve().parent / "data" / "finetune"
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A user's directory holding ``hf/`` (a transformers LukeForMaskedLM with tokenizer files)."""
    from helpers import save_luke_with_test_tokenizer

    root = tmp_path_factory.mktemp("user")
    save_luke_with_test_tokenizer(root / "hf", "LukeForMaskedLM")
    return root


@pytest.fixture
def unreachable_hub(monkeypatch):
    """Not forced offline, but nothing answers at the hub's address (as on a machine without a network)."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: connection refused


@pytest.fixture
def in_workdir(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    return workdir


def test_convert_load_save_and_tokenize_with_relative_names(in_workdir):
    from convert.__main__ import main as convert_main

    assert convert_main(["hf", "rel-jax", "--quiet", "--overwrite"]) == 0
    model = mluke_jax.LukeForMaskedLM.from_pretrained("rel-jax")
    inputs = luke_inputs(model.config.to_hf_dict())
    expected = np.asarray(model(**inputs).logits)
    for loaded in (
        mluke_jax.load_pretrained("rel-jax"),
        mluke_jax.LukeForMaskedLM.from_pretrained("hf"),
        mluke_jax.load_pretrained("./rel-jax/"),
    ):
        assert np.array_equal(np.asarray(loaded(**inputs).logits), expected)
    model.save_pretrained("saved/model")  # a relative path two levels deep
    assert np.array_equal(
        np.asarray(mluke_jax.LukeForMaskedLM.from_pretrained("saved/model")(**inputs).logits), expected
    )
    tok = mluke_jax.MLukeTokenizer.from_pretrained("rel-jax")
    assert tok("Tokyo", entity_spans=[(0, 5)])["entity_ids"]


def test_tilde_paths(in_workdir, monkeypatch):
    from convert.__main__ import main as convert_main

    monkeypatch.setenv("HOME", str(in_workdir))
    assert convert_main(["~/hf", "~/tilde-jax", "--quiet", "--overwrite"]) == 0
    assert (in_workdir / "tilde-jax" / "params").is_dir()
    assert mluke_jax.LukeModel.from_pretrained("~/tilde-jax").config.hidden_size == 24


def test_export_and_prune_with_relative_names(in_workdir):
    from convert.__main__ import main as convert_main
    from convert.prune_entities import main as prune_main

    assert convert_main(["hf", "jax", "--quiet", "--overwrite"]) == 0
    assert convert_main(["--to-hf", "jax", "back", "--quiet", "--overwrite"]) == 0
    assert (in_workdir / "back" / "model.safetensors").is_file()
    languages = sorted(
        {
            name.split(":")[0]
            for name in json.loads((in_workdir / "jax" / "entity_vocab.json").read_text())
            if ":" in name
        }
    )
    assert prune_main(["jax", "pruned", "--languages", languages[0], "--quiet", "--overwrite"]) == 0
    assert (
        mluke_jax.LukeModel.from_pretrained("pruned").config.entity_vocab_size
        < mluke_jax.LukeModel.from_pretrained("jax").config.entity_vocab_size
    )


def test_finetune_and_training_checkpoints_with_relative_names(in_workdir):
    from convert.__main__ import main as convert_main
    from mluke_jax.finetune.__main__ import main as finetune_main

    assert convert_main(["hf", "jax", "--quiet", "--overwrite"]) == 0
    shutil.copy(DATA / "xnli_train.tsv", "train.tsv")
    shutil.copy(DATA / "xnli_eval.tsv", "eval.tsv")
    shutil.rmtree("runs", ignore_errors=True)
    args = [
        "xnli",
        "--model",
        "jax",
        "--train",
        "train.tsv",
        "--eval",
        "eval.tsv",
        "--output",
        "runs/xnli",
        "--epochs",
        "1",
        "--max-length",
        "24",
        "--save-every",
        "2",
        "--quiet",
    ]
    assert finetune_main(args) == 0
    assert finetune_main(args) == 0  # the rerun resumes from runs/xnli/checkpoints
    assert (in_workdir / "runs" / "xnli" / "checkpoints").is_dir()
    assert mluke_jax.load_pretrained("runs/xnli/model").config.num_labels == 3


def test_demo_with_a_relative_workdir(in_workdir, capsys):
    from convert.cli import main as cli_main

    assert cli_main(["demo", "--workdir", "demo", "--repeats", "1"]) == 0
    assert (in_workdir / "demo" / "jax" / "params").is_dir()
    assert "PASS" in capsys.readouterr().out


@pytest.mark.parametrize(
    "name",
    [
        "mlm_ende_1024.pth",
        "models/mine/",
        "./mluke",
        "~/nowhere/model",
        "../mluke-lite",
        "a/b/c",
        "weights.safetensors",
    ],
)
def test_a_missing_local_path_is_not_a_hub_name(name, in_workdir, unreachable_hub, capsys):
    """No download attempt (one would fail with another error): the path is reported at once."""
    from convert.__main__ import main as convert_main

    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match=f"no such file or directory: {name}"):
        mluke_jax.LukeModel.from_pretrained(name)
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        mluke_jax.MLukeTokenizer.from_pretrained(name)
    assert convert_main([name, "out", "--quiet"]) == 1
    assert f"no such file or directory: {name}" in capsys.readouterr().err
    assert time.perf_counter() - start < 2
    assert not (in_workdir / "out").exists()


def test_a_hub_name_offline_fails_within_seconds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(OSError, match="HF_HUB_OFFLINE is set"):
        mluke_jax.LukeModel.from_pretrained("studio-ousia/mluke-base-lite")
    assert time.perf_counter() - start < 5


def test_a_hub_name_without_network_fails_within_seconds(tmp_path, monkeypatch, unreachable_hub):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    start = time.perf_counter()
    for load in (mluke_jax.LukeModel.from_pretrained, mluke_jax.XLMTokenizer.from_pretrained):
        with pytest.raises(
            OSError,
            match="could not download 'FacebookAI/xlm-mlm-ende-1024' from the Hugging Face hub .* Are you offline",
        ):
            load("FacebookAI/xlm-mlm-ende-1024")
    assert time.perf_counter() - start < 5


SHADOWED = """
import mluke_jax
model = mluke_jax.LukeForMaskedLM.from_pretrained("hf")          # a transformers directory: converted in memory
tok = mluke_jax.MLukeTokenizer.from_pretrained("hf")
batch = tok(["Tokyo is big."], entity_spans=[[(0, 5)]], return_tensors="np")
print("ok", model(**batch).logits.shape)
"""


def test_a_convert_py_in_the_working_directory_does_not_shadow_the_library(workdir, tmp_path):
    """``python -c`` puts the working directory first on ``sys.path``, as a notebook or a script there does."""
    user = tmp_path / "project"
    user.mkdir()
    shutil.copytree(workdir / "hf", user / "hf")
    (user / "convert.py").write_text("raise SystemExit('the user convert.py was imported')\n")
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    result = subprocess.run(
        [sys.executable, "-c", SHADOWED], cwd=user, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and "ok (1," in result.stdout, result.stderr[-3000:]


def test_uris_resolve_as_they_are_and_local_paths_as_absolute(tmp_path, monkeypatch):
    from etils import epath

    from mluke_jax import paths

    monkeypatch.chdir(tmp_path)
    assert paths.uri_scheme("gs://bucket/run") == "gs" and paths.uri_scheme("runs/a") is None
    assert paths.uri_scheme("file:///tmp/x") is None and paths.is_remote("gs://b") and not paths.is_remote("~/x")
    assert os.fspath(paths.resolve("gs://bucket/run")) == "gs://bucket/run"
    assert isinstance(paths.resolve("gs://bucket/run"), epath.Path)
    assert os.fspath(paths.resolve("run")) == str(tmp_path / "run")
    assert os.fspath(paths.resolve("~/x")) == os.path.expanduser("~/x")
    assert os.fspath(paths.resolve("file:///tmp/x")) == "/tmp/x"
    assert paths.looks_like_path("gs://bucket/model")  # never taken for a hub repository id
    with pytest.raises(ValueError, match="gs://bucket/run is a gs:// URI; this needs a local path"):
        paths.local_path("gs://bucket/run")  # what was /cwd/gs:/bucket/run before
    with pytest.raises(ValueError, match="no installed file system handles nosuchfs:// paths"):
        paths.resolve("nosuchfs://bucket/run")
    assert paths.local_copy("run") == tmp_path / "run"
