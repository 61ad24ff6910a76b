"""MLQA and XQuAD as published: SQuAD-layout files whose names give the languages, scored as the
official scripts score them (SQuAD v1.1's normalisation; MLQA's per language). The cases are
hand-made from the rules of SQuAD's evaluate-v1.1.py and MLQA's mlqa_evaluation_v1.py."""

import json
import shutil
from pathlib import Path

import pytest

from mluke_jax.finetune import metrics, qa
from mluke_jax.finetune.readers import DataError, QAExample, read_squad

DATA = Path(__file__).resolve().parents[1] / "data" / "finetune"


@pytest.mark.parametrize(
    "text, language, expected",
    [
        ("The  Eiffel Tower!", None, "eiffel tower"),
        ("«Der Hund»", None, "«der hund»"),  # SQuAD strips ASCII punctuation only
        ("«Der Hund»", "de", "hund"),  # MLQA: every Unicode punctuation mark, German articles
        ("Der Hund", "en", "der hund"),
        ("los perros y la casa", "es", "perros y casa"),
        ("an apple, the pear", "en", "apple pear"),
        ("北京大学。", "zh", "北 京 大 学"),  # a token per CJK character
        ("在 Beijing 大学", "zh", "在 beijing 大 学"),
        ("الكتاب الجديد", "ar", "كتاب جديد"),  # MLQA drops every "ال"
        ("những cái bàn", "vi", "bàn"),
        ("भारत का", "hi", "भारत का"),
    ],
)
def test_answers_are_normalised_as_the_official_scripts_do(text, language, expected):
    assert metrics.normalize_answer(text, language) == expected


def test_scores_follow_the_official_scripts():
    answers = {"a": ["the Eiffel Tower"], "b": ["Paris", "in Paris"], "c": ["the"], "d": ["New York City"]}
    predictions = {"a": "Eiffel Tower.", "b": "Paris France", "d": "york"}  # "c" unanswered: 0, even though "" == ""
    scores = metrics.squad_scores(predictions, answers)
    f1_b = max(2 * 1 / 2 * 1 / (1 / 2 + 1), 2 * (1 / 2) * (1 / 2) / 1)  # best over the two gold answers
    f1_d = 2 * 1 * (1 / 3) / (1 + 1 / 3)
    assert scores["exact_match"] == pytest.approx(100 * 1 / 4)
    assert scores["f1"] == pytest.approx(100 * (1 + f1_b + 0 + f1_d) / 4)
    # the same answers scored with German MLQA rules: "der" is an article, "the" is not
    german = metrics.squad_scores({"x": "der Hund"}, {"x": ["Hund"]}, {"x": "de"})
    assert german["exact_match"] == 100.0
    assert metrics.squad_scores({"x": "der Hund"}, {"x": ["Hund"]})["exact_match"] == 0.0
    with pytest.raises(ValueError, match="no rules for language 'el'"):
        metrics.normalize_answer("x", "el")


def test_shared_question_ids_of_parallel_files_are_scored_apart():
    """MLQA's and XQuAD's translations of one question share its id: predictions follow the examples."""
    en = QAExample("q1", "Where?", "in Tokyo", [("Tokyo", 3)], "en", "en", "mlqa")
    de = QAExample("q1", "Wo?", "in Berlin", [("Berlin", 3)], "de", "de", "mlqa")
    assert qa.scores(["Tokyo", "Berlin"], [en, de])["exact_match"] == 100.0
    assert qa.scores(["Tokyo", "Tokyo"], [en, de])["exact_match"] == 50.0


def mlqa_file(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(DATA / "squad_eval.json", directory / name))


def test_languages_and_scoring_come_from_mlqa_and_xquad_file_names(tmp_path):
    cross = read_squad(mlqa_file(tmp_path, "test-context-de-question-en.json"))
    assert {(e.language, e.question_language, e.scoring) for e in cross} == {("de", "en", "mlqa")}
    xquad = read_squad(mlqa_file(tmp_path, "xquad.el.json"))
    assert {(e.language, e.scoring) for e in xquad} == {("el", "squad")}  # XQuAD: SQuAD v1.1's scoring
    squad = read_squad(DATA / "squad_eval.json", language="en")
    assert {(e.language, e.scoring) for e in squad} == {("en", "squad")}
    renamed = read_squad(mlqa_file(tmp_path, "mlqa-es.json"), "mlqa", language="es")
    assert {(e.language, e.scoring) for e in renamed} == {("es", "mlqa")}
    with pytest.raises(DataError, match="neither the file name .* nor --language"):
        read_squad(tmp_path / "mlqa-es.json", "mlqa")
    with pytest.raises(DataError, match="MLQA has no context language 'el'"):
        read_squad(tmp_path / "xquad.el.json", "mlqa")


@pytest.mark.torch
def test_train_on_squad_evaluate_mlqa_files_per_language(mluke_dir, tmp_path, capsys):
    from mluke_jax.finetune.__main__ import main

    evaluation = tmp_path / "MLQA_V1" / "test"
    for name in ("test-context-en-question-en.json", "test-context-de-question-de.json",
                 "test-context-de-question-en.json"):  # fmt: skip
        mlqa_file(evaluation, name)
    args = ["qa", "--model", str(mluke_dir), "--train", str(DATA / "squad_train.json"), "--eval", str(evaluation),
            "--output", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "8", "--max-length", "48",
            "--quiet"]  # fmt: skip
    assert main(args) == 0
    result = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert sorted(result["per_language"]) == ["context-de-question-en", "de", "en"]
    # the same English text three times: the German rules strip German articles only, so the German
    # and cross-lingual files score alike, and every file's score is its own
    de, cross = result["per_language"]["de"], result["per_language"]["context-de-question-en"]
    assert de == pytest.approx(cross)
    assert result["eval"]["f1"] == pytest.approx(result["average"]["f1"])
    out = capsys.readouterr().out
    assert "| context-de-question-en | " in out
