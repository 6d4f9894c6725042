"""The architecture, component by component, with parameter counts (what `nmt info` prints).

A Keras-style table: each component with its output shape and parameter count, and totals that
equal `sum(p.numel() for p in model.parameters())` (a shared matrix counts once, where it first
appears). Recurrent layers also show their gate blocks: each block is hidden x (input + hidden)
weights plus two hidden-size biases, and a layer has 1 (rnn), 3 (gru) or 4 (lstm) of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from torch import nn

from nmt.config import Config
from nmt.model.recurrent import GATES, cell_name
from nmt.model.seq2seq import Seq2Seq

SHAPES = "B = sentences, S = source length, T = target length, N = real target tokens"


@dataclass
class Row:
    component: str
    shape: str
    params: int
    blocks: str = ""  # gate blocks of a recurrent layer, e.g. "4 x 131,584"
    note: str = ""


@dataclass
class Vocab:
    src: int
    tgt: int
    source: str  # where the sizes came from


def describe(config: Config, model: Seq2Seq, vocab: Vocab) -> str:
    rows = summarize(model)
    total = sum(row.params for row in rows)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    enc, dec = config.model.encoder, config.model.decoder
    attention = {"none": "none (fixed context at every step)", "bahdanau": "bahdanau (additive)"}.get(
        dec.attention, f"luong {dec.score}" + (", input feeding" if dec.input_feeding else "")
    )
    lines = [
        f"encoder: {enc.cell}, {enc.layers} layer(s), {'bidirectional' if enc.bidirectional else 'unidirectional'}, "
        f"{enc.hidden_size} per direction; decoder: {dec.cell}, {dec.layers} layer(s), {dec.hidden_size}; "
        f"attention: {attention}; bridge: {config.model.bridge}",
        f"vocabulary: source {vocab.src:,}, target {vocab.tgt:,} (from {vocab.source})",
        f"shapes: {SHAPES}",
        "",
        format_table(rows),
        f"Total params: {total:,} ({total * 4 / 2**20:.1f} MiB as fp32)",
        f"Trainable params: {trainable:,}",
        "Gate blocks: hidden x (input + hidden) weights + 2 x hidden biases each; rnn 1, gru 3, lstm 4 per layer",
    ]
    return "\n".join(lines)


def format_table(rows: list[Row]) -> str:
    header = ("Component", "Output shape", "Gate blocks", "Params", "")
    cells = [header] + [(r.component, r.shape, r.blocks, f"{r.params:,}", r.note) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]

    def line(c: tuple) -> str:
        parts = [c[0].ljust(widths[0]), c[1].ljust(widths[1]), c[2].rjust(widths[2]), c[3].rjust(widths[3]), c[4]]
        return "  ".join(parts).rstrip()

    width = max(len(line(c)) for c in cells)
    return "\n".join(["=" * width, line(header), "-" * width, *map(line, cells[1:]), "=" * width])


class _Counter:
    """Parameter counts per component; a parameter shared by several counts once, first."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def __call__(self, params: Iterable[nn.Parameter]) -> tuple[int, bool]:
        new, shared = 0, False
        for p in params:
            if id(p) in self.seen:
                shared = True
            else:
                self.seen.add(id(p))
                new += p.numel()
        return new, shared


def _gate_blocks(rnn: nn.RNNBase, layer: int) -> str:
    gates, hidden = GATES[cell_name(rnn)], rnn.hidden_size
    inputs = getattr(rnn, f"weight_ih_l{layer}").size(1)
    return f"{gates} x {hidden * (inputs + hidden) + 2 * hidden:,}"


def _layer_params(rnn: nn.RNNBase, layer: int) -> list[nn.Parameter]:
    return [p for name, p in rnn.named_parameters() if name.endswith(f"_l{layer}")]


def summarize(model: Seq2Seq) -> list[Row]:
    """One row per component, in data-flow order; the params column sums to the model's total."""
    count, rows = _Counter(), []
    enc, bridge, dec = model.encoder, model.bridge, model.decoder

    def add(component: str, shape: str, params: Iterable[nn.Parameter], blocks: str = "", note: str = "") -> None:
        n, shared = count(params)
        rows.append(Row(component, shape, n, blocks, note or ("shared, counted above" if shared else "")))

    add("source embedding", f"(B, S, {enc.embedding.embedding_dim})", enc.embedding.parameters())
    for k, layer in enumerate(enc.layers, start=1):
        for direction, rnn in (("left-to-right", layer.left_to_right), ("right-to-left", layer.right_to_left)):
            if rnn is not None:
                shape = f"(B, S, {rnn.hidden_size})"
                add(f"encoder {enc.cell} layer {k} {direction}", shape, rnn.parameters(), _gate_blocks(rnn, 0))
    rows.append(Row("encoder states (directions joined)", f"(B, S, {enc.output_size})", 0))
    _bridge_rows(bridge, dec, add)
    if dec.attention is not None:
        add(f"attention ({dec.attention_name})", f"(B, T, {enc.output_size})", dec.attention.parameters(), note="weights (B, T, S)")
    add("target embedding", f"(B, T, {dec.embedding.embedding_dim})", dec.embedding.parameters())
    rnn = dec.rnn
    extra = rnn.input_size - dec.embedding.embedding_dim
    feeds = {"luong": "attentional vector", "bahdanau": "context", "none": "context"}[dec.kind]
    for k in range(rnn.num_layers):
        note = f"input: embedding + {feeds} ({extra})" if k == 0 and extra else ""
        add(f"decoder {cell_name(rnn)} layer {k + 1}", f"(B, T, {rnn.hidden_size})", _layer_params(rnn, k),
            _gate_blocks(rnn, k), note)
    add("attentional layer tanh(W_c [s; c])", f"(B, T, {dec.output_size})", dec.combine.parameters())
    add("output layer (real tokens only)", f"(N, {dec.output.out_features})", dec.output.parameters())
    leftover = [p for p in model.parameters() if id(p) not in count.seen]
    if leftover:  # keeps the total honest if a component is added without a row here
        add("other", "", leftover)
    return rows


def _bridge_rows(bridge, dec, add) -> None:
    cell_note = ", cell 0" if bridge.dec_lstm else ""
    if bridge.hidden is None:
        add("bridge (zeros)", f"({dec.rnn.num_layers}, B, {bridge.dec_hidden})", [], note="zero initial state")
        return
    for k, (proj, src) in enumerate(zip(bridge.hidden, bridge.sources), start=1):
        add(f"bridge to decoder layer {k}", f"(B, {bridge.dec_hidden})", proj.parameters(),
            note=f"tanh(W h), h from encoder layer {src + 1}{cell_note}")
