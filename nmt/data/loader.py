"""The loaders Lightning iterates: cached token ids -> `Batch`es, with the training position saved
in checkpoints for an exact mid-epoch resume.

`ResumableLoader` counts the batches it hands to the training loop and advances the sampler's
position by exactly those, so batches that DataLoader workers have prefetched but the loop has not
consumed are not counted: a run restored from a checkpoint continues with the next unseen batch.
Lightning saves `state_dict()` of every loader that has one into the checkpoint's fit-loop state
and calls `load_state_dict()` before it starts iterating again; it does not prefetch from a loader
that has a length, which ours have.

Both loaders wrap a `torch.utils.data.DataLoader` rather than subclass it: Lightning leaves
non-DataLoader iterables alone, so under DDP it does not try to inject a `DistributedSampler`
into our batch sampler (which splits the data over ranks itself). Lightning calls
`loader.sampler.set_epoch(epoch)` at every epoch start.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple, Optional

import torch
from torch.utils.data import DataLoader, Dataset

from nmt.data.batch import Batch, collate
from nmt.data.batching import TokenBatchSampler


class Rows(NamedTuple):
    """Token ids of the rows of one batch, and the row numbers they came from."""

    pairs: list[tuple[list[int], list[int]]]
    index: list[int]


class PairRows(Dataset):
    """Rows of a token-id cache, fetched a whole batch per Arrow read (`__getitems__`)."""

    def __init__(self, dataset):
        self.dataset = dataset.select_columns(["src_ids", "tgt_ids"])

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitems__(self, rows: list[int]) -> Rows:
        columns = self.dataset[rows]
        return Rows(list(zip(columns["src_ids"], columns["tgt_ids"])), list(rows))

    def __getitem__(self, row: int) -> tuple[list[int], list[int]]:
        return self.__getitems__([row]).pairs[0]


def collate_rows(rows: Rows) -> Batch:
    return collate(rows.pairs, rows.index)


def make_dataloader(dataset, sampler: TokenBatchSampler, num_workers: int = 0, rows: Optional[Dataset] = None) -> DataLoader:
    """A DataLoader over cached rows (or over `rows`, e.g. `nmt.data.sampling.SampledPairRows`),
    batched by `sampler`.

    Workers are not persistent on purpose: a persistent worker iterator lives on the DataLoader and
    is only freed with the Trainer's reference cycles, by when garbage collection has closed its
    queues, so each worker waits out a 5 s join timeout. Owned by the epoch's `for` loop instead,
    it is shut down as soon as Lightning drops the epoch's iterator. Restarting the workers costs
    a fork per epoch.

    The loader has its own random generator: every new DataLoader iterator draws a worker seed,
    and drawing it from torch's global generator would shift dropout's random stream whenever a
    resumed run starts its iterator at a different point than the original run did.
    """
    return DataLoader(
        rows if rows is not None else PairRows(dataset), batch_sampler=sampler, collate_fn=collate_rows, num_workers=num_workers,
        pin_memory=torch.cuda.is_available(), generator=torch.Generator().manual_seed(sampler.seed),
    )


class BatchLoader:
    """A sized iterable of `Batch`es over a DataLoader driven by a `TokenBatchSampler`."""

    def __init__(self, loader: DataLoader):
        self.loader = loader

    @property
    def sampler(self) -> TokenBatchSampler:
        """Where Lightning looks for `set_epoch`."""
        return self.loader.batch_sampler

    @property
    def batch_sampler(self) -> TokenBatchSampler:
        """Where Lightning looks to tell whether a loader shuffles."""
        return self.loader.batch_sampler

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Batch]:
        # A generator, so that `iter()` alone (Lightning calls it to check the loader) starts no
        # DataLoader workers.
        yield from self.loader


class ResumableLoader(BatchLoader):
    """A training loader whose position in the epoch is saved in and restored from checkpoints."""

    def __iter__(self) -> Iterator[Batch]:
        # A generator: nothing (not even the DataLoader's worker prefetch) starts before the first
        # `next`, by which time Lightning has restored the state and set the epoch.
        sampler = self.sampler
        if hasattr(self.loader.dataset, "epoch"):  # sampled segmentations are seeded by epoch
            self.loader.dataset.epoch = sampler.epoch
        for batch in self.loader:
            sampler.advance()
            yield batch
        sampler.end_epoch()

    def state_dict(self) -> dict:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state)
