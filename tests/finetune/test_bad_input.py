"""Mistakes people make with the fine-tuning and predict commands: a model without a trained head,
no epochs, files in another encoding, a damaged checkpoint. Each is an error (or a fallback) that
names the problem; none a silent wrong answer or a page of tracebacks."""

import json
import warnings
from pathlib import Path

import pytest

import mluke_jax
from mluke_jax.checkpoint import copy_tokenizer_files
from mluke_jax.finetune import Predictor
from mluke_jax.finetune.__main__ import main
from mluke_jax.finetune.prediction import UntrainedHeadError

DATA = Path(__file__).resolve().parents[1] / "data" / "finetune"
pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def pretraining_output(mluke_dir, tmp_path_factory):
    """What ``pretrain luke`` writes as ``RUN/model``: a LukeForMaskedLM with its tokenizer files."""
    out = tmp_path_factory.mktemp("pretrained") / "model"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the masked-LM heads are new here
        mluke_jax.LukeForMaskedLM.from_pretrained(mluke_dir).save_pretrained(out)
    copy_tokenizer_files(mluke_dir, out)
    return out


def predict_args(model, tmp_path, task="ner", text="Tokyo is the capital of Japan.\n"):
    (tmp_path / "in.txt").write_text(text, encoding="utf-8")
    return ["predict", task, "--model", str(model), "--input", str(tmp_path / "in.txt"), "--output",
            str(tmp_path / "out.jsonl"), "--quiet"]  # fmt: skip


@pytest.mark.parametrize("which", ["pretraining output", "bare encoder"])
def test_predict_refuses_a_model_without_a_trained_task_head(which, pretraining_output, mluke_dir, tmp_path, capsys):
    model = pretraining_output if which == "pretraining output" else mluke_dir
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an error, not a warning that filters may hide
        assert main(predict_args(model, tmp_path)) == 1
    error = capsys.readouterr().err
    assert f"error: {model} has no trained LukeForEntitySpanClassification head" in error
    assert "classifier.linear.kernel" in error and "fine-tune it first, python -m mluke_jax.finetune ner" in error
    assert not (tmp_path / "out.jsonl").exists()
    with pytest.raises(UntrainedHeadError):
        Predictor("xnli", str(model))


def test_predict_with_a_fine_tuned_head_still_loads_without_warnings(head_dir, tmp_path):
    model = head_dir("LukeForEntitySpanClassification", ["O", "LOC", "PER"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(predict_args(model, tmp_path)) == 0
    record = json.loads((tmp_path / "out.jsonl").read_text())
    assert record["line"] == 1 and "entities" in record


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--epochs", "0", "--epochs must be > 0, got 0"),
        ("--epochs", "-2", "--epochs must be > 0, got -2"),
        ("--epochs", "nan", "--epochs must be > 0, got nan"),
        ("--batch-size", "0", "--batch-size must be at least 1, got 0"),
        ("--accumulation-steps", "0", "--accumulation-steps must be at least 1, got 0"),
        ("--learning-rate", "0", "--learning-rate must be > 0, got 0"),
        ("--warmup-ratio", "1.5", "--warmup-ratio must be in [0, 1), got 1.5"),
    ],
)
def test_numbers_that_describe_no_training_are_refused_before_anything_is_written(
    option, value, message, mluke_dir, tmp_path, capsys
):
    args = ["ner", "--model", str(mluke_dir), "--train", str(DATA / "conll_train.txt"), "--eval",
            str(DATA / "conll_eval.txt"), "--output", str(tmp_path / "out"), "--quiet", option, value]  # fmt: skip
    assert main(args) == 1
    assert f"error: {message}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def latin1_conll(path):
    path.write_bytes("Köln NN O B-LOC\nis NN O O\n\nMünchen NN O B-LOC\n".encode("latin-1"))
    return path


def test_files_not_in_utf8_name_the_file_the_line_and_the_encoding(mluke_dir, head_dir, tmp_path, capsys):
    bad = latin1_conll(tmp_path / "conll_latin1.txt")
    args = ["ner", "--model", str(mluke_dir), "--train", str(bad), "--eval", str(DATA / "conll_eval.txt"),
            "--output", str(tmp_path / "out"), "--quiet"]  # fmt: skip
    assert main(args) == 1
    error = capsys.readouterr().err
    assert f"error: {bad}:1: byte 0xf6 at column 2 is not UTF-8; text files are read as UTF-8" in error
    assert f"iconv -f latin1 -t utf-8 {bad} > {tmp_path / 'utf8-conll_latin1.txt'}" in error
    assert not (tmp_path / "out").exists()
    # predict's input: the line of the first bad byte
    model = head_dir("LukeForEntitySpanClassification", ["O", "LOC", "PER"])
    args = predict_args(model, tmp_path)
    (tmp_path / "in.txt").write_bytes("Tokyo is big.\nParis too.\nZürich\n".encode("latin-1"))
    assert main(args) == 1
    assert f"{tmp_path / 'in.txt'}:3: byte 0xfc at column 2 is not UTF-8" in capsys.readouterr().err
    (tmp_path / "in.txt").write_bytes("Tokyo is big.\n".encode("utf-16"))
    assert main(args) == 1
    assert "in.txt:1: the file is UTF-16" in capsys.readouterr().err
    (tmp_path / "in.txt").write_bytes("\ufeffTokyo is big.\r\n".encode())  # a BOM and CRLF are fine
    assert main(args) == 0


def test_a_recipe_resumes_past_a_damaged_checkpoint(mluke_dir, tmp_path, capsys):
    args = ["relation", "--model", str(mluke_dir), "--train", str(DATA / "tacred_train.json"), "--eval",
            str(DATA / "tacred_eval.json"), "--output", str(tmp_path / "run"), "--quiet", "--epochs", "1",
            "--batch-size", "8", "--save-every", "2", "--max-length", "32"]  # fmt: skip
    assert main(args) == 0
    checkpoints = tmp_path / "run" / "checkpoints"
    steps = sorted(int(p.name) for p in checkpoints.iterdir() if p.name.isdigit())
    assert len(steps) == 2  # kept: the last two
    newest = checkpoints / str(steps[-1]) / "state"
    largest = max(newest.glob("ocdbt.process_*/d/*"), key=lambda p: p.stat().st_size)  # array data
    largest.write_bytes(largest.read_bytes()[:50])
    fallback = rf"resuming from step {steps[0]} of .*: the newer checkpoint .*/{steps[-1]} is incomplete or damaged"
    with pytest.warns(UserWarning, match=fallback):
        assert main(args) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Event loop is closed" not in err
    # nothing intact: one error line, the run directory kept as it was
    for step_dir in (p for p in checkpoints.iterdir() if p.name.isdigit()):
        (step_dir / "record" / "metadata").write_text("{")
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"error: no intact checkpoint in {checkpoints}" in err and "Traceback" not in err
    assert (tmp_path / "run" / "model").is_dir()
