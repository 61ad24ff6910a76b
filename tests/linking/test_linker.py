"""EntityLinker: greedy longest match over word boundaries, link probability, the entity
vocabulary, candidates, scripts without spaces; MLukeTokenizer fed with its output; bad input."""

import gzip
import json
import logging

import pytest

from helpers import MLUKE_TOKENIZER_DATA, write_mention_db
from mluke_jax import EntityLinker, MLukeTokenizer
from mluke_jax.linking import MentionDB

ROWS = [
    # language, surface text, articles containing it, [(title, links)]
    ("en", "New York", 100, [("New York", 60), ("New York City", 30)]),
    ("en", "New York Times", 20, [("The New York Times", 18)]),  # not in the vocabulary
    ("en", "New York City", 40, [("New York City", 35)]),  # not in the vocabulary either
    ("en", "York", 50, [("York", 5)]),
    ("en", "Tokyo", 80, [("Tokyo", 70), ("Tokyo Station", 2)]),
    ("en", "Marie Curie", 10, [("Marie Curie", 9)]),
    ("en", "the", 100000, [("The Beatles", 3)]),  # link probability 3e-5
    ("en", "Beatles", 30, [("the Beatles", 3)]),  # 0.1
    ("en", "Paris", 90, [("Paris Hilton", 5), ("Paris", 80), ("Paris, Texas", 4)]),
    ("fr", "Paris", 50, [("Paris", 45)]),
    ("fr", "Côte d'Azur", 5, [("Côte d'Azur", 5)]),
    ("ja", "東京", 40, [("東京", 30)]),
    ("ja", "富士山", 10, [("富士山", 10)]),
]
VOCAB = json.loads((MLUKE_TOKENIZER_DATA / "entity_vocab.json").read_text())
VOCAB_EN = dict(VOCAB, **{"en:Paris": 30, "en:Paris Hilton": 31, "en:York": 32})


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    return write_mention_db(tmp_path_factory.mktemp("linker") / "mentions.tsv.gz", ROWS)


@pytest.fixture(scope="module")
def linker(db_path):
    return EntityLinker.from_pretrained(db_path, VOCAB_EN)


def found(linking):
    return [(m.text, m.start, m.end, m.entity) for m in linking.mentions]


def test_greedy_longest_match_over_words(linker):
    text = "The New York Times met Marie Curie in New York, not in York or Yorkshire."
    linking = linker(text, "en")
    # "New York Times" is the longest form at "New" and takes up its words although its entity is
    # not in the vocabulary: neither "New York" nor "York" inside it is a mention (the original's
    # rule); "the" is linked too rarely; "York" is not found inside "Yorkshire"
    curie, new_york, york = text.index("Marie"), text.index("New York,"), text.index("York or")
    assert found(linking) == [
        ("Marie Curie", curie, curie + 11, "en:Marie Curie"),
        ("New York", new_york, new_york + 8, "en:New York"),
        ("York", york, york + 4, "en:York"),
    ]
    assert linking.entity_spans == [(curie, curie + 11), (new_york, new_york + 8), (york, york + 4)]
    assert linking.entities == ["en:Marie Curie", "en:New York", "en:York"]
    # the longest form is tried first, the next start word after it
    assert found(linker("new york city tokyo", "en")) == [("tokyo", 14, 19, "en:Tokyo")]
    assert found(linker("", "en")) == [] and found(linker("  ...  ", "en")) == []


def test_case_accents_punctuation_and_unspaced_scripts(linker):
    assert found(linker("TOKYO!tokyo,Tokyo", "en")) == [
        ("TOKYO", 0, 5, "en:Tokyo"),
        ("tokyo", 6, 11, "en:Tokyo"),
        ("Tokyo", 12, 17, "en:Tokyo"),
    ]
    assert found(linker("De Paris à la COTE D'AZUR.", "fr")) == [
        ("Paris", 3, 8, "fr:Paris"),
        ("COTE D'AZUR", 14, 25, "fr:Côte d'Azur"),
    ]
    # every character of Japanese is a word: mentions are found inside running text
    assert found(linker("東京から富士山が見える。", "ja")) == [("東京", 0, 2, "ja:東京"), ("富士山", 4, 7, "ja:富士山")]
    assert found(linker("東京都", "ja")) == [("東京", 0, 2, "ja:東京")]


