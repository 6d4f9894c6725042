"""Named results passed between the encoder, the decoder step and search.

Search needs only this small interface from a model (see `StepModel`):
`encode` once, `start` the decoder, then one `step` per output position, and `reorder`
to follow beams or drop finished sentences. The same `step` serves teacher forcing, scheduled
sampling and search, so training and inference cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Optional, Protocol

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

    `hidden` and `cell` are (layers, batch, hidden) like torch's RNNs; all other tensors are
    batch-first.
    """

    hidden: Tensor  # (layers, batch, dec_hidden)
    cell: Optional[Tensor]  # (layers, batch, dec_hidden) for LSTM, else None
    memory: Tensor  # (batch, src_len, enc_dim) encoder states
    mask: Tensor  # (batch, src_len) bool
    keys: Optional[Tensor] = None  # (batch, src_len, attn_dim) memory projected once for attention
    feed: Optional[Tensor] = None  # (batch, dec_hidden) previous attentional vector (input feeding)
    context: Optional[Tensor] = None  # (batch, enc_dim) fixed context vector (attention "none")

    _LAYER_FIRST = ("hidden", "cell")

    def index_select(self, index: Tensor) -> "DecoderState":
        """Rows `index` of every tensor: beams follow their parents, finished rows leave."""
        changes = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            dim = 1 if f.name in self._LAYER_FIRST else 0
            changes[f.name] = value.index_select(dim, index)
        return replace(self, **changes)


@dataclass
class StepOutput:
    log_probs: Tensor  # (batch, vocab) log-softmax over the next token
    state: DecoderState
    attention: Optional[Tensor]  # (batch, src_len) weights over the source; None without attention


class StepModel(Protocol):
    """What search needs from a model."""

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput: ...

    def start(self, encoder_out: EncoderOutput) -> DecoderState: ...

    def step(self, state: DecoderState, prev_tokens: Tensor) -> StepOutput: ...

    def reorder(self, state: DecoderState, index: Tensor) -> DecoderState: ...
