"""Stage 4: packed examples in ArrayRecord shards, entity positions exact."""

import json

import numpy as np
import pytest
from corpus.wikidata import write_wikidata_tsv

from helpers import DE_PAGES, EN_PAGES, write_dump
from mluke_jax.corpus.__main__ import main
from mluke_jax.corpus.entity_vocab import build_entity_vocab
from mluke_jax.corpus.examples import ExampleSettings, build_examples
from mluke_jax.corpus.fingerprint import entity_vocab_fingerprint, tokenizer_fingerprint
from mluke_jax.corpus.loader import read_records
from mluke_jax.corpus.records import open_shard
from mluke_jax.corpus.wikipedia import build_wikipedia, read_pages
from mluke_jax.testing.toy_data import write_toy_mluke_tokenizer
from mluke_jax.tokenizers.entity_vocab import read_entity_vocab
from mluke_jax.tokenizers.mluke import MLukeTokenizer

# a link cut by a sentence boundary, and a sentence of two tokens
OSAKA = ("Osaka", 0, None, "'''Osaka''' is a big city in [[Japan|Japan. It]] is old. Yes. Osaka is near [[Tokyo]].")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("examples")
    for language, pages in (("en", EN_PAGES + [OSAKA]), ("de", DE_PAGES)):
        build_wikipedia(write_dump(root / f"{language}.xml", language, pages), language, root / language,
                        progress=False)
    texts = [p["text"] for language in ("en", "de") for r in read_pages(root / language) for p in r["paragraphs"]]
    write_toy_mluke_tokenizer(root / "tokenizer", sentences=300, lite=True, extra_texts=texts * 20)
    build_entity_vocab([root / "en", root / "de"], root / "entity_vocab.json",
                       interwiki=write_wikidata_tsv(root / "sitelinks.tsv"), progress=False)
    return root


def read_examples(directory):
    return json.loads((directory / "metadata.json").read_text()), list(read_records(directory))


def mentions(example, tokenizer, vocab):
    names = {i: n for n, i in sorted(vocab.items(), reverse=True)}
    out = []
    for entity, positions in zip(example["entity_ids"], example["entity_position_ids"]):
        positions = positions[positions >= 0]
        assert np.all(np.diff(positions) == 1)  # one contiguous run
        out.append((tokenizer.decode(example["word_ids"][positions]), names[int(entity)]))
    return out


