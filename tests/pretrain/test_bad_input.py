"""Mistakes people make with ``python -m mluke_jax.pretrain``: a stage-1 directory as --data, a
tokenizer the model does not fit, a batch the mesh cannot split, a damaged checkpoint. Each is an
error naming the problem, before the output directory exists (or with what the run made removed),
or a fallback to the newest intact checkpoint."""

import json
import os
import subprocess
import sys

import pytest

import mluke_jax
from helpers import TINY_LUKE, fake_cpu_devices
from mluke_jax.pretrain import luke_run
from mluke_jax.pretrain.__main__ import main


def luke_command(example_sets, output, *extra, data=None):
    data = data or [str(example_sets["en"])]
    return ["luke", "--data", *data, "--init", "tiny.json", "--tokenizer", str(example_sets["tokenizer"]),
            "--output", output, "--batch-size", "4", "--max-steps", "4", "--save-every", "2", "--quiet",
            *extra]  # fmt: skip


def test_a_stage1_directory_as_data_names_what_it_is_and_the_command_to_run(wikis, example_sets, xlm_data, workdir,
                                                                         capsys):  # fmt: skip
    assert main(luke_command(example_sets, "run", data=[str(wikis["en"])])) == 1
    error = capsys.readouterr().err
    assert f"error: {wikis['en']} holds the annotated pages of 'corpus wikipedia' (stage 1), not pretraining data" in (
        error
    )
    assert f"python -m mluke_jax.corpus examples {wikis['en']} --tokenizer" in error
    assert "KeyError" not in error and not (workdir / "run").exists()
    xlm = ["xlm", "--data", str(wikis["en"]), "--init", "tiny-xlm.json", "--tokenizer", str(xlm_data / "tokenizer"),
           "--output", "run", "--mlm-steps", "en", "--max-steps", "2", "--batch-size", "4", "--quiet"]  # fmt: skip
    assert main(xlm) == 1
    error = capsys.readouterr().err
    assert "holds the annotated pages of 'corpus wikipedia'" in error and "corpus xlm-text" in error
    assert not (workdir / "run").exists()
    # the other kind of pretraining data
    assert main(luke_command(example_sets, "run", data=[str(xlm_data / "en-stream")])) == 1
    assert "holds an XLM token stream (python -m mluke_jax.corpus xlm-text); this run reads mLUKE pretraining " in (
        capsys.readouterr().err
    )
    assert not (workdir / "run").exists()


def test_a_refused_run_leaves_no_output_directory(example_sets, workdir, capsys):
    # a checkpoint whose vocabulary is not the data's tokenizer
    config = mluke_jax.LukeConfig.from_hf_dict({**TINY_LUKE, "model_type": "luke"})
    mluke_jax.LukeForMaskedLM.build(config).save_pretrained(workdir / "other-vocab")
    args = luke_command(example_sets, "run")
    args[args.index("tiny.json")] = "other-vocab"
    assert main(args) == 1
    assert "has 37 word ids, the data's tokenizer" in capsys.readouterr().err
    assert not (workdir / "run").exists()
    # a directory the user made before is kept as it was
    (workdir / "mine").mkdir()
    (workdir / "mine" / "notes.txt").write_text("mine")
    args[args.index("run")] = "mine"
    assert main(args) == 1
    assert sorted(os.listdir(workdir / "mine")) == ["notes.txt"]


def test_a_run_that_fails_before_its_first_checkpoint_removes_what_it_wrote(example_sets, workdir, monkeypatch):
    def failing_stage(*args, **kwargs):
        assert (workdir / "run" / "run.json").is_file()  # written: the failure comes later
        raise RuntimeError("out of memory")

    monkeypatch.setattr(luke_run, "run_stage", failing_stage)
    with pytest.raises(RuntimeError, match="out of memory"):
        main(luke_command(example_sets, "run"))
    assert not (workdir / "run").exists()


MESH_RUN = """
import sys
from mluke_jax.pretrain.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_batch_the_mesh_cannot_split_is_refused_before_the_output_exists(example_sets, workdir):
    args = luke_command(example_sets, "run", "--mesh", "data=2")
    args[args.index("--batch-size") + 1] = "3"
    done = subprocess.run(
        [sys.executable, "-c", MESH_RUN, *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **fake_cpu_devices(2)},
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "error: batch size 3 does not divide over the mesh's data x fsdp = 2 devices" in done.stderr
    assert not (workdir / "run").exists()


def damage_newest(stage_dir):
    steps = sorted(int(p.name) for p in stage_dir.iterdir() if p.name.isdigit())
    state = stage_dir / str(steps[-1]) / "state"
    largest = max(state.glob("ocdbt.process_*/d/*"), key=lambda p: p.stat().st_size)  # array data
    largest.write_bytes(largest.read_bytes()[:64])
    return steps


@pytest.mark.parametrize("family", ["luke", "xlm"])
def test_a_damaged_checkpoint_on_resume_falls_back_to_the_previous_one(family, example_sets, xlm_data, workdir,
                                                                      capsys):  # fmt: skip
    if family == "luke":
        args, stage = luke_command(example_sets, "run", "--stage1-steps", "2", "--log-every", "1"), "stage2"
    else:
        args = ["xlm", "--data", str(xlm_data / "en-stream"), "--init", "tiny-xlm.json", "--tokenizer",
                str(xlm_data / "tokenizer"), "--output", "run", "--mlm-steps", "en", "--batch-size", "4", "--bptt",
                "24", "--max-steps", "4", "--save-every", "2", "--log-every", "1", "--quiet"]  # fmt: skip
        stage = "train"
    assert main(args) == 0, capsys.readouterr().err
    first = json.loads((workdir / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    steps = damage_newest(workdir / "run" / "checkpoints" / stage)
    assert steps[-2:] == [2, 4]
    with pytest.warns(UserWarning, match=rf"resuming from step 2 of .*{stage}: the newer checkpoint .*{stage}/4 is "):
        assert main(args) == 0
    err = capsys.readouterr().err
    assert f"resumed from step 2 of {workdir / 'run' / 'checkpoints' / stage}" in err
    assert "Traceback" not in err and "Event loop is closed" not in err
    again = json.loads((workdir / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert (again["step"], again["loss"]) == (first["step"], first["loss"])  # steps 3 and 4 again, exactly
    assert (workdir / "run" / "checkpoints" / stage / "4.damaged").is_dir()
