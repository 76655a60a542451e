"""Training batches from an activation cache: shuffled, bounded in memory, resumable by step.

Each epoch visits the shards in a seeded random order, in groups of `buffer_shards`. The rows
of a group are concatenated and permuted with a generator seeded by (seed, epoch, group), and
the stream of all permuted rows, group after group and epoch after epoch, is cut into batches.
Batch s is therefore rows [s B, (s + 1) B) of one fixed stream: a run resumed at step s gets
exactly the batches an uninterrupted run would have seen, without loading the skipped groups.
Memory contains one group of shards and less than one batch of leftover rows.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from safety_features.saes.cache import ActivationCache


def _generator(*numbers: int) -> torch.Generator:
    seed = 0
    for number in numbers:
        seed = (seed * 1_000_003 + number) % (2**63)
    return torch.Generator().manual_seed(seed)


class ActivationStream:
    """Endless iterator of [batch_size, d_in] training batches, starting at `start_step`."""

    def __init__(
        self,
        cache: ActivationCache,
        batch_size: int,
        seed: int,
        buffer_shards: int,
        start_step: int = 0,
    ) -> None:
        if cache.n_train < batch_size:
            raise ValueError(
                f"The activation cache {cache.path} has {cache.n_train} training rows, fewer than "
                f"batch_size={batch_size}: lower the batch size or add transcripts."
            )
        self.cache = cache
        self.batch_size = batch_size
        self.seed = seed
        self.buffer_shards = buffer_shards
        self.start_step = start_step
        self._batches = self._generate()

    def __iter__(self) -> ActivationStream:
        return self

    def __next__(self) -> torch.Tensor:
        return next(self._batches)

    def groups(self, epoch: int) -> list[list[int]]:
        """Shard indices of each group of `epoch`, in visiting order."""
        n_shards = len(self.cache.shard_sizes)
        order = torch.randperm(n_shards, generator=_generator(self.seed, epoch)).tolist()
        return [order[i : i + self.buffer_shards] for i in range(0, n_shards, self.buffer_shards)]

    def _generate(self) -> Iterator[torch.Tensor]:
        skip = self.start_step * self.batch_size
        leftover = torch.empty(0, self.cache.d_in)
        epoch = 0
        while True:
            for number, group in enumerate(self.groups(epoch)):
                size = sum(self.cache.shard_sizes[i] for i in group)
                if skip >= size:
                    skip -= size
                    continue
                rows = torch.cat([self.cache.load_shard(i) for i in group])
                rows = rows[torch.randperm(size, generator=_generator(self.seed, epoch, number))]
                rows = torch.cat([leftover, rows[skip:]])
                skip = 0
                n_full = len(rows) // self.batch_size * self.batch_size
                for start in range(0, n_full, self.batch_size):
                    yield rows[start : start + self.batch_size]
                leftover = rows[n_full:]
            epoch += 1
