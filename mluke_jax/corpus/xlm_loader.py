"""Batches of XLM's data: stream windows for MLM/CLM and sentence pairs for TLM (see ``corpus xlm-*``).

Both are :class:`~mluke_jax.corpus.loader.GrainBatchStream` s: globally shuffled, mixed by
language with (size share) ** alpha, each process reading its rows of every global batch,
transforms seeded by example index, exact ``position`` / ``seek``.

- :class:`XLMStreamBatches`: each language's token stream (``</s>`` before and after every
  sentence) is cut into windows of ``bptt`` tokens that ignore sentence boundaries, as the
  original ``StreamDataset`` (the tail shorter than a window is left out). An example:
  ``input_ids`` [bptt], ``langs`` [bptt] (the language's ``langs`` id) and ``language`` (an index
  into ``languages``).
- :class:`XLMPairBatches`: each pair becomes ``</s> A </s> </s> B </s>`` as the original
  ``concat_batches`` with reset positions: ``position_ids`` restart at 0 with the second sentence,
  ``langs`` is the first language's id then the second's. Sentences longer than ``max_len`` are
  cut to it. Padded to ``2 * max_len + 4`` with ``attention_mask``.
"""

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mluke_jax.corpus.loader import GrainBatchStream, mix_languages, open_example_sets, shuffled_forever
from mluke_jax.corpus.records import RecordSchema

Transform = Callable[[dict[str, np.ndarray], np.random.Generator], dict[str, np.ndarray]]


def _open(directories: Sequence[str | os.PathLike], fmt: str, tokenizer: Any) -> list:
    return open_example_sets(directories, tokenizer=tokenizer, kind=fmt)


class _StreamWindows:
    """Random access to the ``bptt``-token windows of one stream data set's chunks."""

    def __init__(self, example_set: Any, bptt: int):
        import grain

        self.schema = RecordSchema.from_json(example_set.metadata["schema"])
        self.source = grain.sources.ArrayRecordDataSource(example_set.files)
        self.chunk = int(example_set.metadata["chunk_tokens"])
        self.bptt = bptt
        self.windows = int(example_set.metadata["counts"].get("tokens", 0)) // bptt

    def __len__(self) -> int:
        return self.windows

    def __getitem__(self, k: int) -> np.ndarray:
        start, end = k * self.bptt, (k + 1) * self.bptt
        parts = []
        for chunk in range(start // self.chunk, (end - 1) // self.chunk + 1):
            tokens = self.schema.decode(self.source[chunk])["token_ids"]
            lo, hi = max(start - chunk * self.chunk, 0), min(end - chunk * self.chunk, len(tokens))
            parts.append(tokens[lo:hi])
        return np.concatenate(parts)


class XLMStreamBatches(GrainBatchStream):
    """Endless local batches of ``bptt``-token stream windows (MLM/CLM; see the module docstring)."""

    def __init__(
        self,
        directories: Sequence[str | os.PathLike],
        global_batch_size: int,
        *,
        bptt: int = 256,
        seed: int = 0,
        shard: tuple[int, int] | None = None,
        alpha: float = 0.7,
        transform: Transform | None = None,
        tokenizer: Any = None,
        fields: Sequence[str] | None = None,
        num_threads: int = 2,
        prefetch: int = 64,
    ):
        import grain

        if bptt < 2:
            raise ValueError(f"bptt must be at least 2 tokens, got {bptt}")
        self.sets = _open(directories, "mluke-jax-xlm-stream", tokenizer)
        self.languages = sorted({s.language for s in self.sets})
        datasets, sizes, self.ordered = {}, {}, {}
        for n, language in enumerate(self.languages):
            parts = []
            for example_set in (s for s in self.sets if s.language == language):
                windows = _StreamWindows(example_set, bptt)
                if len(windows):
                    parts.append(grain.MapDataset.range(0, len(windows)).map(windows.__getitem__))
            sizes[language] = sum(len(p) for p in parts)
            if not parts:
                continue
            whole = grain.MapDataset.concatenate(parts) if len(parts) > 1 else parts[0]
            lang_id = _lang_id(self.sets, language)
            self.ordered[language] = whole.map(
                lambda tokens, index=n, lang_id=lang_id: {
                    "input_ids": tokens,
                    "langs": np.full(len(tokens), lang_id, np.int32),
                    "language": np.int32(index),
                }
            )
            datasets[language] = shuffled_forever(self.ordered[language], seed * 1000 + n)
        if not datasets:
            raise ValueError(f"the data sets hold fewer tokens than one window of {bptt}")
        mixed, self.weights = mix_languages(datasets, sizes, alpha)
        identity = {
            "alpha": alpha,
            "bptt": bptt,
            "data": [[s.language, len(s), s.metadata["tokenizer_fingerprint"]] for s in self.sets],
        }
        super().__init__(
            mixed,
            global_batch_size,
            lambda item: item,
            identity,
            seed=seed,
            shard=shard,
            transform=transform,
            fields=fields,
            num_threads=num_threads,
            prefetch=prefetch,
        )


def token_counts(directories: Sequence[str | os.PathLike]) -> np.ndarray:
    """How often each token id occurs in the streams of ``directories`` together (``token_counts.npy``
    of ``corpus xlm-text``): the counts XLM's masking with ``sample_alpha`` weighs by."""
    from mluke_jax.paths import resolve

    total = None
    for directory in directories:
        with (resolve(directory) / "token_counts.npy").open("rb") as f:
            counts = np.load(f, allow_pickle=False)
        total = counts if total is None else total + counts
    if total is None:
        raise ValueError("no data set directories given")
    return total


def _lang_id(sets: list, language: str) -> int:
    for example_set in sets:
        if language in example_set.metadata.get("lang_ids", {}):
            return int(example_set.metadata["lang_ids"][language])
    return 0


def pair_example(
    ids1: np.ndarray, ids2: np.ndarray, lang1: int, lang2: int, max_len: int, eos: int, pad: int
) -> dict[str, np.ndarray]:
    """``</s> A </s> </s> B </s>`` padded to ``2 * max_len + 4``, positions reset for B."""
    a, b = ids1[:max_len], ids2[:max_len]
    length = 2 * max_len + 4
    first = np.concatenate([[eos], a, [eos]])
    second = np.concatenate([[eos], b, [eos]])
    used = len(first) + len(second)
    input_ids = np.full(length, pad, np.int32)
    input_ids[:used] = np.concatenate([first, second])
    positions = np.zeros(length, np.int32)
    positions[: len(first)] = np.arange(len(first))
    positions[len(first) : used] = np.arange(len(second))
    langs = np.full(length, lang2, np.int32)
    langs[: len(first)] = lang1
    mask = np.zeros(length, np.int32)
    mask[:used] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "position_ids": positions, "langs": langs}


