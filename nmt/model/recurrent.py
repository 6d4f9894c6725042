"""One time step of torch's RNN, GRU and LSTM, computed on the weights of the torch module.

The decoder owns a single torch module (`nn.LSTM`, `nn.GRU` or `nn.RNN`). The fused path runs it
over a whole target in one call; the step path (input feeding, Bahdanau, scheduled sampling,
search) advances it one position at a time with `step` below, on the very same parameters, so the
two paths compute the same function (a test pins it).

Layer 0's input is `[embedding; extra]`, where `extra` is what changes with each step (the
attentional vector under input feeding, the Bahdanau context, the fixed context of `none`). Its
input weights are used in two column blocks: the embedding block for all positions at once
(`input_gates`, one large matrix product under teacher forcing) and the extra block per step.

`StepWeights` slices, transposes and sums biases once per sequence rather than once per step:
besides the saved work, autograd then sums the per-step gradients of each view before it
scatters them into the parameter, instead of filling a parameter-sized buffer at every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt.model.dropout import dropout

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


@dataclass
class StepWeights:
    """An RNN module's weights arranged for one-step use; build once per sequence."""

    mode: str  # torch's: "LSTM", "GRU", "RNN_TANH"
    extra: Optional[Tensor]  # (X, G) layer 0's weights for the per-step extra input, transposed
    input: list[Optional[Tensor]]  # per layer (in, G) transposed input weights; None for layer 0
    input_bias: list[Optional[Tensor]]  # per layer (G,); None for layer 0 (in `input_gates`)
    hidden: list[Tensor]  # per layer (H, G) transposed recurrent weights
    hidden_bias: list[Optional[Tensor]]  # per layer (G,): GRU only
    dropout: float  # between layers, in training mode
    # search only (`decoding_weights`): layer 0's extra and recurrent products in one call,
    # gates + [extra; h] @ [W_extra; W_hh]; LSTM and RNN (a GRU's recurrent product is separate)
    joint: Optional["JointProduct"] = None

    @classmethod
    def of(cls, rnn: nn.RNNBase, emb_size: int) -> "StepWeights":
        gru = rnn.mode == "GRU"
        layers = range(rnn.num_layers)
        w_ih0 = rnn.weight_ih_l0
        return cls(
            mode=rnn.mode,
            extra=w_ih0[:, emb_size:].t() if w_ih0.size(1) > emb_size else None,
            input=[None] + [getattr(rnn, f"weight_ih_l{k}").t() for k in layers[1:]],
            input_bias=[None] + [_input_bias(rnn, k) for k in layers[1:]],
            hidden=[getattr(rnn, f"weight_hh_l{k}").t() for k in layers],
            hidden_bias=[getattr(rnn, f"bias_hh_l{k}") if gru else None for k in layers],
            dropout=rnn.dropout if rnn.training else 0.0,
        )


def step(
    weights: Union[StepWeights, nn.RNNBase],
    gates: Tensor,
    extra: Optional[Tensor],
    hidden: Tensor,
    cell: Optional[Tensor],
) -> tuple[Tensor, Optional[Tensor]]:
    """Advance every layer by one position.

    weights: `StepWeights.of(rnn, emb_size)`, built once for a sequence (or the module itself,
    arranged anew on each call); gates: (batch, G) from `input_gates`; extra: (batch, X) the rest
    of layer 0's input, or None; hidden, cell: (layers, batch, hidden), cell only for LSTM.
    Returns the new (hidden, cell).
    """
    if isinstance(weights, nn.RNNBase):
        weights = StepWeights.of(weights, weights.input_size - (extra.size(1) if extra is not None else 0))
    joint = weights.joint
    if extra is not None and joint is None:
        gates = torch.addmm(gates, extra, weights.extra)
    new_hidden, new_cell = [], []
    for layer, w_hh in enumerate(weights.hidden):
        if layer > 0:
            below = dropout(new_hidden[-1], weights.dropout, weights.dropout > 0)
            gates = torch.addmm(weights.input_bias[layer], below, weights.input[layer])
        if layer == 0 and joint is not None:
            inputs = hidden[0] if extra is None else torch.cat([extra, hidden[0]], dim=1)  # (rows, X + H)
            pre = joint(gates, inputs)
        elif weights.mode != "GRU":
            pre = torch.addmm(gates, hidden[layer], w_hh)
        if weights.mode == "LSTM":
            h, c = _lstm(pre, cell[layer])
            new_cell.append(c)
        elif weights.mode == "GRU":
            h = _gru(gates, torch.addmm(weights.hidden_bias[layer], hidden[layer], w_hh), hidden[layer])
        else:
            h = tanh(pre)
        new_hidden.append(h)
    return _stack(new_hidden), (_stack(new_cell) if new_cell else None)


