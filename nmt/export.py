"""The exported model directory: everything inference needs, nothing loaded with pickle.

    <dir>/config.yaml            the full resolved Config (rebuilds the model)
    <dir>/model.safetensors      the weights; a tied matrix is stored once
    <dir>/meta.json              vocabulary sizes, nmt version, parameter count
    <dir>/tokenizers/src.model   SentencePiece models, copied
    <dir>/tokenizers/tgt.model
    <dir>/tokenizers/tokenizer.json  the tokenizer's metadata (from `nmt prepare`, pointing at the
                                 copies), so `nmt.tokenizer.Tokenizer.load` reads the folder

A directory is written next to its destination and renamed into place, so a crash never leaves
a half-written model where a complete one is expected. Loading checks every file first and
reports what is missing or mismatched in one line.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Optional, Union

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_model

import nmt
from nmt.config import Config, dump_config, read_yaml, validate
from nmt.errors import ConfigError, NMTError
from nmt.model import Seq2Seq, build_model

CONFIG, WEIGHTS, META, TOKENIZERS = "config.yaml", "model.safetensors", "meta.json", "tokenizers"
TOKENIZER_META = "tokenizer.json"  # written by `nmt prepare` beside the SentencePiece models
FORMAT = 1
REQUIRED = (CONFIG, WEIGHTS, META, f"{TOKENIZERS}/src.model", f"{TOKENIZERS}/tgt.model")


@dataclass
class TokenizerFiles:
    src: Path  # SentencePiece model of the source side
    tgt: Path  # of the target side (the same content for a joint tokenizer)


@dataclass
class ExportInfo:
    """What a model directory says about itself, without loading weights."""

    directory: Path
    config: Config
    meta: dict
    tokenizers: TokenizerFiles

    @property
    def src_vocab_size(self) -> int:
        return int(self.meta["src_vocab_size"])

    @property
    def tgt_vocab_size(self) -> int:
        return int(self.meta["tgt_vocab_size"])


@dataclass
class ExportedModel:
    config: Config
    model: Seq2Seq  # in eval mode
    tokenizers: TokenizerFiles
    meta: dict

    @cached_property
    def tokenizer(self) -> Any:
        """The `nmt.tokenizer.Tokenizer` over the copied models (loaded on first use)."""
        from nmt.tokenizer import Tokenizer

        return Tokenizer.load(self.tokenizers.src.parent)


def export_model_dir(directory: Path, config: Config, model: Seq2Seq, tokenizer: Union[TokenizerFiles, Any]) -> Path:
    """Write `model` with its config and tokenizers to `directory`, replacing it atomically.

    tokenizer: the SentencePiece model files, or the `nmt.tokenizer.Tokenizer` trained by
    `nmt prepare` (its files and metadata are copied).
    """
    directory = Path(directory)
    files = tokenizer if isinstance(tokenizer, TokenizerFiles) else _files_of(tokenizer)
    for path in (files.src, files.tgt):
        if not Path(path).is_file():
            raise NMTError(f"{path}: tokenizer model not found")
    directory.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        (work / CONFIG).write_text(dump_config(config), encoding="utf-8")
        save_model(model, str(work / WEIGHTS), metadata={"format": "pt", "nmt": nmt.__version__})
        meta = {
            "format": FORMAT,
            "nmt_version": nmt.__version__,
            "src_vocab_size": model.src_vocab_size,
            "tgt_vocab_size": model.tgt_vocab_size,
            "parameters": sum(p.numel() for p in model.parameters()),
        }
        (work / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        _copy_tokenizers(work / TOKENIZERS, Path(files.src), Path(files.tgt))
        _replace(work, directory)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return directory


def _files_of(tokenizer: Any) -> TokenizerFiles:
    """The model files of an `nmt.tokenizer.Tokenizer` (its folder and metadata name them)."""
    models = tokenizer.meta["models"]
    return TokenizerFiles(Path(tokenizer.directory) / models["src"], Path(tokenizer.directory) / models["tgt"])


def _copy_tokenizers(target: Path, src: Path, tgt: Path) -> None:
    target.mkdir()
    shutil.copyfile(src, target / "src.model")
    shutil.copyfile(tgt, target / "tgt.model")
    source_meta = src.parent / TOKENIZER_META
    meta = json.loads(source_meta.read_text(encoding="utf-8")) if source_meta.is_file() else {"format": 1}
    meta["models"] = {"src": "src.model", "tgt": "tgt.model"}  # the copies
    (target / TOKENIZER_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _replace(work: Path, directory: Path) -> None:
    """Rename `work` to `directory`; an existing directory is moved aside first, then removed."""
    old: Optional[Path] = None
    if directory.exists():
        old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        directory.rename(old)
    work.rename(directory)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def inspect_export(directory: Path) -> ExportInfo:
    """Check that `directory` is a complete model directory and read its config and metadata."""
    directory = Path(directory)
    if not directory.is_dir():
        raise NMTError(f"{directory}: model directory not found")
    missing = [name for name in REQUIRED if not (directory / name).is_file()]
    if missing:
        raise NMTError(f"{directory}: incomplete model directory, missing {', '.join(missing)}")
    config = validate(Config, read_yaml(directory / CONFIG), source=str(directory / CONFIG))
    try:
        meta = json.loads((directory / META).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise NMTError(f"{directory / META}: not valid JSON ({err})") from None
    for key in ("src_vocab_size", "tgt_vocab_size"):
        if not isinstance(meta.get(key), int) or meta[key] < 1:
            raise NMTError(f"{directory / META}: {key} missing or not a positive integer")
    tokenizers = TokenizerFiles(directory / TOKENIZERS / "src.model", directory / TOKENIZERS / "tgt.model")
    return ExportInfo(directory=directory, config=config, meta=meta, tokenizers=tokenizers)


def load_model_dir(directory: Path, device: str | torch.device = "cpu") -> ExportedModel:
    """The model of a directory written by `export_model_dir`, in eval mode on `device`."""
    info = inspect_export(directory)
    try:
        model = build_model(info.config.model, info.src_vocab_size, info.tgt_vocab_size)
    except ConfigError as err:
        raise NMTError(f"{info.directory / CONFIG}: {err}") from None
    path = info.directory / WEIGHTS
    try:
        weights = load_file(str(path), device=str(device))
    except (SafetensorError, OSError) as err:
        raise NMTError(f"{path}: not a readable safetensors file ({err})") from None
    _load_weights(model, weights, path)
    return ExportedModel(config=info.config, model=model.to(device).eval(), tokenizers=info.tokenizers, meta=info.meta)


def _load_weights(model: Seq2Seq, weights: dict[str, torch.Tensor], path: Path) -> None:
    """Copy `weights` into `model`; any name or shape that does not fit the config is one error line.

    Tied parameters appear under several names in the model and once in the file.
    """
    groups: dict[int, list[str]] = {}  # one entry per distinct parameter tensor
    state = model.state_dict(keep_vars=True)
    for name, tensor in state.items():
        groups.setdefault(id(tensor), []).append(name)
    problems, assign = [], {}
    for names in groups.values():
        stored = [n for n in names if n in weights]
        if not stored:
            problems.append(f"missing {names[0]}")
            continue
        value = weights[stored[0]]
        if tuple(value.shape) != tuple(state[names[0]].shape):
            problems.append(f"{stored[0]} has shape {tuple(value.shape)}, the config needs {tuple(state[names[0]].shape)}")
        assign.update({n: value for n in names})
    unexpected = sorted(set(weights) - set(state))
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}")
    if problems:
        shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
        raise NMTError(f"{path}: weights do not match {CONFIG}: {shown}")
    model.load_state_dict(assign)
