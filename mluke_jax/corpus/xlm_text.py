"""Stage 5 of a corpus: XLM's data (``corpus xlm-text`` and ``corpus xlm-parallel``).

- ``xlm-text``: monolingual text, one sentence a line, through ``XLMTokenizer`` with ``lang=``
  into one token **stream** as the original ``preprocess.py`` + ``StreamDataset`` lay it out:
  ``</s>`` first, then every sentence followed by ``</s>``. It is stored in records of
  ``chunk_tokens`` consecutive tokens (the last one shorter), so that MLM/CLM windows of any
  length can be cut from it (:mod:`mluke_jax.corpus.xlm_loader`); ``token_counts.npy`` holds how
  often each token occurs (what XLM's masking with ``sample_alpha`` weighs by).
- ``xlm-parallel``: two files of aligned sentences (line n of one translates line n of the other)
  into records of a pair of token lists, for TLM.

Empty lines are skipped (a pair with an empty side too) and counted, as are ``<unk>`` tokens. The
output directory holds ArrayRecord shards and ``metadata.json`` (format, schema, languages and
their ``langs`` ids, tokenizer fingerprint, counts) and is written atomically.
"""

import itertools
import json
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mluke_jax.checkpoint import atomic_directory
from mluke_jax.corpus.files import open_text
from mluke_jax.corpus.fingerprint import tokenizer_fingerprint
from mluke_jax.corpus.records import RecordSchema, ShardWriter
from mluke_jax.paths import local_path
from mluke_jax.progress import progress_bar

STREAM_FORMAT = "mluke-jax-xlm-stream"
PARALLEL_FORMAT = "mluke-jax-xlm-parallel"
FORMAT_VERSION = 1
METADATA = "metadata.json"
STREAM_SCHEMA = RecordSchema((("token_ids", "int32", 1),))
PARALLEL_SCHEMA = RecordSchema((("ids1", "int32", 1), ("ids2", "int32", 1)))
TOKEN_COUNTS = "token_counts.npy"  # occurrences of every token id in the stream (sentence ends not counted)
_LINES_PER_TASK = 512

_worker_tokenizer = None


def _load_tokenizer(tokenizer: str | os.PathLike) -> Any:
    from mluke_jax.tokenizers.xlm import XLMTokenizer

    return XLMTokenizer.from_pretrained(tokenizer)


def _init_worker(tokenizer: str) -> None:
    global _worker_tokenizer
    _worker_tokenizer = _load_tokenizer(tokenizer)


def _ids(task: tuple[list[str], tuple[str, ...]]) -> list[list[list[int]]]:
    """In a worker: for each line (a tuple of one line per language), the ids of each side."""
    lines, languages = task
    tok = _worker_tokenizer
    out = []
    for sides in lines:
        out.append([tok.convert_tokens_to_ids(tok.tokenize(text, lang)) if text else [] for text, lang in
                    zip(sides, languages)])
    return out


def _tasks(lines: Iterable[tuple[str, ...]], languages: tuple[str, ...]) -> Iterator[tuple[list, tuple]]:
    iterator = iter(lines)
    while True:
        batch = list(itertools.islice(iterator, _LINES_PER_TASK))
        if not batch:
            return
        yield batch, languages


def _check_language(tokenizer: Any, language: str) -> int:
    """The ``langs`` id of ``language`` (0 for a tokenizer of one language); unknown ones refused."""
    if tokenizer.lang2id is None:
        return 0
    if language not in tokenizer.lang2id:
        raise ValueError(f"unknown language {language!r}: this tokenizer knows {sorted(tokenizer.lang2id)}")
    return int(tokenizer.lang2id[language])


def _tokenized(tokenizer_dir: str, lines: Iterable[tuple[str, ...]], languages: tuple[str, ...], workers: int,
               tokenizer: Any) -> Iterator[list[list[int]]]:
    """Ids of every line (each side), in order, through ``workers`` processes."""
    global _worker_tokenizer
    if workers == 1:
        _worker_tokenizer = tokenizer
        for task in _tasks(lines, languages):
            yield from _ids(task)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_worker, initargs=(tokenizer_dir,)) as pool:
        for result in pool.imap(_ids, _tasks(lines, languages)):
            yield from result


def _read_lines(path: Path) -> Iterator[str]:
    with open_text(path) as f:
        for line in f:
            yield line.rstrip("\n").strip()


def _metadata(fmt: str, schema: RecordSchema, tokenizer: Any, tokenizer_dir: Any, languages: list[str],
              lang_ids: list[int], sources: list[str], counts: Counter, shards: list, start: float,
              **extra: Any) -> dict[str, Any]:
    return {
        "format": fmt,
        "format_version": FORMAT_VERSION,
        "schema": schema.to_json(),
        "languages": languages,
        "lang_ids": dict(zip(languages, lang_ids)),
        "tokenizer": str(tokenizer_dir),
        "tokenizer_class": type(tokenizer).__name__,
        "tokenizer_fingerprint": tokenizer_fingerprint(tokenizer),
        "vocab_size": tokenizer.vocab_size,
        "special_ids": {name: tokenizer.encoder[token] for name, token in (("bos", "<s>"), ("eos", "</s>"),
                                                                            ("pad", "<pad>"), ("unk", "<unk>"))},
        "sources": sources,
        **extra,
        "counts": dict(sorted(counts.items())),
        "shards": shards,
        "seconds": round(time.perf_counter() - start, 3),
    }


