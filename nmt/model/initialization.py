"""Weight initialisation, chosen so that training starts fast and stable.

- Recurrent weights, per gate block: input-to-hidden Xavier-uniform (keeps the variance of the
  gate pre-activations near that of the inputs), hidden-to-hidden orthogonal (all singular values
  1, so the hidden state and its gradient neither shrink nor blow up over time steps at the start;
  Saxe et al. 2014; it matters most for the vanilla tanh RNN). Biases 0, except the LSTM forget
  gate bias at 1 (Gers et al. 2000; Jozefowicz et al. 2015): the cell remembers by default.
- Linear layers (bridge, attention, attentional layer): Xavier-uniform, bias 0.
- Embeddings and the output layer: normal with std 1/sqrt(size) (an embedding vector of about
  unit length; logits of about unit scale), padding row 0, output bias 0. One rule for both, so
  a tied output layer needs no special case. A Xavier output layer (std 0.016 for 512 -> 8000)
  starts with nearly flat logits and measurably slowed training (below).

Measured (Multi30k de-en, joint SentencePiece 8k, encoder bi-LSTM 128 per direction, decoder
LSTM 256 with Luong general attention and input feeding, Adam 1e-3, clip 1, 2048-token batches,
one seed, same data order), validation NLL after 160 steps: this scheme 4.67; uniform +-0.1
everywhere (OpenNMT-py's and Joey NMT's usual setting) 4.73; torch's defaults 4.86; this scheme
with a Xavier output layer 5.24, and 5.33 if its forget-gate bias is 0 too.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nmt.model.recurrent import GATES, cell_name


@torch.no_grad()
def initialize(model: nn.Module) -> None:
    """Initialise a `Seq2Seq` in place (its `decoder.output` is the output layer)."""
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
    output = model.decoder.output
    if output.weight is not model.decoder.embedding.weight:  # tied: the embedding rule already applied
        nn.init.normal_(output.weight, std=1.0 / math.sqrt(output.in_features))


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
