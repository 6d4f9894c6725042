"""A padded batch of sentence pairs, the unit the model trains on."""

from __future__ import annotations

from dataclasses import dataclass

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


def collate(pairs: list[tuple[list[int], list[int]]], index: list[int] | None = None) -> Batch:
    """Pad (source ids, target ids) pairs, without BOS/EOS, into a Batch."""
    n = len(pairs)
    src_len = max(len(s) for s, _ in pairs) + 1
    tgt_len = max(len(t) for _, t in pairs) + 1
    src = torch.full((n, src_len), PAD_ID, dtype=torch.long)
    tgt_in = torch.full((n, tgt_len), PAD_ID, dtype=torch.long)
    tgt_out = torch.full((n, tgt_len), PAD_ID, dtype=torch.long)
    src_lengths = torch.empty(n, dtype=torch.long)
    for row, (s, t) in enumerate(pairs):
        src[row, : len(s)] = torch.as_tensor(s, dtype=torch.long)
        src[row, len(s)] = EOS_ID
        src_lengths[row] = len(s) + 1
        tgt_in[row, 0] = BOS_ID
        tgt_in[row, 1 : len(t) + 1] = torch.as_tensor(t, dtype=torch.long)
        tgt_out[row, : len(t)] = torch.as_tensor(t, dtype=torch.long)
        tgt_out[row, len(t)] = EOS_ID
    rows = torch.as_tensor(index if index is not None else range(n), dtype=torch.long)
    return Batch(src, src_lengths, tgt_in, tgt_out, rows)
