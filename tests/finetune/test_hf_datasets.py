"""The recipes read Hugging Face ``datasets`` as the hub lays them out: ``save_to_disk`` directories
(one dataset or a DatasetDict with ``@SPLIT``), parquet and JSON-lines files with the hub's columns,
label names from the ``ClassLabel`` features, languages from the rows or the configuration; and
``hf:`` names fail within seconds without a network."""

import json
import time
from pathlib import Path

import pytest

datasets = pytest.importorskip("datasets")

from mluke_jax.finetune.readers import DataError  # noqa: E402
from mluke_jax.finetune.tasks import TASKS  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "finetune"
# the hub's conll2003 and wikiann tag names, in their ClassLabel order
CONLL_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
WIKIANN_TAGS = CONLL_TAGS[:7]


def conll2003(rows: list[tuple[list[str], list[str]]], config: str = "conll2003"):
    features = datasets.Features({
        "id": datasets.Value("string"),
        "tokens": datasets.Sequence(datasets.Value("string")),
        "pos_tags": datasets.Sequence(datasets.Value("int32")),
        "ner_tags": datasets.Sequence(datasets.ClassLabel(names=CONLL_TAGS)),
    })  # fmt: skip
    return datasets.Dataset.from_dict(
        {
            "id": [str(n) for n in range(len(rows))],
            "tokens": [words for words, _ in rows],
            "pos_tags": [[0] * len(words) for words, _ in rows],
            "ner_tags": [[CONLL_TAGS.index(t) for t in tags] for _, tags in rows],
        },
        info=datasets.DatasetInfo(features=features, config_name=config, dataset_name="conll2003"),
    )


def wikiann(language: str, rows: list[tuple[list[str], list[str]]]):
    features = datasets.Features({
        "tokens": datasets.Sequence(datasets.Value("string")),
        "ner_tags": datasets.Sequence(datasets.ClassLabel(names=WIKIANN_TAGS)),
        "langs": datasets.Sequence(datasets.Value("string")),
        "spans": datasets.Sequence(datasets.Value("string")),
    })  # fmt: skip
    return datasets.Dataset.from_dict(
        {
            "tokens": [words for words, _ in rows],
            "ner_tags": [[WIKIANN_TAGS.index(t if "MISC" not in t else "O") for t in tags] for _, tags in rows],
            "langs": [[language] * len(words) for words, _ in rows],
            "spans": [[] for _ in rows],
        },
        info=datasets.DatasetInfo(features=features, config_name=language, dataset_name="wikiann"),
    )


ROWS = [
    (["EU", "rejects", "German", "call"], ["B-ORG", "O", "B-MISC", "O"]),
    (["Peter", "Blackburn", "in", "Tokyo"], ["B-PER", "I-PER", "O", "B-LOC"]),
]
EXPECTED = [[(0, 0, "ORG"), (2, 2, "MISC")], [(0, 1, "PER"), (3, 3, "LOC")]]


def test_ner_from_save_to_disk_parquet_and_json_lines(tmp_path):
    task = TASKS["ner"]
    dataset = conll2003(ROWS)
    datasets.DatasetDict({"train": dataset, "validation": dataset}).save_to_disk(tmp_path / "conll2003")
    dataset.save_to_disk(tmp_path / "one")
    dataset.to_parquet(tmp_path / "train.parquet")
    dataset.to_json(tmp_path / "train.jsonl")  # bare tag numbers: read with the hub's names
    for spec in (f"{tmp_path / 'conll2003'}@validation", tmp_path / "one", tmp_path / "train.parquet",
                 tmp_path / "train.jsonl"):  # fmt: skip
        sentences = task.load(str(spec))
        assert [s.entities for s in sentences] == EXPECTED, spec
        assert [s.document for s in sentences] == [0, 1]  # no document markers: each sentence alone
    with pytest.raises(ValueError, match=r"name one of its splits \['train', 'validation'\] after an @"):
        task.load(str(tmp_path / "conll2003"))


