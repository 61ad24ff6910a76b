"""Reading a mention database: surface form -> the entities its links go to, per language.

The file is written by ``python -m mluke_jax.corpus mention-db``
(:func:`mluke_jax.corpus.mention_db.build_mention_db`), gzip text whatever its name::

    # {"format": "mluke-jax-mention-db", "format_version": 1, "languages": [...], ...}
    lang <TAB> key <TAB> articles containing it <TAB> links <TAB> title <TAB> count [<TAB> title <TAB> count ...]

``key`` is the surface form's :func:`~mluke_jax.linking.surface.surface_key`, titles are the wiki's
(most linked first).

:class:`MentionDB` reads it into one MARISA trie per language (marisa-trie, the structure the
original LUKE mention database uses: key -> key id, prefix search) and the rows' text after the
key, stored by key id and parsed into :class:`Candidate` records only when asked. The first load
writes them to an index directory beside the file (``mentions.tsv.gz.index/``, or none when that
directory cannot be written); later loads map the index into memory instead of reading the file
(milliseconds; the index is rebuilt when the file's size or modification time changes).
"""

import gzip
import json
import logging
import mmap
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from mluke_jax.linking.surface import surface_key
from mluke_jax.paths import local_copy
from mluke_jax.progress import progress_bar

logger = logging.getLogger(__name__)

FORMAT = "mluke-jax-mention-db"
FORMAT_VERSION = 1
INDEX_FORMAT = "mluke-jax-mention-index"
INDEX_VERSION = 1


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


def open_text(path: str | os.PathLike, mode: str) -> IO[str]:
    """The file is gzip text whatever its name (``mentions.tsv.gz`` is a good one)."""
    return gzip.open(path, mode, encoding="utf-8", **({"compresslevel": 6} if "w" in mode else {}))


def header_line(header: dict[str, Any]) -> str:
    """The first line of a database file: ``#`` and the header as JSON (``format``, ``format_version``, ...)."""
    return "# " + json.dumps(header, ensure_ascii=False) + "\n"


def read_header(path: os.PathLike, line: str) -> dict[str, Any]:
    """The header of the file's first ``line``: this format, a version this code reads."""
    try:
        header = json.loads(line[1:]) if line.startswith("#") else None
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not a mention database written by 'corpus mention-db' (its first line is {line[:60]!r})"
        )
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{path} is a mention database of format version {version!r}; this mluke-jax reads version "
            f"{FORMAT_VERSION}: rebuild it with 'python -m mluke_jax.corpus mention-db'"
        )
    return header




def _marisa():
    try:
        import marisa_trie
    except ImportError:  # pragma: no cover - a dependency of the package
        raise ImportError(
            "mention databases need marisa-trie (a dependency of mluke-jax): pip install marisa-trie"
        ) from None
    return marisa_trie


class _Language:
    """One language: its surface keys (a MARISA trie, key -> key id) and, by key id, the text of its
    row after the key (``rows[offsets[i]:offsets[i + 1]]``, UTF-8)."""

    def __init__(self, trie: Any, offsets: np.ndarray, rows: Any, longest: int):
        self.trie, self.offsets, self.rows, self.longest = trie, offsets, rows, longest

    @classmethod
    def build(cls, keys: list[str], rows: list[bytes]) -> "_Language":
        trie = _marisa().Trie(keys)
        by_id = [b""] * len(trie)
        for key, row in zip(keys, rows):  # a key given twice keeps its last row
            by_id[trie.key_id(key)] = row
        offsets = np.zeros(len(by_id) + 1, np.int64)
        np.cumsum(np.fromiter(map(len, by_id), np.int64, len(by_id)), out=offsets[1:])
        return cls(trie, offsets, b"".join(by_id), max(map(len, keys), default=0))

    def save(self, directory: Path, name: str) -> None:
        self.trie.save(str(directory / f"{name}.marisa"))
        np.save(directory / f"{name}.offsets.npy", self.offsets)
        (directory / f"{name}.rows").write_bytes(self.rows)

    @classmethod
    def open(cls, directory: Path, name: str, longest: int) -> "_Language":
        trie = _marisa().Trie().mmap(str(directory / f"{name}.marisa"))
        offsets = np.load(directory / f"{name}.offsets.npy", mmap_mode="r")
        with open(directory / f"{name}.rows", "rb") as f:
            rows = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if os.fstat(f.fileno()).st_size else b""
        if len(offsets) != len(trie) + 1 or int(offsets[-1]) != len(rows):
            raise ValueError(f"the index in {directory} does not match its parts")
        return cls(trie, offsets, rows, longest)

    def row_text(self, key_id: int) -> str:
        return bytes(self.rows[int(self.offsets[key_id]) : int(self.offsets[key_id + 1])]).decode("utf-8")


