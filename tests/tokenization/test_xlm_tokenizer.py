"""XLMTokenizer: transformers' ids without a language; real Moses rules and ``langs`` with one."""

import json
import warnings

import numpy as np
import pytest

from mluke_jax import XLMTokenizer
from mluke_jax.testing.toy_data import learn_bpe
from mluke_jax.tokenizers.xlm import SPECIAL_TOKENS, read_merges

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Der schnelle braune Fuchs springt über den faulen Hund!",
    "Mr. Smith's café costs $3.50 (roughly) — isn't it?",
    'Élan, naïve coöperation; "quoted" text...',
    "Pînă la Brașov și Timişoara",
]
TEXTS = CORPUS + [
    "<s> hello <special1> world </s>",
    "Ein Satz, mit Komma.",
    "  spaces   and\ttabs\n",
    "unknown ☃ symbol",
    "Ａｂｃ！ full width？ 。next",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("xlm-tok")
    vocab, merges = learn_bpe(CORPUS, 80, SPECIAL_TOKENS)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("".join(f"{a} {b}\n" for a, b in merges))
    (directory / "tokenizer_config.json").write_text(
        json.dumps({"lang2id": {"de": 0, "en": 1, "ro": 2}, "do_lowercase_and_remove_accent": True})
    )
    return directory


@pytest.fixture(scope="module")
def ours(files):
    return XLMTokenizer.from_pretrained(files)


@pytest.fixture(scope="module")
def reference(files):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("sacremoses")
    return transformers.XLMTokenizer(str(files / "vocab.json"), str(files / "merges.txt"))


@pytest.mark.torch
def test_same_ids_as_transformers(ours, reference):
    for text in TEXTS:
        assert ours(text)["input_ids"] == reference(text)["input_ids"], text
        assert ours.tokenize(text) == reference.tokenize(text), text
    pair = (TEXTS[2], TEXTS[3])
    assert ours(*pair)["input_ids"] == reference(*pair)["input_ids"]
    assert (
        ours(*pair, return_token_type_ids=True)["token_type_ids"]
        == reference(*pair, return_token_type_ids=True)["token_type_ids"]
    )
    assert "token_type_ids" not in ours(*pair)  # only when asked, as transformers 5
    batch = dict(padding=True, truncation=True, max_length=12)
    expected = reference(TEXTS[:4], **batch)
    got = ours(TEXTS[:4], **batch)
    assert got["input_ids"] == expected["input_ids"] and got["attention_mask"] == expected["attention_mask"]
    assert (
        ours(*pair, truncation=True, max_length=15)["input_ids"]
        == reference(*pair, truncation=True, max_length=15)["input_ids"]
    )
    # equal lengths: transformers takes the odd token off the second text; and the other strategies
    even = ("a b c d e f", "a c e b d f")
    for max_length in (10, 11, 12, 13):
        for strategy in (True, "only_first", "only_second"):
            assert (
                ours(*even, truncation=strategy, max_length=max_length)["input_ids"]
                == reference(*even, truncation=strategy, max_length=max_length)["input_ids"]
            )
    assert (
        ours(*even, max_length=11)["input_ids"] == reference(*even, max_length=11)["input_ids"]
    )  # max_length alone truncates
    ids = ours(TEXTS[0])["input_ids"]
    assert ours.decode(ids) == reference.decode(ids)
    assert ours.convert_ids_to_tokens(ids) == reference.convert_ids_to_tokens(ids)


def test_lang_really_selects_the_moses_rules_and_returns_langs(ours):
    # English rules split "'s" off the word differently from German ones.
    assert ours.tokenize("Der Hund's Ball.", lang="de") != ours.tokenize("Der Hund's Ball.")
    out = ours("Ein Hund.", "A dog.", lang="de", lang_pair="en")
    assert len(out["langs"]) == len(out["input_ids"])
    assert out["langs"][0] == 0 and out["langs"][-1] == 1
    padded = ours(["Ein Hund.", "Ein sehr großer Hund."], lang="de", padding=True, return_tensors="np")
    assert padded["langs"].shape == padded["input_ids"].shape and (padded["langs"] == 0).all()
    with pytest.raises(ValueError, match="unknown language 'xx'"):
        ours("text", lang="xx")


def test_romanian_preprocessing_for_cased_models(files):
    cased = XLMTokenizer.from_pretrained(files)
    cased.do_lowercase_and_remove_accent = False
    assert cased.tokenize("Brașov", lang="ro") == cased.tokenize("Brasov", lang="ro")
    assert cased.tokenize("Brașov") != cased.tokenize("Brasov")


def test_original_vocab_and_codes_files(files, ours, tmp_path):
    vocab = json.loads((files / "vocab.json").read_text())
    lines = []
    for token, index in sorted(vocab.items(), key=lambda kv: kv[1]):
        if index < len(SPECIAL_TOKENS):
            continue
        lines.append((token[: -len("</w>")] if token.endswith("</w>") else token + "@@") + " 7")
    (tmp_path / "vocab").write_text("\n".join(lines) + "\n")
    merges = (files / "merges.txt").read_text().splitlines()
    (tmp_path / "codes").write_text("".join(f"{line} 42\n" for line in merges))  # fastBPE count column
    original = XLMTokenizer.from_pretrained(tmp_path)
    for text in TEXTS:
        assert original(text)["input_ids"] == ours(text)["input_ids"], text


def test_merges_last_line_without_newline_is_dropped_like_transformers(files, tmp_path):
    merges = (files / "merges.txt").read_text().rstrip("\n")
    (tmp_path / "merges.txt").write_text(merges)  # no trailing newline
    (tmp_path / "vocab.json").write_text((files / "vocab.json").read_text())
    tokenizer = XLMTokenizer.from_pretrained(tmp_path)
    assert len(tokenizer.bpe_ranks) == len(merges.split("\n")) - 1


def test_save_and_arrays(ours, tmp_path):
    ours.save_pretrained(tmp_path / "saved")
    again = XLMTokenizer.from_pretrained(tmp_path / "saved")
    assert again(TEXTS, padding=True)["input_ids"] == ours(TEXTS, padding=True)["input_ids"]
    assert again.lang2id == ours.lang2id
    arrays = ours(TEXTS[:2], padding="max_length", max_length=40, return_tensors="jax")
    assert arrays["input_ids"].shape == (2, 40)
    assert np.asarray(arrays["attention_mask"]).sum(axis=1).tolist() == [len(ours(t)["input_ids"]) for t in TEXTS[:2]]
    with pytest.raises(ValueError, match="padding=True"):
        ours(TEXTS[:2], return_tensors="np")


@pytest.mark.torch
def test_chinese_thai_japanese_segmenters_are_used_as_transformers_does(files, ours, monkeypatch, tmp_path):
    """The optional segmenters, replaced by stand-ins (character splitters): the same pipeline as
    transformers' ``_tokenize(text, lang=...)``, and a clear error when one is missing."""
    import sys
    import types

    transformers = pytest.importorskip("transformers")
    reference = transformers.XLMTokenizer(str(files / "vocab.json"), str(files / "merges.txt"))
    text = "東京，大阪。Tokyo ＴＯＫＹＯ!"

    def without_languages():  # the fixture's lang2id has no zh/th/ja
        return XLMTokenizer(json.loads((files / "vocab.json").read_text()), read_merges(files / "merges.txt"))

    for module, lang in (("rjieba", "zh"), ("pythainlp", "th"), ("Mykytea", "ja")):
        monkeypatch.delitem(sys.modules, module, raising=False)
        monkeypatch.setitem(sys.modules, module, None)  # import fails
        with pytest.raises(ImportError, match="rjieba" if lang == "zh" else "pythainlp" if lang == "th" else "KyTea"):
            without_languages().tokenize(text, lang=lang)
    split = lambda s: [c for c in s if not c.isspace()]  # noqa: E731
    monkeypatch.setitem(sys.modules, "rjieba", types.SimpleNamespace(cut=split))
    thai = types.ModuleType("pythainlp")
    thai.word_tokenize = split
    thai.tokenize = types.SimpleNamespace(word_tokenize=split)
    monkeypatch.setitem(sys.modules, "pythainlp", thai)
    monkeypatch.setitem(sys.modules, "pythainlp.tokenize", thai.tokenize)
    monkeypatch.setitem(
        sys.modules, "Mykytea", types.SimpleNamespace(Mykytea=lambda options: types.SimpleNamespace(getWS=split))
    )
    (tmp_path / "model.bin").write_bytes(b"")
    monkeypatch.setenv("KYTEA_MODEL", str(tmp_path / "model.bin"))
    fresh = without_languages()
    for lang in ("zh", "th", "ja"):
        assert fresh.tokenize(text, lang=lang) == reference._tokenize(text, lang=lang), lang


@pytest.mark.torch
def test_generated_multilingual_corpus_and_every_language(tmp_path):
    """Several hundred generated sentences (seven scripts, accents, emoji, full-width, repeated
    spaces): transformers' ids without a language; with ``lang=`` for each language the same words
    as transformers' own language pipeline (its private ``_tokenize(text, lang=...)``, which its
    public calls never reach)."""
    from mluke_jax.testing.toy_data import multilingual_sentences, write_toy_xlm_tokenizer

    transformers = pytest.importorskip("transformers")
    directory = write_toy_xlm_tokenizer(tmp_path / "xlm", sentences=600, merges=300)
    ours = XLMTokenizer.from_pretrained(directory)
    reference = transformers.XLMTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"))
    corpus = multilingual_sentences(400, seed=3)
    texts = [s.text for s in corpus]
    assert ours(texts)["input_ids"] == reference(texts)["input_ids"]
    pairs = dict(text=texts[:100], text_pair=texts[100:200], truncation=True, max_length=24, padding=True)
    assert ours(**pairs)["input_ids"] == reference(**pairs)["input_ids"]
    checked = set()
    for sentence in corpus:
        if sentence.language in ("zh", "ja"):  # segmenters: see the stand-in test above
            continue
        assert ours.tokenize(sentence.text, lang=sentence.language) == reference._tokenize(
            sentence.text, lang=sentence.language
        )
        checked.add(sentence.language)
    assert checked == {"de", "el", "en", "fr", "ru"}
    out = ours(texts[:3], lang="fr", padding=True, return_tensors="np")
    assert (out["langs"] == ours.lang2id["fr"]).all()


def test_a_row_longer_than_max_length_is_named(ours):
    """padding="max_length" without truncation: the row that does not fit is named, with the fix."""
    texts = ["a b", "the river is long and the river is long and the river is long"]
    longest = len(ours(texts)["input_ids"][1])
    with pytest.raises(ValueError, match=rf"row 1 has {longest} tokens, more than max_length=6: pass truncation=True"):
        ours(texts, padding="max_length", max_length=6, return_tensors="np")
    assert ours(texts, padding="max_length", max_length=6, truncation=True, return_tensors="np")["input_ids"].shape == (
        2,
        6,
    )
    with pytest.raises(ValueError, match=r"different lengths \(\d+ to \d+\): pass padding=True"):
        ours(texts, return_tensors="np")


# A tiny vocabulary of our own: "tokyo is big" is three word pieces.
TINY_WORDS = ["t", "o", "k", "y", "i", "s", "b", "g", "o</w>", "s</w>", "g</w>", "to", "ky", "kyo</w>", "tokyo</w>"]
TINY_WORDS += ["is</w>", "bi", "big</w>"]
TINY_MERGES = ["t o", "k y", "ky o</w>", "to kyo</w>", "i s</w>", "b i", "bi g</w>"]


def _tiny_xlm(directory, specials: list[str]):
    directory.mkdir()
    (directory / "vocab.json").write_text(json.dumps({w: i for i, w in enumerate(specials + TINY_WORDS)}))
    (directory / "merges.txt").write_text("".join(m + "\n" for m in TINY_MERGES))
    return directory


@pytest.mark.parametrize(
    "specials, added, pair, in_text, unknown",
    [
        (
            [],
            {"<s>": 18, "<unk>": 19, "</s>": 20, "<pad>": 21, "<special1>": 22, "<special0>": 23}
            | {f"<special{i}>": 22 + i for i in range(2, 10)},
            [18, 14, 15, 17, 20, 17, 14, 20, 21, 21],
            [18, 14, 22, 23, 17, 25, 20, 21, 31, 20],
            [18, 14, 15, 6, 19, 19, 20],  # 4.46.3 gives None for "a" and "d" here: its <unk> is no vocab entry
        ),
        (
            ["<s>", "</s>", "<pad>", "<unk>"],
            {"<special1>": 22, "<special0>": 23} | {f"<special{i}>": 22 + i for i in range(2, 10)},
            [0, 18, 19, 21, 1, 21, 18, 1, 2, 2],
            [0, 18, 22, 23, 21, 25, 1, 2, 31, 1],
            [0, 18, 19, 10, 3, 3, 1],
        ),
    ],
)
def test_a_vocab_without_the_special_tokens_gets_them_after_it_as_transformers_4(
    tmp_path, specials, added, pair, in_text, unknown
):
    """transformers 4.x adds the specials an XLM vocabulary lacks after it, in the order <s>, <unk>,
    </s>, <pad>, <special1>, <special0>, <special2>... Every id and text below was read off
    transformers 4.46.3's XLMTokenizer on the same files."""
    directory = _tiny_xlm(tmp_path / "files", specials)
    with pytest.warns(UserWarning, match=r"lacks the special tokens \['<s>', '<unk>'|lacks .*\['<special1>'") as w:
        tok = XLMTokenizer.from_pretrained(directory)
    assert len(w) == 1 and tok.appended_specials == added
    assert tok.convert_tokens_to_ids(list(added)) == list(added.values())
    assert len(tok) == tok.vocab_size == 32  # 4.46.3: len() 32 (its vocab_size leaves the added ones out)
    out = tok("Tokyo is big", "big Tokyo", padding="max_length", max_length=10, return_token_type_ids=True)
    assert out["input_ids"] == pair and out["token_type_ids"] == [0] * 5 + [1] * 3 + [0] * 2
    ids = tok("tokyo <special1> <special0> big <special3> </s> <pad> <special9>")["input_ids"]
    assert ids == in_text
    # 4.46.3's decode sets the added <special0>, <special2>... apart by spaces
    assert tok.decode(ids) == "<s>tokyo <special1> <special0> big <special3> </s><pad> <special9> </s>"
    assert tok("tokyo is bad")["input_ids"] == unknown
    tok.save_pretrained(tmp_path / "saved")
    assert json.loads((tmp_path / "saved" / "added_tokens.json").read_text()) == added  # as 4.46.3 saves it
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the ids come from added_tokens.json: nothing to warn about
        again = XLMTokenizer.from_pretrained(tmp_path / "saved")
    assert again.encoder == tok.encoder and json.loads((tmp_path / "saved" / "vocab.json").read_text()) == {
        w: i for i, w in enumerate(specials + TINY_WORDS)
    }


def test_pad_to_multiple_of_as_transformers_4(tmp_path):
    """4.46.3 pads to a multiple of pad_to_multiple_of, and refuses it with truncation when max_length
    is no multiple: "Truncation and padding are both activated but truncation length (12) is not a
    multiple of pad_to_multiple_of (8).\""""
    tok = XLMTokenizer.from_pretrained(
        _tiny_xlm(tmp_path / "files", ["<s>", "</s>", "<pad>", "<unk>"] + SPECIAL_TOKENS[4:])
    )
    assert tok("Tokyo is big", padding="max_length", max_length=5, pad_to_multiple_of=4)["input_ids"] == [
        0,
        28,
        29,
        31,
        1,
        2,
        2,
        2,
    ]
    assert tok(["Tokyo is big", "big"], padding=True, pad_to_multiple_of=4)["input_ids"] == [
        [0, 28, 29, 31, 1, 2, 2, 2],
        [0, 31, 1, 2, 2, 2, 2, 2],
    ]
    arrays = tok(["big"], padding="max_length", max_length=12, pad_to_multiple_of=8, return_tensors="np")
    assert arrays["input_ids"].shape == (1, 16)
    for padding in ("max_length", True):
        with pytest.raises(ValueError, match="max_length=12 is not a multiple of pad_to_multiple_of=8"):
            tok("Tokyo is big", padding=padding, truncation=True, max_length=12, pad_to_multiple_of=8)
    with pytest.raises(ValueError, match="max_length=512 is not a multiple of pad_to_multiple_of=7"):
        tok("Tokyo is big", padding=True, truncation=True, pad_to_multiple_of=7)
    assert (
        len(
            tok("Tokyo is big", padding="max_length", truncation=True, max_length=16, pad_to_multiple_of=8)["input_ids"]
        )
        == 16
    )