def test_wikiann_languages_and_xnli_pawsx_mlqa_schemas(tmp_path):
    wikiann("de", ROWS).save_to_disk(tmp_path / "wikiann-de")
    assert {s.language for s in TASKS["ner"].load(str(tmp_path / "wikiann-de"))} == {"de"}

    labels = datasets.ClassLabel(names=["entailment", "neutral", "contradiction"])
    features = datasets.Features(premise=datasets.Value("string"), hypothesis=datasets.Value("string"), label=labels)
    xnli = datasets.Dataset.from_dict(
        {"premise": ["Er schläft.", "Er liest.", "?"], "hypothesis": ["Er ruht.", "Er rennt.", "?"],
         "label": [0, 2, -1]},
        info=datasets.DatasetInfo(features=features, config_name="de", dataset_name="xnli"),
    )  # fmt: skip
    xnli.to_parquet(tmp_path / "xnli-de.parquet")
    xnli.save_to_disk(tmp_path / "xnli-de")
    pairs = TASKS["xnli"].load(str(tmp_path / "xnli-de"))
    assert [(p.label, p.language) for p in pairs] == [("entailment", "de"), ("contradiction", "de")]
    assert pairs.skipped == 1  # the hub's -1: no label
    # parquet keeps the features (names) but not the configuration: --language gives it
    from mluke_jax.finetune.tasks import Settings

    parquet = TASKS["xnli"].load(str(tmp_path / "xnli-de.parquet"), Settings(language="de"))
    assert [(p.label, p.language) for p in parquet] == [("entailment", "de"), ("contradiction", "de")]

    paws = datasets.Dataset.from_dict(
        {"id": [1, 2], "sentence1": ["a b", "c d"], "sentence2": ["b a", "c e"], "label": [1, 0]},
        info=datasets.DatasetInfo(config_name="fr", dataset_name="paws-x"),
    )
    paws.save_to_disk(tmp_path / "paws-x-fr")
    assert [(p.label, p.language) for p in TASKS["paws-x"].load(str(tmp_path / "paws-x-fr"))] == [
        ("1", "fr"),
        ("0", "fr"),
    ]

    squad = json.loads((DATA / "squad_eval.json").read_text())
    rows = [
        {"id": qa["id"], "title": "t", "context": p["context"], "question": qa["question"],
         "answers": {"text": [a["text"] for a in qa["answers"]],
                     "answer_start": [a["answer_start"] for a in qa["answers"]]}}
        for p in squad["data"][0]["paragraphs"] for qa in p["qas"]
    ][:5]  # fmt: skip
    mlqa = datasets.Dataset.from_list(rows, info=datasets.DatasetInfo(config_name="mlqa.de.en", dataset_name="mlqa"))
    mlqa.save_to_disk(tmp_path / "mlqa")
    questions = TASKS["qa"].load(str(tmp_path / "mlqa"))
    assert {(q.language, q.question_language, q.scoring) for q in questions} == {("de", "en", "mlqa")}
    assert questions[0].answers == [(rows[0]["answers"]["text"][0], rows[0]["answers"]["answer_start"][0])]


def test_a_dataset_without_the_tasks_columns_names_them(tmp_path, mluke_dir, capsys):
    datasets.Dataset.from_dict({"text": ["a b"], "label": [0]}).save_to_disk(tmp_path / "other")
    with pytest.raises(DataError, match=r"columns \['text', 'label'\], not \['tokens', 'ner_tags'\]: task ner reads"):
        TASKS["ner"].load(str(tmp_path / "other"))
    from mluke_jax.finetune.__main__ import main

    args = ["ner", "--model", str(mluke_dir), "--train", str(tmp_path / "other"), "--eval", str(tmp_path / "other"),
            "--output", str(tmp_path / "run"), "--quiet"]  # fmt: skip
    assert main(args) == 1
    assert "not ['tokens', 'ner_tags']" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_hub_names_fail_fast_without_a_network(monkeypatch):
    """This machine has no network: one request, no retries; with HF_HUB_OFFLINE only the cache."""
    for offline in ("0", "1"):
        monkeypatch.setenv("HF_HUB_OFFLINE", offline)
        started = time.perf_counter()
        with pytest.raises((OSError, FileNotFoundError), match=r"hf:mluke-jax-tests/no-such-dataset@test: "):
            TASKS["xnli"].load("hf:mluke-jax-tests/no-such-dataset@test")
        assert time.perf_counter() - started < 20
    with pytest.raises(ValueError, match="name a split, e.g. hf:xnli:CONFIG@test"):
        TASKS["xnli"].load("hf:xnli")


@pytest.mark.torch
def test_train_on_a_saved_dataset_evaluate_two_languages(mluke_dir, tmp_path):
    from mluke_jax.finetune.__main__ import main

    datasets.DatasetDict({"train": conll2003(ROWS * 8)}).save_to_disk(tmp_path / "conll2003")
    for language in ("de", "es"):
        wikiann(language, ROWS).to_parquet(tmp_path / f"wikiann-{language}.parquet")  # MISC as O: wikiann has none
    # parquet files from the hub name no configuration; the rows' langs give the language
    args = ["ner", "--model", str(mluke_dir), "--train", str(tmp_path / "conll2003"), "--eval",
            str(tmp_path / "wikiann-*.parquet"), "--output", str(tmp_path / "run"), "--epochs", "1",
            "--batch-size", "4", "--max-length", "32", "--max-span-words", "3", "--quiet"]  # fmt: skip
    assert main(args) == 0
    result = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert list(result["per_language"]) == ["de", "es"]


def test_relation_and_entity_typing_through_datasets_read_as_their_files(tmp_path):
    for task, name in (("relation", "tacred_eval.json"), ("entity-typing", "openentity_eval.json")):
        from_file = TASKS[task].load(str(DATA / name))
        text = (DATA / name).read_text(encoding="utf-8")
        records = json.loads(text) if text.lstrip().startswith("[") else [json.loads(x) for x in text.splitlines() if x]
        datasets.Dataset.from_list(records).save_to_disk(tmp_path / task)
        assert TASKS[task].load(str(tmp_path / task)) == from_file
