"""Stage 4 of a corpus: packed mLUKE pretraining examples in ArrayRecord shards (``corpus examples``).

As the original ``build-wikipedia-pretraining-dataset``: each paragraph is cut into sentences
(:class:`~mluke_jax.corpus.sentences.SentenceSplitter`, ICU), every sentence is tokenized with the
model's own tokenizer, cut at its links exactly as ``MLukeTokenizer(text, entity_spans=...)`` cuts,
and consecutive sentences of a page are packed greedily up to ``max_seq_length`` tokens. A link
is kept when it lies inside one sentence and its target (redirects resolved) is in the entity
vocabulary (else dropped, or ``[UNK]`` with ``include_unk``); a sentence shorter than
``min_sentence_length`` or longer than the sequence is dropped; an example without entities is
dropped unless ``include_sentences_without_entities``. Unlike the original, a mention longer than
``max_mention_length`` tokens is dropped rather than cut, so that every kept entity's positions
decode to its whole anchor text.

Output directory::

    examples-NNNNN.array_record   records of EXAMPLE_SCHEMA (see below)
    entity_vocab.json             the entity vocabulary the ids refer to
    metadata.json                 settings, fingerprints of the tokenizer and entity vocabulary,
                                  counts (pages, sentences, examples, tokens, links kept / dropped
                                  and why), the shards and their record counts

A record: ``word_ids`` ``<s> ... </s>`` (int32 [W], W <= max_seq_length), ``entity_ids`` (int32
[E], E <= max_entity_length), ``entity_position_ids`` (int32 [E, max_mention_length], positions
into ``word_ids``, padded with -1), ``page_id`` (the article's MediaWiki id) and ``language`` (an
index into ``metadata["languages"]``).
"""

import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mluke_jax.checkpoint import atomic_directory
from mluke_jax.corpus.collection import WikipediaLanguage, open_wikipedia
from mluke_jax.corpus.fingerprint import entity_vocab_fingerprint, tokenizer_fingerprint
from mluke_jax.corpus.records import RecordSchema, ShardWriter
from mluke_jax.corpus.sentences import SentenceSplitter
from mluke_jax.paths import local_path
from mluke_jax.progress import progress_bar
from mluke_jax.tokenizers.common import without_garbage_collection
from mluke_jax.tokenizers.entity_vocab import read_entity_vocab, write_entity_vocab

FORMAT = "mluke-jax-entity-examples"
FORMAT_VERSION = 1
METADATA = "metadata.json"
EXAMPLE_SCHEMA = RecordSchema(
    (
        ("word_ids", "int32", 1),
        ("entity_ids", "int32", 1),
        ("entity_position_ids", "int32", 2),
        ("page_id", "int64", 0),
        ("language", "int32", 0),
    )
)
_PAGES_PER_TASK = 64


