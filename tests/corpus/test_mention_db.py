"""Stage 3: the mention database (anchor -> entities, counts, link probability)."""

import gzip

import pytest

from helpers import EN_PAGES, write_dump
from mluke_jax.corpus.__main__ import main
from mluke_jax.corpus.mention_db import build_mention_db
from mluke_jax.corpus.wikipedia import build_wikipedia
from mluke_jax.linking.mention_db import MentionDB
from mluke_jax.linking.surface import surface_key

# "Japanese" contains "japan" but not as a word: it must not count as an article containing it
EXTRA_EN = [("Japanese language", 0, None, "'''Japanese''' is a language of [[Japan|the islands]].")]
JA_PAGES = [
    ("東京都", 0, None, "'''東京都'''は[[日本]]の首都である。"),
    ("日本", 0, None, "'''日本'''は島国であり、首都は[[東京都]]。日本語が話される。"),
]


@pytest.fixture(scope="module")
def wikis(tmp_path_factory):
    root = tmp_path_factory.mktemp("mention-wikis")
    for language, pages in (("en", EN_PAGES + EXTRA_EN), ("ja", JA_PAGES)):
        dump = write_dump(root / f"{language}.xml", language, pages)
        build_wikipedia(dump, language, root / language, progress=False)
    return root


def test_surface_keys_are_normalised_words():
    assert surface_key("Tōkyō-to") == "tokyo - to"
    assert surface_key("  São  Paulo!") == "sao paulo !"
    assert surface_key("東京都は日本") == "東 京 都 は 日 本"  # every character of an unspaced script is a word
    assert surface_key("हिन्दी") == "हिन्दी" and surface_key("がぎ") == "が ぎ"  # vowel signs and voicing stay


def test_anchors_have_their_entities_and_link_probability(wikis, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(wikis)
    code = main(["mention-db", "en", "ja", "--out", str(tmp_path / "mentions.tsv.gz"), "--min-link-prob", "0",
                 "--quiet"])
    assert code == 0, capsys.readouterr().err
    db = MentionDB.load(tmp_path / "mentions.tsv.gz")
    assert db.languages == ["en", "ja"] and db.header["mentions"] == {"en": 5, "ja": 2}
    table = {
        (c.title, c.link_count, c.total_link_count, c.doc_count)
        for key in db.keys("en")
        for c in db.candidates(key, "en")
    }
    # docs: articles whose text holds the words; "Japanese" is not "Japan"; the redirect Edo is resolved
    assert table == {
        ("Japan", 2, 2, 3),  # "Japan" (Tokyo, Mount Fuji pages), in the text of Tokyo, Japan, Mount Fuji
        ("Japan", 1, 1, 1),  # "the islands"
        ("Tokyo", 1, 1, 2),  # "Tokyo"
        ("Tokyo", 1, 1, 1),  # "Edo"
        ("Mount Fuji", 1, 1, 2),
    }
    japan = db.candidates("JAPAN", "en")[0]
    assert (japan.name, round(japan.link_prob, 4), japan.prior_prob) == ("en:Japan", 0.6667, 1.0)
    assert db.candidates("Japan", "de") == [] and db.candidates("Osaka", "en") == []
    nihon = db.candidates("日本", "ja")[0]
    assert (nihon.title, nihon.link_count, nihon.doc_count) == ("日本", 1, 2)  # found inside running text
    assert db.candidates("東京都", "ja")[0].doc_count == 2


def test_thresholds_and_bad_files(wikis, tmp_path):
    header = build_mention_db([wikis / "en"], tmp_path / "m.gz", min_link_prob=0.6, progress=False)
    db = MentionDB.load(tmp_path / "m.gz")
    assert header["mentions"] == {"en": 3}  # link probability 1/2 dropped, 2/3 and 1 kept
    assert sorted(db.keys("en")) == ["edo", "japan", "the islands"]
    with pytest.raises(FileExistsError, match="already exists"):
        build_mention_db([wikis / "en"], tmp_path / "m.gz", progress=False)
    cut = tmp_path / "cut.gz"
    cut.write_bytes((tmp_path / "m.gz").read_bytes()[:-12])
    with pytest.raises(ValueError, match="cut short or damaged"):
        MentionDB.load(cut)
    other = tmp_path / "other.gz"
    other.write_bytes(gzip.compress(b"japan\t3\n"))
    with pytest.raises(ValueError, match="is not a mention database written by 'corpus mention-db'"):
        MentionDB.load(other)
    (tmp_path / "plain.tsv").write_text("japan\t3\n")
    with pytest.raises(ValueError, match="is not a mention database"):
        MentionDB.load(tmp_path / "plain.tsv")
