"""Vocabulary shortlists for decoding: an inference option (`--shortlist`).

Beam search spends most of a step in the output layer, one row of W_o per target piece for every
hypothesis. A shortlist restricts that layer, per batch, to the pieces the batch can plausibly
need: the most frequent target pieces, plus for every source piece in the batch the target
pieces that co-occur with it most strongly in the training pairs (Dice coefficient over
sentence pairs), plus the special ids. The softmax is taken over the shortlist, so the search is
no longer exact: its BLEU cost is measured (docs/decoding.md, "Decoding speed").

The lexical table is built from the training cache when `nmt train` exports a model, or later by
`nmt shortlist MODEL_DIR` (the model's data must be prepared on that machine), and stored beside
the weights as `shortlist.safetensors`.

Search runs unchanged on a `ShortlistModel`: a model whose target ids are positions in the
batch's shortlist. The special ids 0-3 are always its first four entries, so EOS, PAD and BOS
keep their ids and search's masking needs no change; outputs are mapped back to model ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from nmt.errors import NMTError
from nmt.model.state import DecoderState, EncoderOutput, StepOutput

FILE = "shortlist.safetensors"
SPECIALS = 4  # PAD, UNK, BOS, EOS: ids 0-3 (nmt.vocab)


@dataclass
class LexicalTable:
    frequent: Tensor  # (tgt_vocab,) int64 target ids, most frequent in the training targets first
    translations: Tensor  # (src_vocab, k) int64 target ids per source id, highest Dice first; -1 pads

    @classmethod
    def build(cls, sources: Sequence[np.ndarray], targets: Sequence[np.ndarray], src_vocab: int, tgt_vocab: int,
              k: int = 100) -> "LexicalTable":
        """From aligned id sequences (no BOS/EOS): counts of sentence pairs holding both pieces."""
        src_sets = [np.unique(s) for s in sources]
        tgt_sets = [np.unique(t) for t in targets]
        keys = _concat((s[:, None] * tgt_vocab + t[None, :]).ravel() for s, t in zip(src_sets, tgt_sets))
        pair_keys, both = np.unique(keys, return_counts=True)  # c(s, t) over sentence pairs
        src_of, tgt_of = pair_keys // tgt_vocab, pair_keys % tgt_vocab
        src_count = np.bincount(_concat(src_sets), minlength=src_vocab)  # pairs holding s
        tgt_count = np.bincount(_concat(tgt_sets), minlength=tgt_vocab)
        dice = 2.0 * both / (src_count[src_of] + tgt_count[tgt_of])
        order = np.lexsort((-dice, src_of))  # by source id, best Dice first within each
        src_sorted, tgt_sorted = src_of[order], tgt_of[order]
        rank = np.arange(len(order)) - np.searchsorted(src_sorted, src_sorted)  # position within its source id
        keep = rank < k
        table = np.full((src_vocab, k), -1, dtype=np.int64)
        table[src_sorted[keep], rank[keep]] = tgt_sorted[keep]
        frequent = np.argsort(-np.bincount(_concat(targets), minlength=tgt_vocab), kind="stable")  # by token count
        return cls(torch.from_numpy(frequent), torch.from_numpy(table))

    @classmethod
    def from_cache(cls, cache, src_vocab: int, tgt_vocab: int, k: int = 100,
                   max_pairs: int = 200_000) -> "LexicalTable":
        """From a training `TokenCache` (its id lists, read column-wise from Arrow): at most
        `max_pairs` pairs, evenly spaced, so a WMT-sized corpus costs what 200k pairs cost."""
        import pyarrow as pa

        rows = len(cache)
        pick = pa.array(np.linspace(0, rows - 1, max_pairs).astype(np.int64)) if rows > max_pairs else None
        columns = []
        for name in ("src_ids", "tgt_ids"):
            array = cache.dataset.data.column(name).combine_chunks()
            if pick is not None:
                array = array.take(pick)
            offsets = array.offsets.to_numpy().astype(np.int64)
            values = array.values.to_numpy().astype(np.int64)
            columns.append(np.split(values[offsets[0]:offsets[-1]], offsets[1:-1] - offsets[0]))
        return cls.build(columns[0], columns[1], src_vocab, tgt_vocab, k)

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        save_file({"frequent": self.frequent.int().contiguous(), "translations": self.translations.int().contiguous()},
                  str(path), metadata={"format": "nmt-shortlist-1"})

    @classmethod
    def load(cls, path: Path) -> "LexicalTable":
        from safetensors.torch import load_file

        if not Path(path).is_file():
            raise NMTError(f"{path}: no shortlist here; build one with `nmt shortlist {Path(path).parent}`")
        tensors = load_file(str(path))
        return cls(tensors["frequent"].long(), tensors["translations"].long())  # stored as int32

    def candidates(self, src: Tensor, frequent: int, per_source: int, min_rows: int = 0) -> Tensor:
        """Sorted target ids for a batch of source ids (batch, src_len); ids 0-3 always first.

        Fewer than `min_rows` are topped up with the next most frequent pieces (up to the whole vocabulary).
        """
        present = torch.unique(src.cpu())  # (n,) includes PAD and EOS: their rows are empty
        present = present[present < self.translations.size(0)]
        ids = torch.cat([torch.arange(SPECIALS), self.frequent[:frequent],
                         self.translations[present, :per_source].flatten()])
        ids = torch.unique(ids[ids >= 0])
        missing = min_rows - ids.numel()
        if missing > 0:
            rest = self.frequent[frequent:]
            rest = rest[~torch.isin(rest, ids)][:missing]
            ids = torch.unique(torch.cat([ids, rest]))
        return ids


class ShortlistModel:
    """A model's search interface over the target ids `ids` (sorted, `ids[:4]` = 0..3): step
    log-probs are a softmax over those rows of the output layer, token i means model id ids[i]."""

    def __init__(self, model, ids: Tensor):
        self.model = model
        self.ids = ids  # (C,) on the model's device
        self._id_list: list[int] | None = None  # `ids` on the host, read once for `model_ids`
        output = model.decoder.output
        if isinstance(output, nn.Linear):
            weight, bias = output.weight.index_select(0, ids), output.bias.index_select(0, ids)
            self.project = lambda x: F.linear(x, weight, bias)  # (rows, C)
        else:  # nmt.decoding.quantization.Int8Linear
            self.project = output.rows(ids)

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        return self.model.encode(src, src_lengths)

    def start(self, encoder_out: EncoderOutput) -> DecoderState:
        return self.model.start(encoder_out)

    def reorder(self, state: DecoderState, index: Tensor, beams: int = 1) -> DecoderState:
        return self.model.reorder(state, index, beams)

    def step(self, state: DecoderState, prev_tokens: Tensor) -> StepOutput:
        """prev_tokens: (rows,) shortlist positions -> log-probs (rows, C)."""
        out, state, weights = self.model.decoder.step_features(state, self.ids.index_select(0, prev_tokens))
        log_probs = torch.log_softmax(self.project(out).float(), dim=-1)
        return StepOutput(log_probs=log_probs, state=state, attention=None if weights is None else weights.squeeze(1))

    def model_ids(self, tokens: list[int]) -> list[int]:
        if self._id_list is None:
            self._id_list = self.ids.tolist()
        return [self._id_list[t] for t in tokens]


def _concat(arrays) -> np.ndarray:
    """One int64 array of many (none at all gives an empty one)."""
    return np.concatenate([*arrays, np.zeros(0, np.int64)]).astype(np.int64)


def write_for_export(model_dir: Path, cache, src_vocab: int, tgt_vocab: int) -> Path:
    """MODEL_DIR/shortlist.safetensors, renamed into place so a crash leaves none rather than half of one."""
    path = Path(model_dir) / FILE
    partial = path.with_name(FILE + ".tmp")
    LexicalTable.from_cache(cache, src_vocab, tgt_vocab).save(partial)
    partial.replace(path)
    return path


def build_for_model_dir(model_dir: Path) -> tuple[Path, int]:
    """MODEL_DIR/shortlist.safetensors from the training cache of the model's own config;
    returns the file and the number of training pairs it was counted from."""
    import json

    from nmt.config import load_config
    from nmt.data.cache import TokenCache
    from nmt.data.pipeline import read_manifest
    from nmt.export import CONFIG, META

    config_path, meta_path = model_dir / CONFIG, model_dir / META
    for path in (config_path, meta_path):
        if not path.is_file():
            raise NMTError(f"{path}: not found; MODEL_DIR must be a directory written by `nmt train`")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    config = load_config(config_path)
    cache = TokenCache.open(Path(read_manifest(config.data)["caches"]["train"]))
    return write_for_export(model_dir, cache, meta["src_vocab_size"], meta["tgt_vocab_size"]), len(cache)
