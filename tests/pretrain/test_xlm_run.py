"""python -m mluke_jax.pretrain xlm: MLM/TLM entries in turn, CLM, evaluation, the model directory, exact resume."""

import json

import numpy as np
import pytest
from flax import nnx

import mluke_jax
from mluke_jax.checkpoint import flatten
from mluke_jax.pretrain.__main__ import main


def params_of(model):
    return {k: np.asarray(v) for k, v in flatten(nnx.to_pure_dict(nnx.state(model, nnx.Param))).items()}


def command(xlm_data, output, *extra, steps=("--mlm-steps", "en,de,en-de")):
    data = [str(xlm_data / "en-stream"), str(xlm_data / "de-stream"), str(xlm_data / "pairs")]
    return [
        "xlm",
        "--data",
        *data,
        "--init",
        "tiny-xlm.json",
        "--tokenizer",
        str(xlm_data / "tokenizer"),
        "--output",
        output,
        *steps,
        "--batch-size",
        "4",
        "--bptt",
        "24",
        "--max-len",
        "12",
        "--max-steps",
        "6",
        "--save-every",
        "2",
        "--log-every",
        "1",
        "--quiet",
        *extra,
    ]


def lines_of(path, split="train"):
    return [x for x in map(json.loads, path.read_text().splitlines()) if x["split"] == split]


def test_mlm_and_tlm_steps_take_turns_evaluate_per_entry_and_resume_exactly(xlm_data, workdir, monkeypatch, capsys):
    held_out = ["--eval-data", str(xlm_data / "en-stream"), str(xlm_data / "pairs"), "--eval-examples", "8"]
    with pytest.warns(UserWarning, match="no held-out evaluation of mlm-de"):
        assert main(command(xlm_data, "run", *held_out)) == 0, capsys.readouterr().err
    lines = lines_of(workdir / "run" / "metrics.jsonl")
    assert [x["objective"] for x in lines] == ["mlm-en", "mlm-de", "tlm-en-de"] * 2
    for line in lines:
        assert {"loss", "accuracy", "targets", "learning_rate", "grad_norm", "tokens_per_second", "mfu"} <= set(line)
    assert lines[2]["tokens_per_second"] > 0
    evals = lines_of(workdir / "run" / "metrics.jsonl", "eval")
    assert [x["language"] for x in evals] == ["mlm-en", "tlm-en-de"]
    assert evals[0]["mlm_targets"] >= 8 and evals[0]["mlm_ppl"] == pytest.approx(np.exp(evals[0]["mlm_loss"]))
    assert evals[1]["tlm_targets"] >= 8 and 0 <= evals[1]["tlm_accuracy"] <= 1
    model = mluke_jax.XLMWithLMHeadModel.from_pretrained(workdir / "run" / "model")
    tokenizer = mluke_jax.XLMTokenizer.from_pretrained(workdir / "run" / "model")
    assert model.config.vocab_size == tokenizer.vocab_size and not model.config.causal
    assert model.config.n_langs == len(tokenizer.lang2id)

    # interrupted after the fifth step (its last checkpoint: step 4), then the same command again
    from mluke_jax.pretrain import run

    real = run.MetricsLog.__call__

    def interrupt(self, step, metrics):
        real(self, step, metrics)
        if step == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(run.MetricsLog, "__call__", interrupt)
    with pytest.raises(KeyboardInterrupt):
        main(command(xlm_data, "resumed"))
    monkeypatch.setattr(run.MetricsLog, "__call__", real)
    assert main(command(xlm_data, "resumed")) == 0
    assert "resumed from step 4" in capsys.readouterr().err
    whole = params_of(model)
    resumed = params_of(mluke_jax.XLMWithLMHeadModel.from_pretrained(workdir / "resumed" / "model"))
    assert all(np.array_equal(whole[k], resumed[k]) for k in whole)  # bit-identical
    again = lines_of(workdir / "resumed" / "metrics.jsonl")
    assert again[-1]["objective"] == "tlm-en-de" and again[-1]["loss"] == lines[-1]["loss"]


def test_clm_steps_train_a_causal_model(xlm_data, workdir, capsys):
    args = command(xlm_data, "clm", steps=("--clm-steps", "en,de"))
    args[args.index("--max-steps") + 1] = "2"
    assert main(args) == 0, capsys.readouterr().err
    assert [x["objective"] for x in lines_of(workdir / "clm" / "metrics.jsonl")] == ["clm-en", "clm-de"]
    assert mluke_jax.XLMWithLMHeadModel.from_pretrained(workdir / "clm" / "model").config.causal


def test_bad_input_is_refused(xlm_data, workdir, capsys):
    assert main(command(xlm_data, "x", steps=("--mlm-steps", "en,fr"))) == 1
    assert "no data set holds 'fr': the given ones hold ['de', 'en', 'en-de']" in capsys.readouterr().err
    assert main(command(xlm_data, "x", steps=("--mlm-steps", "en,,de"))) == 1
    assert "languages or language pairs separated by commas" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: one kind of steps
        main(command(xlm_data, "x", "--clm-steps", "en"))
