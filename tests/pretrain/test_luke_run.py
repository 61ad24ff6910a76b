"""python -m mluke_jax.pretrain luke: both stages, metrics, the model directory, exact resume."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from flax import nnx

import mluke_jax
from helpers import TINY_LUKE
from mluke_jax.checkpoint import flatten
from mluke_jax.pretrain.__main__ import main
from mluke_jax.pretrain.luke_run import STAGE1_TRAINABLE
from mluke_jax.tokenizers.entity_vocab import read_entity_vocab


def params_of(model):
    return {k: np.asarray(v) for k, v in flatten(nnx.to_pure_dict(nnx.state(model, nnx.Param))).items()}


def command(example_sets, output, *extra):
    data = [str(example_sets["en"]), str(example_sets["de"])]
    return [
        "luke",
        "--data",
        *data,
        "--init",
        "tiny.json",
        "--tokenizer",
        str(example_sets["tokenizer"]),
        "--output",
        output,
        "--batch-size",
        "4",
        "--stage1-steps",
        "2",
        "--max-steps",
        "6",
        "--save-every",
        "2",
        "--log-every",
        "1",
        "--eval-data",
        *data,
        "--eval-every",
        "3",
        "--eval-examples",
        "6",
        "--quiet",
        *extra,
    ]


# The run kills itself with SIGKILL after stage 2's fifth step: no clean-up runs; its checkpoints
# are those of steps 2 and (when its asynchronous save finished) 4.
KILLED_RUN = """
import os, signal, sys
from mluke_jax.pretrain import run
from mluke_jax.pretrain.__main__ import main
real = run.MetricsLog.__call__
def call(self, step, metrics):
    real(self, step, metrics)
    if self.stage == "stage2" and step == 5:
        os.kill(os.getpid(), signal.SIGKILL)
run.MetricsLog.__call__ = call
main(sys.argv[1:])
"""


# The run pauses after stage 2's third step (printing a line) until its own handler has seen a
# signal: the test's SIGTERM arrives mid-run at a known place.
PAUSED_RUN = """
import sys, time
from mluke_jax.pretrain import run
from mluke_jax.pretrain.__main__ import main
from mluke_jax.train import preemption
real = run.MetricsLog.__call__
def call(self, step, metrics):
    real(self, step, metrics)
    if self.stage == "stage2" and step == 3:
        print("paused", flush=True)
        for _ in range(2400):
            if preemption.requested():
                break
            time.sleep(0.05)
