"""`nmt info CONFIG_OR_MODEL_DIR`: the architecture, component by component, with parameter counts.

A Keras-style table: each component with its output shape and parameter count, and totals that
equal `sum(p.numel() for p in model.parameters())` (a shared matrix counts once, where it first
appears). Recurrent layers also show their gate blocks: each block is hidden x (input + hidden)
weights plus two hidden-size biases, and a layer has 1 (rnn), 3 (gru) or 4 (lstm) of them.

Vocabulary sizes come from, in order: --src-vocab/--tgt-vocab; an exported model's meta.json;
the tokenizer under data.tokenizer_dir/data.name when it already exists; data.tokenizer.vocab_size.
The first line under the table says which.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from torch import nn

from nmt.config import Config, load_config
from nmt.errors import NMTError
from nmt.model import Seq2Seq, build_model
from nmt.model.recurrent import GATES, cell_name

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="CONFIG_OR_MODEL_DIR", type=Path, help="a YAML config or an exported model directory")
    parser.add_argument("--src-vocab", type=int, help="source vocabulary size (overrides the tokenizer/config)")
    parser.add_argument("--tgt-vocab", type=int, help="target vocabulary size (overrides the tokenizer/config)")


def run(args: argparse.Namespace) -> int:
    config, vocab = _resolve(args.path)
    for name in ("src_vocab", "tgt_vocab"):
        value = getattr(args, name)
        if value is not None and value < 5:
            raise NMTError(f"--{name.replace('_', '-')}: must be at least 5 (4 special ids + 1), got {value}")
    if args.src_vocab or args.tgt_vocab:
        vocab = Vocab(args.src_vocab or vocab.src, args.tgt_vocab or vocab.tgt, "--src-vocab/--tgt-vocab")
    model = build_model(config.model, vocab.src, vocab.tgt)
    print(describe(config, model, vocab))
    return 0


def _resolve(path: Path) -> tuple[Config, Vocab]:
    if path.is_dir():
        from nmt.export import inspect_export  # safetensors is only needed for a model directory

        info = inspect_export(path)
        return info.config, Vocab(info.src_vocab_size, info.tgt_vocab_size, f"{path}/meta.json")
    config = load_config(path)
    return config, vocab_from_config(config)


def vocab_from_config(config: Config) -> Vocab:
    directory = config.data.tokenizer_dir / config.data.name
    files = tokenizer_files(directory)
    if files is None:
        size = config.data.tokenizer.vocab_size
        return Vocab(size, size, f"data.tokenizer.vocab_size (no tokenizer at {directory} yet)")
    import sentencepiece as spm

    sizes = []
    for path in files:
        try:
            sizes.append(spm.SentencePieceProcessor(model_file=str(path)).vocab_size())
        except (OSError, RuntimeError) as err:
            raise NMTError(f"{path}: not a readable SentencePiece model ({err})") from None
    return Vocab(sizes[0], sizes[1], f"tokenizer {directory}")


def tokenizer_files(directory: Path) -> Optional[tuple[Path, Path]]:
    """(source, target) SentencePiece models of a tokenizer directory, or None if there is none."""
    meta = directory / "tokenizer.json"
    if meta.is_file():
        models = json.loads(meta.read_text(encoding="utf-8")).get("models", {})
        if "src" in models and "tgt" in models:
            return directory / models["src"], directory / models["tgt"]
    for src, tgt in (("src.model", "tgt.model"), ("joint.model", "joint.model")):
        if (directory / src).is_file() and (directory / tgt).is_file():
            return directory / src, directory / tgt
    return None


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
