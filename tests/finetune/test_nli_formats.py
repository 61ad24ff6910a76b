"""The sentence-pair files researchers download, in their published layouts: the XNLI-1.0 release
TSV (a header of about 20 named columns, any order) and MultiNLI 1.0 (``.jsonl`` and the ``.txt``
TSV), rows whose ``gold_label`` is ``-`` skipped and counted; today's 3/4-column TSV as before."""

import json

import pytest

from mluke_jax.finetune.readers import DataError, PairExample, read_pairs
from mluke_jax.finetune.tasks import TASKS

# XNLI-1.0/xnli.dev.tsv's columns, in the release's order
XNLI_COLUMNS = (
    "language gold_label sentence1_binary_parse sentence2_binary_parse sentence1_parse sentence2_parse sentence1 "
    "sentence2 promptID pairID genre label1 label2 label3 label4 label5 sentence1_tokenized sentence2_tokenized match"
).split()
# multinli_1.0_dev_matched.txt's columns
MNLI_COLUMNS = (
    "gold_label sentence1_binary_parse sentence2_binary_parse sentence1_parse sentence2_parse sentence1 sentence2 "
    "promptID pairID genre label1 label2 label3 label4 label5"
).split()
PAIRS = [
    ("de", "entailment", "Er schläft.", "Er ruht."),
    ("en", "contradiction", "The cat sleeps.", "The cat runs."),
    ("fr", "-", "Il pleut.", "Il fait beau."),
    ("en", "neutral", "A man\u2019s \u201cbook\u201d.", "A book."),
]


def xnli_row(language, label, premise, hypothesis, n):
    values = {c: f"({c} {n})" for c in XNLI_COLUMNS}
    values.update(language=language, gold_label=label, sentence1=premise, sentence2=hypothesis, match="True")
    return values


def test_the_xnli_release_tsv_in_any_column_order(tmp_path):
    for order in (XNLI_COLUMNS, XNLI_COLUMNS[::-1]):
        rows = [xnli_row(*pair, n) for n, pair in enumerate(PAIRS)]
        path = tmp_path / "xnli.dev.tsv"
        path.write_text("\n".join(["\t".join(order)] + ["\t".join(r[c] for c in order) for r in rows]) + "\n")
        examples = read_pairs(path)
        assert examples == [PairExample(p, h, label, lang) for lang, label, p, h in PAIRS if label != "-"]
        assert examples.skipped == 1


def test_multinli_jsonl_and_txt(tmp_path):
    records = [
        {"annotator_labels": [label], "genre": "fiction", "gold_label": label, "pairID": str(n), "promptID": str(n),
         "sentence1": p, "sentence1_binary_parse": "( x )", "sentence1_parse": "(ROOT x)", "sentence2": h,
         "sentence2_binary_parse": "( y )", "sentence2_parse": "(ROOT y)"}
        for n, (_, label, p, h) in enumerate(PAIRS)
    ]  # fmt: skip
    jsonl = tmp_path / "multinli_1.0_dev_matched.jsonl"
    jsonl.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    expected = [PairExample(p, h, label, "en") for _, label, p, h in PAIRS if label != "-"]
    assert read_pairs(jsonl) == expected and read_pairs(jsonl).skipped == 1
    txt = tmp_path / "multinli_1.0_dev_matched.txt"
    rows = [{**{c: "x" for c in MNLI_COLUMNS}, "gold_label": r["gold_label"], "sentence1": r["sentence1"],
             "sentence2": r["sentence2"]} for r in records]  # fmt: skip
    txt.write_text("\n".join(["\t".join(MNLI_COLUMNS)] + ["\t".join(r[c] for c in MNLI_COLUMNS) for r in rows]))
    assert read_pairs(txt, "multinli") == expected


def test_the_plain_tsv_as_before_and_a_format_that_does_not_fit(tmp_path):
    plain = tmp_path / "pairs.tsv"
    plain.write_text("premise\thypothesis\tlabel\na b\tc d\tentailment\ne f\tg h\tneutral\tde\n")
    assert read_pairs(plain) == [PairExample("a b", "c d", "entailment"), PairExample("e f", "g h", "neutral", "de")]
    with pytest.raises(DataError, match=r"pairs\.tsv: --format xnli does not fit the file, which reads as tsv"):
        read_pairs(plain, "xnli")
    broken = tmp_path / "broken.tsv"
    broken.write_text("one column only\n")
    with pytest.raises(DataError, match=r"broken\.tsv:1: expected premise<TAB>hypothesis<TAB>label.*the XNLI-1\.0"):
        read_pairs(broken)
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"gold_label": "entailment", "sentence1": "a"}\n')
    with pytest.raises(DataError, match=r"missing\.jsonl:1: the row has no sentence2"):
        read_pairs(missing)
    assert TASKS["xnli"].formats == ("tsv", "xnli", "multinli")