run.MetricsLog.__call__ = call
sys.exit(main(sys.argv[1:]))
"""


def lines_of(path, split="train"):
    return [x for x in map(json.loads, path.read_text().splitlines()) if x["split"] == split]


def test_a_run_trains_both_stages_logs_evaluates_writes_a_model_and_resumes_exactly_after_sigkill(
    example_sets, workdir, capsys, bucket
):
    assert main(command(example_sets, "run")) == 0, capsys.readouterr().err
    assert "stage1 2 steps (last loss" in capsys.readouterr().out
    lines = lines_of(workdir / "run" / "metrics.jsonl")
    assert [(x["stage"], x["step"]) for x in lines] == [("stage1", 1), ("stage1", 2)] + [
        ("stage2", i) for i in range(1, 7)
    ]
    for line in lines:
        assert {
            "loss",
            "mlm_loss",
            "mep_loss",
            "mlm_accuracy",
            "mep_accuracy",
            "learning_rate",
            "grad_norm",
            "tokens_per_second",
            "flops_per_second",
            "mfu",
        } <= set(line)
        assert line["loss"] == pytest.approx(line["mlm_loss"] + line["mep_loss"], rel=1e-5)
        assert 0 < line["mfu"] < 1
    # held out: stage 1's end, stage 2's step 3 and end; each language, the same targets each time
    evals = lines_of(workdir / "run" / "metrics.jsonl", "eval")
    assert [(x["stage"], x["step"], x["language"]) for x in evals] == [
        (stage, step, language)
        for stage, step in (("stage1", 2), ("stage2", 3), ("stage2", 6))
        for language in ("de", "en")
    ]
    for x in evals:
        assert x["mlm_targets"] >= 6 and x["mep_targets"] >= 1 and 0 <= x["mep_accuracy"] <= 1
        assert x["mlm_ppl"] == pytest.approx(np.exp(x["mlm_loss"]))
    assert len({x["mlm_targets"] for x in evals if x["language"] == "en"}) == 1
    assert list((workdir / "run" / "tensorboard").glob("events.out.tfevents.*"))
    record = json.loads((workdir / "run" / "run.json").read_text())
    assert record["flops_per_step"] > 0 and record["peak_flops"] > 0
    model = mluke_jax.LukeForMaskedLM.from_pretrained(workdir / "run" / "model")
    tokenizer = mluke_jax.MLukeTokenizer.from_pretrained(workdir / "run" / "model")
    assert tokenizer.entity_vocab == read_entity_vocab(example_sets["entity_vocab"])
    layers = model.luke.encoder.layers.attention  # the entity-aware queries: copies of the word queries
    np.testing.assert_array_equal(np.asarray(layers.w2e_query.kernel), np.asarray(layers.query.kernel))
    mluke_jax.LukeForMaskedLM.from_pretrained(workdir / "run" / "model", use_entity_aware_attention=True)
    from convert.__main__ import main as convert_main

    assert convert_main(["run/model", "run/hf", "--to-hf", "--quiet"]) == 0  # a transformers directory
    assert json.loads((workdir / "run" / "hf" / "config.json").read_text())["architectures"] == ["LukeForMaskedLM"]

    # killed (SIGKILL, a real process) in stage 2, then the same command again
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, *command(example_sets, "resumed")], cwd=workdir, timeout=600
    )
    assert killed.returncode == -signal.SIGKILL
    assert not (workdir / "resumed" / "model").exists()
    assert main(command(example_sets, "resumed")) == 0
    assert re.search(r"resumed from step [24] of .*stage2", capsys.readouterr().err)
    whole = params_of(model)
    resumed = params_of(mluke_jax.LukeForMaskedLM.from_pretrained(workdir / "resumed" / "model"))
    assert all(np.array_equal(whole[k], resumed[k]) for k in whole)  # bit-identical
    again = lines_of(workdir / "resumed" / "metrics.jsonl")
    assert again[-1]["step"] == 6 and again[-1]["loss"] == lines[-1]["loss"]

    # in a bucket: shards, tokenizer and --init read from it, the run written to it, stopped by
    # SIGTERM in stage 2 (a checkpoint of that step saved, exit 75), then the same command again
    from etils import epath

    from mluke_jax import remote

    for name in ("en", "de", "tokenizer"):
        remote.copy_tree(example_sets[name], epath.Path(f"{bucket}/{name}"))
    remote.copy_file(workdir / "tiny.json", epath.Path(f"{bucket}/tiny.json"))
    in_bucket = command(example_sets, f"{bucket}/run")
    for name in ("en", "de", "tokenizer"):
        in_bucket = [f"{bucket}/{name}" if x == str(example_sets[name]) else x for x in in_bucket]
    in_bucket[in_bucket.index("tiny.json")] = f"{bucket}/tiny.json"
    process = subprocess.Popen(  # profiled: global steps 3 and 4, stage 2's first two
        [sys.executable, "-c", PAUSED_RUN, *in_bucket, "--profile-steps", "3:4"],
        cwd=workdir, env={**os.environ, **bucket.env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout.readline() == "paused\n", process.stderr.read()[-3000:]
    process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    _, err = process.communicate(timeout=300)
    print(f"pretraining, SIGTERM to exit: {time.monotonic() - sent:.1f} s")
    assert process.returncode == 75, err[-3000:]
    assert "stopped by SIGTERM: checkpoint saved at step 3" in err
    assert not epath.Path(f"{bucket}/run/model").exists()
    assert "profile of steps 3-4 written to" in err
    assert list(epath.Path(f"{bucket}/run/tensorboard/plugins/profile").glob("*/*.xplane.pb"))
    assert main(in_bucket) == 0
    assert f"resumed from step 3 of {bucket}/run/checkpoints/stage2" in capsys.readouterr().err
    resumed = params_of(mluke_jax.LukeForMaskedLM.from_pretrained(f"{bucket}/run/model"))
    assert all(np.array_equal(whole[k], resumed[k]) for k in whole)  # bit-identical
    logged = [json.loads(x) for x in epath.Path(f"{bucket}/run/metrics.jsonl").read_text().splitlines()]
    assert [(x["stage"], x["step"]) for x in logged if x["split"] == "train"][-1] == ("stage2", 6)


def test_bad_input_is_refused(example_sets, workdir, capsys):
    assert main(f"luke --data {workdir} --init tiny.json --output x --batch-size 2 --max-steps 1".split()) == 1
    assert "is not a pretraining data set" in capsys.readouterr().err
    data = example_sets["en"]
    assert main(f"luke --data {data} --init tiny.json --output x --batch-size 2 --max-steps 0".split()) == 1
    assert "nothing to train" in capsys.readouterr().err


def test_continued_pretraining_of_a_checkpoint_with_another_entity_vocabulary(example_sets, workdir, capsys):
    from mluke_jax.tokenizers.mluke import MLukeTokenizer

    vocab = read_entity_vocab(example_sets["entity_vocab"])
    tokenizer = MLukeTokenizer.from_pretrained(example_sets["tokenizer"], entity_vocab=vocab)
    config = mluke_jax.LukeConfig.from_hf_dict(
        {**TINY_LUKE, "model_type": "luke", "vocab_size": len(tokenizer), "entity_vocab_size": 4, "type_vocab_size": 1}
    )
    lite = mluke_jax.LukeForMaskedLM.build(config, seed=3)  # as mluke-base-lite: the 4 special entities only
    lite.save_pretrained(workdir / "lite")
    args = [
        "luke",
        "--data",
        str(example_sets["en"]),
        "--init",
        "lite",
        "--tokenizer",
        str(example_sets["tokenizer"]),
        "--output",
        "continued",
        "--batch-size",
        "4",
        "--stage1-steps",
        "2",
        "--max-steps",
        "0",
        "--quiet",
    ]
    with pytest.warns(UserWarning, match="entity vocabulary has 4 entities, the data's 8: the entity embeddings"):
        assert main(args) == 0, capsys.readouterr().err
    model = mluke_jax.LukeForMaskedLM.from_pretrained(workdir / "continued" / "model")
    assert model.config.entity_vocab_size == max(vocab.values()) + 1
    before, after = params_of(lite), params_of(model)
    # stage 1 alone: every parameter outside the entity side is bit-identical (the entity-aware
    # queries aside: the saved model has them as copies of the word queries)
    copies = ("luke.encoder.layers.attention.w2e", "luke.encoder.layers.attention.e2")
    frozen = [k for k in before if not k.startswith(STAGE1_TRAINABLE + copies)]
    assert len(frozen) > 20 and all(np.array_equal(before[k], after[k]) for k in frozen)
    for name in ("entity_predictions.dense.kernel", "luke.entity_embeddings.projection.kernel"):
        assert not np.array_equal(before[name], after[name])  # trained
