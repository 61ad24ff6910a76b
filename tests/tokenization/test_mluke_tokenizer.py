"""MLukeTokenizer: transformers 4.46.3's ids (golden files), entity vocabularies, bad input, and
the transformers 5 regressions the README documents."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tokenization_goldens import check_tokenize_and_decode, replay_goldens

from mluke_jax import MLukeTokenizer
from mluke_jax.testing.toy_data import LITE_ENTITY_VOCAB
from mluke_jax.tokenizers.entity_vocab import read_entity_vocab

DATA = Path(__file__).resolve().parents[1] / "data" / "mluke_tokenizer"
GOLDENS = json.loads((DATA / "goldens.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def lite_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mluke-lite")
    for name in ("sentencepiece.bpe.model", "added_tokens.json", "tokenizer_config.json"):
        shutil.copy(DATA / name, directory / name)
    (directory / "entity_vocab.json").write_text(json.dumps(LITE_ENTITY_VOCAB))
    return directory


@pytest.fixture(scope="module")
def tok():
    return MLukeTokenizer.from_pretrained(DATA)


def test_same_outputs_as_transformers_4(lite_dir):
    """Every recorded call (single texts, pairs, each task, spans at edges, adjacent and nested,
    padding, truncation, batches) gives transformers 4.46.3's output exactly."""
    compared, mismatches = replay_goldens(
        GOLDENS,
        lambda case: MLukeTokenizer.from_pretrained(
            DATA if case.get("vocab", "full") == "full" else lite_dir, **case.get("init", {})
        ),
    )
    assert compared > 450
    assert not mismatches, f"{len(mismatches)} of {compared} differ; first: {mismatches[:2]}"


def test_tokenize_and_decode_as_transformers_4(tok):
    check_tokenize_and_decode(GOLDENS, tok)


def test_arrays_and_model_ready_batches(tok):
    texts = ["Tokyo is big", "Marie Curie met New York and the Beatles"]
    spans = [[(0, 5)], [(0, 11), (16, 24), (29, 40)]]
    out = tok(texts, entity_spans=spans, padding=True, return_tensors="np")
    assert out["input_ids"].dtype == np.int64 and out["input_ids"].shape == out["attention_mask"].shape
    assert out["entity_ids"].shape == (2, 3) and out["entity_position_ids"].shape == (2, 3, 30)
    assert (out["entity_position_ids"][0, 1:] == -1).all() and out["entity_attention_mask"].tolist() == [
        [1, 0, 0],
        [1, 1, 1],
    ]
    single = tok("Tokyo is big", entity_spans=[(0, 5)], return_tensors="jax")
    assert single["input_ids"].shape[0] == 1 and single["entity_position_ids"].shape == (1, 1, 30)
    with pytest.raises(ValueError, match="padding=True"):
        tok(texts, entity_spans=spans, return_tensors="np")


def test_plain_titles_with_a_language_and_unknown_names(tok):
    out = tok("Tokyo and Köln", entity_spans=[(0, 5), (10, 14)], entities=["Tokyo", "Köln"], entity_language="en")
    assert out["entity_ids"] == [tok.entity_vocab["en:Tokyo"], tok.entity_unk_token_id]  # no en:Köln
    out = tok("Tokyo and Köln", entity_spans=[(0, 5), (10, 14)], entities=["Tokyo", "de:Köln"])
    assert out["entity_ids"] == [tok.entity_unk_token_id, tok.entity_vocab["de:Köln"]]  # as transformers


