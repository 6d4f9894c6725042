"""One time step of torch's RNN, GRU and LSTM, computed on the weights of the torch module.

The decoder owns a single torch module (`nn.LSTM`, `nn.GRU` or `nn.RNN`). The fused path runs it
over a whole target in one call; the step path (input feeding, Bahdanau, scheduled sampling,
search) advances it one position at a time with `step` below, on the very same parameters, so the
two paths compute the same function (a test pins it).

Layer 0's input is `[embedding; extra]`, where `extra` is what changes with each step (the
attentional vector under input feeding, the Bahdanau context, the fixed context of `none`). Its
input weights are used in two column blocks: the embedding block for all positions at once
(`input_gates`, one large matrix product under teacher forcing) and the extra block per step.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
GATES = {"rnn": 1, "gru": 3, "lstm": 4}  # weight blocks per layer: torch stacks them row-wise


def cell_name(rnn: nn.RNNBase) -> str:
    return {"RNN_TANH": "rnn", "GRU": "gru", "LSTM": "lstm"}[rnn.mode]


def _input_bias(rnn: nn.RNNBase, layer: int) -> Tensor:
    """Bias added to the input projection: LSTM and RNN add both biases there, GRU only b_ih
    (its b_hn sits inside the reset gate product)."""
    b_ih = getattr(rnn, f"bias_ih_l{layer}")
    return b_ih if rnn.mode == "GRU" else b_ih + getattr(rnn, f"bias_hh_l{layer}")


def input_gates(rnn: nn.RNNBase, embedded: Tensor) -> Tensor:
    """Layer 0's input projection of the embedding columns, biases included.

    embedded: (..., emb) -> (..., gates * hidden). Under teacher forcing this runs once over the
    whole target `(tgt_len, batch, emb)`; in search, once per step.
    """
    emb = embedded.size(-1)
    return F.linear(embedded, rnn.weight_ih_l0[:, :emb], _input_bias(rnn, 0))


def step(
    rnn: nn.RNNBase,
    gates: Tensor,
    extra: Optional[Tensor],
    hidden: Tensor,
    cell: Optional[Tensor],
) -> tuple[Tensor, Optional[Tensor]]:
    """Advance every layer by one position.

    gates: (batch, G) from `input_gates`; extra: (batch, X) the rest of layer 0's input, or None;
    hidden, cell: (layers, batch, hidden), cell only for LSTM. Returns the new (hidden, cell).
    Dropout between layers follows `rnn.dropout` in training mode, as torch's module does.
    """
    if extra is not None:
        emb = rnn.weight_ih_l0.size(1) - extra.size(1)
        gates = torch.addmm(gates, extra, rnn.weight_ih_l0[:, emb:].t())
    new_hidden, new_cell = [], []
    for layer in range(rnn.num_layers):
        if layer > 0:
            below = F.dropout(new_hidden[-1], rnn.dropout, rnn.training)
            gates = F.linear(below, getattr(rnn, f"weight_ih_l{layer}"), _input_bias(rnn, layer))
        w_hh = getattr(rnn, f"weight_hh_l{layer}")
        if rnn.mode == "LSTM":
            h, c = _lstm(torch.addmm(gates, hidden[layer], w_hh.t()), cell[layer])
            new_cell.append(c)
        elif rnn.mode == "GRU":
            h = _gru(gates, F.linear(hidden[layer], w_hh, getattr(rnn, f"bias_hh_l{layer}")), hidden[layer])
        else:
            h = torch.tanh(torch.addmm(gates, hidden[layer], w_hh.t()))
        new_hidden.append(h)
    return _stack(new_hidden), (_stack(new_cell) if new_cell else None)


def _stack(per_layer: list[Tensor]) -> Tensor:
    # (layers, batch, hidden); one layer is a view, not a copy
    return per_layer[0].unsqueeze(0) if len(per_layer) == 1 else torch.stack(per_layer)


def _lstm(gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """gates: (batch, 4 * hidden) pre-activations in torch's order: input, forget, cell, output."""
    i, f, g, o = gates.chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _gru(gi: Tensor, gh: Tensor, h: Tensor) -> Tensor:
    """gi, gh: (batch, 3 * hidden) input and hidden projections in torch's order: reset, update, new."""
    i_r, i_z, i_n = gi.chunk(3, 1)
    h_r, h_z, h_n = gh.chunk(3, 1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return n + z * (h - n)  # (1 - z) * n + z * h
