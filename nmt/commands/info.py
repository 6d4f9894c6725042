"""`nmt info CONFIG_OR_MODEL_DIR`: the architecture, component by component, with parameter counts.

Vocabulary sizes come from, in order: --src-vocab/--tgt-vocab; an exported model's meta.json;
the tokenizer under data.tokenizer_dir/data.name when it already exists; data.tokenizer.vocab_size.
The first line under the table says which.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.config import Config, load_config
from nmt.errors import NMTError
from nmt.model import build_model
from nmt.model.summary import Vocab, describe


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
    """The sizes of the tokenizer the config names, if it exists yet: the model's own sizes, so a
    `target_pieces: seen` target vocabulary counts the pieces kept, not its SentencePiece model's
    (before 0.2 `nmt info` counted the whole model and overstated the output layer)."""
    from nmt.tokenizer import METADATA, Tokenizer

    directory = config.data.tokenizer_dir / config.data.name
    if (directory / METADATA).is_file():
        tokenizer = Tokenizer.load(directory)  # a damaged tokenizer is a one-line DataError
        return Vocab(tokenizer.src_vocab_size, tokenizer.tgt_vocab_size, f"tokenizer {directory}")
    for src, tgt in (("src.model", "tgt.model"), ("joint.model", "joint.model")):  # models without metadata
        if (directory / src).is_file() and (directory / tgt).is_file():
            sizes = [_model_size(directory / name) for name in (src, tgt)]
            return Vocab(sizes[0], sizes[1], f"tokenizer {directory}")
    size = config.data.tokenizer.vocab_size
    return Vocab(size, size, f"data.tokenizer.vocab_size (no tokenizer at {directory} yet)")


def _model_size(path: Path) -> int:
    import sentencepiece as spm

    try:
        return spm.SentencePieceProcessor(model_file=str(path)).vocab_size()
    except (OSError, RuntimeError) as err:
        raise NMTError(f"{path}: not a readable SentencePiece model ({err})") from None