def test_entities_of_the_second_text_alone_are_kept(tok):
    # transformers 4 drops every entity when only text_pair has spans; we keep them
    out = tok("Tokyo is big", "in Köln", entity_spans_pair=[(3, 7)], entities_pair=["de:Köln"])
    assert out["entity_ids"] == [tok.entity_vocab["de:Köln"]]
    first = tok("Tokyo is big")["input_ids"]
    # <s> A </s></s> "in" then the mention
    assert out["entity_position_ids"][0][0] == len(first) + 1 + len(tok.tokenize("in"))
    # rows without entities in a batch with entities get empty rows (transformers raises)
    batch = tok(["Tokyo", "in Köln"], entity_spans=[None, [(3, 7)]], padding=True)
    assert batch["entity_ids"] == [[tok.entity_pad_token_id], [tok.entity_mask_token_id]]
    assert batch["entity_attention_mask"] == [[0], [1]]


def test_truncation_drops_entities_whose_mention_is_cut(tok):
    text = "Tokyo and Marie Curie and New York and Mount Everest"
    spans = [(0, 5), (10, 21), (26, 34), (39, 52)]
    full = tok(text, entity_spans=spans)
    cut = tok(text, entity_spans=spans, truncation=True, max_length=8)
    assert len(cut["input_ids"]) == 8
    kept = [p for p in full["entity_position_ids"] if max(p) < 7]
    assert cut["entity_position_ids"] == kept and 0 < len(kept) < 4
    assert (
        tok(text, entity_spans=spans, truncation=True, max_entity_length=2)["entity_position_ids"]
        == full["entity_position_ids"][:2]
    )


def test_save_and_reload_gives_the_same_outputs(tok, tmp_path):
    tok.save_pretrained(tmp_path / "saved")
    again = MLukeTokenizer.from_pretrained(tmp_path / "saved")
    case = GOLDENS["cases"][100]["call"]
    assert again(**case) == tok(**case)
    assert json.loads((tmp_path / "saved" / "entity_vocab.json").read_text(encoding="utf-8")) == tok.entity_vocab


def test_original_entity_vocabularies(tmp_path):
    # The mLUKE JSON-lines form of the same vocabulary reads as transformers' entity_vocab.json.
    assert read_entity_vocab(DATA / "entity_vocab.jsonl") == read_entity_vocab(DATA / "entity_vocab.json")
    # The luke repository's fixture shape: several titles per id, specials under two languages,
    # no [MASK2] (appended after the largest id, as transformers' converter does).
    lines = [
        {"id": 0, "entities": [["[PAD]", "en"], ["[PAD]", "ja"]], "count": 0},
        {"id": 1, "entities": [["[UNK]", "ja"], ["[UNK]", "en"]], "count": 0},
        {"id": 2, "entities": [["[MASK]", "ja"], ["[MASK]", "en"]], "count": 0},
        {"id": 3, "entities": [["東京", "ja"], ["Tokyo", "en"]], "count": 142},
        {"id": 4, "entities": [["フジテレビジョン", "ja"]], "count": 63},
    ]
    (tmp_path / "entity_vocab.jsonl").write_text(
        "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8"
    )
    vocab = read_entity_vocab(tmp_path / "entity_vocab.jsonl")
    assert vocab == {
        "[PAD]": 0,
        "[UNK]": 1,
        "[MASK]": 2,
        "ja:東京": 3,
        "en:Tokyo": 3,
        "ja:フジテレビジョン": 4,
        "[MASK2]": 5,
    }
    for name in ("sentencepiece.bpe.model", "tokenizer_config.json", "added_tokens.json"):
        shutil.copy(DATA / name, tmp_path / name)
    tok = MLukeTokenizer.from_pretrained(tmp_path)
    out = tok("東京 is Tokyo", entity_spans=[(0, 2), (6, 11)], entities=["ja:東京", "Tokyo"], entity_language="en")
    assert out["entity_ids"] == [3, 3]
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        read_entity_vocab(tmp_path / "bad.jsonl")
    (tmp_path / "english.tsv").write_text("[PAD]\t0\n[UNK]\t0\n[MASK]\t0\nTokyo\t42\n")
    assert read_entity_vocab(tmp_path / "english.tsv") == {"[PAD]": 0, "[UNK]": 1, "[MASK]": 2, "Tokyo": 3}


