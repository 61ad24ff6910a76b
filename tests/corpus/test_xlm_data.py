"""Stage 5 (XLM): token streams and sentence pairs, and their MLM/CLM windows and TLM batches."""

import gzip
import json

import numpy as np
import pytest

from mluke_jax.corpus.__main__ import main
from mluke_jax.corpus.loader import read_records
from mluke_jax.corpus.xlm_loader import XLMPairBatches, XLMStreamBatches, token_counts
from mluke_jax.corpus.xlm_text import build_xlm_parallel, build_xlm_text
from mluke_jax.testing.toy_data import multilingual_sentences, write_toy_xlm_tokenizer
from mluke_jax.tokenizers.xlm import XLMTokenizer


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    root = tmp_path_factory.mktemp("xlm-data")
    write_toy_xlm_tokenizer(root / "tokenizer", sentences=400)
    sentences = multilingual_sentences(800, seed=7)
    en = [s.text for s in sentences if s.language == "en"][:40]
    de = [s.text for s in sentences if s.language == "de"][:40]
    (root / "en.txt").write_text("\n".join(en[:20]) + "\n\n" + "\n".join(en[20:]) + "\n")  # an empty line
    with gzip.open(root / "de.txt.gz", "wt") as f:
        f.write("\n".join(de) + "\n")
    (root / "pairs.en").write_text("\n".join(en[:30]) + "\n")
    (root / "pairs.de").write_text("\n".join(de[:29]) + "\n\n")  # the last pair has an empty side
    return {"root": root, "en": en, "de": de}


def stream_of(tokenizer, lines, lang):
    eos = tokenizer.encoder["</s>"]
    out = [eos]
    for line in lines:
        out += tokenizer.convert_tokens_to_ids(tokenizer.tokenize(line, lang)) + [eos]
    return out


def read_stream(directory):
    metadata = json.loads((directory / "metadata.json").read_text())
    return metadata, [t for record in read_records(directory) for t in record["token_ids"].tolist()]


def test_text_becomes_one_stream_with_eos_after_each_sentence(texts, monkeypatch, capsys):
    root = texts["root"]
    monkeypatch.chdir(root)
    code = main(["xlm-text", "en.txt", "--tokenizer", "tokenizer", "--lang", "en", "--out", "en-stream",
                 "--chunk-tokens", "64", "--quiet"])
    assert code == 0, capsys.readouterr().err
    tokenizer = XLMTokenizer.from_pretrained(root / "tokenizer")
    metadata, tokens = read_stream(root / "en-stream")
    assert tokens == stream_of(tokenizer, texts["en"], "en")
    assert metadata["counts"]["sentences"] == 40 and metadata["counts"]["empty_lines"] == 1
    assert metadata["lang_ids"] == {"en": tokenizer.lang2id["en"]} and metadata["counts"]["tokens"] == len(tokens)
    assert "40 en sentences" in capsys.readouterr().out
    eos = tokenizer.encoder["</s>"]
    counts = token_counts([root / "en-stream"])  # what masking with sample_alpha weighs by
    assert np.array_equal(counts, np.bincount([t for t in tokens if t != eos], minlength=tokenizer.vocab_size))
    # a compressed file, two tokenizer processes
    build_xlm_text([root / "de.txt.gz"], root / "tokenizer", "de", root / "de-stream", chunk_tokens=50, workers=2,
                   progress=False)
    assert read_stream(root / "de-stream")[1] == stream_of(tokenizer, texts["de"], "de")


