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
