"""The stage-1 directories a later stage reads, grouped by language (the shards of one dump merged).

``python -m mluke_jax.corpus wikipedia`` writes one directory per run; a dump split with
``--num-shards`` gives several. The later stages take any list of them: :func:`open_wikipedia`
checks each, groups them by language and merges what the shards hold separately (the redirect
tables, whose chains may cross shards, and the article titles).
"""

import functools
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mluke_jax.corpus.wikipedia import FORMAT, METADATA, read_page_lines, read_pages, read_redirects, resolve_redirect
from mluke_jax.paths import local_path


@dataclass(frozen=True)
class WikipediaLanguage:
    """The stage-1 output of one wiki: one directory, or the shards of one dump."""

    language: str
    directories: tuple[Path, ...]
    metadata: tuple[dict[str, Any], ...]

    def pages(self) -> Iterator[dict[str, Any]]:
        """Every article record (``id``, ``title``, ``paragraphs``), shard after shard."""
        for directory in self.directories:
            yield from read_pages(directory)

    def page_lines(self) -> Iterator[str]:
        """Every article record as its JSON line (for worker processes to decode)."""
        for directory in self.directories:
            yield from read_page_lines(directory)

    @functools.cached_property
    def redirects(self) -> dict[str, str]:
        """Redirect title -> the article it ends at, chains followed across the shards."""
        merged: dict[str, str] = {}
        for directory in self.directories:
            merged.update(read_redirects(directory))
        return {title: resolve_redirect(title, merged) for title in merged}

    @functools.cached_property
    def titles(self) -> frozenset[str]:
        """The titles of the articles (what a link may point at once redirects are resolved)."""
        out = set()
        for directory in self.directories:
            with open(directory / "pages.tsv", encoding="utf-8") as f:
                out.update(line.split("\t", 2)[1] for line in f if line.strip())
        return frozenset(out)

    def resolve(self, title: str) -> str:
        """A link target as the article it names (redirects followed)."""
        return self.redirects.get(title, title)

    @property
    def num_pages(self) -> int:
        return sum(m["pages"] for m in self.metadata)


def read_stage1_metadata(directory: str | os.PathLike) -> dict[str, Any]:
    """``metadata.json`` of a stage-1 directory, checked to be one (complete, of a known format)."""
    directory = local_path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"no such corpus directory: {directory}")
    path = directory / METADATA
    if not path.is_file():
        raise ValueError(f"{directory} is not an output of 'corpus wikipedia' (it has no {METADATA})")
    metadata = json.loads(path.read_text(encoding="utf-8"))
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{directory}: {METADATA} is of format {metadata.get('format')!r}, not {FORMAT!r}")
    if not metadata.get("complete", True):
        raise ValueError(
            f"{directory} is incomplete: its 'corpus wikipedia' run stopped at page {metadata.get('pages_read')} "
            f"({metadata.get('error', 'interrupted')}); re-run the same command to finish it"
        )
    return metadata


def open_wikipedia(directories: list[str | os.PathLike]) -> dict[str, WikipediaLanguage]:
    """Language -> its directories, in the order given; refuses a shard given twice."""
    if not directories:
        raise ValueError("no corpus directories given")
    groups: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for directory in directories:
        path = local_path(directory)
        metadata = read_stage1_metadata(path)
        groups.setdefault(metadata["language"], []).append((path, metadata))
    out = {}
    for language, members in groups.items():
        seen: dict[tuple[str, int, int], Path] = {}
        for path, metadata in members:
            key = (metadata["dump"], metadata["num_shards"], metadata["shard_index"])
            if key in seen:
                raise ValueError(
                    f"{path} and {seen[key]} hold the same shard ({key[2]} of {key[1]}) of {key[0]}; give each once"
                )
            seen[key] = path
        for dump, num_shards in {(k[0], k[1]) for k in seen}:
            present = {k[2] for k in seen if k[:2] == (dump, num_shards)}
            if len(present) < num_shards:
                missing = sorted(set(range(num_shards)) - present)
                warnings.warn(
                    f"{language}: shards {missing} of the {num_shards} of {dump} are not among the directories given",
                    stacklevel=2,
                )
        out[language] = WikipediaLanguage(
            language, tuple(p for p, _ in members), tuple(m for _, m in members)
        )
    return out