class JointProduct:
    """gates + inputs @ weight for layer 0 in search: (rows, G) + (rows, X + H) @ (X + H, G)."""

    def __init__(self, weight: Tensor):
        self.weight = weight  # (X + H, G)

    def __call__(self, gates: Tensor, inputs: Tensor) -> Tensor:
        return torch.addmm(gates, inputs, self.weight)


@dataclass
class DecodingWeights:
    """A decoder RNN's weights arranged for search, built once per set of parameters.

    `table` holds layer 0's embedding gates for every vocabulary entry (embedding, input
    projection and biases), so a search step looks its inputs' gates up instead of multiplying;
    `step` has layer 0's extra and recurrent weights stacked into one product (`JointProduct`).
    """

    table: Optional[Tensor]  # (vocab, G), or None where it would be too large
    step: StepWeights


TABLE_MAX_BYTES = 256 * 2**20  # beyond this (large vocabularies) gates are computed per step instead


def decoding_weights(rnn: nn.RNNBase, embedding: nn.Embedding, product: type = None) -> DecodingWeights:
    """`DecodingWeights` of a decoder RNN fed by `embedding` (call without autograd).

    product: what multiplies layer 0's stacked weight, `JointProduct` or a quantized one."""
    emb_size = embedding.embedding_dim
    weights = StepWeights.of(rnn, emb_size)
    if rnn.mode != "GRU":
        stacked = weights.hidden[0] if weights.extra is None else torch.cat([weights.extra, weights.hidden[0]])
        weights.joint = (product or JointProduct)(stacked.contiguous())  # (X + H, G)
    gates = rnn.weight_ih_l0.size(0)
    small = embedding.num_embeddings * gates * rnn.weight_ih_l0.element_size() <= TABLE_MAX_BYTES
    return DecodingWeights(table=input_gates(rnn, embedding.weight) if small else None, step=weights)


def _stack(per_layer: list[Tensor]) -> Tensor:
    # (layers, batch, hidden); one layer is a view, not a copy
    return per_layer[0].unsqueeze(0) if len(per_layer) == 1 else torch.stack(per_layer)


def in_place_activations(x: Tensor) -> bool:
    """Whether `tanh_` and the in-place LSTM cell apply: no autograd (search, evaluation) on a CPU."""
    return not torch.is_grad_enabled() and x.device.type == "cpu"


def tanh_(x: Tensor) -> Tensor:
    """tanh in place as 2 sigmoid(2x) - 1 (no autograd; x must be a fresh result).

    torch 2.13's CPU tanh is slow: on 2 AVX2 cores, (320, 512) took 476 us against 218 us for
    these four in-place passes. On a GPU one tanh kernel is cheaper than four launches, so
    callers use this only where `in_place_activations` says so.
    """
    return x.mul_(2).sigmoid_().mul_(2).sub_(1)


def tanh(x: Tensor) -> Tensor:
    """tanh of a fresh result: `tanh_` in place where `in_place_activations` allows, else torch's."""
    return tanh_(x) if in_place_activations(x) else torch.tanh(x)


def _lstm(gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """gates: (batch, 4 * hidden) pre-activations in torch's order: input, forget, cell, output."""
    if in_place_activations(gates):
        return _lstm_in_place(gates, c)
    i, f, g, o = gates.chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _lstm_in_place(gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """`_lstm` in search: one sigmoid over all four blocks, tanh(g) = 2 sigmoid(2g) - 1, and
    `gates` (a fresh product this step owns) reused as the buffer. The cell step took 1.05 ms
    against 1.86 ms at (320, 4 x 512) on 2 AVX2 cores."""
    hidden = c.size(1)
    gates[:, 2 * hidden : 3 * hidden].mul_(2)
    i, f, g, o = gates.sigmoid_().chunk(4, 1)
    c = torch.addcmul(f * c, i, g.mul_(2).sub_(1))
    return (c * 2).sigmoid_().mul_(2).sub_(1).mul_(o), c  # o * tanh(c)


def _gru(gi: Tensor, gh: Tensor, h: Tensor) -> Tensor:
    """gi, gh: (batch, 3 * hidden) input and hidden projections in torch's order: reset, update, new."""
    i_r, i_z, i_n = gi.chunk(3, 1)
    h_r, h_z, h_n = gh.chunk(3, 1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = i_n + r * h_n
    n = tanh(n)
    return n + z * (h - n)  # (1 - z) * n + z * h
