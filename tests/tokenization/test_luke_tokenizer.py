"""LukeTokenizer (English LUKE): transformers 4.46.3's ids (golden files), its files, bad input,
and the transformers 5 regression the README documents."""

import json
import re
import shutil
import warnings
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
    (tmp_path / "vocab.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="is not a BPE vocabulary"):
        LukeTokenizer.from_pretrained(tmp_path, entity_vocab={"[PAD]": 0, "[UNK]": 1, "[MASK]": 2, "[MASK2]": 3})


def _vocab_without(directory: Path, dropped: set[str]) -> Path:
    """The test tokenizer's files, ``dropped`` taken out of ``vocab.json`` (the rest renumbered 0, 1, ...)."""
    directory.mkdir()
    vocab = json.loads((DATA / "vocab.json").read_text(encoding="utf-8"))
    kept = [token for token in sorted(vocab, key=vocab.get) if token not in dropped]
    (directory / "vocab.json").write_text(json.dumps({token: n for n, token in enumerate(kept)}))
    for name in ("merges.txt", "entity_vocab.json"):
        shutil.copy(DATA / name, directory / name)
    return directory


@pytest.mark.parametrize(
    "dropped, specials, plain, pair",
    [
        (
            {"<s>", "</s>", "<pad>", "<unk>", "<mask>"},
            {"<s>": 796, "</s>": 797, "<unk>": 798, "<pad>": 799, "<mask>": 800, "<ent>": 801, "<ent2>": 802},
            [796, 51, 657, 515, 220, 65, 72, 70, 797],
            [796, 51, 657, 515, 220, 65, 72, 70, 797, 797, 599, 630, 797],
        ),
        (
            {"<s>", "</s>", "<mask>"},  # <pad> and <unk> stay (ids 0 and 1)
            {"<s>": 798, "</s>": 799, "<unk>": 1, "<pad>": 0, "<mask>": 800, "<ent>": 801, "<ent2>": 802},
            [798, 53, 659, 517, 222, 67, 74, 72, 799],
            [798, 53, 659, 517, 222, 67, 74, 72, 799, 799, 601, 632, 799],
        ),
    ],
)
def test_a_vocab_without_the_special_tokens_gets_them_after_it_as_transformers_4(
    tmp_path, dropped, specials, plain, pair
):
    """A vocab.json without (some of) RoBERTa's special tokens: transformers 4.x adds the missing ones
    after the vocabulary in the order <s>, </s>, <unk>, <pad>, <mask>, then <ent>, <ent2>. Every id
    below was read off transformers 4.46.3's LukeTokenizer on the same files."""
    directory = _vocab_without(tmp_path / "files", dropped)
    missing = [t for t in ("<s>", "</s>", "<unk>", "<pad>", "<mask>") if t in dropped]
    with pytest.warns(UserWarning, match="lacks the special tokens " + re.escape(str(missing))) as caught:
        tok = LukeTokenizer(directory / "vocab.json", directory / "merges.txt", directory / "entity_vocab.json")
    assert len(caught) == 1
    assert tok.convert_tokens_to_ids(list(specials)) == list(specials.values())
    assert (tok.vocab_size, len(tok)) == (801 - len(dropped), 803)  # 4.46.3: vocab_size, len()
    assert tok("Tokyo is big")["input_ids"] == plain
    out = tok(
        "Tokyo is big",
        "New York",
        entity_spans=[(0, 5)],
        entities=["Tokyo"],
        padding="max_length",
        max_length=12,  # shorter than the pair: no padding, as in 4.46.3
        max_entity_length=2,
    )
    assert out["input_ids"] == pair and out["entity_ids"] == [3, 0]
    padded = tok("Tokyo is big", padding="max_length", max_length=11)["input_ids"]
    assert padded == plain + [specials["<pad>"]] * 2
    mask = tok("a <mask> b")["input_ids"]
    assert mask[2] == specials["<mask>"] and tok.decode(mask) == "<s>a<mask> b</s>"  # as 4.46.3 decodes it
    with pytest.warns(UserWarning, match="lacks the special tokens"):
        marked = LukeTokenizer.from_pretrained(directory, entity_vocab=tok.entity_vocab, task="entity_classification")
    ids = marked("Tokyo is big", entity_spans=[(0, 5)])["input_ids"]
    assert ids == plain[:1] + [801] + plain[1:3] + [801] + plain[3:]
    assert marked.decode(ids) == "<s> <ent> Tokyo <ent>  is big</s>"  # 4.46.3's decode
    # saved with the added ids in added_tokens.json (as 4.x saves them); read back without a warning
    tok.save_pretrained(tmp_path / "saved")
    assert json.loads((tmp_path / "saved" / "added_tokens.json").read_text()) == {
        t: i for t, i in specials.items() if t in dropped or t.startswith("<ent")
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = LukeTokenizer.from_pretrained(tmp_path / "saved")
    assert again("Tokyo is big")["input_ids"] == plain and again.added_tokens == tok.added_tokens


@pytest.mark.parametrize(
    "call, message",
    [
        (
            dict(entity_spans=[(0, 5)], entities=[0]),
            r"entities must be entity names \(strings\), but entities\[0\] is 0",
        ),
        # stricter than 4.46.3, which checks only the first name (and makes this 3 an [UNK])
        (dict(entity_spans=[(0, 5), (6, 8)], entities=["Tokyo", 3]), r"entities\[1\] is 3 \(int\)"),
        (dict(entity_spans=[(0, 5)], entities=("Tokyo",)), "entities must be a list of entity names, got a tuple"),
        (dict(entity_spans=((0, 5),)), r"entity_spans must be a list of \(start, end\) .*, got a tuple"),
        (dict(entity_spans=((0, 5),), task="entity_classification"), "entity_spans must be a list"),
        (dict(entity_spans=((0, 5), (9, 12)), task="entity_pair_classification"), "entity_spans must be a list"),
        (dict(entity_spans=((0, 5),), task="entity_span_classification"), "entity_spans must be a list"),
        (
            dict(text_pair="in Tokyo", entity_spans_pair=[(3, 8)], entities_pair=[0]),
            r"row 0 \(text_pair\): entities_pair must be entity names .* entities_pair\[0\] is 0",
        ),
        (
            dict(text_pair="in Tokyo", entity_spans_pair=[(3, 8)], entities_pair=("Tokyo",)),
            "entities_pair must be a list of entity names, got a tuple",
        ),
        (dict(text_pair="in Tokyo", entity_spans_pair=((3, 8),)), "entity_spans_pair must be a list of"),
        # batches: each row's spans and entities must be lists (the outer list may be a tuple)
        (dict(text=["Tokyo is big"], entity_spans=[((0, 5),)]), "row 0: entity_spans must be a list"),
        (dict(text=["Tokyo is big"], entity_spans=[[(0, 5)]], entities=[[0]]), r"row 0: entities must be entity names"),
        (dict(text=["Tokyo is big"], entity_spans=[[(0, 5)]], entities=[("Tokyo",)]), "row 0: entities must be a list"),
        (
            dict(text=["Tokyo is big"], text_pair=["in Tokyo"], entity_spans_pair=[((3, 8),)]),
            r"row 0 \(text_pair\): entity_spans_pair must be a list",
        ),
    ],
)
def test_entities_and_spans_of_other_types_are_refused_as_in_transformers_4(tok, call, message):
    """transformers 4.46.3 raises on each of these but the one marked ("If you specify entities, they
    should be given as a list of entity names", "... as a list", TypeError "entity_spans should be given
    as a list"); an id among the names used to become [UNK] silently here."""
    call = {"text": "Tokyo is big", **call}
    with pytest.raises(ValueError, match=message):
        tok(**call)


def test_a_batch_may_be_a_tuple_of_rows(tok):
    """As in transformers 4.46.3: only each row's spans and entities must be lists."""
    rows = dict(entity_spans=([(0, 5)],), entities=(["Tokyo"],))
    assert tok(("Tokyo is big",), **rows) == tok(["Tokyo is big"], entity_spans=[[(0, 5)]], entities=[["Tokyo"]])
    assert tok(["Tokyo is big"], **rows)["entity_ids"] == [[tok.entity_vocab["Tokyo"]]]


def test_pad_to_multiple_of_must_divide_the_truncation_length(tok):
    """transformers 4.46.3: "Truncation and padding are both activated but truncation length (12) is not a
    multiple of pad_to_multiple_of (8)." (a ValueError) whenever both are on; without truncation it pads
    to 16."""
    text, spans = "Tokyo is the capital of Japan", [(0, 5)]
    for padding in ("max_length", True):
        with pytest.raises(ValueError, match=r"max_length=12 is not a multiple of pad_to_multiple_of=8"):
            tok(text, entity_spans=spans, padding=padding, truncation=True, max_length=12, pad_to_multiple_of=8)
    with pytest.raises(ValueError, match=r"max_length=512 is not a multiple of pad_to_multiple_of=7"):
        tok(text, padding=True, truncation=True, pad_to_multiple_of=7)  # the model's 512
    out = tok(text, entity_spans=spans, padding="max_length", truncation=True, max_length=16, pad_to_multiple_of=8)
    assert len(out["input_ids"]) == 16 and len(out["entity_ids"]) == 32
    short = "Tokyo is big"  # 9 tokens: padded to 16
    out = tok(short, entity_spans=spans, padding="max_length", max_length=12, pad_to_multiple_of=8, return_tensors="np")
    assert out["input_ids"].shape == (1, 16) and out["entity_ids"].shape == (1, 32)  # as 4.46.3


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
