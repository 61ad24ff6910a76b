"""Each recipe on its tiny generated data: the loss falls and the metric beats chance."""

import json
from pathlib import Path

import pytest

from mluke_jax.finetune.__main__ import main

DATA = Path(__file__).resolve().parents[1] / "data" / "finetune"
pytestmark = pytest.mark.torch

# task, data files, command-line settings, metric, chance level of that metric
RECIPES = {
    "ner": (
        "conll_train.txt",
        "conll_eval.txt",
        ["--epochs", "8", "--max-length", "48", "--max-span-words", "3"],
        "f1",
        0.05,
    ),
    "relation": ("tacred_train.json", "tacred_eval.json", ["--epochs", "6", "--max-length", "32"], "f1", 0.5),
    "entity-typing": (
        "openentity_train.json",
        "openentity_eval.json",
        ["--epochs", "15", "--max-length", "32"],
        "f1",
        0.5,
    ),
    "qa": ("squad_train.json", "squad_eval.json", ["--epochs", "8", "--max-length", "48"], "f1", 15.0),
    "xnli": ("xnli_train.tsv", "xnli_eval.tsv", ["--epochs", "6", "--max-length", "40"], "accuracy", 0.34),
}


def run_recipe(task, model_dir, output, extra=()):
    train, evaluation, settings, _, _ = RECIPES[task]
    args = [
        task,
        "--model",
        str(model_dir),
        "--train",
        str(DATA / train),
        "--eval",
        str(DATA / evaluation),
        "--output",
        str(output),
    ]
    args += ["--batch-size", "8", "--learning-rate", "2e-3", "--warmup-ratio", "0.1", "--quiet", *settings, *extra]
    assert main(args) == 0
    return json.loads((output / "metrics.json").read_text())


@pytest.mark.parametrize("task", sorted(RECIPES))
def test_recipe_learns_its_tiny_task(task, mluke_dir, tmp_path):
    result = run_recipe(task, mluke_dir, tmp_path / task)
    metric, chance = RECIPES[task][3], RECIPES[task][4]
    print(task, result["eval"], result["train_loss_first"], result["train_loss_last"])
    assert result["train_loss_last"] < 0.7 * result["train_loss_first"], result
    assert result["eval"][metric] > chance, result["eval"]
    assert (tmp_path / task / "model" / "config.json").is_file() and (
        tmp_path / task / "model" / "sentencepiece.bpe.model"
    ).is_file()
    if task == "ner":
        check_predictions_on_raw_text(tmp_path / task / "model", result["eval"]["f1"])


def check_predictions_on_raw_text(model_dir, recipe_f1):
    """The fine-tuned model on the evaluation sentences given as plain text (no CoNLL columns, no
    document context): its entities, as character spans, score close to the recipe's own span F1."""
    from mluke_jax.finetune import predict
    from mluke_jax.finetune.readers import read_conll
    from mluke_jax.finetune.tasks import word_offsets

    sentences = read_conll(DATA / RECIPES["ner"][1])
    texts, gold = [], set()
    for number, sentence in enumerate(sentences):
        text, offsets = word_offsets(sentence.words)
        texts.append(text)
        gold |= {(number, offsets[i][0], offsets[j][1], kind) for i, j, kind in sentence.entities}
    result = predict("ner", str(model_dir), texts, max_span_words=3, max_length=48)
    assert not result.errors and len(result.records) == len(texts)
    found = {(r["line"] - 1, e["start"], e["end"], e["label"]) for r in result.records for e in r["entities"]}
    correct = len(found & gold)
    f1 = 2 * correct / (len(found) + len(gold))
    print(f"span F1 of predict on raw text {f1:.3f}, of the recipe {recipe_f1:.3f}")
    assert f1 > 0.8 * recipe_f1


