"""Run an encoder one time step at a time, keeping every hidden state h_t as its own tensor.

Torch's RNN kernels return all states at once; the gradient of the loss with respect to that
output holds only each state's direct use (the attention memory), not what flows back through
the later steps. To measure dL/dh_t through time, `stepwise(encoder)` swaps each direction's
torch RNN for `StepwiseRNN`, which advances the very same module with `recurrent.step` and
records h_t. Everything else (reversal, finals, masking) stays the encoder's own code, so the
encoder computes the same function (a test pins it).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn

from nmt.model import recurrent
from nmt.model.encoder import Encoder


class StepwiseRNN(nn.Module):
    """A one-layer torch RNN/GRU/LSTM unrolled in Python; `states` holds h_t of the last call,
    in the order this direction read them."""

    def __init__(self, rnn: nn.RNNBase, name: str = ""):
        super().__init__()
        if rnn.num_layers != 1 or not rnn.batch_first or rnn.bidirectional:
            raise ValueError("StepwiseRNN wraps one-layer, one-direction, batch-first RNNs (the encoder's)")
        self.rnn = rnn
        self.name = name  # "layer 1 forward", "layer 1 backward"
        self.states: list[Tensor] = []  # src_len tensors (batch, hidden)

    def forward(self, inputs: Tensor) -> tuple[Tensor, None]:
        """inputs: (batch, src_len, input_size) -> states (batch, src_len, hidden), as the torch module."""
        batch, hidden_size = inputs.size(0), self.rnn.hidden_size
        gates = recurrent.input_gates(self.rnn, inputs)  # (batch, src_len, G)
        hidden = inputs.new_zeros(1, batch, hidden_size)  # (layers=1, batch, hidden)
        cell = inputs.new_zeros(1, batch, hidden_size) if self.rnn.mode == "LSTM" else None
        self.states = []
        for step_gates in gates.unbind(1):  # (batch, G) per position
            hidden, cell = recurrent.step(self.rnn, step_gates, None, hidden, cell)
            h = hidden[0]  # (batch, hidden): every later use goes through this tensor
            self.states.append(h)
            hidden = h.unsqueeze(0)
        return torch.stack(self.states, dim=1), None  # (batch, src_len, hidden)


@contextmanager
def stepwise(encoder: Encoder) -> Iterator[list[StepwiseRNN]]:
    """Inside the block the encoder runs step by step; after each forward, every yielded
    direction (torch's order: layer 1 forward, layer 1 backward, layer 2 ...) holds its states.

    Reading position s of a sentence of length n is n - 1 - s steps before the direction's
    final state, for both directions (the backward one reads the sentence reversed).
    """
    swapped: list[tuple[nn.Module, str, nn.RNNBase]] = []
    wrappers: list[StepwiseRNN] = []
    try:
        for number, layer in enumerate(encoder.layers, start=1):
            for attr, direction in (("left_to_right", "forward"), ("right_to_left", "backward")):
                rnn = getattr(layer, attr)
                if rnn is None:
                    continue
                wrappers.append(StepwiseRNN(rnn, f"layer {number} {direction}"))
                swapped.append((layer, attr, rnn))
                setattr(layer, attr, wrappers[-1])
        yield wrappers
    finally:
        for layer, attr, rnn in swapped:
            setattr(layer, attr, rnn)
