"""Length-bucketed batches under a token budget, shuffled per epoch, resumable, split over ranks.

A batch of n pairs costs n * max(src_len + 1, tgt_len + 1) padded tokens (EOS on the source,
BOS/EOS on the target), and every batch stays within `batch_tokens` (a single pair longer than the
budget gets a batch of its own). Pairs are sorted by that cost, then by target and source length,
so a batch holds near-equal lengths and little padding; the batch boundaries depend only on the
sorted costs, so every epoch has the same number of batches. What changes per epoch, from
(seed, epoch): which of the pairs with identical lengths share a batch, and the batch order.
With subword regularization the lengths change per epoch too (`epoch_lengths`, from
nmt/data/sampling.py): each epoch's pairs are sorted by that epoch's lengths and cut at the same
boundaries, planned on epoch 0's lengths, so the batch count stays fixed and padding stays low.

Under DDP the boundaries are refined until the batch count divides by the number of ranks (by
halving the largest batches), then rank r takes every R-th batch of the epoch's order: every rank
runs the same number of steps and every pair is seen exactly once per epoch across ranks.

`position` counts the batches of the current epoch the training loop has consumed; it is what
`state_dict()` saves and what a restored sampler skips. The loader advances it
(nmt/data/loader.py), not the sampler's own iterator, which DataLoader workers run ahead of the
training loop.
"""

from __future__ import annotations

import warnings
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from nmt.errors import DataError


