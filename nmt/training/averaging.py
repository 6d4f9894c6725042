"""Checkpoint averaging: one model from the best or the latest K validation checkpoints of a run.

The weights of one run at several validation points, averaged, sit nearer the centre of the
region the optimizer wanders in at the end of training than any single point (Junczys-Dowmunt et
al. 2016; Vaswani et al. 2017): better translations at no extra training. Training keeps two
pools of weights-only checkpoints, both pruned by Lightning's `ModelCheckpoint`:

    checkpoints/best-k/step-<step>-<metric>-<value>.ckpt     the K best by the monitored metric
    checkpoints/latest-k/step-<step>-<metric>-<value>.ckpt   the K latest validations

K is `train.keep_checkpoints`. `nmt average` and `train.average` read them; any list of
checkpoint files of one architecture and tokenizer can be averaged too. Floating-point tensors
are averaged in float64 and stored in float32; integer buffers must agree (they count, they do
not learn) and are kept as they are. Checkpoints load with `weights_only=True`: no pickle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

import torch

from nmt.errors import NMTError

POOLS = {"best": "best-k", "last": "latest-k"}  # which -> folder under checkpoints/
_NAME = re.compile(r"^step-(?P<step>\d+)-(?P<metric>[a-z]+)-(?P<value>-?\d+(?:\.\d+)?|nan|inf|-inf)\.ckpt$")


def pool_filename(metric: str) -> str:
    """The `ModelCheckpoint` filename template of both pools: step and monitored value in the name."""
    return f"step-{{step}}-{metric}-{{val/{metric}:.4f}}"


@dataclass(frozen=True)
class KeptCheckpoint:
    path: Path
    step: int
    metric: str
    value: float


def kept_checkpoints(checkpoints: Path, which: Literal["best", "last"], k: int, mode: str) -> list[KeptCheckpoint]:
    """The `k` best (by the metric, `mode` "max" or "min") or latest checkpoints of a pool, best
    or latest first; fewer where the pool holds fewer. An empty pool is an `NMTError`."""
    folder = Path(checkpoints) / POOLS[which]
    found = []
    for path in sorted(folder.glob("*.ckpt")) if folder.is_dir() else []:
        match = _NAME.match(path.name)
        if match:
            found.append(KeptCheckpoint(path, int(match["step"]), match["metric"], float(match["value"])))
    if not found:
        raise NMTError(f"{folder}: no kept checkpoints (training keeps train.keep_checkpoints of them at "
                       f"each validation; it needs a validation set and keep_checkpoints > 0)")
    if which == "last":
        found.sort(key=lambda c: -c.step)
    else:
        sign = -1.0 if mode == "max" else 1.0
        found.sort(key=lambda c: (sign * c.value, -c.step))  # ties: the later one
    return found[:k]


@dataclass
class Averaged:
    state_dict: dict[str, torch.Tensor]  # LightningModule keys ("model." prefix), float32
    hyper_parameters: dict[str, Any]  # of the first checkpoint: config, vocabulary sizes
    files: list[Path]

    def model_state(self) -> dict[str, torch.Tensor]:
        """The `Seq2Seq` state dict (without the LightningModule's "model." prefix)."""
        return {key[len("model."):]: value for key, value in self.state_dict.items() if key.startswith("model.")}


def _load(path: Path) -> dict:
    if not Path(path).is_file():
        raise NMTError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a file that is not a checkpoint
        raise NMTError(f"{path}: not a readable checkpoint ({str(err).splitlines()[0][:120]})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "hyper_parameters" not in checkpoint:
        raise NMTError(f"{path}: not an nmt training checkpoint (no state_dict or hyper_parameters)")
    return checkpoint


def _identity(hparams: dict) -> dict[str, Any]:
    """What checkpoints must share to be averaged: the architecture and the tokenizer."""
    config = hparams.get("config", {})
    data = config.get("data", {})
    return {
        "model": config.get("model"),
        "src_vocab_size": hparams.get("src_vocab_size"),
        "tgt_vocab_size": hparams.get("tgt_vocab_size"),
        "data.name": data.get("name"),
        "data.tokenizer": data.get("tokenizer"),
    }


def _first_difference(a: Any, b: Any, prefix: str) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else key)
    return f"{prefix} {a!r} vs {b!r}"


def average_checkpoints(files: Sequence[Path]) -> Averaged:
    """The element-wise mean of the checkpoints' weights; an `NMTError` naming two files that
    differ in architecture or tokenizer (or in their tensors' names and shapes)."""
    if not files:
        raise NMTError("no checkpoints to average")
    first_path = Path(files[0])
    first = _load(first_path)
    reference, identity = first["state_dict"], _identity(first["hyper_parameters"])
    sums = {key: value.double() if value.is_floating_point() else value.clone() for key, value in reference.items()}
    for path in files[1:]:
        checkpoint = _load(Path(path))
        other = _identity(checkpoint["hyper_parameters"])
        if other != identity:
            what = _first_difference(identity, other, "")
            raise NMTError(f"{first_path} and {path}: different architectures or tokenizers ({what})")
        state = checkpoint["state_dict"]
        if set(state) != set(reference) or any(state[k].shape != reference[k].shape for k in reference):
            raise NMTError(f"{first_path} and {path}: their weights differ in names or shapes")
        for key, value in state.items():
            if value.is_floating_point():
                sums[key] += value.double()
            elif not torch.equal(value, reference[key]):
                raise NMTError(f"{first_path} and {path}: integer buffer {key} differs")
    count = len(files)
    state = {key: (value / count).float() if value.is_floating_point() else value for key, value in sums.items()}
    return Averaged(state, dict(first["hyper_parameters"]), [Path(f) for f in files])


def export_average(averaged: Averaged, directory: Path) -> Path:
    """An exported model directory (as `nmt train` writes) holding the average; the tokenizer
    and the shortlist come from the run's prepared data, which must be on this machine."""
    from nmt.config import Config
    from nmt.data.cache import TokenCache
    from nmt.data.pipeline import read_manifest
    from nmt.decoding.shortlist import write_for_export
    from nmt.export import export_model_dir
    from nmt.model import build_model
    from nmt.tokenizer import Tokenizer

    hparams = averaged.hyper_parameters
    config = Config.model_validate(hparams["config"])
    src_vocab, tgt_vocab = int(hparams["src_vocab_size"]), int(hparams["tgt_vocab_size"])
    model = build_model(config.model, src_vocab, tgt_vocab)
    model.load_state_dict(averaged.model_state())
    manifest = read_manifest(config.data)
    export_model_dir(directory, config, model.eval(), Tokenizer.load(Path(manifest["tokenizer"])))
    write_for_export(directory, TokenCache.open(Path(manifest["caches"]["train"])), src_vocab, tgt_vocab)
    return Path(directory)
