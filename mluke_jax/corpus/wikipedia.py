"""Stage 1 of a corpus: a Wikipedia dump to annotated paragraphs (``corpus wikipedia``).

Output directory (built in ``.<name>.partial`` beside it and renamed when complete)::

    pages-00000.jsonl.gz   one article a line: {"id", "title", "paragraphs": [{"text", "links":
                           [[start, end, title], ...]}]}; ``text[start:end]`` is the anchor and
                           ``title`` the normalised link target as written (redirects unresolved)
    redirects.tsv          title <TAB> target, each chain followed to its end (within this shard)
    pages.tsv              id <TAB> title <TAB> paragraphs <TAB> links, one line per article
    metadata.json          format, language, dump, shard, counts (pages, redirects, skipped, ...)

Pages of other namespaces than articles (0) are skipped and counted, as are pages the parser cannot
read. ``--num-shards S --shard-index I`` keeps every S-th page from the I-th: S runs over one dump
(on as many machines) hold exactly the pages of one run.

A run that stops (a dump that breaks off, Ctrl-C, a killed process) keeps ``.<name>.partial``
with every complete page file and ``progress.json``; the same command run again checks that it
reads the same dump and continues after the last complete file.
"""

import gzip
import json
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mluke_jax.checkpoint import check_destination
from mluke_jax.corpus.dump import CorruptDumpError, DumpReader, Page
from mluke_jax.corpus.wikitext import WikitextParser, normalize_title
from mluke_jax.paths import local_path
from mluke_jax.progress import progress_bar

FORMAT = "mluke-jax-wikipedia"
FORMAT_VERSION = 1
METADATA = "metadata.json"
PROGRESS = "progress.json"
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


def _batches(pages: Iterable[tuple[int, Page]], size: int) -> Iterator[list[tuple[int, Page]]]:
    """Lists of ``size`` pages; where the dump breaks off, the pages read before it first."""
    batch = []
    try:
        for item in pages:
            batch.append(item)
            if len(batch) == size:
                yield batch
                batch = []
    except CorruptDumpError:
        if batch:
            yield batch
        raise
    if batch:
        yield batch


