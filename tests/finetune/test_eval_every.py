"""Fine-tuning logs as pretraining does (metrics.jsonl, TensorBoard), evaluates every
``--eval-every`` steps and keeps the best model by ``--select-best``, as the original examples
keep their best epoch."""

import json
from pathlib import Path

import pytest

from mluke_jax.finetune.__main__ import main

DATA = Path(__file__).resolve().parents[1] / "data" / "finetune"
pytestmark = pytest.mark.torch


def test_evaluations_are_logged_and_the_best_model_is_kept(mluke_dir, tmp_path, capsys):
    import mluke_jax
    from mluke_jax.finetune.run import load_tokenizer, predict
    from mluke_jax.finetune.tasks import TASKS, Settings

    output = tmp_path / "run"
    args = ["ner", "--model", str(mluke_dir), "--train", str(DATA / "conll_train.txt"), "--eval",
            str(DATA / "conll_eval.txt"), "--output", str(output), "--epochs", "3", "--batch-size", "8",
            "--learning-rate", "2e-3", "--max-length", "48", "--max-span-words", "3", "--eval-every", "5",
            "--log-every", "2", "--select-best", "f1", "--quiet"]  # fmt: skip
    assert main(args) == 0
    result = json.loads((output / "metrics.json").read_text())
    lines = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    train = [line for line in lines if line["split"] == "train"]
    evals = [line for line in lines if line["split"] == "eval"]
    steps = result["steps"]
    assert [line["step"] for line in train] == list(range(2, steps + 1, 2))
    assert all(line["loss"] > 0 for line in train)
    assert [line["step"] for line in evals] == [*range(5, steps, 5), steps]
    assert any((output / "tensorboard").iterdir())
    # model/ is the evaluation with the highest F1 (the first of equals), and scores that F1 again
    best = max(evals, key=lambda line: (line["f1"], -line["step"]))
    chosen = json.loads((output / "best.json").read_text())
    assert (chosen["step"], chosen["value"]) == (best["step"], best["f1"]) == (
        result["selected"]["step"],
        result["selected"]["value"],
    )
    assert result["eval"]["f1"] == best["f1"] and result["last_eval"]["f1"] == evals[-1]["f1"]
    task, settings = TASKS["ner"], Settings(max_length=48, max_span_words=3)
    model = mluke_jax.LukeForEntitySpanClassification.from_pretrained(output / "model")
    tokenizer = load_tokenizer(str(output / "model"), "luke", "ner", settings)
    examples = task.read(DATA / "conll_eval.txt")
    prepared = task.prepare(examples, tokenizer, result["labels"], settings, False, lambda xs: xs)
    outputs = predict(model, prepared, 32, ("labels",), False)
    assert task.evaluate(prepared, outputs, result["labels"], settings, tokenizer)["f1"] == pytest.approx(
        best["f1"], abs=1e-9
    )
    out = capsys.readouterr().out
    assert f"model/ is step {best['step']}'s, the best f1" in out
    with capsys.disabled():
        print("F1 per evaluation:", [(line["step"], round(line["f1"], 3)) for line in evals])


def test_a_metric_the_task_has_not_is_refused_before_anything_is_written(mluke_dir, tmp_path, capsys):
    args = ["xnli", "--model", str(mluke_dir), "--train", str(DATA / "xnli_train.tsv"), "--eval",
            str(DATA / "xnli_eval.tsv"), "--output", str(tmp_path / "run"), "--select-best", "f1",
            "--quiet"]  # fmt: skip
    assert main(args) == 1
    assert "--select-best f1 is not a metric of task xnli: choose one of ['accuracy']" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_best_model_stays_until_beaten_and_survives_a_resume(mluke_dir, tmp_path):
    import warnings

    import numpy as np

    import mluke_jax
    from mluke_jax.finetune.run import BestModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # newly initialised heads
        first, second = (
            mluke_jax.LukeForSequenceClassification.from_pretrained(mluke_dir, num_labels=2, seed=seed)
            for seed in (0, 1)
        )
    kernel = lambda m: np.asarray(m.classifier.linear.kernel.value)  # noqa: E731
    assert not np.allclose(kernel(first), kernel(second))
    best = BestModel(tmp_path, "accuracy", str(mluke_dir))
    assert best.offer(5, 0.5, first, {"accuracy": 0.5}, {})
    assert not best.offer(10, 0.5, second, {"accuracy": 0.5}, {})  # a tie keeps the earlier model
    assert not best.offer(15, 0.3, second, {"accuracy": 0.3}, {})
    kept = mluke_jax.LukeForSequenceClassification.from_pretrained(tmp_path / "model")
    np.testing.assert_array_equal(kernel(kept), kernel(first))
    assert (tmp_path / "model" / "sentencepiece.bpe.model").is_file()
    resumed = BestModel(tmp_path, "accuracy", str(mluke_dir))  # a resumed run must beat 0.5
    assert (resumed.step, resumed.value, resumed.scores) == (5, 0.5, {"accuracy": 0.5})
    assert not resumed.offer(20, 0.4, second, {"accuracy": 0.4}, {})
    assert resumed.offer(25, 0.6, second, {"accuracy": 0.6}, {})
    np.testing.assert_array_equal(kernel(mluke_jax.LukeForSequenceClassification.from_pretrained(tmp_path / "model")),
                                  kernel(second))  # fmt: skip
