"""Weight initialisation (`model.init`): how training starts decides how much the first few
hundred steps learn, which is most of a CPU time budget.

- `uniform` (default): every weight and bias from U(-init_range, +init_range), 0.1 by default
  (Sutskever et al. 2014 used 0.08, Luong et al. 2015 0.1; OpenNMT-py's `param_init 0.1`),
  padding rows 0. One scale for every layer: right for widths in the hundreds, small for tiny
  models (at width 8-16 xavier trains many times faster; tests/test_seq2seq.py).
- `xavier`: each part by its shape. Recurrent weights per gate block: input-to-hidden
  Xavier-uniform, hidden-to-hidden orthogonal (Saxe et al. 2014; it keeps a vanilla RNN's
  gradient from decaying at the start, see `nmt diagnose gradients`); biases 0 except the LSTM
  forget gate at 1 (Gers et al. 2000). Linear layers Xavier-uniform; embeddings and the output
  layer normal with std 1/sqrt(width), so a tied output layer needs no special case (a
  Xavier-uniform output layer, std 0.016 at 512 -> 8000, starts with flat logits and trained
  slower still).
- `torch`: each layer's PyTorch default (embeddings N(0, 1)): the textbook baseline.

Measured on the reference model (Multi30k de-en, joint SentencePiece 8k, bi-LSTM encoder 2 x 256,
LSTM decoder 512, Luong general attention with input feeding, 4096-token batches, Adam 1e-3,
dropout 0.3, one seed and data order; test2016 greedy BLEU after 300 steps): xavier 8.7, uniform
21.3 (OpenNMT-py 21.4 on the same model). Starting from xavier and drawing one part uniform:
recurrent layers 13.8, linear layers (bridge, attention, attentional layer) 14.9, embeddings and
output layer 10.7; no single part explains the gap. At these widths xavier's decoder weights
are smaller (std 0.036-0.044) than uniform's 0.058. A second seed: uniform 22.2, xavier 7.2
(`benchmarks/init_steps.py`). The 25-minute CPU recipes: Luong 39.3 / 40.6 greedy / beam 5 with
uniform against 38.2 / 38.9 with xavier, Bahdanau 34.6 / 35.5 against 28.8 / 29.2. On a smaller
model (encoder 2 x 128, decoder 256, 2048-token batches) xavier had led after 160 steps by
validation NLL (4.67 against 4.73): an early measurement that did not carry over.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nmt.model.recurrent import GATES, cell_name


@torch.no_grad()
def initialize(model: nn.Module, scheme: str = "uniform", init_range: float = 0.1) -> None:
    """Initialise a `Seq2Seq` in place (its `decoder.output` is the output layer) by `model.init`."""
    if scheme == "uniform":
        for param in model.parameters():  # a tied weight is one parameter: drawn once
            nn.init.uniform_(param, -init_range, init_range)
    elif scheme == "torch":
        for module in model.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    elif scheme == "xavier":
        _xavier(model)
    else:
        raise ValueError(f"unknown initialisation {scheme!r}")
    _zero_padding_rows(model)


def _zero_padding_rows(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            module.weight[module.padding_idx].zero_()


def _xavier(model: nn.Module) -> None:
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