def test_entity_positions_decode_to_their_anchors(built, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(built)  # relative paths
    code = main(["examples", "en", "--tokenizer", "tokenizer", "--entity-vocab", "entity_vocab.json",
                 "--out", str(tmp_path / "ex"), "--min-sentence-length", "4", "--quiet"])
    assert code == 0, capsys.readouterr().err
    metadata, examples = read_examples(tmp_path / "ex")
    vocab = read_entity_vocab(built / "entity_vocab.json")
    tokenizer = MLukeTokenizer.from_pretrained(built / "tokenizer", entity_vocab=vocab)
    by_page = {int(e["page_id"]): e for e in examples}  # one example a page at 512 tokens
    assert len(by_page) == len(examples) == 4
    found = {page: mentions(e, tokenizer, vocab) for page, e in by_page.items()}
    assert found == {
        10: [("Japan", "de:Japan"), ("Mount Fuji", "en:Mount Fuji"), ("Edo", "de:Tokio")],  # Edo -> Tokyo
        11: [("Tokyo", "de:Tokio")],
        15: [("Japan", "de:Japan")],
        16: [("Tokyo", "de:Tokio")],  # "Japan. It" crosses a sentence boundary
    }  # (an id's first name in the vocabulary: its titles in several languages share it)
    # the words are the sentences' tokens as MLukeTokenizer(text, entity_spans=...) gives them (cut at the
    # links: "Tokyo" and "." are separate pieces), "Yes." (3 tokens) dropped
    osaka = tokenizer.decode(by_page[16]["word_ids"][1:-1])
    assert osaka == "Osaka is a big city in Japan. It is old. Osaka is near Tokyo ."
    sentence = "Osaka is near Tokyo."
    alone = tokenizer(sentence, entity_spans=[(14, 19)])["input_ids"][1:-1]
    assert by_page[16]["word_ids"][-1 - len(alone) : -1].tolist() == alone
    assert by_page[16]["word_ids"][0] == 0 and by_page[16]["word_ids"][-1] == 2
    assert by_page[10]["entity_position_ids"].shape == (3, 30) and int(by_page[10]["language"]) == 0
    counts = metadata["counts"]
    assert counts["links"] == 9 and counts["links_not_in_vocab"] == 2 and counts["links_across_sentences"] == 1
    assert counts["sentences_too_short"] == 1 and counts["entities"] == 6 and counts["examples"] == 4
    assert metadata["tokenizer_fingerprint"] == tokenizer_fingerprint(tokenizer)
    assert metadata["entity_vocab_fingerprint"] == entity_vocab_fingerprint(vocab)
    assert read_entity_vocab(tmp_path / "ex" / "entity_vocab.json") == vocab
    assert "4 examples from 4 pages" in capsys.readouterr().out


def test_packing_is_greedy_up_to_the_length_and_runs_agree(built, tmp_path):
    settings = ExampleSettings(max_seq_length=16, min_sentence_length=1, include_sentences_without_entities=True)
    args = ([built / "en"], built / "tokenizer", built / "entity_vocab.json")
    metadata, examples = read_examples(tmp_path / "one") if build_examples(
        *args, tmp_path / "one", settings=settings, progress=False) else None
    assert all(len(e["word_ids"]) <= 16 for e in examples) and metadata["counts"]["sentences_too_long"] >= 1
    assert len(examples) > 5  # pages split into several examples
    vocab = read_entity_vocab(built / "entity_vocab.json")
    tokenizer = MLukeTokenizer.from_pretrained(built / "tokenizer", entity_vocab=vocab)
    for example in examples:
        for text, name in mentions(example, tokenizer, vocab):
            assert (text, name) in {("Japan", "de:Japan"), ("Mount Fuji", "en:Mount Fuji"), ("Edo", "de:Tokio"),
                                    ("Tokyo", "de:Tokio")}
    # two processes, and two runs over halves of the pages, give the same records
    build_examples(*args, tmp_path / "two", settings=settings, workers=2, records_per_shard=4, progress=False)
    assert [e["word_ids"].tolist() for e in read_examples(tmp_path / "two")[1]] == [
        e["word_ids"].tolist() for e in examples
    ]
    halves = []
    for index in range(2):
        build_examples(*args, tmp_path / f"half{index}", settings=settings, num_shards=2, shard_index=index,
                       progress=False)
        halves += read_examples(tmp_path / f"half{index}")[1]
    key = lambda e: (int(e["page_id"]), e["word_ids"].tolist())  # noqa: E731
    assert sorted(map(key, halves)) == sorted(map(key, examples))


def test_bad_input_is_refused(built, tmp_path, capsys):
    vocab = built / "entity_vocab.json"
    (tmp_path / "empty").mkdir()
    assert main(["examples", str(built / "en"), "--tokenizer", str(tmp_path / "empty"), "--entity-vocab",
                 str(vocab), "--out", str(tmp_path / "x"), "--quiet"]) == 1
    assert "has no sentencepiece.bpe.model: not an mLUKE tokenizer directory" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="one language at a time"):
        build_examples([built / "en", built / "de"], built / "tokenizer", vocab, tmp_path / "x", progress=False)
    build_examples([built / "de"], built / "tokenizer", vocab, tmp_path / "de", progress=False)
    with pytest.raises(FileExistsError, match="already holds a pretraining data set"):
        build_examples([built / "de"], built / "tokenizer", vocab, tmp_path / "de", progress=False)
    metadata = json.loads((tmp_path / "de" / "metadata.json").read_text())
    shard = tmp_path / "de" / metadata["shards"][0]["file"]
    shard.write_bytes(shard.read_bytes()[:100])
    with pytest.raises(ValueError, match="is cut short or damaged"):
        open_shard(shard)
