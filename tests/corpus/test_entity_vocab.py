"""Stage 2: the entity vocabulary from link counts, multilingual ids through Wikidata sitelinks."""

import json

import pytest
from corpus.wikidata import WIKIDATA_ITEMS, write_wikidata_json, write_wikidata_tsv

from mluke_jax.corpus.__main__ import main
from mluke_jax.corpus.collection import open_wikipedia
from mluke_jax.corpus.entity_vocab import build_entity_vocab, count_links
from mluke_jax.corpus.interwiki import read_interwiki
from mluke_jax.tokenizers.entity_vocab import read_entity_vocab

SPECIALS = {"[PAD]": 0, "[UNK]": 1, "[MASK]": 2, "[MASK2]": 3}


def test_links_are_counted_after_redirects_and_only_to_articles(wikis):
    en = open_wikipedia([wikis["en"]])["en"]
    # Tokyo: from Japan and through the redirect Edo; Japan: from Tokyo and as [[japan|Japan]];
    # "Capital city" and "Meiji Restoration" are no articles of this wiki
    assert count_links(en, progress=False) == {"Tokyo": 2, "Japan": 2, "Mount Fuji": 1}
    de = open_wikipedia([wikis["de"]])["de"]
    assert count_links(de, progress=False) == {"Tokio": 2, "Japan": 2, "Fuji (Vulkan)": 1}