class MentionDB:
    """A mention database: per language, surface key -> candidates (see the module docstring).
    :meth:`matches` finds the surface keys that start at given places of a normalised text."""

    def __init__(self, header: dict[str, Any], languages: dict[str, _Language], path: str = "<memory>"):
        self.header, self._languages, self.path = header, languages, path

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        languages: Iterable[str] | None = None,
        *,
        index: bool = True,
        progress: bool = False,
    ) -> "MentionDB":
        """Read ``path`` (all its languages, or only ``languages``: each must be in the file);
        ``index``: use the index beside the file, writing it when it is missing or stale."""
        path = local_copy(path)  # in a bucket: a local copy (the tries are memory-mapped)
        if not path.is_file():
            raise FileNotFoundError(f"no such mention database: {path}")
        start = time.perf_counter()
        with open_text(path, "rt") as f:
            try:
                first = f.readline()
            except (OSError, EOFError, UnicodeDecodeError):
                first = ""
        header = read_header(path, first)
        wanted = sorted(header.get("languages", ()) if languages is None else set(languages))
        missing = [language for language in wanted if language not in header.get("languages", ())]
        if missing:
            raise ValueError(
                f"the mention database {path} has no language {', '.join(map(repr, missing))}; it has "
                f"{', '.join(header.get('languages', ())) or 'none'}"
            )
        directory = path.with_name(path.name + ".index")
        tables = _open_index(directory, path, wanted) if index else None
        source = "index"
        if tables is None:
            source = "file"
            tables = _read_file(path, header, progress)
            if index:
                _write_index(directory, path, tables)
            tables = {language: tables[language] for language in wanted}
        header = {**header, "load_seconds": round(time.perf_counter() - start, 3), "loaded_from": source}
        return cls(header, tables, str(path))

    @property
    def languages(self) -> list[str]:
        """The languages loaded."""
        return sorted(self._languages)

    def __len__(self) -> int:
        return sum(len(table.trie) for table in self._languages.values())

    def require_language(self, language: str) -> None:
        """A ValueError naming the languages loaded unless ``language`` is one of them."""
        if language not in self._languages:
            raise ValueError(
                f"the mention database {self.path} has no language {language!r}; it has "
                f"{', '.join(self.languages) or 'none'}"
            )

    def _table(self, language: str) -> _Language:
        self.require_language(language)
        return self._languages[language]

    def matches(
        self, normalised: str, language: str, starts: Iterable[int] | None = None
    ) -> Iterator[tuple[int, int, int]]:
        """``(start, end, row)`` of every surface key of ``language`` that begins at one of
        ``starts`` (default: every word of) ``normalised``, a text normalised as keys are
        (:func:`~mluke_jax.linking.surface.surface_key`); where a key ends is the caller's to check."""
        table = self._table(language)
        if starts is None:
            starts = [0, *(i + 1 for i, c in enumerate(normalised) if c == " ")]
        for start in starts:
            for key, key_id in table.trie.iter_prefixes_with_ids(normalised[start : start + table.longest]):
                yield start, start + len(key), key_id

    def row(self, language: str, number: int) -> list[Candidate]:
        """The candidates of row ``number`` of ``language``, most linked first."""
        fields = self._table(language).row_text(number).split("\t")
        try:
            docs, links = int(fields[0]), int(fields[1])
            found = [Candidate(language, title, int(count), links, docs) for title, count in _pairs(fields[2:])]
        except ValueError:
            raise ValueError(
                f"{self.path}: a {language} row holds a count that is not a number: {fields[:4]}"
            ) from None
        return sorted(found, key=lambda c: -c.link_count)  # as the builder writes them; stable for ties

    def candidates(self, text: str, language: str) -> list[Candidate]:
        """The entities ``text`` links to in ``language``'s wiki, most linked first ([] if none)."""
        table = self._languages.get(language)
        key_id = None if table is None else table.trie.get(surface_key(text))
        return [] if key_id is None else self.row(language, key_id)

    def keys(self, language: str) -> Iterator[str]:
        """The surface keys of ``language``."""
        table = self._languages.get(language)
        return iter(()) if table is None else table.trie.iterkeys()