class XLMPairBatches(GrainBatchStream):
    """Endless local batches of TLM pairs (see the module docstring)."""

    def __init__(
        self,
        directories: Sequence[str | os.PathLike],
        global_batch_size: int,
        *,
        max_len: int = 100,
        seed: int = 0,
        shard: tuple[int, int] | None = None,
        alpha: float = 0.7,
        transform: Transform | None = None,
        tokenizer: Any = None,
        fields: Sequence[str] | None = None,
        num_threads: int = 2,
        prefetch: int = 64,
    ):
        import grain

        self.sets = _open(directories, "mluke-jax-xlm-parallel", tokenizer)
        self.languages = sorted({"-".join(s.metadata["languages"]) for s in self.sets})
        schema = RecordSchema.from_json(self.sets[0].metadata["schema"])
        vocab_specials = self.sets[0].metadata.get("special_ids", {"eos": 1, "pad": 2})
        eos, pad = int(vocab_specials["eos"]), int(vocab_specials["pad"])
        datasets, sizes, self.ordered = {}, {}, {}
        for n, pair in enumerate(self.languages):
            members = [s for s in self.sets if "-".join(s.metadata["languages"]) == pair]
            files = [f for s in members for f in s.files]
            sizes[pair] = sum(len(s) for s in members)
            if not sizes[pair]:
                continue
            lang1, lang2 = (int(members[0].metadata["lang_ids"][x]) for x in members[0].metadata["languages"])

            def decode(record, index=n, lang1=lang1, lang2=lang2):
                fields = schema.decode(record)
                return {
                    **pair_example(fields["ids1"], fields["ids2"], lang1, lang2, max_len, eos, pad),
                    "language": np.int32(index),
                }

            source = grain.MapDataset.source(grain.sources.ArrayRecordDataSource(files))
            self.ordered[pair] = source.map(decode)
            datasets[pair] = shuffled_forever(self.ordered[pair], seed * 1000 + n)
        mixed, self.weights = mix_languages(datasets, sizes, alpha)
        identity = {
            "alpha": alpha,
            "max_len": max_len,
            "data": [
                ["-".join(s.metadata["languages"]), len(s), s.metadata["tokenizer_fingerprint"]] for s in self.sets
            ],
        }
        super().__init__(
            mixed,
            global_batch_size,
            lambda item: item,
            identity,
            seed=seed,
            shard=shard,
            transform=transform,
            fields=fields,
            num_threads=num_threads,
            prefetch=prefetch,
        )