class _Progress:
    """The work directory of a run: page files, append-only tables and a checkpoint.

    ``progress.json`` is rewritten (atomically) each time a page file is complete: the dump
    position after its last page, the counts, the byte lengths of ``redirects.tsv`` and
    ``pages.tsv`` at that moment, and the number, id and title of the last page read (so that a
    re-run checks that it reads the same dump). A re-run truncates the tables to those lengths,
    drops the unfinished page file and continues from there.
    """

    def __init__(self, directory: Path, pages_per_file: int, identity: dict[str, Any]):
        self.directory, self.pages_per_file, self.identity = directory, pages_per_file, identity
        self.counts = dict(pages=0, redirects=0, other_namespaces=0, unparsable=0, paragraphs=0, links=0)
        self.next_page, self.files, self.in_file = 0, 0, 0
        self.last_page: list | None = None
        self.resumed_at = 0
        self._file = self._redirects = self._index = None

    @property
    def checkpoint(self) -> Path:
        return self.directory / PROGRESS

    def open(self) -> None:
        """Start, or continue from the checkpoint a run before left."""
        sizes = {"redirects.tsv": 0, "pages.tsv": 0}
        if self.checkpoint.is_file():
            state = json.loads(self.checkpoint.read_text(encoding="utf-8"))
            if state["identity"] != self.identity:
                raise ValueError(
                    f"{self.directory} holds an unfinished run of other settings ({state['identity']}, not "
                    f"{self.identity}): pass overwrite (--overwrite) to start over"
                )
            self.counts, self.next_page, self.files = state["counts"], state["next_page"], state["files"]
            self.last_page, sizes = state["last_page"], state["sizes"]
            self.resumed_at = self.next_page
        for name, size in sizes.items():
            with open(self.directory / name, "a", encoding="utf-8") as f:
                f.truncate(size)
        for stale in self.directory.glob("pages-*.jsonl.gz"):
            if int(stale.name[6:11]) >= self.files:
                stale.unlink()
        self._redirects = open(self.directory / "redirects.tsv", "a", encoding="utf-8")
        self._index = open(self.directory / "pages.tsv", "a", encoding="utf-8")

    def still_to_do(self, number: int, page: Page) -> bool:
        """Whether page ``number`` of the dump comes after the checkpoint; the last page before it
        must be the page the checkpoint names (else this is another dump)."""
        if number >= self.resumed_at:
            return True
        if self.last_page is not None and number == self.last_page[0] and [page.id, page.title] != self.last_page[1:]:
            raise ValueError(
                f"{self.directory}: page {number} of the dump is {page.id} {page.title!r}, but the unfinished run "
                f"read {self.last_page[1]} {self.last_page[2]!r} there: it is another dump; pass overwrite "
                "(--overwrite) to start over"
            )
        return False

    def redirect(self, title: str, target: str) -> None:
        self._redirects.write(f"{title}\t{target}\n")
        self.counts["redirects"] += 1

    def article(self, record: dict[str, Any]) -> None:
        if self._file is None:
            name = self.directory / f"pages-{self.files:05d}.jsonl.gz"
            self._file = gzip.open(name, "wt", encoding="utf-8", compresslevel=6)
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        links = sum(len(p["links"]) for p in record["paragraphs"])
        self.counts["pages"] += 1
        self.counts["paragraphs"] += len(record["paragraphs"])
        self.counts["links"] += links
        self._index.write(f"{record['id']}\t{record['title']}\t{len(record['paragraphs'])}\t{links}\n")
        self.in_file += 1

    def page_done(self, number: int, page: Page) -> None:
        """After page ``number`` of the dump: a full page file is closed and checkpointed."""
        self.next_page, self.last_page = number + 1, [number, page.id, page.title]
        if self.in_file == self.pages_per_file:
            self.finish_file()

    def finish_file(self) -> None:
        """Close the page file being written and write the checkpoint."""
        if self._file is not None:
            self._file.close()
            self._file = None
            self.files += 1
            self.in_file = 0
        self._redirects.flush()
        self._index.flush()
        state = {
            "identity": self.identity,
            "counts": self.counts,
            "next_page": self.next_page,
            "files": self.files,
            "last_page": self.last_page,
            "sizes": {"redirects.tsv": self._redirects.tell(), "pages.tsv": self._index.tell()},
        }
        tmp = self.checkpoint.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, self.checkpoint)

    def close(self) -> None:
        """Close the files without a checkpoint (a re-run drops the unfinished page file)."""
        for f in (self._file, self._redirects, self._index):
            if f is not None:
                f.close()
        self._file = self._redirects = self._index = None

    def kept(self) -> int:
        """Articles in the complete page files (what the checkpoint holds)."""
        if not self.checkpoint.is_file():
            return 0
        return json.loads(self.checkpoint.read_text(encoding="utf-8"))["counts"]["pages"]