def test_one_language_in_both_formats_and_shards_give_the_same_vocabulary(wikis, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["entity-vocab", str(wikis["en"]), "--out", "en/entity_vocab.jsonl", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert "7 entities" in capsys.readouterr().out
    lines = [json.loads(line) for line in (tmp_path / "en/entity_vocab.jsonl").read_text().splitlines()]
    assert lines[:4] == [{"id": i, "entities": [[name, "en"]], "count": 0} for name, i in SPECIALS.items()]
    # most linked first, ties by name
    assert lines[4:] == [
        {"id": 4, "entities": [["Japan", "en"]], "count": 2},
        {"id": 5, "entities": [["Tokyo", "en"]], "count": 2},
        {"id": 6, "entities": [["Mount Fuji", "en"]], "count": 1},
    ]
    expected = {**SPECIALS, "en:Japan": 4, "en:Tokyo": 5, "en:Mount Fuji": 6}
    assert read_entity_vocab(tmp_path / "en/entity_vocab.jsonl") == expected  # as MLukeTokenizer reads it
    assert main(["entity-vocab", *map(str, wikis["en-shards"]), "--out", "shards.json", "--quiet"]) == 0
    assert read_entity_vocab(tmp_path / "shards.json") == expected
    # --size counts every id, the special ones included
    build_entity_vocab([wikis["en"]], "top.json", size=5, progress=False)
    assert read_entity_vocab(tmp_path / "top.json") == {**SPECIALS, "en:Japan": 4}


@pytest.mark.parametrize("interwiki", ["latest-all.json.bz2", "sitelinks.tsv"])
def test_titles_of_one_wikidata_item_share_an_id_and_their_counts(wikis, tmp_path, interwiki):
    path = tmp_path / interwiki
    (write_wikidata_json if "json" in interwiki else write_wikidata_tsv)(path)
    summary = build_entity_vocab([wikis["en"], wikis["de"]], tmp_path / "v.jsonl", interwiki=path, progress=False)
    lines = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert lines[4:] == [
        {"id": 4, "entities": [["Japan", "de"], ["Japan", "en"]], "count": 4},  # ties by name
        {"id": 5, "entities": [["Tokio", "de"], ["Tokyo", "en"]], "count": 4},
        # Wikidata's German title of Mount Fuji is another page than the German wiki's: two entities
        {"id": 6, "entities": [["Fuji (Vulkan)", "de"]], "count": 1},
        {"id": 7, "entities": [["Mount Fuji", "en"]], "count": 1},
    ]
    assert summary["interwiki_titles"] == 5 and summary["languages"] == ["de", "en"]
    build_entity_vocab([wikis["en"], wikis["de"]], tmp_path / "v.json", interwiki=path, min_languages=2,
                       progress=False)
    assert read_entity_vocab(tmp_path / "v.json") == {
        **SPECIALS, "de:Japan": 4, "en:Japan": 4, "de:Tokio": 5, "en:Tokyo": 5
    }


def test_without_interwiki_each_language_has_its_own_ids(wikis, tmp_path):
    build_entity_vocab([wikis["en"], wikis["de"]], tmp_path / "v.json", progress=False)
    vocab = read_entity_vocab(tmp_path / "v.json")
    assert len(vocab) == 4 + 6 and vocab["de:Japan"] != vocab["en:Japan"]


def test_bad_input_is_refused_naming_the_problem(wikis, tmp_path, capsys):
    unknown = tmp_path / "links.csv"
    unknown.write_text("Q1490,en,Tokyo\n")
    with pytest.raises(ValueError, match=r"links.csv: unknown interwiki format.*line 1 is 'Q1490,en,Tokyo'"):
        build_entity_vocab([wikis["en"]], tmp_path / "v.json", interwiki=unknown, progress=False)
    assert not (tmp_path / "v.json").exists()
    with pytest.raises(ValueError, match="--min-languages 3 needs --interwiki"):
        build_entity_vocab([wikis["en"]], tmp_path / "v.json", min_languages=3, progress=False)
    with pytest.raises(ValueError, match=r"\.jsonl \(original LUKE\) or \.json"):
        build_entity_vocab([wikis["en"]], tmp_path / "v.txt", progress=False)
    with pytest.raises(ValueError, match="same shard"):
        build_entity_vocab([wikis["en"], wikis["en"]], tmp_path / "v.json", progress=False)
    with pytest.raises(ValueError, match="is not an output of 'corpus wikipedia'"):
        build_entity_vocab([tmp_path], tmp_path / "v.json", progress=False)
    (tmp_path / "v.json").write_text("{}")
    assert main(["entity-vocab", str(wikis["en"]), "--out", str(tmp_path / "v.json"), "--quiet"]) == 1
    assert "already exists; pass overwrite (--overwrite)" in capsys.readouterr().err
    assert (tmp_path / "v.json").read_text() == "{}"
    with pytest.warns(UserWarning, match=r"shards \[1\] of the 2"):
        build_entity_vocab([wikis["en-shards"][0]], tmp_path / "half.json", progress=False)


def test_wikidata_items_without_an_id_stay_apart(wikis, tmp_path):
    """The original LUKE code's sitelinks files keep only each item's ``sitelinks`` (no ``id``): every
    item is still one entity of its own, never merged with the other id-less ones."""
    items = [{k: v for k, v in item.items() if k != "id"} for item in WIKIDATA_ITEMS if item["type"] == "item"]
    path = tmp_path / "sitelinks.json"
    path.write_text("[\n" + ",\n".join(json.dumps(item, ensure_ascii=False) for item in items) + "\n]\n")
    mapping = read_interwiki(path, {"en": {"Tokyo", "Japan"}, "de": {"Tokio", "Japan"}}, progress=False)
    assert mapping[("en", "Tokyo")] == mapping[("de", "Tokio")] != mapping[("en", "Japan")] == mapping[("de", "Japan")]
    build_entity_vocab([wikis["en"], wikis["de"]], tmp_path / "v.jsonl", interwiki=path, progress=False)
    lines = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert lines[4:] == [  # the same vocabulary as from the dump with ids
        {"id": 4, "entities": [["Japan", "de"], ["Japan", "en"]], "count": 4},
        {"id": 5, "entities": [["Tokio", "de"], ["Tokyo", "en"]], "count": 4},
        {"id": 6, "entities": [["Fuji (Vulkan)", "de"]], "count": 1},
        {"id": 7, "entities": [["Mount Fuji", "en"]], "count": 1},
    ]
