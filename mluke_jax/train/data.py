"""Batches of examples in a reproducible order, with a position a checkpoint can save."""

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class BatchStream:
    """Endless batches over ``examples``: a fresh permutation each epoch (``seed`` + epoch), the
    last incomplete batch of an epoch dropped (fixed shapes: one compilation).

    ``position`` (``{"epoch", "batch"}``) is where the next batch comes from; ``seek`` restores it.

    Args:
        examples: the dataset (anything indexable).
        batch_size: examples per batch.
        collate: list of examples -> batch dict of arrays.
        shuffle: permute each epoch (off: file order).
        shard: ``(process_index, process_count)`` on several hosts: every process draws the same
            global batches and keeps its own ``batch_size / process_count`` rows of each.
    """

    def __init__(
        self,
        examples: Sequence[Any],
        batch_size: int,
        collate: Callable[[list], dict],
        *,
        shuffle: bool = True,
        seed: int = 0,
        shard: tuple[int, int] | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.shard = shard
        if shard is not None and (batch_size % shard[1] or not 0 <= shard[0] < shard[1]):
            raise ValueError(f"a global batch of {batch_size} does not split over {shard[1]} processes")
        if len(examples) < batch_size:
            raise ValueError(f"{len(examples)} examples are fewer than one batch of {batch_size}")
        self.examples, self.batch_size, self.collate = examples, batch_size, collate
        self.shuffle, self.seed = shuffle, seed
        self.epoch, self.batch = 0, 0
        self._cached_order: tuple[int, np.ndarray] | None = None

    @property
    def batches_per_epoch(self) -> int:
        return len(self.examples) // self.batch_size

    @property
    def position(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batch": self.batch}

    def seek(self, position: dict[str, int]) -> None:
        self.epoch, self.batch = int(position.get("epoch", 0)), int(position.get("batch", 0))

    def _order(self) -> np.ndarray:
        """This epoch's example order, drawn once per epoch (a pure function of seed and epoch)."""
        if self._cached_order is None or self._cached_order[0] != self.epoch:
            if self.shuffle:
                order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.examples))
            else:
                order = np.arange(len(self.examples))
            self._cached_order = (self.epoch, order)
        return self._cached_order[1]

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        if self.batch >= self.batches_per_epoch:
            self.epoch, self.batch = self.epoch + 1, 0
        order = self._order()
        chosen = order[self.batch * self.batch_size : (self.batch + 1) * self.batch_size]
        self.batch += 1
        if self.shard is not None:
            local = self.batch_size // self.shard[1]
            chosen = chosen[self.shard[0] * local : (self.shard[0] + 1) * local]
        return self.collate([self.examples[i] for i in chosen])