def work_directory(out: str | os.PathLike) -> Path:
    """Where a run writing ``out`` works until it is complete: ``.<name>.partial`` beside it."""
    out = local_path(out)
    return out.parent / f".{out.name}.partial"


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
    the metadata (counts).

    The run works in :func:`work_directory` and renames it to ``out`` when done. A run that stops
    (a dump that breaks off, an interrupt, a killed process) leaves that directory with its
    complete page files and a checkpoint; the same command run again continues from there
    (``overwrite`` starts over).
    """
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard index {shard_index} is outside 0..{num_shards - 1} (--num-shards {num_shards})")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    dump = local_path(dump)
    reader = DumpReader(dump)
    out = check_destination(out, overwrite, METADATA, "a corpus")
    work = work_directory(out)
    if overwrite and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    identity = {
        "dump": dump.name,
        "language": language,
        "num_shards": num_shards,
        "shard_index": shard_index,
        "pages_per_file": pages_per_file,
    }
    state = _Progress(work, pages_per_file, identity)
    state.open()
    start = time.perf_counter()
    bar = progress_bar(desc=f"{language} pages", unit="pages", initial=state.resumed_at // num_shards,
                       enabled=progress)
    pool = parser = None
    try:
        mine = ((n, page) for n, page in enumerate(reader) if n % num_shards == shard_index)
        for batch in _batches(((n, p) for n, p in mine if state.still_to_do(n, p)), _BATCH):
            articles = [page for _, page in batch if page.namespace == 0 and page.redirect is None]
            # the namespaces are known once the first page is read (<siteinfo> comes first)
            if workers == 1:
                parser = parser or WikitextParser(reader.namespaces)
                records = iter([parse_page(parser, page) for page in articles])
            else:
                if pool is None:
                    pool = multiprocessing.get_context("spawn").Pool(
                        workers, initializer=_init_worker, initargs=(dict(reader.namespaces),)
                    )
                records = iter(pool.map(_parse, articles, chunksize=max(1, len(articles) // (4 * workers))))
            for n, page in batch:
                _account(state, page, records)
                state.page_done(n, page)
            bar.update(len(batch))
            pages = state.counts["pages"]
            if bar.disable and progress and pages and pages % 100_000 < len(batch):
                rate = (state.next_page - state.resumed_at) / num_shards / (time.perf_counter() - start)
                print(f"{language}: {pages} articles, {rate:.0f} pages/s", file=sys.stderr)
        state.finish_file()
    except CorruptDumpError as e:
        state.finish_file()  # every page before the break is in: the last file is complete too
        state.close()
        raise CorruptDumpError(
            f"{e}. The {state.files} complete page files ({state.kept()} articles) are kept in {work}; with the "
            "whole dump in place, the same command continues from there"
        ) from e
    except BaseException:
        state.close()
        raise
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
    state.close()
    return _finish(work, out, dump, state, time.perf_counter() - start)


def _account(state: _Progress, page: Page, records: Iterator[dict[str, Any] | None]) -> None:
    """One page of the dump into the run: a redirect, a page of another namespace, or an article
    (whose parsed record is the next of ``records``)."""
    if page.namespace != 0:
        state.counts["other_namespaces"] += 1
    elif page.redirect is not None:
        target = normalize_title(page.redirect)
        if target:
            state.redirect(normalize_title(page.title), target)
    else:
        record = next(records)
        if record is None:
            state.counts["unparsable"] += 1
        else:
            state.article(record)


def _finish(work: Path, out: Path, dump: Path, state: _Progress, seconds: float) -> dict[str, Any]:
    """Resolve the redirect chains, write the metadata and move the work directory to ``out``."""
    redirects = {}
    with open(work / "redirects.tsv", encoding="utf-8") as f:
        for line in f:
            title, _, target = line.rstrip("\n").partition("\t")
            redirects[title] = target
    resolved = {title: resolve_redirect(title, redirects) for title in redirects}
    with open(work / "redirects.tsv", "w", encoding="utf-8") as f:
        f.writelines(f"{title}\t{target}\n" for title, target in sorted(resolved.items()))
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "language": state.identity["language"],
        "dump": dump.name,
        "dump_bytes": dump.stat().st_size,
        "num_shards": state.identity["num_shards"],
        "shard_index": state.identity["shard_index"],
        "files": state.files,
        **state.counts,
        "redirects": len(resolved),
        "resumed_at_page": state.resumed_at,
        "seconds": round(seconds, 3),
    }
    (work / METADATA).write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    state.checkpoint.unlink()
    if out.exists():  # an earlier output, replaced with overwrite
        trash = out.parent / f".{out.name}.old"
        shutil.rmtree(trash, ignore_errors=True)
        os.rename(out, trash)
        os.rename(work, out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(work, out)
    return metadata


def read_page_lines(directory: str | os.PathLike) -> Iterator[str]:
    """The article records of a stage-1 directory as their JSON lines, file by file."""
    directory = local_path(directory)
    for path in sorted(directory.glob("pages-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            yield from f


def read_pages(directory: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The article records of a stage-1 directory, file by file."""
    for line in read_page_lines(directory):
        yield json.loads(line)


def read_redirects(directory: str | os.PathLike) -> dict[str, str]:
    """``redirects.tsv`` of a stage-1 directory."""
    out = {}
    with open(local_path(directory) / "redirects.tsv", encoding="utf-8") as f:
        for line in f:
            title, _, target = line.rstrip("\n").partition("\t")
            out[title] = target
    return out