def _read_file(path: Path, header: dict[str, Any], progress: bool) -> dict[str, _Language]:
    """Every language of the file, its rows checked for their field count (counts parsed later)."""
    keys: dict[str, list[str]] = {language: [] for language in header.get("languages", ())}
    rows: dict[str, list[bytes]] = {language: [] for language in keys}
    total = sum(header.get("mentions", {}).values())
    bar = progress_bar(desc="mention database", unit="forms", total=total or None, enabled=progress)
    try:
        with gzip.open(path, "rb") as f:
            f.readline()
            for number, line in enumerate(f, 2):
                parts = line.rstrip(b"\n").split(b"\t", 2)
                # after the key: docs, links, then (title, count) pairs: an odd number of tabs, at least 3
                tabs = parts[2].count(b"\t") if len(parts) == 3 else 0
                if tabs < 3 or tabs % 2 == 0:
                    raise ValueError(f"{path}:{number}: not a mention line (lang, key, docs, links, title, count...)")
                language = parts[0].decode("utf-8")
                if language not in keys:
                    raise ValueError(f"{path}:{number}: language {language!r} is not in the header's {sorted(keys)}")
                keys[language].append(parts[1].decode("utf-8"))
                rows[language].append(parts[2])
                if number % 65536 == 0:
                    bar.update(65536)
    except (EOFError, OSError, UnicodeDecodeError, gzip.BadGzipFile) as e:
        raise ValueError(f"{path} is cut short or damaged ({type(e).__name__}: {e})") from None
    finally:
        bar.close()
    return {language: _Language.build(keys[language], rows[language]) for language in keys}


def _stamp(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _file_name(language: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", lambda m: f"%{ord(m.group()):x}", language)


def _open_index(directory: Path, path: Path, languages: list[str]) -> dict[str, _Language] | None:
    """The index of ``path`` in ``directory`` when it is there and current, else None."""
    try:
        meta = json.loads((directory / "index.json").read_text(encoding="utf-8"))
        if (meta.get("format"), meta.get("index_version"), meta.get("source")) != (
            INDEX_FORMAT,
            INDEX_VERSION,
            _stamp(path),
        ):
            return None
        return {
            language: _Language.open(directory, _file_name(language), meta["longest"][language])
            for language in languages
        }
    except (OSError, ValueError, KeyError, TypeError, RuntimeError):
        return None  # missing, stale or damaged: read the file again


def _write_index(directory: Path, path: Path, tables: dict[str, _Language]) -> None:
    """Write the index beside the database; a directory that cannot be written only costs speed."""
    from mluke_jax.checkpoint import atomic_directory

    meta = {
        "format": INDEX_FORMAT,
        "index_version": INDEX_VERSION,
        "source": _stamp(path),
        "longest": {language: table.longest for language, table in tables.items()},
    }
    try:
        with atomic_directory(directory, overwrite=True, marker="index.json", what="a mention database index") as tmp:
            for language, table in tables.items():
                table.save(tmp, _file_name(language))
            (tmp / "index.json").write_text(json.dumps(meta) + "\n", encoding="utf-8")
    except (OSError, FileExistsError) as e:
        logger.warning(
            "the mention database index %s could not be written (%s): each load reads the file", directory, e
        )


def _pairs(values: list[str]) -> Iterator[tuple[str, str]]:
    return zip(values[::2], values[1::2], strict=True)
