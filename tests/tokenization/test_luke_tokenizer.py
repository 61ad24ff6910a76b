"""LukeTokenizer (English LUKE): transformers 4.46.3's ids (golden files), its files, bad input,
and the transformers 5 regression the README documents."""

import json
import shutil
from pathlib import Path

import pytest
from tokenization_goldens import check_tokenize_and_decode, replay_goldens

from mluke_jax import LukeTokenizer, MLukeTokenizer

DATA = Path(__file__).resolve().parents[1] / "data" / "luke_tokenizer"
GOLDENS = json.loads((DATA / "goldens.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tok():
    return LukeTokenizer.from_pretrained(DATA)


def test_same_outputs_as_transformers_4():
    """Every recorded call — English sentences with spans, each task, pairs, padding,
    truncation, batches, contractions, spaces, tabs, newlines, multi-byte characters, added tokens
    in the text — gives transformers 4.46.3's slow LukeTokenizer's output exactly."""
    compared, mismatches = replay_goldens(
        GOLDENS, lambda case: LukeTokenizer.from_pretrained(DATA, **case.get("init", {}))
    )
    assert compared > 480
    assert not mismatches, f"{len(mismatches)} of {compared} differ; first: {mismatches[:2]}"


def test_tokenize_and_decode_as_transformers_4(tok):
    check_tokenize_and_decode(GOLDENS, tok)


def test_plain_titles_and_the_entity_tasks(tok):
    text = "Marie Curie met Tokyo"
    out = tok(text, entity_spans=[(0, 11), (16, 21)], entities=["Marie Curie", "Tokyo"])
    assert out["entity_ids"] == [tok.entity_vocab["Marie Curie"], tok.entity_vocab["Tokyo"]]
    assert out["input_ids"][0] == tok.cls_token_id and out["input_ids"][-1] == tok.sep_token_id
    # the mention is cut at its boundaries: its tokens decode to the mention itself
    start = out["entity_position_ids"][1][0]
    assert tok.decode(out["input_ids"][start : start + 1]).strip() == "Tokyo"
    assert LukeTokenizer.entity_names == "{title}" and MLukeTokenizer.entity_names == "{language}:{title}"
    pair = tok(text, entity_spans=[(0, 11), (16, 21)], task="entity_pair_classification")
    assert pair["input_ids"].count(tok.entity_token_1_id) == 2 and pair["input_ids"].count(tok.entity_token_2_id) == 2
    assert pair["entity_ids"] == [tok.entity_mask_token_id, tok.entity_mask2_token_id]


def test_save_and_reload_gives_the_same_outputs(tok, tmp_path):
    tok.save_pretrained(tmp_path / "saved")
    again = LukeTokenizer.from_pretrained(tmp_path / "saved")
    for case in GOLDENS["cases"][::25]:
        if "init" not in case and not case.get("transformers_cannot_truncate"):
            assert again(**case["call"]) == tok(**case["call"])
    config = json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "LukeTokenizer"


def test_the_original_tsv_entity_vocabulary(tmp_path):
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "added_tokens.json"):
        shutil.copy(DATA / name, tmp_path / name)
    # English LUKE's own entity_vocab.tsv: title<TAB>count, the id is the line number
    (tmp_path / "entity_vocab.tsv").write_text("[PAD]\t0\n[UNK]\t0\n[MASK]\t0\nTokyo\t42\n[MASK2]\t0\n")
    tok = LukeTokenizer.from_pretrained(tmp_path)
    assert tok("Tokyo", entity_spans=[(0, 5)], entities=["Tokyo"])["entity_ids"] == [3]


def test_bad_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no vocab.json: not an English LUKE tokenizer directory"):
        LukeTokenizer.from_pretrained(tmp_path)
    shutil.copy(DATA / "vocab.json", tmp_path)
    with pytest.raises(FileNotFoundError, match="has no merges.txt"):
        LukeTokenizer.from_pretrained(tmp_path)
    (tmp_path / "merges.txt").write_text("#version: 0.2\nĠ t\nbad line here\n")
    with pytest.raises(ValueError, match="merges.txt line 3 is not a pair of tokens"):
        LukeTokenizer.from_pretrained(tmp_path, entity_vocab={"[PAD]": 0, "[UNK]": 1, "[MASK]": 2, "[MASK2]": 3})
    shutil.copy(DATA / "merges.txt", tmp_path)
    (tmp_path / "vocab.json").write_text('{"a": 0}')
    with pytest.raises(ValueError, match="lacks RoBERTa's special tokens"):
        LukeTokenizer.from_pretrained(tmp_path, entity_vocab={"[PAD]": 0, "[UNK]": 1, "[MASK]": 2, "[MASK2]": 3})


@pytest.mark.torch
def test_what_transformers_5_does_differently(tok):
    """transformers 5's LukeTokenizer on the same files (README "Differences"): from_pretrained
    gives the same ids on plain text, but truncation with entities crashes, "[MASK]" written in the
    text becomes one word token, and the 4.x constructor's keywords leave it without a vocabulary.
    If one of these starts failing, transformers changed: update the README."""
    transformers = pytest.importorskip("transformers")
    v5 = transformers.LukeTokenizer.from_pretrained(str(DATA))
    text = "Tokyo is the capital of Japan"
    assert v5(text)["input_ids"] == tok(text)["input_ids"]
    with pytest.raises(AttributeError, match="truncate_sequences"):
        v5(text, entity_spans=[(0, 5)], truncation=True, max_length=4)
    assert len(v5.tokenize("[MASK]")) == 1 and len(tok.tokenize("[MASK]")) > 1
    # 4.x's constructor keywords are silently ignored by 5 (renamed vocab/merges/entity_vocab): an
    # empty vocabulary, every text is <s></s>; ours takes the same files in the same order
    files = dict(vocab_file=DATA / "vocab.json", merges_file=DATA / "merges.txt")
    empty = transformers.LukeTokenizer(
        **{k: str(v) for k, v in files.items()}, entity_vocab_file=str(DATA / "entity_vocab.json")
    )
    assert empty(text)["input_ids"] == [0, 1] and empty.tokenize(text) == []
    ours = LukeTokenizer(files["vocab_file"], files["merges_file"], DATA / "entity_vocab.json")
    assert ours(text) == tok(text)
