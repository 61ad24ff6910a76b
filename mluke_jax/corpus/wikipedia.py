"""Stage 1 of a corpus: a Wikipedia dump to annotated paragraphs (``corpus wikipedia``).

Output directory (written under a temporary name, renamed at the end)::

    pages-00000.jsonl.gz   one article a line: {"id", "title", "paragraphs": [{"text", "links":
                           [[start, end, title], ...]}]}; ``text[start:end]`` is the anchor and
                           ``title`` the normalised link target as written (redirects unresolved)
    redirects.tsv          title <TAB> target, each chain followed to its end (within this shard)
    pages.tsv              id <TAB> title <TAB> paragraphs <TAB> links, one line per article
    metadata.json          format, language, dump, shard, counts (pages, redirects, skipped, ...)

Pages of other namespaces than articles (0) are skipped and counted, as are pages the parser cannot
read. ``--num-shards S --shard-index I`` keeps every S-th page from the I-th: S runs over one dump
(on as many machines) hold exactly the pages of one run.
"""

import gzip
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mluke_jax.checkpoint import atomic_directory
from mluke_jax.corpus.dump import DumpReader, Page
from mluke_jax.corpus.wikitext import WikitextParser, normalize_title
from mluke_jax.paths import local_path
from mluke_jax.progress import progress_bar

FORMAT = "mluke-jax-wikipedia"
FORMAT_VERSION = 1
METADATA = "metadata.json"
PAGES_PER_FILE = 50_000
_BATCH = 256  # pages handed to a worker at a time

_worker_parser: WikitextParser | None = None


def resolve_redirect(title: str, redirects: dict[str, str], max_hops: int = 10) -> str:
    """Follow ``title`` through ``redirects`` to the page it ends at (a loop stops where it closes)."""
    seen = {title}
    for _ in range(max_hops):
        target = redirects.get(title)
        if target is None or target in seen:
            return title
        seen.add(target)
        title = target
    return title


def _init_worker(namespaces: dict[str, int]) -> None:
    global _worker_parser
    _worker_parser = WikitextParser(namespaces)


def _parse(page: Page) -> dict[str, Any] | None:
    """In a worker process: :func:`parse_page` with the worker's parser."""
    return parse_page(_worker_parser, page)


def parse_page(parser: WikitextParser, page: Page) -> dict[str, Any] | None:
    """The article's record, or None when its markup cannot be parsed."""
    try:
        paragraphs = parser.paragraphs(page.text)
    except Exception:  # noqa: BLE001 - a page the parser cannot read is skipped and counted
        return None
    return {
        "id": page.id,
        "title": page.title,
        "paragraphs": [
            {"text": p.text, "links": [[link.start, link.end, link.title] for link in p.links]} for p in paragraphs
        ],
    }


