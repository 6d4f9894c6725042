"""Attention over the source states, masked over source padding.

Every variant scores each query against every source position, masks padding with -inf
(so its weight is exactly 0), normalises with softmax and returns the weighted sum of source
states. Queries come batched over positions, `(batch, queries, query_size)`: the fused path asks
for all target positions at once, the step path for one.

- `bahdanau` (Bahdanau et al. 2015, additive): score = v . tanh(W_q q + W_k m), queried with the
  *previous* decoder state, before the RNN step (`before_rnn`).
- `dot` (Luong et al. 2015): score = q . m, queried with the *current* decoder state; needs
  decoder hidden size == source state size.
- `general` (Luong): score = q . W m.

`prepare(memory)` projects the source states once per sentence (`keys`), never per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from nmt.model import recurrent


@dataclass
class AttentionOutput:
    context: Tensor  # (batch, queries, memory_size) weighted sum of source states
    weights: Tensor  # (batch, queries, src_len) rows sum to 1, exactly 0 on padding


class Attention(nn.Module):
    before_rnn = False  # True: queried with the previous decoder state, its context feeds the RNN

    def prepare(self, memory: Tensor) -> Optional[Tensor]:
        """Keys for `score`, computed once per sentence; None: score against `memory` itself."""
        return None

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        """query: (batch, queries, query_size), keys: (batch, src_len, key_size) -> (batch, queries, src_len)."""
        raise NotImplementedError

    def forward(self, query: Tensor, keys: Optional[Tensor], memory: Tensor, mask: Tensor) -> AttentionOutput:
        """memory: (batch, src_len, memory_size); mask: (batch, src_len) True on real tokens."""
        scores = self.score(query, memory if keys is None else keys)  # (batch, queries, src_len)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return AttentionOutput(context=torch.bmm(weights.to(memory.dtype), memory), weights=weights)


class DotAttention(Attention):
    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(query, keys.transpose(1, 2))


class GeneralAttention(Attention):
    def __init__(self, query_size: int, memory_size: int):
        super().__init__()
        self.key = nn.Linear(memory_size, query_size, bias=False)  # W, applied to the memory side

    def prepare(self, memory: Tensor) -> Tensor:
        return self.key(memory)  # (batch, src_len, query_size)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(query, keys.transpose(1, 2))


class BahdanauAttention(Attention):
    before_rnn = True

    def __init__(self, query_size: int, memory_size: int, attention_size: Optional[int] = None):
        super().__init__()
        size = attention_size or query_size
        self.key = nn.Linear(memory_size, size)  # W_k m + b, once per sentence
        self.query = nn.Linear(query_size, size, bias=False)  # W_q q, per step
        self.energy = nn.Linear(size, 1, bias=False)  # v

    def prepare(self, memory: Tensor) -> Tensor:
        return self.key(memory)  # (batch, src_len, attention_size)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        q = self.query(query).unsqueeze(2)  # (batch, queries, 1, attention_size)
        hidden = q + keys.unsqueeze(1)  # (batch, queries, src_len, attention_size)
        hidden = recurrent.tanh(hidden)
        return self.energy(hidden).squeeze(-1)  # (batch, queries, src_len)


# config name -> class; `luong` picks `dot` or `general` by `model.decoder.score`
ATTENTION: dict[str, type[Attention]] = {
    "bahdanau": BahdanauAttention,
    "dot": DotAttention,
    "general": GeneralAttention,
}


def build_attention(name: str, query_size: int, memory_size: int) -> Attention:
    if name not in ATTENTION:
        raise ValueError(f"unknown attention {name!r}, valid: {', '.join(ATTENTION)}")
    if name == "dot":
        return DotAttention()
    return ATTENTION[name](query_size, memory_size)
