"""Weight initialisation, chosen so that training starts fast and stable.

- Recurrent weights, per gate block: input-to-hidden Xavier-uniform (keeps the variance of the
  gate pre-activations near that of the inputs), hidden-to-hidden orthogonal (all singular values
  1, so the hidden state and its gradient neither shrink nor blow up over time steps at the start;
  Saxe et al. 2014; it matters most for the vanilla tanh RNN). Biases 0, except the LSTM forget
  gate bias at 1 (Gers et al. 2000; Jozefowicz et al. 2015): the cell remembers by default.
- Linear layers (bridge, attention, attentional layer, output): Xavier-uniform, bias 0. The output
  layer then starts with small logits, close to a uniform distribution.
- Embeddings: normal with std 1/sqrt(emb_size) (each vector of about unit length, like uniform
  +-0.1 for 256 dims), padding row 0. A tied output layer keeps this initialisation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nmt.model.recurrent import GATES, cell_name


@torch.no_grad()
def initialize(model: nn.Module) -> None:
    done: set[int] = set()  # a tied weight is initialised once, by the module that owns it first
    for module in model.modules():
        if isinstance(module, nn.RNNBase):
            _init_recurrent(module)
        elif isinstance(module, nn.Linear):
            if id(module.weight) not in done:
                nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding) and id(module.weight) not in done:
            nn.init.normal_(module.weight, std=1.0 / math.sqrt(module.embedding_dim))
            if module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
        done.update(id(p) for p in module.parameters(recurse=False))


def _init_recurrent(rnn: nn.RNNBase) -> None:
    kind = cell_name(rnn)
    gates, hidden = GATES[kind], rnn.hidden_size
    for name, param in rnn.named_parameters():
        if name.startswith("weight_ih"):
            for block in param.chunk(gates, 0):  # (hidden, input) each
                nn.init.xavier_uniform_(block)
        elif name.startswith("weight_hh"):
            for block in param.chunk(gates, 0):  # (hidden, hidden) each
                nn.init.orthogonal_(block)
        else:
            nn.init.zeros_(param)
            if kind == "lstm" and name.startswith("bias_ih"):
                param[hidden : 2 * hidden].fill_(1.0)  # forget gate (torch order: i, f, g, o)