@pytest.mark.parametrize(
    "call, message",
    [
        (dict(text="Tokyo", entity_spans=[(0, 9)]), r"entity span \(0, 9\) is outside the text \(length 5\)"),
        (dict(text="Tokyo", entity_spans=[(3, 3)]), r"entity span \(3, 3\) is outside the text .* or empty"),
        (dict(text="Tokyo", entity_spans=[(-1, 2)]), "outside the text"),
        (dict(text="Tokyo", entity_spans=[(0, 5)], entities=["a", "b"]), "2 entities and 1 spans"),
        (dict(text="Tokyo", entities=["en:Tokyo"]), "entities were given without entity_spans"),
        (dict(text="Tokyo  is", entity_spans=[(5, 6)]), r"entity span \(5, 6\) covers no token"),
        (dict(text="Tokyo", entity_spans=[(0, 5)], task="entity_typing"), "unknown task 'entity_typing'"),
        (
            dict(text="Tokyo", text_pair="Köln", entity_spans=[(0, 5)], task="entity_classification"),
            "takes a single text",
        ),
        (dict(text="Tokyo Köln", entity_spans=[(0, 5)], task="entity_pair_classification"), "exactly two entity span"),
        (dict(text="Tokyo Köln", entity_spans=[(0, 10), (6, 10)], task="entity_pair_classification"), "overlap"),
        (
            dict(text="Tokyo", entity_spans=[(0, 5)], entities=["en:Tokyo"], task="entity_classification"),
            "do not pass entities",
        ),
        (dict(text=["a", "b"], entity_spans=[[(0, 1)]]), "entity_spans has 1 rows but text has 2"),
        (
            dict(text="Tokyo is", text_pair="big", truncation="only_second", max_length=5),
            r"cannot remove \d+ tokens from a second sequence of \d+",
        ),
        (dict(text="Tokyo", entity_spans=[("a", 2)]), r"\(start, end\) pair"),
        (dict(text="Tokyo", padding="sideways"), "padding must be"),
        (dict(text="Tokyo", truncation="middle"), "truncation must be"),
        # transformers 4.46.3 raises on these too ("If you specify entities, they should be given as a list
        # of entity names", "... as a list", TypeError "entity_spans should be given as a list"); an id
        # among the names used to become [UNK] silently here
        (dict(text="Tokyo", entity_spans=[(0, 5)], entities=[0]), r"row 0: entities must be entity names"),
        (
            dict(text="Tokyo", entity_spans=[(0, 5)], entities=("en:Tokyo",)),
            "entities must be a list of entity names, got a tuple",
        ),
        (dict(text="Tokyo", entity_spans=((0, 5),)), "entity_spans must be a list of .*, got a tuple"),
        (
            dict(text="Tokyo", text_pair="in Köln", entity_spans_pair=[(3, 7)], entities_pair=[7]),
            r"\(text_pair\): entities_pair must be entity names .* entities_pair\[0\] is 7",
        ),
        (
            dict(text="Tokyo", text_pair="in Köln", entity_spans_pair=[(3, 7)], entities_pair=("de:Köln",)),
            "entities_pair must be a list",
        ),
        (dict(text="Tokyo", text_pair="in Köln", entity_spans_pair=((3, 7),)), "entity_spans_pair must be a list"),
        (dict(text=["Tokyo"], entity_spans=[((0, 5),)]), "row 0: entity_spans must be a list"),
        (dict(text=["Tokyo"], entity_spans=[[(0, 5)]], entities=[[0]]), "row 0: entities must be entity names"),
        # 4.46.3: "Truncation and padding are both activated but truncation length (12) is not a multiple of
        # pad_to_multiple_of (8)."
        (
            dict(text="Tokyo", padding="max_length", truncation=True, max_length=12, pad_to_multiple_of=8),
            "max_length=12 is not a multiple of pad_to_multiple_of=8",
        ),
        (
            dict(text=["Tokyo", "Köln"], padding=True, truncation="only_first", max_length=12, pad_to_multiple_of=8),
            "max_length=12 is not a multiple of pad_to_multiple_of=8",
        ),
    ],
)
def test_bad_input_is_named(tok, call, message):
    with pytest.raises(ValueError, match=message):
        tok(**call)


