"""Interwiki links: which Wikipedia titles of different languages name the same Wikidata item.

Two inputs are read (plain, ``.gz`` or ``.bz2``), told apart by their first line:

- the Wikidata JSON dump (``latest-all.json.bz2``): a ``[`` line, then one entity object a line
  (each ending in ``,``), then ``]``; an item's ``sitelinks`` give its title on each wiki
  (``"dewiki": {"site": "dewiki", "title": "Tokio"}``). Sites other than ``<lang>wiki`` (wikiquote,
  wikivoyage, commons, ...) are ignored. An item without an ``id`` (the layout of the original LUKE
  code's sitelinks files, which keep only ``sitelinks``) is keyed by its Wikipedia site links, so
  that it stays an item of its own: items without ids are never merged with each other.
- a TSV of ``qid<TAB>lang<TAB>title`` lines (one title of one item on one wiki).

The dump holds about 100 million items; only the titles asked for are kept, so memory follows the
vocabulary, not the dump.
"""

import json
import os
import re
from collections.abc import Iterable, Iterator

from mluke_jax.corpus.files import open_text
from mluke_jax.corpus.wikitext import normalize_title
from mluke_jax.paths import local_path
from mluke_jax.progress import progress_bar

_QID = re.compile(r"^[QL]\d+$")
# Wikidata site ids that end in "wiki" but are not a language's Wikipedia
_NOT_WIKIPEDIAS = frozenset({"commons", "meta", "species", "wikidata", "mediawiki", "sources", "outreach", "incubator"})


def _format_of(path: os.PathLike, first: str) -> str:
    stripped = first.strip()
    if stripped.startswith("[") or stripped.startswith("{"):
        return "wikidata-json"
    fields = stripped.split("\t")
    if len(fields) == 3 and _QID.match(fields[0]):
        return "tsv"
    raise ValueError(
        f"{path}: unknown interwiki format: expected the Wikidata JSON dump (a '[' line, then one entity "
        f"object a line) or 'qid<TAB>lang<TAB>title' lines, but line 1 is {stripped[:80]!r}"
    )


def _json_sitelinks(lines: Iterable[str], path: os.PathLike) -> Iterator[tuple[str, str, str]]:
    for number, line in enumerate(lines, 1):
        line = line.strip().rstrip(",")
        if line in ("", "[", "]") or '"sitelinks"' not in line:
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{number}: not a Wikidata entity object ({e})") from None
        links = [
            (site[:-4].replace("_", "-"), link["title"])
            for site, link in (item.get("sitelinks") or {}).items()
            if site.endswith("wiki") and site[:-4] not in _NOT_WIKIPEDIAS
        ]
        qid = item.get("id") or _sitelinks_key(links)
        for language, title in links:
            yield qid, language, title


def _sitelinks_key(links: list[tuple[str, str]]) -> str:
    """The key of an item without an id: its Wikipedia site links (no Wikidata id looks like it)."""
    return "sitelinks:" + json.dumps(sorted(links), ensure_ascii=False)


def _tsv_sitelinks(lines: Iterable[str], path: os.PathLike) -> Iterator[tuple[str, str, str]]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.rstrip("\n").split("\t")
        if len(fields) != 3 or not _QID.match(fields[0]):
            raise ValueError(f"{path}:{number}: expected 'qid<TAB>lang<TAB>title', got {line[:80]!r}")
        yield fields[0], fields[1], fields[2]


def read_interwiki(
    path: str | os.PathLike, wanted: dict[str, frozenset[str] | set[str]], progress: bool = True
) -> dict[tuple[str, str], str]:
    """``(language, title) -> item id`` for the titles in ``wanted`` (language -> titles); for an
    item without an id, a key made of its site links."""
    path = local_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such interwiki file: {path}")
    out: dict[tuple[str, str], str] = {}
    with open_text(path) as f:
        first = f.readline()
        kind = _format_of(path, first)
        lines = iter(progress_bar(f, desc="interwiki", unit="lines", enabled=progress))
        rows = (_json_sitelinks if kind == "wikidata-json" else _tsv_sitelinks)(_chain(first, lines), path)
        for qid, language, title in rows:
            titles = wanted.get(language)
            if titles is None:
                continue
            title = normalize_title(title)
            if title in titles:
                out[(language, title)] = qid
    return out


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest
