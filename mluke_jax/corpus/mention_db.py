"""Stage 3 of a corpus: the mention database (``corpus mention-db``), as the original LUKE builds it.

For every anchor text of a wiki (its surface key, :mod:`mluke_jax.corpus.surface`): the articles
it links to with their counts, the number of links with that text, and the number of articles
whose text contains it anywhere (linked or not). Its **link probability** is links / articles
containing it (at most 1): "the" is linked rarely for how often it occurs, "Mount Fuji" nearly
always. The articles containing each anchor are found in one pass with an Aho-Corasick automaton
(pyahocorasick) over the normalised text, matches kept at word boundaries.

File (gzip text whatever its name, one header line then one line per surface form)::

    # {"format": "mluke-jax-mention-db", "languages": [...], "min_link_prob": ..., ...}
    lang <TAB> key <TAB> articles containing it <TAB> links <TAB> title <TAB> count [<TAB> title <TAB> count ...]

titles as the wiki names its articles (most linked first). :class:`MentionDB` reads it.
"""

import gzip
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from mluke_jax.corpus.collection import WikipediaLanguage, open_wikipedia
from mluke_jax.corpus.files import atomic_file
from mluke_jax.corpus.surface import surface_key
from mluke_jax.paths import local_path
from mluke_jax.progress import progress_bar

FORMAT = "mluke-jax-mention-db"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Candidate:
    """An entity a surface form links to: ``title`` (in ``language``'s wiki) and the counts."""

    language: str
    title: str
    link_count: int  # links with this text to this title
    total_link_count: int  # links with this text to any title
    doc_count: int  # articles whose text contains this text

    @property
    def link_prob(self) -> float:
        """How often the text is a link where it occurs (links / articles containing it, at most 1)."""
        return min(1.0, self.total_link_count / self.doc_count) if self.doc_count else 0.0

    @property
    def prior_prob(self) -> float:
        """How often the text's links go to this title."""
        return self.link_count / self.total_link_count if self.total_link_count else 0.0

    @property
    def name(self) -> str:
        """The entity as a multilingual vocabulary spells it, ``"lang:title"``."""
        return f"{self.language}:{self.title}"


def _import_automaton():
    try:
        import ahocorasick
    except ImportError:
        raise ImportError("the mention database needs pyahocorasick: pip install 'mluke-jax[corpus]'") from None
    return ahocorasick


def anchor_counts(corpus: WikipediaLanguage, max_mention_length: int, progress: bool = True) -> dict[str, Counter]:
    """Surface key -> Counter(title -> links), targets resolved and only articles."""
    titles, anchors = corpus.titles, defaultdict(Counter)
    bar = progress_bar(desc=f"{corpus.language} anchors", unit="pages", total=corpus.num_pages, enabled=progress)
    for record in corpus.pages():
        for paragraph in record["paragraphs"]:
            for start, end, target in paragraph["links"]:
                target = corpus.resolve(target)
                key = surface_key(paragraph["text"][start:end])
                if target in titles and key and key.count(" ") < max_mention_length:
                    anchors[key][target] += 1
        bar.update()
    bar.close()
    return anchors


def document_counts(corpus: WikipediaLanguage, keys: list[str], progress: bool = True) -> Counter:
    """Surface key -> articles whose normalised text contains it at word boundaries."""
    ahocorasick = _import_automaton()
    automaton = ahocorasick.Automaton()
    for key in keys:
        automaton.add_word(key, key)
    counts: Counter = Counter()
    if not keys:
        return counts
    automaton.make_automaton()
    bar = progress_bar(desc=f"{corpus.language} occurrences", unit="pages", total=corpus.num_pages, enabled=progress)
    for record in corpus.pages():
        found = set()
        for paragraph in record["paragraphs"]:
            text = surface_key(paragraph["text"])
            last = len(text) - 1
            for end, key in automaton.iter(text):
                start = end - len(key) + 1
                if (start == 0 or text[start - 1] == " ") and (end == last or text[end + 1] == " "):
                    found.add(key)
        counts.update(found)
        bar.update()
    bar.close()
    return counts