def test_pad_to_multiple_of_rounds_up_without_truncation(tok):
    """Without truncation 4.46.3 pads max_length=12 up to 16 (and the entities to 32), arrays too."""
    out = tok("Tokyo", entity_spans=[(0, 5)], padding="max_length", max_length=12, pad_to_multiple_of=8)
    assert len(out["input_ids"]) == 16 and len(out["entity_ids"]) == 32
    arrays = tok(["Tokyo"], padding="max_length", max_length=12, pad_to_multiple_of=8, return_tensors="np")
    assert arrays["input_ids"].shape == (1, 16)
    truncated = tok("Tokyo", padding="max_length", truncation=True, max_length=16, pad_to_multiple_of=8)
    assert len(truncated["input_ids"]) == 16


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="sentencepiece.bpe.model"):
        MLukeTokenizer.from_pretrained(tmp_path)
    shutil.copy(DATA / "sentencepiece.bpe.model", tmp_path)
    with pytest.raises(FileNotFoundError, match="no entity vocabulary"):
        MLukeTokenizer.from_pretrained(tmp_path)
    (tmp_path / "entity_vocab.json").write_text('{"[MASK]": 0}')
    with pytest.raises(ValueError, match=r"lacks the special entities \['\[UNK\]', '\[PAD\]', '\[MASK2\]'\]"):
        MLukeTokenizer.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such file or directory: .*missing/dir"):
        MLukeTokenizer.from_pretrained(str(tmp_path / "missing" / "dir"))


def test_hub_names_fail_fast_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(OSError, match="not in the local Hugging Face cache"):
        MLukeTokenizer.from_pretrained("studio-ousia/mluke-base-lite")


@pytest.mark.torch
def test_transformers_5_regressions_that_the_readme_names(tok):
    """transformers 5's MLukeTokenizer on the same hub-layout files: ids without the fairseq offset,
    no NFKC, a crash when truncating with entities. If one of these starts failing, transformers
    changed: update README "Differences from transformers"."""
    transformers = pytest.importorskip("transformers")
    v5 = transformers.MLukeTokenizer.from_pretrained(str(DATA))
    text = "Tokyo is the capital of Japan"
    ours, theirs = tok(text)["input_ids"], v5(text)["input_ids"]
    assert tok.convert_ids_to_tokens(ours) == v5.convert_ids_to_tokens(theirs)  # same strings...
    known = [k for k, i in enumerate(ours) if i > tok.unk_token_id]
    assert len(known) > 5 and all(theirs[k] == ours[k] - 1 for k in known)  # ...every piece id one lower
    assert v5.pad_token_id != tok.pad_token_id == 1
    assert v5.tokenize("ＴＯＫＹＯ  is") != tok.tokenize("ＴＯＫＹＯ  is")  # no NFKC / whitespace folding
    with pytest.raises(AttributeError):
        v5("Tokyo is the capital", entity_spans=[(0, 5)], truncation=True, max_length=4)


def test_a_row_longer_than_max_length_is_named(tok):
    texts = ["Tokyo.", "Tokyo is the capital of Japan and Paris is the capital of France."]
    spans = [[(0, 5)], [(0, 5), (24, 29)]]
    longest = len(tok(texts, entity_spans=spans)["input_ids"][1])
    assert longest > 8
    with pytest.raises(ValueError, match=rf"row 1 has {longest} tokens, more than max_length=8: pass truncation=True"):
        tok(texts, entity_spans=spans, padding="max_length", max_length=8, return_tensors="np")
    batch = tok(texts, entity_spans=spans, padding="max_length", max_length=8, truncation=True, return_tensors="np")
    assert batch["input_ids"].shape == (2, 8)
