"""A padded batch of sentence pairs, the unit the model trains on."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from nmt.vocab import BOS_ID, EOS_ID, PAD_ID


@dataclass
class Batch:
    src: Tensor  # (batch, src_len) piece ids + EOS, PAD-padded
    src_lengths: Tensor  # (batch,) real source length incl. EOS
    tgt_in: Tensor  # (batch, tgt_len) BOS y1 .. yn, PAD-padded: decoder inputs (teacher forcing)
    tgt_out: Tensor  # (batch, tgt_len) y1 .. yn EOS, PAD-padded: what the decoder must predict
    index: Tensor  # (batch,) row ids in the split, to restore order or trace a sentence

    @property
    def size(self) -> int:
        return self.src.size(0)

    @property
    def num_target_tokens(self) -> int:
        return int(self.tgt_out.ne(PAD_ID).sum())

    def pin_memory(self) -> "Batch":
        """Page-locked copy; a DataLoader with `pin_memory=True` calls it, so that
        `to("cuda", non_blocking=True)` overlaps the copy with compute."""
        return Batch(*(t.pin_memory() for t in
                       (self.src, self.src_lengths, self.tgt_in, self.tgt_out, self.index)))

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(*(t.to(device, non_blocking=True) for t in
                       (self.src, self.src_lengths, self.tgt_in, self.tgt_out, self.index)))


def _pad(rows: list[list[int]], lengths: np.ndarray, width: int, offset: int) -> np.ndarray:
    """(n, width) PAD-filled array with row i's ids at columns offset .. offset + len - 1."""
    out = np.full((len(rows), width), PAD_ID, dtype=np.int64)
    columns = np.arange(width)  # (width,)
    mask = (columns >= offset) & (columns < lengths[:, None] + offset)  # (n, width), row-major like the ids
    out[mask] = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=int(lengths.sum()))
    return out


def collate(pairs: list[tuple[list[int], list[int]]], index: list[int] | None = None) -> Batch:
    """Pad (source ids, target ids) pairs, without BOS/EOS, into a Batch."""
    n = len(pairs)
    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
    src_lens = np.fromiter(map(len, sources), dtype=np.int64, count=n)  # (n,) without EOS
    tgt_lens = np.fromiter(map(len, targets), dtype=np.int64, count=n)
    rows = np.arange(n)
    src = _pad(sources, src_lens, int(src_lens.max()) + 1, offset=0)
    src[rows, src_lens] = EOS_ID
    tgt_len = int(tgt_lens.max()) + 1
    tgt_in = _pad(targets, tgt_lens, tgt_len, offset=1)
    tgt_in[:, 0] = BOS_ID
    tgt_out = _pad(targets, tgt_lens, tgt_len, offset=0)
    tgt_out[rows, tgt_lens] = EOS_ID
    index_ids = torch.as_tensor(index if index is not None else range(n), dtype=torch.long)
    return Batch(torch.from_numpy(src), torch.from_numpy(src_lens + 1), torch.from_numpy(tgt_in),
                 torch.from_numpy(tgt_out), index_ids)
