"""Stage 1 of the corpus on tiny MediaWiki dumps written here in the real export format."""

import gzip
import json

import pytest

from helpers import DE_PAGES, EN_PAGES, write_dump
from mluke_jax.corpus.__main__ import main
from mluke_jax.corpus.dump import CorruptDumpError
from mluke_jax.corpus.wikipedia import build_wikipedia, read_pages, read_redirects, resolve_redirect
from mluke_jax.corpus.wikitext import normalize_title


def records(directory):
    return {r["title"]: r for r in read_pages(directory)}


def anchors(record):
    return [(p["text"][s:e], title) for p in record["paragraphs"] for s, e, title in p["links"]]


def test_a_dump_becomes_paragraphs_with_exact_link_spans(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # relative paths, as a user types them
    write_dump(tmp_path / "enwiki-pages-articles.xml.bz2", "en", EN_PAGES)
    code = main(["wikipedia", "enwiki-pages-articles.xml.bz2", "--language", "en", "--out", "en", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert "3 articles" in capsys.readouterr().out
    pages = records("en")
    assert sorted(pages) == ["Japan", "Mount Fuji", "Tokyo"]  # redirects and Talk: are not articles
    tokyo = pages["Tokyo"]
    assert [p["text"] for p in tokyo["paragraphs"]] == [
        "Tokyo is the capital of Japan. It is near Mount Fuji.",
        "Formerly Edo, it became the capital in 1868 (see Meiji Restoration).",
    ]
    assert anchors(tokyo) == [
        ("capital", "Capital city"),
        ("Japan", "Japan"),
        ("Mount Fuji", "Mount Fuji"),  # underscores, the #section and doubled spaces normalised
        ("Edo", "Edo"),
        ("Meiji Restoration", "Meiji Restoration"),
    ]  # the file caption, the table, the category and the interlanguage link are gone
    assert anchors(pages["Japan"]) == [("Tokyo", "Tokyo")]
    # a lower-case target is upper-cased; a [[:Category:...]] link keeps its text without a link
    assert pages["Mount Fuji"]["paragraphs"][0]["text"] == "Mount Fuji is in Japan; see also mountains."
    assert anchors(pages["Mount Fuji"]) == [("Japan", "Japan")]
    assert read_redirects("en") == {"Edo": "Tokyo", "Old Edo": "Tokyo"}  # the chain followed to its end
    metadata = json.loads((tmp_path / "en" / "metadata.json").read_text())
    assert metadata["pages"] == 3 and metadata["redirects"] == 2 and metadata["other_namespaces"] == 1
    assert metadata["links"] == 7 and metadata["unparsable"] == 0 and metadata["language"] == "en"
    index = (tmp_path / "en" / "pages.tsv").read_text().splitlines()
    assert index[0] == "10\tTokyo\t2\t5"


def test_the_wikis_own_namespace_names_are_used(tmp_path):
    dump = write_dump(tmp_path / "dewiki.xml", "de", DE_PAGES)
    build_wikipedia(dump, "de", tmp_path / "de", progress=False)
    tokio = records(tmp_path / "de")["Tokio"]
    assert tokio["paragraphs"][0]["text"] == "Tokio ist die Hauptstadt von Japan. Siehe Leiste und die alte Stadt."
    # Datei: and Kategorie: dropped with their text; a Vorlage: link keeps its text but is no article link
    assert anchors(tokio) == [("Japan", "Japan"), ("die alte Stadt", "Edo")]


def test_shards_together_hold_exactly_one_run_and_workers_change_nothing(tmp_path):
    dump = write_dump(tmp_path / "en.xml.bz2", "en", EN_PAGES * 3)  # ids differ per copy
    build_wikipedia(dump, "en", tmp_path / "whole", progress=False)
    build_wikipedia(dump, "en", tmp_path / "parallel", workers=2, progress=False)
    for i in range(2):
        build_wikipedia(dump, "en", tmp_path / f"shard{i}", num_shards=2, shard_index=i, progress=False)
    whole = sorted(read_pages(tmp_path / "whole"), key=lambda r: r["id"])
    assert sorted(read_pages(tmp_path / "parallel"), key=lambda r: r["id"]) == whole
    shards = [list(read_pages(tmp_path / f"shard{i}")) for i in range(2)]
    assert shards[0] and shards[1]
    assert sorted(shards[0] + shards[1], key=lambda r: r["id"]) == whole
    merged = {**read_redirects(tmp_path / "shard0"), **read_redirects(tmp_path / "shard1")}
    assert {t: resolve_redirect(t, merged) for t in merged} == read_redirects(tmp_path / "whole")


def whole_output(directory):
    """Everything a stage-1 directory holds but its timings."""
    metadata = json.loads((directory / "metadata.json").read_text())
    for key in ("seconds", "resumed_at_page"):
        metadata.pop(key)
    return list(read_pages(directory)), read_redirects(directory), (directory / "pages.tsv").read_text(), metadata


def test_a_truncated_dump_keeps_the_complete_files_and_a_rerun_continues(tmp_path, capsys):
    whole = write_dump(tmp_path / "whole.xml", "en", EN_PAGES * 20)
    build_wikipedia(whole, "en", tmp_path / "reference", progress=False, pages_per_file=7)
    # an uncompressed dump cut in the middle: the pages before the cut were read
    dump = tmp_path / "en.xml"
    dump.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(CorruptDumpError, match=r"en\.xml: the dump breaks off or is damaged after page \d+ \('.*"
                                               r"The [1-9]\d* complete page files \(\d+ articles\) are kept in .*"
                                               r"\.out\.partial"):
        build_wikipedia(dump, "en", tmp_path / "out", progress=False, pages_per_file=7)
    assert not (tmp_path / "out").exists()  # the output appears only when complete
    partial = tmp_path / ".out.partial"
    assert (partial / "progress.json").is_file() and len(list(partial.glob("pages-*.jsonl.gz"))) >= 2
    with pytest.raises(ValueError, match="is not an output of 'corpus wikipedia'"):
        from mluke_jax.corpus.collection import open_wikipedia

        open_wikipedia([partial])
    # the whole dump in place, the same command continues after the last complete file
    dump.write_bytes(whole.read_bytes())
    metadata = build_wikipedia(dump, "en", tmp_path / "out", progress=False, pages_per_file=7)
    assert metadata["resumed_at_page"] > 0 and not partial.exists()
    reference, resumed = whole_output(tmp_path / "reference"), whole_output(tmp_path / "out")
    reference[3]["dump"] = "en.xml"
    assert resumed[3].pop("files") == reference[3].pop("files") + 1  # the break closed a shorter file
    assert resumed == reference
    # a compressed one cut inside its first block
    packed = write_dump(tmp_path / "en.xml.bz2", "en", EN_PAGES * 20)
    packed.write_bytes(packed.read_bytes()[:-100])
    assert main(["wikipedia", str(packed), "--language", "en", "--out", str(tmp_path / "out2"), "--quiet"]) == 1
    error = capsys.readouterr().err
    assert "en.xml.bz2: the dump breaks off or is damaged" in error and "EOFError" in error, error
    assert not (tmp_path / "out2").exists()


def test_a_rerun_on_another_dump_or_with_other_settings_is_refused(tmp_path):
    dump = tmp_path / "en.xml"
    data = write_dump(dump, "en", EN_PAGES * 20).read_bytes()
    dump.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptDumpError):
        build_wikipedia(dump, "en", tmp_path / "out", progress=False, pages_per_file=7)
    with pytest.raises(ValueError, match="unfinished run of other settings"):
        build_wikipedia(dump, "en", tmp_path / "out", progress=False, pages_per_file=8)
    pages = [(f"Other {n}", 0, None, "Some [[Text]].") for n in range(120)]
    write_dump(dump, "en", pages)
    with pytest.raises(ValueError, match="it is another dump"):
        build_wikipedia(dump, "en", tmp_path / "out", progress=False, pages_per_file=7)
    build_wikipedia(dump, "en", tmp_path / "out", progress=False, pages_per_file=7, overwrite=True)  # starts over
    assert len(list(read_pages(tmp_path / "out"))) == 120


def test_a_killed_run_continues_where_its_last_complete_file_ends(tmp_path):
    import signal
    import subprocess
    import sys

    dump = write_dump(tmp_path / "en.xml", "en", EN_PAGES * 10)
    # the process kills itself with SIGKILL while writing its fourth page file (17th article): no
    # clean-up runs, the last checkpoint is the one after the third file
    script = (
        "import os, signal, sys\n"
        "from mluke_jax.corpus import wikipedia\n"
        "real, seen = wikipedia._Progress.article, []\n"
        "def article(self, record):\n"
        "    real(self, record)\n"
        "    seen.append(1)\n"
        "    if len(seen) == 17:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "wikipedia._Progress.article = article\n"
        "wikipedia.build_wikipedia(sys.argv[1], 'en', sys.argv[2], progress=False, pages_per_file=5)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(dump), str(tmp_path / "out")], timeout=300)
    assert result.returncode == -signal.SIGKILL
    assert not (tmp_path / "out").exists()
    assert json.loads((tmp_path / ".out.partial" / "progress.json").read_text())["files"] == 3
    metadata = build_wikipedia(dump, "en", tmp_path / "out", progress=False, pages_per_file=5)
    assert metadata["resumed_at_page"] > 0
    build_wikipedia(dump, "en", tmp_path / "reference", progress=False, pages_per_file=5)
    assert whole_output(tmp_path / "out") == whole_output(tmp_path / "reference")


def test_an_existing_output_is_replaced_only_when_asked(tmp_path, capsys):
    dump = write_dump(tmp_path / "en.xml", "en", EN_PAGES)
    build_wikipedia(dump, "en", tmp_path / "out", progress=False)
    with pytest.raises(FileExistsError, match="already holds a corpus"):
        build_wikipedia(dump, "en", tmp_path / "out", progress=False)
    build_wikipedia(dump, "en", tmp_path / "out", overwrite=True, progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert main(["wikipedia", str(dump), "--language", "en", "--out", str(tmp_path / "other"), "--quiet"]) == 1
    assert "holds other files" in capsys.readouterr().err
    with gzip.open(next((tmp_path / "out").glob("pages-*.jsonl.gz")), "rt") as f:
        assert json.loads(f.readline())["title"] == "Tokyo"


@pytest.mark.parametrize(
    ("raw", "title"),
    [("tokyo_Tower", "Tokyo Tower"), ("Mount Fuji#History", "Mount Fuji"), ("  a  b ", "A b"), ("#Top", ""),
     ("AT&amp;T", "AT&T"), ("ōsaka", "Ōsaka")],
)  # fmt: skip
def test_titles_are_normalised_as_mediawiki_does(raw, title):
    assert normalize_title(raw) == title


def test_link_spans_survive_any_spacing():
    """Random runs of spaces, tabs and no-break spaces around and inside links: every span still
    covers its anchor, spaces collapsed."""
    import random

    from mluke_jax.corpus.wikitext import WikitextParser

    rng = random.Random(0)
    parser = WikitextParser()
    for _ in range(200):
        pieces, expected = [], []
        for _ in range(rng.randint(1, 6)):
            pad = "".join(rng.choice(" \t\u00a0") for _ in range(rng.randint(0, 3)))
            words = [rng.choice(["Tokyo", "Kyoto", "Mount", "Fuji", "big", "city"]) for _ in range(rng.randint(1, 3))]
            inner = "".join(w + rng.choice([" ", "  ", "\t", "\u00a0 "]) for w in words).rstrip()
            if rng.random() < 0.5:
                pieces.append(f"{pad}[[{words[0]}|{rng.choice(['', ' '])}{inner}{rng.choice(['', '  '])}]]")
                expected.append((" ".join(inner.split()), normalize_title(words[0])))
            else:
                pieces.append(pad + inner)
        paragraphs = parser.paragraphs("".join(pieces))
        got = [(p.text[link.start : link.end], link.title) for p in paragraphs for link in p.links]
        assert got == expected, ("".join(pieces), paragraphs)


def test_a_page_the_parser_cannot_read_is_skipped_and_counted(tmp_path, monkeypatch):
    from mluke_jax.corpus.wikitext import WikitextParser

    real = WikitextParser.paragraphs

    def fragile(self, wikitext):
        if wikitext.startswith("\'\'\'Japan"):
            raise RecursionError("markup nested too deeply")
        return real(self, wikitext)

    monkeypatch.setattr(WikitextParser, "paragraphs", fragile)
    dump = write_dump(tmp_path / "en.xml", "en", EN_PAGES)
    metadata = build_wikipedia(dump, "en", tmp_path / "out", progress=False)
    assert metadata["unparsable"] == 1 and metadata["pages"] == 2
    assert sorted(records(tmp_path / "out")) == ["Mount Fuji", "Tokyo"]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("enwiki.txt", b"Tokyo is the capital of Japan.\nIt is big.\n", "is not a MediaWiki XML export: it starts with "
         "'Tokyo is the capital of Japan. It is big.', where a dump's root element is <mediawiki>"),
        ("enwiki-pages-articles.xml.gz", None, "is not a gzip file as its name says (it is an uncompressed MediaWiki "
         "export: name it .xml)"),
        ("enwiki-pages-articles.xml.bz2", b"<html><body>404 Not Found</body></html>", "is not a MediaWiki XML export: "
         "it starts with '<html><body>404 Not Found</body></html>'"),
        ("enwiki-pages-articles.xml.bz2", "gzip", "is not a bzip2 file as its name says (it is gzip-compressed)"),
        ("enwiki.xml", b"<!DOCTYPE html><html><body>404 Not Found</body></html>", "is not a MediaWiki XML export"),
        ("enwiki.xml", b"", "is not a MediaWiki XML export: it is empty"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_a_dump_is_told_from_one_that_breaks_off(name, content, message, tmp_path, monkeypatch,
                                                                    capsys):  # fmt: skip
    """Not a dump: refused before anything is written, so that the right dump into the same --out
    is not then refused as "an unfinished run of other settings"."""
    monkeypatch.chdir(tmp_path)
    plain = write_dump(tmp_path / "real.xml", "en", EN_PAGES).read_bytes()
    (tmp_path / name).write_bytes(plain if content is None else gzip.compress(plain) if content == "gzip" else content)
    assert main(["wikipedia", name, "--language", "en", "--out", "en", "--quiet"]) == 1
    error = capsys.readouterr().err
    assert f"error: {tmp_path / name} {message}" in error, error
    assert "breaks off" not in error and not list(tmp_path.glob(".en*")) and not (tmp_path / "en").exists()
    write_dump(tmp_path / "enwiki-pages-articles.xml.bz2", "en", EN_PAGES)
    assert main(["wikipedia", "enwiki-pages-articles.xml.bz2", "--language", "en", "--out", "en", "--quiet"]) == 0
    assert sorted(records("en")) == ["Japan", "Mount Fuji", "Tokyo"]