@dataclass(frozen=True)
class ExampleSettings:
    """The lengths and choices of stage 4 (the original code's defaults)."""

    max_seq_length: int = 512
    max_entity_length: int = 128
    max_mention_length: int = 30
    min_sentence_length: int = 5
    include_unk: bool = False
    include_sentences_without_entities: bool = False

    def check(self) -> None:
        if self.max_seq_length < 3:
            raise ValueError(f"max_seq_length must leave room for <s>, </s> and a token, got {self.max_seq_length}")
        for name in ("max_entity_length", "max_mention_length", "min_sentence_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


class PagePacker:
    """One article record -> its packed examples (dicts of EXAMPLE_SCHEMA's fields), counting as it goes."""

    def __init__(
        self,
        tokenizer: Any,
        entity_vocab: dict[str, int],
        corpus: WikipediaLanguage,
        settings: ExampleSettings,
        language_index: int = 0,
    ):
        self.tokenizer, self.vocab, self.corpus, self.settings = tokenizer, entity_vocab, corpus, settings
        self.language, self.language_index = corpus.language, language_index
        self.splitter = SentenceSplitter(corpus.language)
        self.unk_id = tokenizer.entity_unk_token_id
        self.special_names = frozenset(tokenizer.entity_special_tokens.values())  # never a link target
        self._ids: dict[str, int | None] = {}
        self.counts: Counter = Counter()

    def entity_id(self, title: str) -> int | None:
        """The vocabulary id of a link target (``lang:title``, or a bare title of an English
        vocabulary; redirects followed), remembered for the next link to it."""
        found = self._ids.get(title, -1)
        if found != -1:
            return found
        target = self.corpus.resolve(title)
        found = self.vocab.get(f"{self.language}:{target}")
        if found is None and target not in self.special_names:
            found = self.vocab.get(target)
        if found is None and self.settings.include_unk:
            found = self.unk_id
        if len(self._ids) > 1_000_000:
            self._ids.clear()
        self._ids[title] = found
        return found

    def _plan(self, record: dict[str, Any]) -> tuple[list[str], list[list[tuple[int, int]]], list[list]]:
        """A page's paragraphs, the character spans to cut each at (its sentences and the links
        inside them) and, per paragraph and sentence, where its span and its links' spans are."""
        texts, spans, plans = [], [], []
        links_seen = not_in_vocab = across = 0
        entity_id, known = self.entity_id, self._ids
        for paragraph in record["paragraphs"]:
            text = paragraph["text"]
            links = []
            for start, end, title in paragraph["links"]:
                entity = known.get(title, -1)
                if entity == -1:
                    entity = entity_id(title)
                if entity is None:
                    not_in_vocab += 1
                else:
                    links.append((start, end, entity))
            links_seen += len(paragraph["links"])
            links.sort()
            cuts: list[tuple[int, int]] = []  # the sentences' and their links' character spans
            plan = []  # per sentence: (its index in cuts, [(a link's index in cuts, entity id)])
            next_link = 0
            for s_start, s_end in self.splitter.spans(text):
                sentence = len(cuts)
                cuts.append((s_start, s_end))
                inside = []
                while next_link < len(links) and links[next_link][0] < s_end:
                    a, b, entity = links[next_link]
                    next_link += 1
                    if s_start <= a and b <= s_end:
                        inside.append((len(cuts), entity))
                        cuts.append((a, b))
                plan.append((sentence, inside))
            across += len(links) - (len(cuts) - len(plan))
            texts.append(text)
            spans.append(cuts)
            plans.append(plan)
        counts = self.counts
        counts["links"] += links_seen
        counts["links_not_in_vocab"] += not_in_vocab
        counts["links_across_sentences"] += across
        return texts, spans, plans

    def sentences(self, records: list[dict[str, Any]]) -> list[list[tuple[list[int], list[tuple[int, int, int]]]]]:
        """For each page, every sentence as its word ids and the links inside it (token offsets in
        the sentence, entity id). Paragraphs are tokenized whole (all pages in one call), cut at
        their sentence and link boundaries exactly as ``MLukeTokenizer(text, entity_spans=...)``
        cuts at spans, so each sentence has the ids it has alone."""
        planned = [self._plan(record) for record in records]
        encoded = iter(self.tokenizer.encode_mentions(
            [t for texts, _, _ in planned for t in texts], [s for _, spans, _ in planned for s in spans]
        ))
        out = []
        for _, _, plans in planned:
            page = []
            for plan in plans:
                ids, token_spans = next(encoded)
                for sentence, inside in plan:
                    start, end = token_spans[sentence]
                    links = [(token_spans[i][0] - start, token_spans[i][1] - start, e) for i, e in inside]
                    page.append((ids[start:end], links))
            out.append(page)
        return out

    def examples(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """The packed examples of one page."""
        return self.examples_of([record])[0]

    @without_garbage_collection
    def examples_of(self, records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """The packed examples of each page (tokenized together; the cyclic garbage collector
        paused, as in the tokenizer's batch calls: these lists of ids hold no cycles)."""
        return [self._pack(record, sentences) for record, sentences in zip(records, self.sentences(records))]

    def _pack(self, record: dict[str, Any], sentences: list) -> list[dict[str, Any]]:
        settings, counts = self.settings, self.counts
        counts["pages"] += 1
        max_words = settings.max_seq_length - 2
        kept: list[tuple[list[int], list[tuple[int, int, int]]]] = []
        shortest, longest_mention = settings.min_sentence_length, settings.max_mention_length
        counts["sentences"] += len(sentences)
        for ids, links in sentences:
            if len(ids) < shortest or len(ids) > max_words:
                counts["sentences_too_short" if len(ids) < shortest else "sentences_too_long"] += 1
                counts["links_in_dropped_sentences"] += len(links)
                continue
            mentions = [link for link in links if 0 < link[1] - link[0] <= longest_mention]
            if len(mentions) < len(links):
                empty = sum(1 for a, b, _ in links if a == b)
                counts["links_without_tokens"] += empty
                counts["mentions_too_long"] += len(links) - len(mentions) - empty
            kept.append((ids, mentions))
        out = []
        words: list[int] = []
        mentions: list[tuple[int, int, int]] = []
        for n, (ids, sentence_mentions) in enumerate(kept):
            mentions += [(a + len(words), b + len(words), e) for a, b, e in sentence_mentions]
            words += ids
            if n + 1 < len(kept) and len(words) + len(kept[n + 1][0]) <= max_words:
                continue
            if mentions or settings.include_sentences_without_entities:
                out.append(self._example(record, words, mentions))
            words, mentions = [], []
        if out:
            counts["pages_with_examples"] += 1
        return out

    def _example(self, record: dict[str, Any], words: list[int], mentions: list[tuple[int, int, int]]) -> dict:
        settings, counts = self.settings, self.counts
        if len(mentions) > settings.max_entity_length:
            counts["entities_over_max_entity_length"] += len(mentions) - settings.max_entity_length
            mentions = mentions[: settings.max_entity_length]
        spans = np.asarray([(start, end) for start, end, _ in mentions], dtype=np.int32).reshape(-1, 2)
        offsets = np.arange(settings.max_mention_length, dtype=np.int32)
        positions = spans[:, :1] + 1 + offsets  # +1: <s> comes first
        positions[offsets >= spans[:, 1:] - spans[:, :1]] = -1
        word_ids = [self.tokenizer.cls_token_id, *words, self.tokenizer.sep_token_id]
        counts["examples"] += 1
        counts["words"] += len(word_ids)
        counts["entities"] += len(mentions)
        return {
            "word_ids": np.asarray(word_ids, dtype=np.int32),
            "entity_ids": np.asarray([e for _, _, e in mentions], dtype=np.int32),
            "entity_position_ids": positions,
            "page_id": np.int64(record["id"]),
            "language": np.int32(self.language_index),
        }


# ------------------------------------------------------------------------------------------ workers
_worker_packer: PagePacker | None = None


def _load_packer(
    directories: list[str], tokenizer_dir: str, vocab: dict[str, int], settings: ExampleSettings
) -> PagePacker:
    from mluke_jax.tokenizers.mluke import MLukeTokenizer

    tokenizer = MLukeTokenizer.from_pretrained(tokenizer_dir, entity_vocab=vocab)
    (corpus,) = open_wikipedia(directories).values()
    return PagePacker(tokenizer, vocab, corpus, settings)


def _init_worker(directories, tokenizer_dir, vocab, settings) -> None:
    global _worker_packer
    _worker_packer = _load_packer(directories, tokenizer_dir, vocab, settings)


@without_garbage_collection
def _pack_pages(lines: list[str]) -> tuple[list[bytes], Counter]:
    """In a worker: the encoded examples of some pages (their JSON lines) and the counts they added."""
    packer = _worker_packer
    packer.counts = Counter()
    records = [json.loads(line) for line in lines]
    encoded = [EXAMPLE_SCHEMA.encode(example) for page in packer.examples_of(records) for example in page]
    return encoded, packer.counts


@without_garbage_collection
def _write(results: Iterator[tuple[list[bytes], Counter]], writer: ShardWriter, counts: Counter, bar: Any,
           progress: bool, language: str, start: float) -> None:
    """Every task's records into the shards, in order (with one worker the pages are read and
    packed here too: the cyclic collector paused, as nothing here makes cycles)."""
    for encoded, task_counts in results:
        writer.write_all(encoded)
        counts.update(task_counts)
        bar.update(task_counts["pages"])
        if bar.disable and progress and counts["pages"] % 100_000 < task_counts["pages"]:
            rate = counts["pages"] / (time.perf_counter() - start)
            print(f"{language}: {counts['pages']} pages, {counts['examples']} examples, {rate:.0f} pages/s",
                  file=sys.stderr)


def _tasks(pages: Iterator[str], num_shards: int, shard_index: int) -> Iterator[list[str]]:
    batch = []
    for n, record in enumerate(pages):
        if n % num_shards != shard_index:
            continue
        batch.append(record)
        if len(batch) == _PAGES_PER_TASK:
            yield batch
            batch = []
    if batch:
        yield batch


def build_examples(
    directories: list[str | os.PathLike],
    tokenizer: str | os.PathLike,
    entity_vocab: str | os.PathLike,
    out: str | os.PathLike,
    *,
    settings: ExampleSettings = ExampleSettings(),
    workers: int = 1,
    num_shards: int = 1,
    shard_index: int = 0,
    records_per_shard: int = 100_000,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Pack the stage-1 ``directories`` (one language: a dump's shards) into examples at ``out``.

    ``tokenizer`` is a model or tokenizer directory (``sentencepiece.bpe.model`` ...), or a hub
    name; ``entity_vocab`` a file of stage 2 (any format ``MLukeTokenizer`` reads). With
    ``num_shards``/``shard_index`` only every ``num_shards``-th page from the ``shard_index``-th is
    packed (for several machines). Returns the metadata.
    """
    settings.check()
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard index {shard_index} is outside 0..{num_shards - 1} (--num-shards {num_shards})")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    start = time.perf_counter()
    corpora = open_wikipedia(directories)
    if len(corpora) != 1:
        raise ValueError(f"examples are built from one language at a time; the directories hold {sorted(corpora)}")
    (corpus,) = corpora.values()
    vocab_path = local_path(entity_vocab)
    vocab = read_entity_vocab(vocab_path)
    tokenizer_dir = local_path(tokenizer) if Path(os.path.expanduser(str(tokenizer))).exists() else tokenizer
    dirs = [str(d) for d in corpus.directories]
    packer = _load_packer(dirs, str(tokenizer_dir), vocab, settings)  # checks the tokenizer before any work
    counts: Counter = Counter()
    with atomic_directory(out, overwrite, METADATA, "a pretraining data set") as tmp:
        writer = ShardWriter(tmp, "examples", records_per_shard)
        bar = progress_bar(desc=f"{corpus.language} examples", unit="pages", total=corpus.num_pages // num_shards,
                           enabled=progress)
        pool = None
        try:
            tasks = _tasks(corpus.page_lines(), num_shards, shard_index)
            if workers == 1:
                global _worker_packer
                _worker_packer = packer
                results = map(_pack_pages, tasks)
            else:
                pool = multiprocessing.get_context("spawn").Pool(
                    workers, initializer=_init_worker, initargs=(dirs, str(tokenizer_dir), vocab, settings)
                )
                results = pool.imap(_pack_pages, tasks)
            _write(results, writer, counts, bar, progress, corpus.language, start)
        finally:
            bar.close()
            shards = writer.close()
            if pool is not None:
                pool.terminate()
        write_entity_vocab(vocab, tmp / "entity_vocab.json")
        metadata = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "schema": EXAMPLE_SCHEMA.to_json(),
            "languages": [corpus.language],
            "settings": asdict(settings),
            "tokenizer": str(tokenizer),
            "tokenizer_class": type(packer.tokenizer).__name__,
            "tokenizer_fingerprint": tokenizer_fingerprint(packer.tokenizer),
            "entity_vocab": str(vocab_path),
            "entity_vocab_size": max(vocab.values()) + 1,
            "entity_vocab_fingerprint": entity_vocab_fingerprint(vocab),
            "sources": [{"directory": str(d), "dump": m["dump"], "shard_index": m["shard_index"],
                         "num_shards": m["num_shards"]} for d, m in zip(corpus.directories, corpus.metadata)],
            "num_shards": num_shards,
            "shard_index": shard_index,
            "counts": dict(sorted(counts.items())),
            "examples": counts["examples"],
            "shards": shards,
            "seconds": round(time.perf_counter() - start, 3),
        }
        (tmp / METADATA).write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return metadata
