"""Named results passed between the encoder, the decoder step and search.

Search needs only this small interface from a model (see `StepModel`):
`encode` once, `start` the decoder, then one `step` per output position, and `reorder`
to follow beams or drop finished sentences. The same `step` serves teacher forcing, scheduled
sampling and search, so training and inference cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Optional, Protocol

import torch
from torch import Tensor


@dataclass
class EncoderOutput:
    states: Tensor  # (batch, src_len, enc_dim) every source position, the attention memory
    mask: Tensor  # (batch, src_len) bool, True on real tokens
    lengths: Tensor  # (batch,) source lengths
    final: tuple[Tensor, ...]  # (h,): last hidden state per layer and direction, (layers * dirs, batch, hidden)


@dataclass
class DecoderState:
    """Everything one decoder step needs; every tensor has a batch dimension to reorder.

    `hidden` and `cell` are (layers, rows, hidden) like torch's RNNs; all other tensors are
    batch-first. The source-side tensors (`memory`, `mask`, `keys`, `context`) hold one row per
    source sentence, shared by `beams` consecutive state rows: beam search keeps one copy of a
    sentence's encoder states for all its beams instead of copying them at every step.
    """

    hidden: Tensor  # (layers, rows, dec_hidden); rows = sentences * beams
    cell: Optional[Tensor]  # (layers, rows, dec_hidden) for LSTM, else None
    memory: Tensor  # (sentences, src_len, enc_dim) encoder states
    mask: Tensor  # (sentences, src_len) bool
    keys: Optional[Tensor] = None  # (sentences, src_len, attn_dim) memory projected once for attention
    feed: Optional[Tensor] = None  # (rows, dec_hidden) previous attentional vector (input feeding)
    context: Optional[Tensor] = None  # (sentences, enc_dim) fixed context vector (attention "none")
    beams: int = 1  # consecutive rows per source sentence

    _LAYER_FIRST = ("hidden", "cell")
    _PER_SOURCE = ("memory", "mask", "keys", "context")

    def index_select(self, index: Tensor, beams: int = 1) -> "DecoderState":
        """Rows `index` of the state: beams follow their parents, finished rows leave.

        `beams`: the selected rows come in groups of `beams` consecutive rows from one source
        sentence each (beam search), so the source-side tensors keep one row per group; they are
        not copied at all when every sentence stays. With 1 every row gets its own source row.
        """
        sources = index[::beams] if beams > 1 else index  # (groups,) a row of each group
        if self.beams > 1:
            sources = torch.div(sources, self.beams, rounding_mode="floor")
        keep_sources = sources.numel() == self.memory.size(0) and bool(
            sources.eq(torch.arange(sources.numel(), device=sources.device)).all())
        changes: dict = {"beams": beams}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or f.name == "beams" or (keep_sources and f.name in self._PER_SOURCE):
                continue
            if f.name in self._PER_SOURCE:
                changes[f.name] = value.index_select(0, sources)
            else:
                changes[f.name] = value.index_select(1 if f.name in self._LAYER_FIRST else 0, index)
        return replace(self, **changes)

    def per_row(self, source_tensor: Tensor) -> Tensor:
        """A (sentences, ...) source-side tensor repeated for each of its `beams` rows: (rows, ...)."""
        return source_tensor if self.beams == 1 else source_tensor.repeat_interleave(self.beams, dim=0)


@dataclass
class StepOutput:
    log_probs: Tensor  # (batch, vocab) log-softmax over the next token; search may mask it in place
    state: DecoderState
    attention: Optional[Tensor]  # (batch, src_len) weights over the source; None without attention


class StepModel(Protocol):
    """What search needs from a model."""

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput: ...

    def start(self, encoder_out: EncoderOutput) -> DecoderState: ...

    def step(self, state: DecoderState, prev_tokens: Tensor) -> StepOutput: ...

    def reorder(self, state: DecoderState, index: Tensor, beams: int = 1) -> DecoderState:
        """Rows `index`; `beams` > 1: they come in groups of that many rows per source sentence,
        so a model may keep one copy of the source side per group (`DecoderState.index_select`)."""
        ...