def test_candidates_link_probability_and_names(db_path, linker):
    (paris,) = linker("Paris", "en", k=3).mentions
    # the most linked title the vocabulary holds; "Paris, Texas" is not in it
    assert paris.entity == "en:Paris" and [c.name for c in paris.candidates] == ["en:Paris", "en:Paris Hilton"]
    assert [round(c.prior_prob, 4) for c in paris.candidates] == [round(80 / 89, 4), round(5 / 89, 4)]
    assert paris.link_prob == pytest.approx(89 / 90)
    assert len(linker("Paris", "en").mentions[0].candidates) == 1
    # no vocabulary: every title, most linked first
    anything = EntityLinker.from_pretrained(db_path)
    assert anything("Paris", "en").entities == ["en:Paris"]
    assert anything("The Beatles", "en").entities == ["en:the Beatles"]
    everything = EntityLinker(anything.mention_db, min_link_prob=0.0)
    assert everything("The Beatles", "en").entities == ["en:The Beatles", "en:the Beatles"]
    strict = EntityLinker(anything.mention_db, VOCAB_EN, min_link_prob=0.5)
    assert strict("The Beatles in New York", "en").entities == ["en:New York"]
    # English LUKE spells entities by their title
    english = EntityLinker(anything.mention_db, {"[UNK]": 1, "Paris": 7, "Tokyo": 8}, entity_names="{title}")
    assert english("Paris and Tokyo", "en").entities == ["Paris", "Tokyo"]
    # a tokenizer gives its vocabulary
    tok = MLukeTokenizer.from_pretrained(MLUKE_TOKENIZER_DATA)
    assert EntityLinker(anything.mention_db, tok)("Paris und Tokyo", "en").entities == ["en:Tokyo"]
    # mentions of at most max_mention_length words
    short = EntityLinker(anything.mention_db, VOCAB_EN, max_mention_length=1)
    assert short("Marie Curie in New York Times", "en").entities == ["en:York"]


def test_the_tokenizer_takes_the_linker_output(linker):
    tok = MLukeTokenizer.from_pretrained(MLUKE_TOKENIZER_DATA)
    texts = ["Marie Curie visited Tokyo.", "東京から富士山が見える。"]
    linked = [linker(texts[0], "en"), linker(texts[1], "ja")]
    direct = tok(texts[0], **linked[0].tokenizer_inputs())
    assert direct["entity_ids"] == [VOCAB["en:Marie Curie"], VOCAB["en:Tokyo"]]
    by_hand = tok(texts[0], entity_spans=[(0, 11), (20, 25)], entities=["en:Marie Curie", "en:Tokyo"])
    assert direct == by_hand
    # linker= links every text of a batch (and pair) in the call's language
    batch = tok(texts[:1] * 2, ["New York"] * 2, linker=linker, entity_language="en", padding=True)
    pair = tok(texts[0], "New York", entity_spans=linked[0].entity_spans, entities=linked[0].entities,
               entity_spans_pair=[(0, 8)], entities_pair=["en:New York"])
    assert batch["entity_ids"][1] == pair["entity_ids"] and batch["input_ids"][1] == pair["input_ids"]
    assert batch["entity_position_ids"][0] == pair["entity_position_ids"]
    japanese = tok(texts[1], linker=linker, entity_language="ja")
    assert japanese["entity_ids"] == [VOCAB["ja:東京"], VOCAB["ja:富士山"]]
    with pytest.raises(ValueError, match="entity_language"):
        tok(texts[0], linker=linker)
    with pytest.raises(ValueError, match="either entity_spans/entities or linker"):
        tok(texts[0], entity_spans=[(0, 5)], linker=linker, entity_language="en")


def test_unknown_entity_names_are_counted_in_a_warning(caplog):
    tok = MLukeTokenizer.from_pretrained(MLUKE_TOKENIZER_DATA)
    with caplog.at_level(logging.WARNING):
        out = tok(["Tokyo and Osaka", "Kyoto"], entity_spans=[[(0, 5), (10, 15)], [(0, 5)]],
                  entities=[["en:Tokyo", "en:Osaka"], ["en:Kyoto"]])
    assert out["entity_ids"] == [[VOCAB["en:Tokyo"], VOCAB["[UNK]"]], [VOCAB["[UNK]"]]]
    messages = [r.getMessage() for r in caplog.records if "entity vocabulary" in r.getMessage()]
    assert messages == ["2 entity names are not in the entity vocabulary and became [UNK] (e.g. 'en:Osaka')"]