def pack(costs: np.ndarray, budget: int) -> np.ndarray:
    """Greedy batch starts over ascending `costs`: each batch as long as n * max cost <= budget.

    Returns (batches + 1,) offsets; batch i is [starts[i], starts[i + 1]).
    """
    starts = [0]
    i, n = 0, len(costs)
    while i < n:
        window = costs[i : i + max(1, budget // int(costs[i]))]  # costs ascend: no more can fit
        fits = np.arange(1, len(window) + 1) * window <= budget
        take = len(window) if fits.all() else max(1, int(np.argmin(fits)))
        i += take
        starts.append(i)
    return np.asarray(starts, dtype=np.int64)


def divisible(starts: np.ndarray, replicas: int) -> np.ndarray:
    """Refine batch offsets until the batch count divides by `replicas`.

    Halves the largest batch (keeping every batch under budget) until it divides; if no batch has
    two pairs left to halve, merges the last (longest) batches instead.
    """
    starts = np.asarray(starts, dtype=np.int64)
    total = int(starts[-1])
    if total < replicas:
        raise DataError(f"{total} sentence pairs cannot be shared by {replicas} ranks")
    while (len(starts) - 1) % replicas:
        sizes = np.diff(starts)
        largest = int(np.argmax(sizes))
        if sizes[largest] < 2:
            excess = (len(starts) - 1) % replicas
            return np.concatenate([starts[: len(starts) - 1 - excess], starts[-1:]])
        middle = starts[largest] + sizes[largest] // 2
        starts = np.insert(starts, largest + 1, middle)
    return starts


def compact(lengths) -> np.ndarray:
    """Lengths in the smallest integer type that holds them: at 16.8M pairs each int64 array is
    134 MB, int16 34 MB, and the sampler keeps three of them for the whole run."""
    lengths = np.asarray(lengths)
    dtype = np.int16 if len(lengths) == 0 or int(lengths.max()) < np.iinfo(np.int16).max else np.int32
    return lengths.astype(dtype, copy=False)


def row_order(keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """`np.lexsort(keys)` as int32 rows where they fit (the order lives through an epoch)."""
    order = np.lexsort(keys)
    return order.astype(np.int32) if len(order) < np.iinfo(np.int32).max else order


class TokenBatchSampler:
    """Yields lists of row indices; see the module docstring for the batching rules.

    A `DataLoader(batch_sampler=...)`; it needs no torch itself (so `nmt prepare` starts without
    importing torch), as DataLoader accepts any iterable of index lists.
    """

    def __init__(self, src_lengths: Sequence[int], tgt_lengths: Sequence[int], batch_tokens: int,
                 shuffle: bool = True, seed: int = 0, num_replicas: int = 1, rank: int = 0,
                 epoch_lengths: Optional[Callable[[int], tuple[np.ndarray, np.ndarray]]] = None):
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside 0..{num_replicas - 1}")
        self.src = compact(np.asarray(src_lengths) + 1)  # (n,) with EOS
        self.tgt = compact(np.asarray(tgt_lengths) + 1)  # (n,) with BOS/EOS
        if len(self.src) != len(self.tgt) or len(self.src) == 0:
            raise DataError(f"cannot batch {len(self.src)} source and {len(self.tgt)} target lengths")
        # epoch -> (source, target) lengths of that epoch's sampled segmentations; None: fixed lengths
        self.epoch_lengths = epoch_lengths
        planned = self.src, self.tgt
        if epoch_lengths is not None:
            planned = tuple(compact(np.asarray(x) + 1) for x in epoch_lengths(0))
        self.cost = np.maximum(*planned)  # (n,) padded tokens per pair
        self.batch_tokens = batch_tokens
        self.shuffle, self.seed = shuffle, seed
        self.num_replicas, self.rank = num_replicas, rank
        self.starts = divisible(pack(np.sort(self.cost), batch_tokens), num_replicas)
        self.epoch = 0
        self.position = 0

    def __len__(self) -> int:
        """Batches per epoch on this rank (the same on every rank and in every epoch)."""
        return (len(self.starts) - 1) // self.num_replicas

    @property
    def num_sentences(self) -> int:
        return len(self.cost)

    def _order(self, rng: np.random.Generator | None, epoch: Optional[int] = None) -> np.ndarray:
        """(n,) rows sorted by cost, target, source length (of `epoch`'s segmentations, if they
        vary); ties random when shuffling."""
        n = len(self.cost)
        ties = rng.random(n, dtype=np.float32) if rng is not None else np.arange(n, dtype=np.int32)
        if epoch is None or self.epoch_lengths is None:
            return row_order((ties, self.src, self.tgt, self.cost))
        src, tgt = (compact(np.asarray(x) + 1) for x in self.epoch_lengths(epoch))
        return row_order((ties, src, tgt, np.maximum(src, tgt)))

    def batches(self, epoch: int) -> list[np.ndarray]:
        """This rank's batches of `epoch`, in the order they are yielded."""
        rng = np.random.default_rng([self.seed, epoch]) if self.shuffle else None
        all_batches = np.split(self._order(rng, epoch), self.starts[1:-1])
        order = rng.permutation(len(all_batches)) if rng is not None else np.arange(len(all_batches))
        return [all_batches[i] for i in order[self.rank :: self.num_replicas]]

    def __iter__(self) -> Iterator[list[int]]:
        start = self.position
        for batch in self.batches(self.epoch)[start:]:
            yield batch.tolist()

    # ------------------------------------------------------------------------- epoch and resume

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning before each epoch; a new epoch starts from its first batch."""
        if epoch != self.epoch:
            self.epoch, self.position = epoch, 0

    def advance(self) -> None:
        """One more batch of this epoch was consumed by the training loop."""
        self.position += 1

    def end_epoch(self) -> None:
        self.epoch, self.position = self.epoch + 1, 0

    def _identity(self) -> dict:
        return {"seed": self.seed, "sentences": self.num_sentences, "batch_tokens": self.batch_tokens,
                "num_replicas": self.num_replicas, "batches": len(self)}

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, **self._identity()}

    def load_state_dict(self, state: dict) -> None:
        """Restore the position; if the data or ranks changed, restart the saved epoch instead."""
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        saved = {key: state.get(key) for key in self._identity()}
        if saved != self._identity():
            changed = ", ".join(f"{k} {saved[k]} -> {v}" for k, v in self._identity().items() if saved[k] != v)
            warnings.warn(f"batch sampler state does not match ({changed}); epoch {self.epoch} restarts "
                          "from its first batch", stacklevel=2)
            self.position = 0

    # ------------------------------------------------------------------------- reporting

    @property
    def padding_share(self) -> float:
        """Share of padded positions in the source and target tensors over an epoch."""
        order = self._order(None)
        starts = self.starts[:-1]
        sizes = np.diff(self.starts)
        src_max = np.maximum.reduceat(self.src[order], starts)  # (batches,)
        tgt_max = np.maximum.reduceat(self.tgt[order], starts)
        padded = float(np.sum(sizes * (src_max.astype(np.int64) + tgt_max)))
        return 1.0 - float(self.src.sum(dtype=np.int64) + self.tgt.sum(dtype=np.int64)) / padded
