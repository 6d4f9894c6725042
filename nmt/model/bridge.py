"""The bridge: the encoder's final states -> the decoder's initial state, and the context vector.

`dense`: for every decoder layer, join the final forward and backward states of one encoder
layer, project them to the decoder size and squash with tanh (Cho et al. 2014; Bahdanau et al.
2015). Layers are aligned from the top: the top decoder layer starts from the top encoder layer,
the next one down from the next one down, and decoder layers beyond the encoder's depth reuse the
bottom encoder layer. An LSTM decoder's cell state starts at zero: the hidden state carries the
source into the gates from the first step on (the encoder returns no final cell; see encoder.py).
`zeros`: start from zeros (no parameters).

The context vector (the joined final state of the top encoder layer, (batch, directions * hidden))
is what attention `none` feeds the decoder at every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from nmt.config import DecoderConfig, EncoderConfig


@dataclass
class BridgeOutput:
    hidden: Tensor  # (dec_layers, batch, dec_hidden)
    cell: Optional[Tensor]  # (dec_layers, batch, dec_hidden) for an LSTM decoder, else None
    context: Tensor  # (batch, directions * enc_hidden) the top encoder layer's joined final state


def join_directions(final: Tensor, layers: int, directions: int) -> Tensor:
    """(layers * directions, batch, hidden) as torch returns it -> (layers, batch, directions * hidden)."""
    _, batch, hidden = final.shape
    per_layer = final.view(layers, directions, batch, hidden).transpose(1, 2)  # (layers, batch, dirs, hidden)
    return per_layer.reshape(layers, batch, directions * hidden)


def source_layers(encoder_layers: int, decoder_layers: int) -> list[int]:
    """Which encoder layer starts each decoder layer: aligned from the top, clamped at the bottom."""
    return [max(0, i + encoder_layers - decoder_layers) for i in range(decoder_layers)]


class Bridge(nn.Module):
    def __init__(self, kind: str, enc: EncoderConfig, dec: DecoderConfig):
        super().__init__()
        self.kind = kind
        self.enc_layers, self.dec_layers = enc.layers, dec.layers
        self.directions = 2 if enc.bidirectional else 1
        self.dec_hidden = dec.hidden_size
        self.dec_lstm = dec.cell == "lstm"
        self.sources = source_layers(enc.layers, dec.layers)
        joined = self.directions * enc.hidden_size

        def projections() -> nn.ModuleList:
            return nn.ModuleList(nn.Linear(joined, dec.hidden_size) for _ in range(dec.layers))

        self.hidden = projections() if kind == "dense" else None

    def forward(self, final: tuple[Tensor, ...]) -> BridgeOutput:
        """final: the encoder's (h,) with h (enc_layers * directions, batch, enc_hidden)."""
        joined = join_directions(final[0], self.enc_layers, self.directions)  # (enc_layers, batch, dirs * hidden)
        context = joined[-1]  # (batch, directions * enc_hidden)
        zeros = context.new_zeros(self.dec_layers, context.size(0), self.dec_hidden)
        if self.hidden is None:
            hidden = zeros
        else:  # (dec_layers, batch, dec_hidden)
            hidden = torch.stack([torch.tanh(proj(joined[src])) for proj, src in zip(self.hidden, self.sources)])
        return BridgeOutput(hidden=hidden, cell=zeros if self.dec_lstm else None, context=context)
