"""Batches of pretraining examples from ArrayRecord shards: grain pipelines, sharded by process, resumable.

:func:`open_example_sets` reads the data sets' ``metadata.json`` and checks that they were built
with one tokenizer and one entity vocabulary (and with the ones given, if any), by fingerprint.
:class:`EntityExampleStream` turns them into endless fixed-shape batches:

- each language's examples are shuffled globally (grain ``MapDataset.shuffle``, seeded, a new
  order every epoch) and repeated, then languages are mixed with probability proportional to
  (size share) ** ``alpha`` (mLUKE's 0.7; 1 keeps the natural proportions, 0 is uniform);
- the global stream is cut into global batches; process ``i`` of ``n`` reads only rows
  ``i * b .. (i + 1) * b - 1`` of each (``b`` = global batch / ``n``), as ``BatchStream(shard=...)``;
- ``transform(example, rng)`` (masking, in the pretraining loop) gets a generator seeded from
  ``(seed, global example index)``: the same example at the same place gets the same masks
  whatever the number of processes;
- examples are padded to ``max_seq_length`` / ``max_entity_length`` and stacked.

``position`` (the grain iterator's state with the pipeline's identity) and ``seek`` make it a
stream ``fit`` and ``TrainCheckpointer`` resume exactly; a position of another pipeline is refused.
"""

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mluke_jax import remote
from mluke_jax.corpus.fingerprint import entity_vocab_fingerprint, tokenizer_fingerprint
from mluke_jax.corpus.records import RecordSchema, open_shard
from mluke_jax.paths import local_copy, resolve

METADATA = "metadata.json"

# The ArrayRecord data sets a run reads, and the command that makes each.
DATA_SETS = {
    "mluke-jax-entity-examples": "mLUKE pretraining examples (python -m mluke_jax.corpus examples)",
    "mluke-jax-xlm-stream": "an XLM token stream (python -m mluke_jax.corpus xlm-text)",
    "mluke-jax-xlm-parallel": "XLM sentence pairs (python -m mluke_jax.corpus xlm-parallel)",
}
ENTITY_EXAMPLES = "mluke-jax-entity-examples"
XLM_DATA_SETS = ("mluke-jax-xlm-stream", "mluke-jax-xlm-parallel")
STAGE1 = "mluke-jax-wikipedia"  # the annotated pages of 'corpus wikipedia': input of the later stages only


def _stage1_remedy(directory: Path, kinds: tuple[str, ...]) -> str:
    if kinds and not set(kinds) & {ENTITY_EXAMPLES}:
        return (
            "XLM runs read token streams of python -m mluke_jax.corpus xlm-text (text files, one sentence a line) "
            "and sentence pairs of python -m mluke_jax.corpus xlm-parallel"
        )
    return (
        f"make examples of it with python -m mluke_jax.corpus examples {directory} --tokenizer MODEL_DIR "
        f"--entity-vocab ENTITY_VOCAB.json --out EXAMPLES_DIR (the entity vocabulary from python -m "
        f"mluke_jax.corpus entity-vocab {directory} --out ENTITY_VOCAB.json) and pass EXAMPLES_DIR"
    )


@dataclass(frozen=True)
class ExampleSet:
    """One data set directory written by ``corpus examples`` (or an XLM stage)."""

    directory: Path
    metadata: dict[str, Any]

    @property
    def language(self) -> str:
        return self.metadata["languages"][0]

    @property
    def schema(self) -> RecordSchema:
        return RecordSchema.from_json(self.metadata["schema"])

    @property
    def files(self) -> list[str]:
        return [str(self.directory / shard["file"]) for shard in self.metadata["shards"] if shard["records"]]

    def __len__(self) -> int:
        return sum(shard["records"] for shard in self.metadata["shards"])