def test_windows_cut_the_stream_and_are_shuffled_sharded_and_resumable(texts):
    root = texts["root"]
    tokenizer = XLMTokenizer.from_pretrained(root / "tokenizer")
    for language, name in (("en", "en.txt"), ("de", "de.txt.gz")):
        build_xlm_text([root / name], root / "tokenizer", language, root / f"{language}-w", chunk_tokens=37,
                       progress=False, overwrite=True)
    _, stream = read_stream(root / "en-w")
    windows = {tuple(stream[k * 16 : (k + 1) * 16]) for k in range(len(stream) // 16)}
    batches = XLMStreamBatches([root / "en-w"], 2, bptt=16, seed=0)
    seen = [tuple(row) for b in (next(batches) for _ in range(len(windows) // 2)) for row in b["input_ids"].tolist()]
    assert set(seen) <= windows and len(set(seen)) == len(seen) == 2 * (len(windows) // 2)  # an epoch, no repeats
    batch = next(XLMStreamBatches([root / "en-w", root / "de-w"], 4, bptt=16))
    assert batch["input_ids"].shape == batch["langs"].shape == (4, 16)
    for langs, language in zip(batch["langs"], batch["language"]):
        assert set(langs.tolist()) == {tokenizer.lang2id[["de", "en"][int(language)]]}
    whole = XLMStreamBatches([root / "en-w", root / "de-w"], 4, bptt=16, seed=2)
    half = XLMStreamBatches([root / "en-w", root / "de-w"], 4, bptt=16, seed=2, shard=(1, 2))
    for _ in range(3):
        np.testing.assert_array_equal(next(half)["input_ids"], next(whole)["input_ids"][2:])
    position = json.loads(json.dumps(whole.position))
    expected = [next(whole)["input_ids"] for _ in range(3)]
    resumed = XLMStreamBatches([root / "en-w", root / "de-w"], 4, bptt=16, seed=2)
    resumed.seek(position)
    for want in expected:
        np.testing.assert_array_equal(next(resumed)["input_ids"], want)
    with pytest.raises(ValueError, match="another pipeline"):
        XLMStreamBatches([root / "en-w", root / "de-w"], 4, bptt=32, seed=2).seek(position)


def test_parallel_pairs_become_tlm_inputs(texts, capsys):
    root = texts["root"]
    metadata = build_xlm_parallel(root / "pairs.en", root / "pairs.de", "en-de", root / "tokenizer", root / "pairs",
                                  progress=False)
    assert metadata["counts"]["pairs"] == 29 and metadata["counts"]["pairs_with_an_empty_side"] == 1
    tokenizer = XLMTokenizer.from_pretrained(root / "tokenizer")
    eos, pad = tokenizer.encoder["</s>"], tokenizer.encoder["<pad>"]
    batches = XLMPairBatches([root / "pairs"], 29, max_len=12, seed=0)
    batch = next(batches)
    assert batch["input_ids"].shape == (29, 28)
    expected = {}
    for en, de in zip(texts["en"][:29], texts["de"][:29]):
        a = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(en, "en"))[:12]
        b = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(de, "de"))[:12]
        expected[tuple([eos, *a, eos, eos, *b, eos])] = (len(a) + 2, len(b) + 2)
    for ids, mask, positions, langs in zip(batch["input_ids"], batch["attention_mask"], batch["position_ids"],
                                           batch["langs"]):
        used = int(mask.sum())
        la, lb = expected[tuple(ids[:used].tolist())]  # every pair once, as </s> A </s> </s> B </s>
        assert ids[used:].tolist() == [pad] * (28 - used)
        assert positions[:used].tolist() == list(range(la)) + list(range(lb))  # reset for the second sentence
        assert langs[:la].tolist() == [tokenizer.lang2id["en"]] * la
        assert langs[la:used].tolist() == [tokenizer.lang2id["de"]] * lb
    assert len({tuple(r) for r in batch["input_ids"].tolist()}) == 29
    # bad input
    (root / "short.de").write_text("eins\n")
    with pytest.raises(ValueError, match=r"pairs.en has 30 lines and .*short.de 1: parallel files must be aligned"):
        build_xlm_parallel(root / "pairs.en", root / "short.de", "en-de", root / "tokenizer", root / "x",
                           progress=False)
    assert main(["xlm-parallel", str(root / "pairs.en"), str(root / "pairs.de"), "--langs", "en-xx",
                 "--tokenizer", str(root / "tokenizer"), "--out", str(root / "x"), "--quiet"]) == 1
    assert "unknown language 'xx': this tokenizer knows" in capsys.readouterr().err
    with pytest.raises(ValueError, match="two different languages"):
        build_xlm_parallel(root / "pairs.en", root / "pairs.de", "en", root / "tokenizer", root / "x", progress=False)
    with pytest.raises(ValueError, match="unknown language 'xx'"):
        build_xlm_text([root / "en.txt"], root / "tokenizer", "xx", root / "x", progress=False)
    with pytest.raises(ValueError, match=r"holds XLM sentence pairs .*; this run reads an XLM token stream"):
        XLMStreamBatches([root / "pairs"], 2)
    assert not (root / "x").exists()
