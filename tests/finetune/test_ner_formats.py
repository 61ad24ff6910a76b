"""The NER files researchers download, in their published layouts: CoNLL-2002 Spanish (``word
tag``, no document markers) and Dutch (``word POS tag``, ``-DOCSTART- -DOCSTART- O``), WikiANN /
PAN-X as XTREME distributes it (``lang:word<TAB>tag``), and BIOES tags. A file without document
markers has no documents: each sentence is read alone."""

import json

import pytest

from helpers import MLUKE_TOKENIZER_DATA
from mluke_jax import MLukeTokenizer
from mluke_jax.finetune.readers import DataError, read_conll
from mluke_jax.finetune.tasks import TASKS, Settings

SPANISH = """\
Melbourne B-LOC
( O
Australia B-LOC
) O
, O
25 O
may O
( O
EFE B-ORG
) O
. O

El O
presidente O
Fernando B-PER
Henrique I-PER
Cardoso I-PER
habló O
en O
Brasilia B-LOC
. O
"""

DUTCH = """\
-DOCSTART- -DOCSTART- O
De Art O
tekst N O
van Prep O
het Art O
arrest N O
is V O
nog Adv O
niet Adv O
schriftelijk Adj O
beschikbaar Adj O
. Punc O

Het Art O
Hof N B-ORG
van Prep I-ORG
Cassatie N I-ORG
in Prep O
Brussel N B-LOC
. Punc O

-DOCSTART- -DOCSTART- O
Amsterdam N B-LOC
groeit V O
. Punc O
"""

WIKIANN = (
    "en:Tokyo\tB-LOC\nen:is\tO\nen:in\tO\nen:Japan\tB-LOC\n\n"
    "de:Marie\tB-PER\nde:Curie\tI-PER\nde:lebte\tO\nde:in\tO\nde:Paris\tB-LOC\n\n"
    "es:La\tO\nes:Universidad\tB-ORG\nes:de\tI-ORG\nes:Salamanca\tI-ORG\n"
)

BIOES = "Marie B-PER\nSklodowska I-PER\nCurie E-PER\nlived O\nin O\nParis S-LOC\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_conll2002_spanish_without_documents_reads_each_sentence_alone(tmp_path):
    sentences = read_conll(write(tmp_path, "esp.train", SPANISH))
    assert [s.words[0] for s in sentences] == ["Melbourne", "El"]
    assert sentences[0].entities == [(0, 0, "LOC"), (2, 2, "LOC"), (8, 8, "ORG")]
    assert sentences[1].entities == [(2, 4, "PER"), (7, 7, "LOC")]
    assert [s.document for s in sentences] == [0, 1]  # a document each: no context from the other


def test_conll2002_dutch_keeps_its_documents(tmp_path):
    sentences = read_conll(write(tmp_path, "ned.train", DUTCH), "conll2002")
    assert [s.document for s in sentences] == [0, 0, 1]
    assert sentences[1].words == ["Het", "Hof", "van", "Cassatie", "in", "Brussel", "."]
    assert sentences[1].entities == [(1, 3, "ORG"), (5, 5, "LOC")]


def test_wikiann_prefixes_become_languages(tmp_path):
    sentences = read_conll(write(tmp_path, "train", WIKIANN))  # detected from the lines
    assert [s.language for s in sentences] == ["en", "de", "es"]
    assert sentences[1].words == ["Marie", "Curie", "lebte", "in", "Paris"]
    assert sentences[2].entities == [(1, 3, "ORG")]
    assert [s.document for s in sentences] == [0, 1, 2]
    assert read_conll(tmp_path / "train", "wikiann") == sentences


def test_bioes_tags(tmp_path):
    (sentence,) = read_conll(write(tmp_path, "bioes.txt", BIOES))
    assert sentence.entities == [(0, 2, "PER"), (5, 5, "LOC")]


def test_a_format_that_does_not_fit_the_file_is_an_error_naming_it(tmp_path):
    wikiann = write(tmp_path, "wikiann.tsv", WIKIANN)
    with pytest.raises(DataError, match=r"wikiann\.tsv: --format conll2003 names a CoNLL file, but its lines are "):
        read_conll(wikiann, "conll2003")
    conll = write(tmp_path, "conll.txt", "en:Tokyo\tB-LOC\nJapan B-LOC\n")
    with pytest.raises(DataError, match=r"conll\.txt:2: expected WikiANN's lang:word<TAB>tag .*'Japan B-LOC'"):
        read_conll(conll, "wikiann")
    with pytest.raises(ValueError, match="--format wikiann is not a layout of task xnli"):
        TASKS["xnli"].check_format("wikiann")


def test_without_documents_no_other_sentence_is_context(tmp_path):
    """The same two sentences: under one -DOCSTART- the second is read with the first around it;
    in a file without markers (CoNLL-2002 Spanish, WikiANN) it is read alone."""
    tok = MLukeTokenizer.from_pretrained(MLUKE_TOKENIZER_DATA)
    task, settings = TASKS["ner"], Settings(max_length=96, max_entities=64, max_span_words=2)
    decoded = {}
    for name, text in (("alone", SPANISH), ("document", "-DOCSTART- O\n\n" + SPANISH)):
        sentences = read_conll(write(tmp_path, name, text))
        labels = task.label_set(sentences)
        prepared = task.prepare(sentences, tok, labels, settings, False, lambda xs: xs)
        second = next(f for (number, _), f in zip(prepared.keys, prepared.features) if number == 1)
        decoded[name] = tok.decode(second["input_ids"], skip_special_tokens=True)
    assert "Australia" not in decoded["alone"] and "Cardoso" in decoded["alone"]
    assert "Australia" in decoded["document"] and "Cardoso" in decoded["document"]


@pytest.mark.torch
def test_the_ner_recipe_trains_on_wikiann_and_refuses_a_wrong_format(mluke_dir, tmp_path, capsys):
    from mluke_jax.finetune.__main__ import main

    data = write(tmp_path, "wikiann.tsv", WIKIANN * 4)
    args = ["ner", "--model", str(mluke_dir), "--train", str(data), "--eval", str(data), "--quiet",
            "--epochs", "1", "--batch-size", "4", "--max-length", "32", "--max-span-words", "3"]  # fmt: skip
    assert main([*args, "--output", str(tmp_path / "run")]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["labels"] == ["O", "LOC", "ORG", "PER"] and 0 <= metrics["eval"]["f1"] <= 1
    assert main([*args, "--output", str(tmp_path / "refused"), "--format", "conll2003"]) == 1
    assert "names a CoNLL file, but its lines are WikiANN's" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()
