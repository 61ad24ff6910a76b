"""Zero-shot cross-lingual evaluation as the papers report it: train on English, evaluate several
files (or a directory, a glob); each language scored apart, their average, the average without the
training language, in metrics.json and as a printed markdown table."""

import json

import numpy as np
import pytest

from mluke_jax.finetune import languages
from mluke_jax.finetune.readers import PairExample, Sentence
from mluke_jax.finetune.tasks import TASKS, Prepared, Settings

WORDS = {
    "en": [("Curie", "B-PER"), ("saw", "O"), ("Tokyo", "B-LOC"), ("and", "O"), ("the", "O"), ("UN", "B-ORG")],
    "de": [("Marie", "B-PER"), ("Curie", "I-PER"), ("lebte", "O"), ("in", "O"), ("Paris", "B-LOC")],
    "es": [("La", "O"), ("Universidad", "B-ORG"), ("de", "I-ORG"), ("Salamanca", "I-ORG")],
}


def wikiann(path, language, copies):
    block = "\n".join(f"{language}:{word}\t{tag}" for word, tag in WORDS[language])
    path.write_text("\n\n".join([block] * copies) + "\n", encoding="utf-8")
    return path


def test_eval_paths_take_files_directories_and_globs(tmp_path):
    for name in ("de.tsv", "es.tsv", ".hidden"):
        (tmp_path / name).write_text("x")
    assert languages.eval_paths(str(tmp_path)) == [str(tmp_path / "de.tsv"), str(tmp_path / "es.tsv")]
    assert languages.eval_paths([str(tmp_path / "e*.tsv"), "other.txt"]) == [str(tmp_path / "es.tsv"), "other.txt"]
    with pytest.raises(FileNotFoundError, match="matches no file"):
        languages.eval_paths(str(tmp_path / "*.json"))


def test_each_language_is_scored_on_its_own_examples():
    """Relation-style keys (the example index) and NER-style keys (a tuple that starts with it)."""
    examples = [PairExample("a", "b", "entailment", lang) for lang in ("de", "en", "de", "fr")]
    prepared = Prepared([{"x": np.int32(i)} for i in range(4)], list(range(4)), examples)
    outputs = [{"logits": np.array(i)} for i in range(4)]
    sub, outs = languages.subset(prepared, outputs, [0, 2])
    assert sub.keys == [0, 1] and [int(o["logits"]) for o in outs] == [0, 2] and sub.examples == examples[::2]
    ner = Prepared([{}, {}, {}], [(0, [(0, 0)]), (1, [(0, 1)]), (1, [(1, 1)])], ["s0", "s1"])
    sub, outs = languages.subset(ner, [{"n": 0}, {"n": 1}, {"n": 2}], [1])
    assert sub.keys == [(0, [(0, 1)]), (0, [(1, 1)])] and [o["n"] for o in outs] == [1, 2]
    # NER documents of two files stay apart; a file without languages is named by its file
    a = [Sentence(["x"], [], 0), Sentence(["y"], [], 0)]
    b = [Sentence(["z"], [], 0, "de")]
    merged, groups = languages.concatenated([("esp.testa", a), ("de.tsv", b)])
    assert [s.document for s in merged] == [0, 0, 1] and groups == {"esp.testa": [0, 1], "de": [2]}


def test_a_ner_prepared_subset_scores_as_its_own_data_set(tmp_path):
    from helpers import MLUKE_TOKENIZER_DATA
    from mluke_jax import MLukeTokenizer

    tok = MLukeTokenizer.from_pretrained(MLUKE_TOKENIZER_DATA)
    task, settings = TASKS["ner"], Settings(max_length=48, max_entities=16, max_span_words=3)
    per_file = [(str(p), task.read(p)) for p in (wikiann(tmp_path / "en", "en", 2), wikiann(tmp_path / "de", "de", 3))]
    examples, groups = languages.concatenated(per_file)
    labels = task.label_set(examples)
    prepared = task.prepare(examples, tok, labels, settings, False, lambda xs: xs)
    outputs = []  # right for English, everything O for German
    for (number, group), feature in zip(prepared.keys, prepared.features):
        logits = np.zeros((settings.max_entities, len(labels)), np.float32)
        for k in range(len(group)):
            logits[k, feature["labels"][k] if examples[number].language == "en" else 0] = 9.0
        outputs.append({"logits": logits})
    scores = {lang: task.evaluate(*languages.subset(prepared, outputs, ix), labels, settings, tok)
              for lang, ix in groups.items()}  # fmt: skip
    assert scores["en"]["f1"] == 1.0 and scores["de"]["f1"] == 0.0
    result = {"per_language": scores, "average": languages.average(scores)}
    assert result["average"]["f1"] == 0.5
    assert languages.table(result).splitlines()[-1].startswith("| average | ")


@pytest.mark.torch
def test_train_english_evaluate_three_languages_prints_the_table(mluke_dir, tmp_path, capsys):
    from mluke_jax.finetune.__main__ import main

    train = wikiann(tmp_path / "en.train", "en", 8)
    evals = [wikiann(tmp_path / "eval" / f"{lang}.tsv", lang, 3) for lang in ("en", "de", "es")
             if (tmp_path / "eval").mkdir(exist_ok=True) is None]  # fmt: skip
    args = ["ner", "--model", str(mluke_dir), "--train", str(train), "--quiet", "--epochs", "1", "--batch-size",
            "4", "--max-length", "32", "--max-span-words", "3", "--output", str(tmp_path / "run"),
            "--eval", str(evals[0]), "--eval", str(tmp_path / "eval" / "d*.tsv"), str(evals[2])]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert list(metrics["per_language"]) == ["en", "de", "es"]
    f1 = {lang: s["f1"] for lang, s in metrics["per_language"].items()}
    assert metrics["average"]["f1"] == pytest.approx(np.mean(list(f1.values())))
    assert metrics["train_language"] == "en"
    assert metrics["average_without_train_language"]["f1"] == pytest.approx((f1["de"] + f1["es"]) / 2)
    assert "| language | precision | recall | f1 |" in out and "| average without en |" in out
    for lang in ("en", "de", "es"):
        assert f"| {lang} | " in out
