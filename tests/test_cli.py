"""The README's first command: ``mluke-jax demo`` on its embedded default, and ``mluke-jax convert``."""

import re

import pytest

from convert.cli import main

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytestmark = pytest.mark.torch


def test_demo_builds_converts_compares_and_times(tmp_path, capsys):
    code = main(["demo", "--workdir", str(tmp_path), "--repeats", "2"])
    captured = capsys.readouterr()
    out = captured.out
    assert "tokenized 2 sentences with 6 entity spans (MLukeTokenizer)" in captured.err
    assert "'Marie Curie' -> tokens" in captured.err
    assert code == 0, out
    assert "PASS: every output within 0.0001" in out
    for needle in (
        "| entity-aware attention off | logits |",
        "| entity-aware attention on | entity_logits |",
        "JAX / PyTorch",
    ):
        assert needle in out
    assert "JAX / PyTorch is JAX's time divided by PyTorch's: below 1 JAX is faster" in out
    assert "cores, JAX on cpu" in out  # the machine the times were taken on
    assert (tmp_path / "jax" / "params").is_dir() and (tmp_path / "hf" / "model.safetensors").is_file()


def test_demo_on_a_given_checkpoint_directory(tmp_path, capsys):
    from helpers import hf_luke, save_hf

    src = save_hf(hf_luke("LukeForEntityClassification", num_labels=3), tmp_path / "given")
    code = main(["demo", "--model", str(src), "--workdir", str(tmp_path / "work"), "--repeats", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "LukeForEntityClassification" in out
    assert re.search(r"\| logits \| [0-9.e+-]+ \| yes \|", out), out


def test_convert_subcommand(tmp_path, capsys):
    from helpers import hf_luke, save_hf

    src = save_hf(hf_luke("LukeModel"), tmp_path / "hf")
    assert main(["convert", str(src), str(tmp_path / "jax"), "--quiet"]) == 0
    assert "converted" in capsys.readouterr().out


def test_timing_takes_enough_calls_for_a_stable_median():
    """At least ``repeats`` calls, more until ``min_seconds`` is filled, after untimed warm-up calls."""
    import time

    from mluke_jax.timing import median_seconds

    calls = []
    seconds = median_seconds(lambda: (calls.append(1), time.sleep(0.01)), 3, min_seconds=0.2, warmup=2)
    assert 0.009 < seconds < 0.05
    assert len(calls) >= 2 + 10  # 0.2 s of calls of 10-20 ms, plus the warm-up
    calls.clear()
    median_seconds(lambda: calls.append(1), 5)
    assert len(calls) == 5