def _read_metadata(directory: Path, kind: str | tuple[str, ...] | None = None) -> dict[str, Any]:
    """``metadata.json`` of an ArrayRecord data set (of the format, or one of the formats, ``kind``
    when given); a directory of another kind is named as what it is, with the command that makes
    the right one."""
    kinds = (kind,) if isinstance(kind, str) else tuple(kind or ())
    if not directory.is_dir():
        raise FileNotFoundError(f"no such data set directory: {directory}")
    if not (directory / METADATA).is_file():
        raise ValueError(f"{directory} is not a pretraining data set (it has no {METADATA})")
    try:
        metadata = json.loads((directory / METADATA).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{directory / METADATA} is not valid JSON ({e}): build the data set again") from None
    fmt = metadata.get("format") if isinstance(metadata, dict) else None
    wanted = " or ".join(DATA_SETS[k] for k in kinds)
    if fmt == STAGE1:
        raise ValueError(
            f"{directory} holds the annotated pages of 'corpus wikipedia' (stage 1), not pretraining data"
            + (f"; this run reads {wanted}" if wanted else "")
            + f": {_stage1_remedy(directory, kinds)}"
        )
    if fmt not in DATA_SETS:
        raise ValueError(
            f"{directory} is not a pretraining data set: its {METADATA} is of format {fmt!r}, not one of "
            f"{sorted(DATA_SETS)}"
        )
    if kinds and fmt not in kinds:
        raise ValueError(f"{directory} holds {DATA_SETS[fmt]}; this run reads {wanted}")
    if not isinstance(metadata.get("shards"), list):
        raise ValueError(f"{directory / METADATA} lists no shards: the data set is incomplete, build it again")
    return metadata


def read_records(directory: str | os.PathLike) -> Iterator[dict[str, np.ndarray]]:
    """Every record of a data set (any stage's ArrayRecord output), decoded, in shard order: for
    inspecting what a stage wrote."""
    path = resolve(directory)
    metadata = _read_metadata(path)
    schema = RecordSchema.from_json(metadata["schema"])
    for shard in metadata["shards"]:
        reader = open_shard(path / shard["file"], shard["records"])
        try:
            for start in range(0, shard["records"], 1024):
                for record in reader.read(list(range(start, min(start + 1024, shard["records"])))):
                    yield schema.decode(record)
        finally:
            reader.close()


def _tokenizer_fingerprint_of(value: Any, tokenizer_class: str = "MLukeTokenizer") -> str:
    """Of a tokenizer object, or of the tokenizer in a directory (read as ``tokenizer_class``)."""
    if isinstance(value, str | os.PathLike):
        if tokenizer_class == "XLMTokenizer":
            from mluke_jax.tokenizers.xlm import XLMTokenizer

            value = XLMTokenizer.from_pretrained(value)
        else:
            from mluke_jax.tokenizers.entity_vocab import SPECIAL_ENTITIES
            from mluke_jax.tokenizers.mluke import MLukeTokenizer

            specials = {name: i for i, name in enumerate(SPECIAL_ENTITIES)}  # the word side is what counts
            value = MLukeTokenizer.from_pretrained(value, entity_vocab=specials)
    return tokenizer_fingerprint(value)


def _entity_vocab_fingerprint_of(value: Any) -> str:
    """Of an entity vocabulary: a dict, a file, or a tokenizer holding one."""
    if isinstance(value, str | os.PathLike):
        from mluke_jax.tokenizers.entity_vocab import read_entity_vocab

        value = read_entity_vocab(local_copy(value))
    return entity_vocab_fingerprint(getattr(value, "entity_vocab", value))


def open_example_sets(
    directories: Sequence[str | os.PathLike],
    *,
    tokenizer: Any = None,
    entity_vocab: Any = None,
    kind: str | tuple[str, ...] | None = None,
) -> list[ExampleSet]:
    """The data sets, checked: ArrayRecord data sets (of the format ``kind``, one of
    :data:`DATA_SETS`, when given), shards present and whole, one format, one tokenizer and one
    entity vocabulary among them, and the ``tokenizer`` / ``entity_vocab`` given (objects, or their
    directory / file) the ones they were built with."""
    if not directories:
        raise ValueError("no data set directories given")
    sets = []
    for directory in directories:
        path = resolve(directory)  # a bucket too: ArrayRecord and grain read gs:// shards themselves
        remote.check_reachable(path)
        metadata = _read_metadata(path, kind)
        for shard in metadata["shards"]:
            open_shard(path / shard["file"], shard["records"]).close()
        sets.append(ExampleSet(path, metadata))
    first = sets[0]
    for other in sets[1:]:
        if other.metadata["format"] != first.metadata["format"]:
            raise ValueError(
                f"{other.directory} is a {other.metadata['format']} data set, {first.directory} a "
                f"{first.metadata['format']} one: load one kind at a time"
            )
    for key, kind in (("tokenizer_fingerprint", "tokenizer"), ("entity_vocab_fingerprint", "entity vocabulary")):
        if key not in first.metadata:
            continue
        for other in sets[1:]:
            if other.metadata.get(key) != first.metadata[key]:
                raise ValueError(
                    f"{other.directory} was built with another {kind} ({other.metadata.get(key)}) than "
                    f"{first.directory} ({first.metadata[key]}): build them with the same one"
                )
    checks = (
        ("tokenizer", "tokenizer", tokenizer, _tokenizer_fingerprint_of),
        ("entity_vocab", "entity vocabulary", entity_vocab, _entity_vocab_fingerprint_of),
    )
    for key, kind, given, fingerprint_of in checks:
        if given is None:
            continue
        if key == "tokenizer":
            expected = fingerprint_of(given, first.metadata.get("tokenizer_class", "MLukeTokenizer"))
        else:
            expected = fingerprint_of(given)
        built = first.metadata.get(f"{key}_fingerprint")
        if expected != built:
            raise ValueError(
                f"{first.directory} was built with the {kind} {first.metadata.get(key)} ({built}), but the "
                f"{kind} given is another ({expected}): rebuild the data set or load it with that {kind}"
            )
    return sets


def language_weights(sizes: dict[str, int], alpha: float) -> dict[str, float]:
    """Sampling probability of each language: (size share) ** alpha, normalised."""
    total = sum(sizes.values())
    raw = {language: (size / total) ** alpha for language, size in sizes.items() if size}
    norm = sum(raw.values())
    return {language: value / norm for language, value in raw.items()}


def pad_entity_example(
    example: dict[str, np.ndarray], max_seq_length: int, max_entity_length: int, pad_id: int = 1
) -> dict[str, np.ndarray]:
    """Model inputs of fixed shapes: ``input_ids``/``attention_mask`` [max_seq_length],
    ``entity_ids``/``entity_attention_mask`` [max_entity_length], ``entity_position_ids``
    [max_entity_length, max_mention_length] (-1 padded), ``page_id``, ``language``; and
    ``labels`` / ``entity_labels`` (-100 padded) when a masking transform added them."""
    words, entities = example["word_ids"], example["entity_ids"]
    if len(words) > max_seq_length or len(entities) > max_entity_length:
        raise ValueError(
            f"an example of {len(words)} tokens and {len(entities)} entities does not fit max_seq_length="
            f"{max_seq_length}, max_entity_length={max_entity_length}: give at least the lengths it was built with"
        )
    input_ids = np.full(max_seq_length, pad_id, np.int32)
    input_ids[: len(words)] = words
    attention = np.zeros(max_seq_length, np.int32)
    attention[: len(words)] = 1
    entity_ids = np.zeros(max_entity_length, np.int32)
    entity_ids[: len(entities)] = entities
    entity_attention = np.zeros(max_entity_length, np.int32)
    entity_attention[: len(entities)] = 1
    positions = np.full((max_entity_length, example["entity_position_ids"].shape[1]), -1, np.int32)
    positions[: len(entities)] = example["entity_position_ids"]
    out = {
        "input_ids": input_ids,
        "attention_mask": attention,
        "entity_ids": entity_ids,
        "entity_attention_mask": entity_attention,
        "entity_position_ids": positions,
        "page_id": np.asarray(example["page_id"], np.int64),
        "language": np.asarray(example["language"], np.int32),
    }
    if "masked_positions" in example:  # the masking's list of predicted word positions, fixed length
        out["masked_positions"] = np.asarray(example["masked_positions"], np.int32)
    for name, length in (("labels", max_seq_length), ("entity_labels", max_entity_length)):
        if name in example:  # a masking transform's targets, -100 where nothing is predicted
            padded = np.full(length, -100, np.int32)
            padded[: len(example[name])] = example[name]
            out[name] = padded
    return out


def mix_languages(datasets: dict[str, Any], sizes: dict[str, int], alpha: float) -> tuple[Any, dict[str, float]]:
    """One endless grain MapDataset drawing from each language's (endless) dataset with
    :func:`language_weights`; returns it and the weights."""
    import grain

    weights = language_weights(sizes, alpha)
    if not weights:
        raise ValueError("the data sets hold no examples")
    chosen = [datasets[language] for language in weights]
    mixed = grain.MapDataset.mix(chosen, weights=list(weights.values())) if len(chosen) > 1 else chosen[0]
    return mixed, weights


def shuffled_forever(dataset: Any, seed: int) -> Any:
    """A MapDataset globally shuffled by ``seed``, repeated with a new order every epoch."""
    return dataset.shuffle(seed=seed).repeat()


class GrainBatchStream:
    """Endless local batches from an endless global example stream (a grain MapDataset).

    Process ``i`` of ``n`` takes rows ``i * b .. (i + 1) * b - 1`` of every global batch; each
    example goes through ``transform(example, rng)`` with ``rng`` seeded by ``(seed, global index)``
    and then ``finalize`` (padding to fixed shapes) before the rows are stacked; ``fields`` keeps
    only the named arrays (a model's inputs and labels). ``position`` /
    ``seek`` save and restore the place in the stream; ``identity`` names the pipeline so that a
    position of another one is refused. Subclasses also keep ``ordered``: each language's examples
    unshuffled, once each (what a held-out evaluation reads: ``mluke_jax.pretrain.evaluation``).
    """

    ordered: dict[str, Any]

    def __init__(
        self,
        examples: Any,
        global_batch_size: int,
        finalize: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
        identity: dict[str, Any],
        *,
        seed: int = 0,
        shard: tuple[int, int] | None = None,
        transform: Callable[[dict[str, np.ndarray], np.random.Generator], dict[str, np.ndarray]] | None = None,
        fields: Sequence[str] | None = None,
        num_threads: int = 2,
        prefetch: int = 64,
    ):
        import grain

        process, processes = shard or (0, 1)
        if global_batch_size < 1 or global_batch_size % processes or not 0 <= process < processes:
            raise ValueError(f"a global batch of {global_batch_size} does not split over {processes} processes")
        self.global_batch_size, self.local_batch_size = global_batch_size, global_batch_size // processes
        self.seed, self.process, self.processes = seed, process, processes
        self.transform, self.finalize = transform, finalize
        self.fields = tuple(fields) if fields is not None else None
        b, big_b = self.local_batch_size, global_batch_size

        def example(k: int) -> dict[str, np.ndarray]:
            index = (k // b) * big_b + process * b + k % b  # this process's rows of each global batch
            item = examples[index]
            if transform is not None:
                item = transform(item, np.random.default_rng([seed, index]))
            item = finalize(item)
            return item if fields is None else {name: item[name] for name in fields}

        local = grain.MapDataset.range(0, (2**62 // big_b) * b).map(example).batch(b, drop_remainder=True)
        self._dataset = local.to_iter_dataset(grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch))
        self._iterator = iter(self._dataset)
        self.identity = {"seed": seed, "global_batch_size": global_batch_size, **identity}

    @property
    def batch_size(self) -> int:
        """Rows of each batch this process gets (``fit`` counts examples with it)."""
        return self.local_batch_size

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        return next(self._iterator)

    @property
    def position(self) -> dict[str, Any]:
        """Where the next batch comes from (JSON-able; saved with a training checkpoint)."""
        return {"grain": self._iterator.get_state(), "pipeline": self.identity}

    def seek(self, position: dict[str, Any]) -> None:
        """Continue from a saved :attr:`position` (an empty one: the start)."""
        if not position:
            self._iterator = iter(self._dataset)
            return
        if json.loads(json.dumps(position.get("pipeline"))) != json.loads(json.dumps(self.identity)):
            raise ValueError(
                f"the saved data position is of another pipeline ({position.get('pipeline')}), not this one "
                f"({self.identity}): resume with the same data sets, seed, batch size and alpha"
            )
        self._iterator.set_state(position["grain"])


class EntityExampleStream(GrainBatchStream):
    """Endless local batches of padded mLUKE examples (see the module docstring).

    Args:
        directories: data sets of ``corpus examples`` (one or several languages).
        global_batch_size: examples per step over all processes.
        seed: of the shuffles, the language mixing and ``transform``.
        shard: ``(process_index, process_count)``; default one process.
        alpha: language sampling exponent.
        max_seq_length / max_entity_length: padded shapes (default: the data sets' settings).
        transform: ``(example, rng) -> example`` applied before padding (masking).
        tokenizer / entity_vocab: refuse data sets built with others (see :func:`open_example_sets`).
        fields: keep only these arrays of each batch (default all).
        num_threads / prefetch: grain read threads and prefetched examples.
    """

    def __init__(
        self,
        directories: Sequence[str | os.PathLike],
        global_batch_size: int,
        *,
        seed: int = 0,
        shard: tuple[int, int] | None = None,
        alpha: float = 0.7,
        max_seq_length: int | None = None,
        max_entity_length: int | None = None,
        transform: Callable[[dict[str, np.ndarray], np.random.Generator], dict[str, np.ndarray]] | None = None,
        tokenizer: Any = None,
        entity_vocab: Any = None,
        fields: Sequence[str] | None = None,
        num_threads: int = 2,
        prefetch: int = 64,
    ):
        import grain

        self.sets = open_example_sets(
            directories, tokenizer=tokenizer, entity_vocab=entity_vocab, kind=ENTITY_EXAMPLES
        )
        self.max_seq_length = max_seq_length or max(s.metadata["settings"]["max_seq_length"] for s in self.sets)
        self.max_entity_length = max_entity_length or max(
            s.metadata["settings"]["max_entity_length"] for s in self.sets
        )
        self.languages = sorted({s.language for s in self.sets})
        schema = self.sets[0].schema
        datasets, sizes, self.ordered = {}, {}, {}
        for n, language in enumerate(self.languages):
            files = [f for s in self.sets if s.language == language for f in s.files]
            sizes[language] = sum(len(s) for s in self.sets if s.language == language)
            if not sizes[language]:
                continue
            source = grain.MapDataset.source(grain.sources.ArrayRecordDataSource(files))
            self.ordered[language] = source.map(
                lambda record, index=n: {**schema.decode(record), "language": np.int32(index)}
            )
            datasets[language] = shuffled_forever(self.ordered[language], seed * 1000 + n)
        mixed, self.weights = mix_languages(datasets, sizes, alpha)
        identity = {
            "alpha": alpha,
            "data": [[s.language, len(s), s.metadata.get("entity_vocab_fingerprint")] for s in self.sets],
        }
        super().__init__(
            mixed,
            global_batch_size,
            lambda item: pad_entity_example(item, self.max_seq_length, self.max_entity_length),
            identity,
            seed=seed,
            shard=shard,
            transform=transform,
            fields=fields,
            num_threads=num_threads,
            prefetch=prefetch,
        )