def test_bad_databases_and_languages(db_path, linker, tmp_path):
    with pytest.raises(ValueError, match="has no language 'de'; it has en, fr, ja"):
        linker("Berlin", "de")
    with pytest.raises(ValueError, match="has no language 'de'"):
        EntityLinker.from_pretrained(db_path, languages=["en", "de"])
    only_en = EntityLinker.from_pretrained(db_path, VOCAB_EN, languages=["en"])
    assert only_en.languages == ["en"] and len(only_en.mention_db) == 9 and len(linker.mention_db) == len(ROWS)
    with pytest.raises(TypeError, match="text must be a string"):
        linker(["Tokyo"], "en")
    lines = gzip.decompress(db_path.read_bytes()).decode().splitlines()
    header = json.loads(lines[0][1:])
    newer = tmp_path / "newer.gz"
    newer.write_bytes(gzip.compress(("# " + json.dumps(dict(header, format_version=2)) + "\n").encode()))
    with pytest.raises(ValueError, match="format version 2; this mluke-jax reads version 1"):
        MentionDB.load(newer)
    other = tmp_path / "other.gz"
    other.write_bytes(gzip.compress(b'# {"format": "something-else"}\n'))
    with pytest.raises(ValueError, match="is not a mention database written by 'corpus mention-db'"):
        EntityLinker.from_pretrained(other)
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress("\n".join([lines[0], lines[1], "en\ttokyo\t3\n"]).encode()))
    with pytest.raises(ValueError, match=r"broken.gz:3: not a mention line"):
        MentionDB.load(broken)
    with pytest.raises(FileNotFoundError, match="no such mention database"):
        EntityLinker.from_pretrained(tmp_path / "missing.gz")
    with pytest.raises(ValueError, match="min_link_prob"):
        EntityLinker(linker.mention_db, min_link_prob=2)


def test_the_index_is_written_once_and_follows_the_file(tmp_path, monkeypatch, caplog):
    path = write_mention_db(tmp_path / "m.gz", ROWS)
    first = MentionDB.load(path)
    assert first.header["loaded_from"] == "file" and (tmp_path / "m.gz.index" / "index.json").is_file()
    second = MentionDB.load(path)
    assert second.header["loaded_from"] == "index"
    for language in ("en", "fr", "ja"):
        assert sorted(second.keys(language)) == sorted(first.keys(language))
        for key in first.keys(language):
            assert second.candidates(key, language) == first.candidates(key, language)
    only_ja = MentionDB.load(path, ["ja"])
    assert only_ja.header["loaded_from"] == "index" and only_ja.languages == ["ja"] and len(only_ja) == 2
    # the file changes: the index is rebuilt
    write_mention_db(path, ROWS[:3])
    changed = MentionDB.load(path)
    assert changed.header["loaded_from"] == "file" and len(changed) == 3
    assert MentionDB.load(path).header["loaded_from"] == "index"
    # a damaged index is read around (and replaced)
    (tmp_path / "m.gz.index" / "en.rows").write_bytes(b"x")
    assert MentionDB.load(path).header["loaded_from"] == "file"
    assert MentionDB.load(path).header["loaded_from"] == "index"
    # a directory that cannot be written: a warning, the same answers from the file each time
    import mluke_jax.checkpoint

    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(mluke_jax.checkpoint, "atomic_directory", refuse)
    other = write_mention_db(tmp_path / "other.gz", ROWS)
    with caplog.at_level(logging.WARNING):
        again = MentionDB.load(other)
    assert again.header["loaded_from"] == "file" and not (tmp_path / "other.gz.index").exists()
    assert any("could not be written" in r.getMessage() for r in caplog.records)
    assert [c.title for c in again.candidates("Paris", "en")] == ["Paris", "Paris Hilton", "Paris, Texas"]


def test_same_mentions_as_trying_every_span_longest_first(tmp_path):
    """Against the original's loop (every start word, every length from the longest down, one
    database lookup each) on random text over a random database."""
    import random

    rng = random.Random(0)
    words = sorted({"".join(rng.choice("abcdef") for _ in range(rng.randint(2, 4))) for _ in range(300)})
    rows, seen = [], set()
    while len(rows) < 3000:
        text = " ".join(rng.choices(words, k=rng.randint(1, 4)))
        if text not in seen:
            seen.add(text)
            docs = rng.randint(1, 400)
            titles = [(f"{text.title()} {k}", rng.randint(1, 3)) for k in range(rng.randint(1, 3))]
            rows.append(("en", text, docs, titles))
    vocab = {f"en:{title}": i for i, (_, _, _, titles) in enumerate(rows) for title, _ in titles if i % 3}
    linker = EntityLinker.from_pretrained(write_mention_db(tmp_path / "m.gz", rows, max_mention_length=5), vocab)
    db = linker.mention_db
    for _ in range(100):
        chosen = rng.choices(words, k=40)
        text = " ".join(chosen)
        starts = [sum(len(w) + 1 for w in chosen[:i]) for i in range(len(chosen) + 1)]
        expected, i = [], 0
        while i < len(chosen):
            for j in range(min(len(chosen), i + 5), i, -1):
                found = db.candidates(" ".join(chosen[i:j]), "en")
                if found and found[0].link_prob >= 0.01:
                    kept = [c.name for c in found if c.name in vocab]
                    if kept:
                        expected.append((starts[i], starts[j] - 1, kept[0]))
                    i = j
                    break
            else:
                i += 1
        assert [(m.start, m.end, m.entity) for m in linker(text, "en").mentions] == expected, text
