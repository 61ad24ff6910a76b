"""Models in a ``gs://`` bucket: converting into it, loading from it, saving into it, and what a
killed upload leaves; against a real GCS emulator (``fake-gcs-server``) and the real client
libraries (gcsfs, TensorStore), see ``tests/gcs_emulator.py``."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from etils import epath

import mluke_jax
from helpers import MLUKE_TOKENIZER_DATA, TINY_LUKE, save_luke_with_test_tokenizer

pytestmark = pytest.mark.torch


def _tiny_ner(tmp_path):
    return save_luke_with_test_tokenizer(tmp_path / "hf", "LukeModel")


def _run(args, env, cwd, timeout=240):
    """A command line in a fresh process pointed at the emulator; its output on failure."""
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_convert_into_a_bucket_and_load_from_it(tmp_path, bucket):
    """``python -m convert SRC gs://...`` (SRC relative, from a fresh working directory), then
    ``from_pretrained`` and the tokenizer straight from the bucket: the same outputs as the local
    conversion; converting again is refused without --overwrite."""
    src = _tiny_ner(tmp_path)
    _run(["-m", "convert", "hf", f"{bucket}/models/ner", "--quiet"], bucket.env, cwd=tmp_path)
    _run(["-m", "convert", "hf", "local", "--quiet"], bucket.env, cwd=tmp_path)
    names = sorted(p.name for p in epath.Path(f"{bucket}/models/ner").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "local").iterdir())
    assert "params" in names and "mluke_jax.json" in names and "sentencepiece.bpe.model" in names

    remote = mluke_jax.LukeModel.from_pretrained(f"{bucket}/models/ner")
    local = mluke_jax.LukeModel.from_pretrained(tmp_path / "local")
    tokenizer = mluke_jax.MLukeTokenizer.from_pretrained(f"{bucket}/models/ner")
    inputs = tokenizer("Paris is in France.", entity_spans=[(0, 5), (12, 18)], return_tensors="np")
    ours, theirs = remote(**inputs), local(**inputs)
    for field in ("last_hidden_state", "entity_last_hidden_state"):
        assert np.array_equal(np.asarray(getattr(ours, field)), np.asarray(getattr(theirs, field)))
    assert tokenizer.entity_vocab == mluke_jax.MLukeTokenizer.from_pretrained(src).entity_vocab

    again = subprocess.run(
        [sys.executable, "-m", "convert", "hf", f"{bucket}/models/ner", "--quiet"],
        cwd=tmp_path, env={**os.environ, **bucket.env}, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert again.returncode != 0 and "already holds a mluke-jax checkpoint" in again.stderr
    _run(["-m", "convert", "hf", f"{bucket}/models/ner", "--quiet", "--overwrite"], bucket.env, cwd=tmp_path)


def test_save_pretrained_into_a_bucket_and_other_files_are_kept(bucket):
    model = mluke_jax.LukeForMaskedLM.build(mluke_jax.LukeConfig(**TINY_LUKE))
    model.save_pretrained(f"{bucket}/mlm")
    model.save_pretrained(f"{bucket}/mlm")  # an earlier checkpoint is replaced
    again = mluke_jax.LukeForMaskedLM.from_pretrained(f"{bucket}/mlm")
    ids = np.array([[0, 5, 6, 7, 2]])
    assert np.array_equal(np.asarray(model(ids).logits), np.asarray(again(ids).logits))
    epath.Path(f"{bucket}/project/notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds other files"):
        model.save_pretrained(f"{bucket}/project")
    assert epath.Path(f"{bucket}/project/notes.txt").read_text() == "mine"


def test_an_upload_killed_half_way_leaves_nothing_that_loads(bucket, monkeypatch):
    """Objects are uploaded with ``mluke_jax.json`` last: without it the prefix is no checkpoint,
    and loading it says so; a failed save uploads nothing at all."""
    from mluke_jax import remote

    model = mluke_jax.LukeModel.build(mluke_jax.LukeConfig(**TINY_LUKE))
    real_copy = remote.copy_file

    def dies_on_marker(source, target):
        if str(target).endswith("mluke_jax.json"):
            raise KeyboardInterrupt  # killed before the last object
        real_copy(source, target)

    monkeypatch.setattr(remote, "copy_file", dies_on_marker)
    with pytest.raises(KeyboardInterrupt):
        model.save_pretrained(f"{bucket}/half")
    monkeypatch.setattr(remote, "copy_file", real_copy)
    assert epath.Path(f"{bucket}/half/params").exists()  # the objects before it are there ...
    with pytest.raises(mluke_jax.checkpoint.DamagedCheckpointError, match="no mluke_jax.json"):
        mluke_jax.LukeModel.from_pretrained(f"{bucket}/half")  # ... and refused

    def fails(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(mluke_jax.checkpoint, "write_directory", fails)
    with pytest.raises(OSError, match="disk full"):
        model.save_pretrained(f"{bucket}/never")
    assert not epath.Path(f"{bucket}/never").exists()


def test_missing_bucket_unknown_scheme_and_unreachable_service(tmp_path, bucket):
    model = mluke_jax.LukeModel.build(mluke_jax.LukeConfig(**TINY_LUKE))
    with pytest.raises(FileNotFoundError, match="gs://no-such-bucket-here does not exist"):
        model.save_pretrained("gs://no-such-bucket-here/model")
    with pytest.raises(FileNotFoundError, match="gs://no-such-bucket-here does not exist"):
        mluke_jax.LukeModel.from_pretrained("gs://no-such-bucket-here/model")
    with pytest.raises(ValueError, match=r"no installed file system handles nosuchfs:// paths"):
        mluke_jax.LukeModel.from_pretrained("nosuchfs://bucket/model")
    # a service that does not answer: an error naming the URI within seconds, not a hang
    env = {**bucket.env, "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9", "MLUKE_JAX_REMOTE_TIMEOUT": "5"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", "import mluke_jax; mluke_jax.LukeModel.from_pretrained('gs://somewhere/model')"],
        cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode != 0 and "gs://somewhere/model" in done.stderr, done.stderr[-2000:]
    assert "ConnectionError" in done.stderr
    print(f"unreachable bucket reported in {elapsed:.1f} s")
    assert elapsed < 60


def test_tokenizer_files_from_a_bucket(bucket):
    target = epath.Path(f"{bucket}/tok")
    for name in ("sentencepiece.bpe.model", "entity_vocab.json", "added_tokens.json", "tokenizer_config.json"):
        (target / name).write_bytes((MLUKE_TOKENIZER_DATA / name).read_bytes())
    ours = mluke_jax.MLukeTokenizer.from_pretrained(str(target))
    reference = mluke_jax.MLukeTokenizer.from_pretrained(MLUKE_TOKENIZER_DATA)
    assert ours("Berlin")["input_ids"] == reference("Berlin")["input_ids"]
    assert ours.entity_vocab == reference.entity_vocab


def test_to_hf_from_and_into_a_bucket(tmp_path, bucket):
    """``python -m convert gs://.../model gs://.../hf --to-hf``: a transformers directory in the
    bucket (``config.json`` uploaded last) that transformers loads with the same weights."""
    import torch
    import transformers

    from convert.__main__ import main as convert_main
    from mluke_jax.paths import local_copy

    src = _tiny_ner(tmp_path)
    assert convert_main([str(src), f"{bucket}/jax", "--quiet"]) == 0
    assert convert_main([f"{bucket}/jax", f"{bucket}/hf", "--to-hf", "--quiet"]) == 0
    back = transformers.LukeModel.from_pretrained(local_copy(f"{bucket}/hf"))
    original = transformers.LukeModel.from_pretrained(src)
    for name, value in original.state_dict().items():
        assert torch.equal(value, back.state_dict()[name]), name