def test_an_xnli_release_row_with_an_unknown_label_is_an_error(tmp_path):
    rows = [xnli_row("de", "entailmnet", "Er schläft.", "Er ruht.", 0)]
    path = tmp_path / "xnli.test.tsv"
    path.write_text("\n".join(["\t".join(XNLI_COLUMNS)] + ["\t".join(r[c] for c in XNLI_COLUMNS) for r in rows]))
    with pytest.raises(DataError, match=r"xnli\.test\.tsv:2: gold_label 'entailmnet' is not one of xnli's labels"):
        read_pairs(path)


# PAWS-X: x-final/LANG/{dev_2k,test_2k,translated_train}.tsv and en/train.tsv, with this header
PAWSX_WORDS = {
    "en": "the old city river was famous and new".split(),
    "de": "der die das Stadt ist schön groß und".split(),
    "fr": "le la ville est une très près et".split(),
}


def write_paws_x(path, language: str, rows: int, seed: int = 0):
    """Pairs whose second sentence is the first with two words swapped (label 1) or one replaced (0)."""
    import random

    rng = random.Random(seed)
    lines = ["id\tsentence1\tsentence2\tlabel"]
    for n in range(rows):
        words = [rng.choice(PAWSX_WORDS[language]) for _ in range(6)]
        other = list(words)
        label = n % 2
        if label:
            other[1], other[4] = other[4], other[1]
        else:
            other[2] = "nicht" if other[2] != "nicht" else "kein"
        lines.append(f"{n + 1}\t{' '.join(words)}\t{' '.join(other)}\t{label}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_paws_x_files_take_their_language_from_the_release_directories(tmp_path):
    from mluke_jax.finetune.readers import read_paws_x

    test = read_paws_x(write_paws_x(tmp_path / "x-final" / "de" / "test_2k.tsv", "de", 4))
    assert [e.label for e in test] == ["0", "1", "0", "1"] and {e.language for e in test} == {"de"}
    flat = write_paws_x(tmp_path / "pawsx_test.tsv", "fr", 2)
    assert {e.language for e in read_paws_x(flat, language="fr")} == {"fr"}
    assert {e.language for e in read_paws_x(flat)} == {None}
    with pytest.raises(DataError, match=r"the file is PAWS-X's .*run the paws-x task"):
        read_pairs(flat)  # given to xnli, its header is not read as a pair
    bad = tmp_path / "bad.tsv"
    bad.write_text("id\tsentence1\tsentence2\tlabel\n1\ta\tb\tyes\n")
    with pytest.raises(DataError, match=r"bad\.tsv:2: label 'yes' is not 0 or 1"):
        read_paws_x(bad)
    with pytest.raises(DataError, match=r"pairs\.tsv:1: expected PAWS-X's header"):
        read_paws_x((tmp_path / "pairs.tsv", (tmp_path / "pairs.tsv").write_text("a\tb\t0\n"))[0])


@pytest.mark.torch
def test_paws_x_with_xlm_gives_each_example_its_own_language(xlm_dir, tmp_path, capsys):
    """Train on English, evaluate German and French: XLM's ``langs`` follow each example, and the
    printed table has a row per language."""
    from mluke_jax.finetune.__main__ import main
    from mluke_jax.finetune.run import load_tokenizer
    from mluke_jax.finetune.tasks import Settings

    task = TASKS["paws-x"]
    evals = [write_paws_x(tmp_path / "x-final" / lang / "test_2k.tsv", lang, 6, seed=1) for lang in ("de", "fr")]
    tokenizer = load_tokenizer(str(xlm_dir), "xlm", "paws-x", Settings(max_length=32))
    examples = task.read(evals[0]) + task.read(evals[1])
    prepared = task.prepare(examples, tokenizer, ["0", "1"], Settings(max_length=32), False, lambda xs: xs)
    langs = {int(f["langs"][0]) for f in prepared.features[:6]}, {int(f["langs"][0]) for f in prepared.features[6:]}
    assert langs == ({tokenizer.lang2id["de"]}, {tokenizer.lang2id["fr"]})
    train = write_paws_x(tmp_path / "en" / "train.tsv", "en", 32)
    args = ["paws-x", "--model", str(xlm_dir), "--train", str(train), "--eval", str(tmp_path / "x-final" / "*"),
            "--output", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "8", "--max-length", "32",
            "--quiet"]  # fmt: skip
    assert main(args) == 0
    result = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert list(result["per_language"]) == ["de", "fr"] and "accuracy" in result["average"]
    assert "| de | " in capsys.readouterr().out