def build_mention_db(
    directories: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    min_link_prob: float = 0.01,
    max_candidates: int = 100,
    min_link_count: int = 1,
    max_mention_length: int = 20,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Write the mention database of the stage-1 ``directories`` to ``out`` (the defaults are the
    original code's); returns the header (counts per language, seconds)."""
    out = local_path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; pass overwrite (--overwrite) to replace it")
    if not 0 <= min_link_prob <= 1:
        raise ValueError(f"min_link_prob must be within 0..1, got {min_link_prob}")
    start = time.perf_counter()
    corpora = open_wikipedia(directories)
    header: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "languages": sorted(corpora),
        "normalization": "surface_key: lower-cased, U+0300-U+036F accents stripped, punctuation/symbols/unspaced "
        "scripts one word a character, words joined by one space",
        "min_link_prob": min_link_prob,
        "max_candidates": max_candidates,
        "min_link_count": min_link_count,
        "max_mention_length": max_mention_length,
        "mentions": {},
    }
    with atomic_file(out, overwrite, "the mention database") as tmp, _open(tmp, "wt") as f:
        rows = []
        for language in sorted(corpora):
            corpus = corpora[language]
            anchors = anchor_counts(corpus, max_mention_length, progress)
            docs = document_counts(corpus, list(anchors), progress)
            kept = 0
            for key in sorted(anchors):
                entities, doc_count = anchors[key], docs[key]
                total = sum(entities.values())
                if doc_count == 0 or min(1.0, total / doc_count) < min_link_prob:
                    continue
                ranked = sorted(entities.items(), key=lambda item: (-item[1], item[0]))[:max_candidates]
                ranked = [(title, count) for title, count in ranked if count >= min_link_count]
                if ranked:
                    fields = [language, key, str(doc_count), str(total)]
                    fields += [value for title, count in ranked for value in (title, str(count))]
                    rows.append("\t".join(fields) + "\n")
                    kept += 1
            header["mentions"][language] = kept
        header["seconds"] = round(time.perf_counter() - start, 3)
        f.write("# " + json.dumps(header, ensure_ascii=False) + "\n")
        f.writelines(rows)
    return header


class MentionDB:
    """A mention database file: surface key -> candidates, per language."""

    def __init__(self, header: dict[str, Any], table: dict[tuple[str, str], list[Candidate]]):
        self.header, self._table = header, table

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MentionDB":
        path = local_path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such mention database: {path}")
        with _open(path, "rt") as f:
            try:
                first = f.readline()
            except (OSError, EOFError, UnicodeDecodeError):
                first = ""
            header = _read_header(path, first)
            try:
                table = _read_rows(path, f)
            except (EOFError, OSError, UnicodeDecodeError) as e:
                raise ValueError(f"{path} is cut short or damaged ({type(e).__name__}: {e})") from None
        return cls(header, table)

    @property
    def languages(self) -> list[str]:
        return list(self.header["languages"])

    def __len__(self) -> int:
        return len(self._table)

    def candidates(self, text: str, language: str) -> list[Candidate]:
        """The entities ``text`` links to in ``language``'s wiki, most linked first ([] if none)."""
        return list(self._table.get((language, surface_key(text)), ()))

    def keys(self, language: str) -> Iterator[str]:
        """The surface keys of ``language``."""
        return (key for lang, key in self._table if lang == language)


def _read_rows(path: os.PathLike, lines: Iterator[str]) -> dict[tuple[str, str], list[Candidate]]:
    table = {}
    for number, line in enumerate(lines, 2):
        fields = line.rstrip("\n").split("\t")
        if len(fields) < 6 or len(fields) % 2:
            raise ValueError(f"{path}:{number}: not a mention line (lang, key, docs, links, title, count...)")
        language, key, docs, links = fields[0], fields[1], int(fields[2]), int(fields[3])
        table[(language, key)] = [
            Candidate(language, title, int(count), links, docs) for title, count in _pairs(fields[4:])
        ]
    return table


def _open(path: os.PathLike, mode: str) -> IO[str]:
    """The file is gzip text whatever its name (``mentions.tsv.gz`` is a good one)."""
    return gzip.open(path, mode, encoding="utf-8", **({"compresslevel": 6} if "w" in mode else {}))


def _pairs(values: list[str]) -> Iterator[tuple[str, str]]:
    return zip(values[::2], values[1::2], strict=True)


def _read_header(path: os.PathLike, line: str) -> dict[str, Any]:
    try:
        header = json.loads(line[1:]) if line.startswith("#") else None
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a mention database written by 'corpus mention-db' (its first line is "
                         f"{line[:60]!r})")
    return header