def test_qa_with_entities_linked_in_question_and_context_learns(mluke_dir, tmp_path):
    from helpers import write_mention_db

    rows = [("en", name, 40, [(name, 30)]) for name in ("New York", "Marie Curie", "Tokyo", "Mount Everest")]
    db = write_mention_db(tmp_path / "mentions.tsv.gz", rows)
    extra = ["--entities", "auto", "--mention-db", str(db), "--language", "en", "--max-entities", "4"]
    result = run_recipe("qa", mluke_dir, tmp_path / "qa", extra)
    assert result["train_loss_last"] < 0.7 * result["train_loss_first"], result
    assert result["eval"]["f1"] > 15.0, result["eval"]


def test_xnli_with_xlm_and_language_ids(xlm_dir, tmp_path):
    result = run_recipe("xnli", xlm_dir, tmp_path / "xlm")
    assert result["head"] == "XLMForSequenceClassification"
    assert result["train_loss_last"] < 0.7 * result["train_loss_first"] and result["eval"]["accuracy"] > 0.34, result


@pytest.mark.parametrize("task,family", [("ner", "mluke"), ("xnli", "xlm")])
def test_bf16_recipes_learn(task, family, mluke_dir, xlm_dir, tmp_path):
    # bf16 compute (f32-accumulated matmuls), float32 weights and optimiser state; XLM with its layers unrolled
    result = run_recipe(
        task,
        mluke_dir if family == "mluke" else xlm_dir,
        tmp_path / task,
        extra=["--bf16"] + (["--unroll-layers"] if family == "xlm" else []),
    )
    metric, chance = RECIPES[task][3], RECIPES[task][4]
    assert result["train_loss_last"] < 0.7 * result["train_loss_first"], result
    assert result["eval"][metric] > chance, result["eval"]


def test_rerun_resumes_and_other_model_is_refused(mluke_dir, tmp_path, capsys):
    first = run_recipe("relation", mluke_dir, tmp_path / "run", ["--epochs", "1", "--save-every", "5"])
    again = run_recipe("relation", mluke_dir, tmp_path / "run", ["--epochs", "1", "--save-every", "5"])
    assert again["eval"] == first["eval"]  # resumed at the last step: nothing left to train
    train, evaluation = DATA / "openentity_train.json", DATA / "openentity_eval.json"
    code = main(
        [
            "entity-typing",
            "--model",
            str(mluke_dir),
            "--train",
            str(train),
            "--eval",
            str(evaluation),
            "--output",
            str(tmp_path / "run"),
            "--quiet",
            "--epochs",
            "1",
        ]
    )
    assert code == 1 and "holds checkpoints of another model" in capsys.readouterr().err


@pytest.mark.parametrize(
    "task, train_text, message",
    [
        ("ner", "Tokyo NN O B-LOC\nis NN O O\nbig\n", "conll_bad.txt:3: expected 'word ... tag'"),
        (
            "ner",
            "Tokyo NN O B-LOC\nis NN O X-FOO\n",
            "conll_bad.txt:2: tag 'X-FOO' is not O, B-TYPE, I-TYPE, E-TYPE or S-TYPE",
        ),
        (
            "xnli",
            "a b\tc d\tentailment\nonly two\tcolumns\n",
            "conll_bad.txt:2: expected premise<TAB>hypothesis<TAB>label",
        ),
        (
            "relation",
            '[{"token": ["a", "b"], "subj_start": 0, "subj_end": 5, "obj_start": 1, "obj_end": 1, "relation": "r"}]',
            "example 1: subj_start/subj_end 0..5 outside the 2 tokens",
        ),
        (
            "qa",
            '{"data": [{"paragraphs": [{"context": "in Tokyo", "qas": [{"id": "q", "question": "where", '
            '"answers": [{"text": "Paris", "answer_start": 3}]}]}]}]}',
            "question q: answer 'Paris' is not at character 3",
        ),
    ],
)
def test_malformed_data_names_file_and_line(task, train_text, message, mluke_dir, tmp_path, capsys):
    bad = tmp_path / "conll_bad.txt"
    bad.write_text(train_text, encoding="utf-8")
    code = main(
        [
            task,
            "--model",
            str(mluke_dir),
            "--train",
            str(bad),
            "--eval",
            str(bad),
            "--output",
            str(tmp_path / "out"),
            "--quiet",
        ]
    )
    assert code == 1
    assert message in capsys.readouterr().err


def test_unknown_labels_mesh_and_family_errors(mluke_dir, xlm_dir, tmp_path, capsys):
    other = tmp_path / "eval.tsv"
    other.write_text("a b\tc d\tentailment\ne f\tg h\tparaphrase\n")
    args = ["--output", str(tmp_path / "out"), "--quiet"]
    assert (
        main(["xnli", "--model", str(mluke_dir), "--train", str(DATA / "xnli_train.tsv"), "--eval", str(other), *args])
        == 1
    )
    assert "labels ['paraphrase'] are not among the training data's" in capsys.readouterr().err
    assert (
        main(
            [
                "xnli",
                "--model",
                str(mluke_dir),
                "--train",
                str(DATA / "xnli_train.tsv"),
                "--eval",
                str(DATA / "xnli_eval.tsv"),
                "--mesh",
                "data=3",
                *args,
            ]
        )
        == 1
    )
    assert "needs 3 devices, 1 available" in capsys.readouterr().err
    assert (
        main(
            [
                "ner",
                "--model",
                str(xlm_dir),
                "--train",
                str(DATA / "conll_train.txt"),
                "--eval",
                str(DATA / "conll_eval.txt"),
                *args,
            ]
        )
        == 1
    )
    assert "task ner needs an mLUKE model" in capsys.readouterr().err


def test_failed_runs_leave_no_output_directory(mluke_dir, xlm_dir, tmp_path, capsys):
    """Bad data, unknown labels, a mesh this machine cannot make, the wrong model family: the error,
    and no output directory."""
    bad = tmp_path / "bad.txt"
    bad.write_text("Tokyo NN O B-LOC\nis NN O O\nbig\n", encoding="utf-8")
    unknown = tmp_path / "eval.tsv"
    unknown.write_text("a b\tc d\tentailment\ne f\tg h\tparaphrase\n")
    out = tmp_path / "out"
    failing = [
        ["ner", "--model", str(mluke_dir), "--train", str(bad), "--eval", str(bad)],
        ["xnli", "--model", str(mluke_dir), "--train", str(DATA / "xnli_train.tsv"), "--eval", str(unknown)],
        [
            "xnli",
            "--model",
            str(mluke_dir),
            "--train",
            str(DATA / "xnli_train.tsv"),
            "--eval",
            str(DATA / "xnli_eval.tsv"),
            "--mesh",
            "data=3",
        ],
        [
            "ner",
            "--model",
            str(xlm_dir),
            "--train",
            str(DATA / "conll_train.txt"),
            "--eval",
            str(DATA / "conll_eval.txt"),
        ],
        [
            "xnli",
            "--model",
            str(tmp_path / "no-model"),
            "--train",
            str(DATA / "xnli_train.tsv"),
            "--eval",
            str(DATA / "xnli_eval.tsv"),
        ],
    ]
    for args in failing:
        assert main([*args, "--output", str(out), "--quiet"]) == 1, args
        assert "error:" in capsys.readouterr().err
        assert not out.exists(), args


def test_a_run_in_a_log_prints_lines_counts_in_words_and_its_metrics_once(mluke_dir, tmp_path, capsys):
    """stderr is not a terminal here (as in a log file): no progress bars, a plain line for
    training progress, "1 epoch", and the metrics printed once."""
    train, evaluation = DATA / "xnli_train.tsv", DATA / "xnli_eval.tsv"
    args = [
        "xnli",
        "--model",
        str(mluke_dir),
        "--train",
        str(train),
        "--eval",
        str(evaluation),
        "--output",
        str(tmp_path / "run"),
        "--epochs",
        "1",
        "--max-length",
        "24",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    log = captured.out + captured.err
    assert "%|" not in log and "\r" not in log, log[-2000:]
    assert "(1 epoch)" in captured.err and "1 epochs" not in log
    steps = json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"]
    assert f"step {steps}/{steps}: loss " in captured.err
    accuracy = json.loads((tmp_path / "run" / "metrics.json").read_text())["eval"]["accuracy"]
    assert log.count(str(accuracy)) == 1, log