def _batches(pages: Iterable[Page], size: int) -> Iterator[list[Page]]:
    batch = []
    for page in pages:
        batch.append(page)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class _ShardFiles:
    """``pages-NNNNN.jsonl.gz`` files of at most ``PAGES_PER_FILE`` articles each."""

    def __init__(self, directory: Path, pages_per_file: int):
        self.directory, self.pages_per_file = directory, pages_per_file
        self.index, self.count, self.file = 0, 0, None

    def write(self, record: dict[str, Any]) -> None:
        if self.file is None or self.count == self.pages_per_file:
            self.close()
            name = self.directory / f"pages-{self.index:05d}.jsonl.gz"
            self.file = gzip.open(name, "wt", encoding="utf-8", compresslevel=6)
            self.index, self.count = self.index + 1, 0
        self.file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def build_wikipedia(
    dump: str | os.PathLike,
    language: str,
    out: str | os.PathLike,
    *,
    workers: int = 1,
    num_shards: int = 1,
    shard_index: int = 0,
    overwrite: bool = False,
    progress: bool = True,
    pages_per_file: int = PAGES_PER_FILE,
) -> dict[str, Any]:
    """Write the annotated paragraphs of ``dump`` to ``out`` (see the module docstring); returns
    the metadata (counts)."""
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard index {shard_index} is outside 0..{num_shards - 1} (--num-shards {num_shards})")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    dump = local_path(dump)
    reader = DumpReader(dump)
    counts = dict(pages=0, redirects=0, other_namespaces=0, unparsable=0, paragraphs=0, links=0)
    redirects: dict[str, str] = {}
    start = time.perf_counter()
    with atomic_directory(out, overwrite, METADATA, "a corpus") as tmp:
        files = _ShardFiles(tmp, pages_per_file)
        index_lines = []
        mine = (page for n, page in enumerate(reader) if n % num_shards == shard_index)
        articles = _articles(mine, counts, redirects)
        bar = progress_bar(desc=f"{language} pages", unit="pages", enabled=progress)
        pool = parser = None
        try:
            for batch in _batches(articles, _BATCH):
                # the namespaces are known once the first page is read (<siteinfo> comes first)
                if workers == 1:
                    parser = parser or WikitextParser(reader.namespaces)
                    records = [parse_page(parser, page) for page in batch]
                else:
                    if pool is None:
                        pool = multiprocessing.get_context("spawn").Pool(
                            workers, initializer=_init_worker, initargs=(dict(reader.namespaces),)
                        )
                    records = pool.map(_parse, batch, chunksize=max(1, len(batch) // (4 * workers)))
                for record in records:
                    if record is None:
                        counts["unparsable"] += 1
                        continue
                    files.write(record)
                    links = sum(len(p["links"]) for p in record["paragraphs"])
                    counts["pages"] += 1
                    counts["paragraphs"] += len(record["paragraphs"])
                    counts["links"] += links
                    index_lines.append(f"{record['id']}\t{record['title']}\t{len(record['paragraphs'])}\t{links}\n")
                bar.update(len(batch))
                if bar.disable and progress and counts["pages"] and counts["pages"] % 100_000 < len(batch):
                    rate = counts["pages"] / (time.perf_counter() - start)
                    print(f"{language}: {counts['pages']} articles, {rate:.0f} pages/s", file=sys.stderr)
        finally:
            bar.close()
            files.close()
            if pool is not None:
                pool.terminate()
        resolved = {title: resolve_redirect(title, redirects) for title in redirects}
        with open(tmp / "redirects.tsv", "w", encoding="utf-8") as f:
            f.writelines(f"{title}\t{target}\n" for title, target in sorted(resolved.items()))
        with open(tmp / "pages.tsv", "w", encoding="utf-8") as f:
            f.writelines(index_lines)
        metadata = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "language": language,
            "dump": dump.name,
            "dump_bytes": dump.stat().st_size,
            "num_shards": num_shards,
            "shard_index": shard_index,
            "files": files.index,
            **counts,
            "seconds": round(time.perf_counter() - start, 3),
        }
        (tmp / METADATA).write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return metadata


def _articles(pages: Iterable[Page], counts: dict[str, int], redirects: dict[str, str]) -> Iterator[Page]:
    """Article pages only; redirects recorded, other namespaces counted."""
    for page in pages:
        if page.namespace != 0:
            counts["other_namespaces"] += 1
        elif page.redirect is not None:
            target = normalize_title(page.redirect)
            if target:
                redirects[normalize_title(page.title)] = target
                counts["redirects"] += 1
        else:
            yield page


def read_pages(directory: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The article records of a stage-1 directory, file by file."""
    directory = local_path(directory)
    for path in sorted(directory.glob("pages-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)


def read_redirects(directory: str | os.PathLike) -> dict[str, str]:
    """``redirects.tsv`` of a stage-1 directory."""
    out = {}
    with open(local_path(directory) / "redirects.tsv", encoding="utf-8") as f:
        for line in f:
            title, _, target = line.rstrip("\n").partition("\t")
            out[title] = target
    return out