def build_xlm_text(
    files: list[str | os.PathLike],
    tokenizer: str | os.PathLike,
    language: str,
    out: str | os.PathLike,
    *,
    chunk_tokens: int = 4096,
    workers: int = 1,
    records_per_shard: int = 10_000,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Monolingual ``files`` (one sentence a line; plain, .gz or .bz2) to a token stream at ``out``."""
    if chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be at least 1, got {chunk_tokens}")
    paths = [local_path(f) for f in files]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"no such text file: {path}")
    tok = _load_tokenizer(tokenizer)
    lang_id = _check_language(tok, language)
    eos, unk = tok.encoder["</s>"], tok.encoder["<unk>"]
    start, counts = time.perf_counter(), Counter()
    with atomic_directory(out, overwrite, METADATA, "an XLM data set") as tmp:
        writer = ShardWriter(tmp, "stream", records_per_shard)
        buffer = [eos]
        token_counts: Counter = Counter()
        bar = progress_bar(desc=f"{language} sentences", unit="lines", enabled=progress)
        lines = ((line,) for path in paths for line in _read_lines(path))
        for (ids,) in _tokenized(str(tokenizer), lines, (language,), workers, tok):
            bar.update()
            counts["lines"] += 1
            if not ids:
                counts["empty_lines"] += 1
                continue
            counts["sentences"] += 1
            counts["unk_tokens"] += sum(1 for i in ids if i == unk)
            buffer += ids
            buffer.append(eos)
            token_counts.update(ids)
            while len(buffer) >= chunk_tokens:
                writer.write(STREAM_SCHEMA.encode({"token_ids": np.asarray(buffer[:chunk_tokens], np.int32)}))
                counts["tokens"] += chunk_tokens
                buffer = buffer[chunk_tokens:]
        bar.close()
        if buffer:
            writer.write(STREAM_SCHEMA.encode({"token_ids": np.asarray(buffer, np.int32)}))
            counts["tokens"] += len(buffer)
        frequencies = np.zeros(tok.vocab_size, np.int64)  # for XLM's frequency-weighted masking
        for token_id, count in token_counts.items():
            frequencies[token_id] = count
        np.save(tmp / TOKEN_COUNTS, frequencies)
        metadata = _metadata(STREAM_FORMAT, STREAM_SCHEMA, tok, tokenizer, [language], [lang_id],
                             [str(p) for p in paths], counts, writer.close(), start, chunk_tokens=chunk_tokens,
                             token_counts=TOKEN_COUNTS)
        (tmp / METADATA).write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return metadata


def _count_lines(path: Path) -> int:
    with open_text(path) as f:
        return sum(1 for _ in f)


def build_xlm_parallel(
    source: str | os.PathLike,
    target: str | os.PathLike,
    languages: str,
    tokenizer: str | os.PathLike,
    out: str | os.PathLike,
    *,
    workers: int = 1,
    records_per_shard: int = 100_000,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Aligned ``source`` / ``target`` files (``languages`` = ``"en-de"``: source in en) to TLM pairs."""
    pair = tuple(languages.split("-"))
    if len(pair) != 2 or not all(pair) or pair[0] == pair[1]:
        raise ValueError(f"--langs must name two different languages as 'src-tgt' (e.g. en-de), got {languages!r}")
    paths = [local_path(source), local_path(target)]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"no such text file: {path}")
    lengths = [_count_lines(p) for p in paths]
    if lengths[0] != lengths[1]:
        raise ValueError(
            f"{paths[0]} has {lengths[0]} lines and {paths[1]} {lengths[1]}: parallel files must be aligned line "
            "by line"
        )
    tok = _load_tokenizer(tokenizer)
    lang_ids = [_check_language(tok, language) for language in pair]
    unk = tok.encoder["<unk>"]
    start, counts = time.perf_counter(), Counter()
    with atomic_directory(out, overwrite, METADATA, "an XLM data set") as tmp:
        writer = ShardWriter(tmp, "pairs", records_per_shard)
        bar = progress_bar(desc=f"{languages} pairs", unit="pairs", total=lengths[0], enabled=progress)
        lines = zip(_read_lines(paths[0]), _read_lines(paths[1]))
        for ids1, ids2 in _tokenized(str(tokenizer), lines, pair, workers, tok):
            bar.update()
            counts["lines"] += 1
            if not ids1 or not ids2:
                counts["pairs_with_an_empty_side"] += 1
                continue
            counts["pairs"] += 1
            counts["tokens"] += len(ids1) + len(ids2)
            counts["unk_tokens"] += sum(1 for i in ids1 + ids2 if i == unk)
            pair_ids = {"ids1": np.asarray(ids1, np.int32), "ids2": np.asarray(ids2, np.int32)}
            writer.write(PARALLEL_SCHEMA.encode(pair_ids))
        bar.close()
        metadata = _metadata(PARALLEL_FORMAT, PARALLEL_SCHEMA, tok, tokenizer, list(pair), lang_ids,
                             [str(p) for p in paths], counts, writer.close(), start)
        (tmp / METADATA).write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return metadata
