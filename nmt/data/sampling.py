"""Subword regularization: a fresh SentencePiece segmentation of every training pair each epoch.

How sampled segmentations meet the Arrow cache: the cache keeps what is fixed, the ids of the
best segmentation (the shortlist's lexical table is built from them) and, with sampling on, the
cleaned text. An epoch's segmentations are drawn from that text when the epoch starts
(`EpochSegmentations`), in chunks of 10,000 pairs seeded by (train seed, epoch, chunk), and held
in memory as flat arrays (4 bytes a piece: about 1 GB for 4.5M WMT pairs) rather than written to
the cache: one set per epoch on disk would grow it with every epoch and tie it to a seed.

- Deterministic and resumable: an epoch's segmentations depend only on (seed, epoch), so a
  rerun, a resumed run (the sampler restores epoch and position) and every DataLoader worker
  (each draws the epoch itself) see the same pieces.
- Token budget and padding: the batch sampler sorts each epoch's pairs by that epoch's lengths
  and cuts them at fixed boundaries planned on epoch 0's lengths (nmt/data/batching.py), so a
  batch holds pairs of equal sampled length, the batch count never changes, and batches keep to
  about `batch_tokens`. (Sampling inside batches planned on the best lengths, the first design,
  trained 18 % slower: a batch's sampled lengths spread, and padding grew.)
- A target vocabulary of seen pieces (`target_pieces: seen`) lacks some pieces a sampled
  segmentation can use; such a sentence keeps its best segmentation rather than learn <unk>
  (the share is printed when training starts).
- Cost: SentencePiece draws one pair in about 80 us on one core (unigram, Multi30k), about
  2.5 s per Multi30k epoch, spent when the epoch starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import sentencepiece as spm
from torch.utils.data import Dataset

from nmt.config import SubwordSamplingConfig
from nmt.data.loader import Rows
from nmt.tokenizer import Tokenizer

CHUNK = 10_000  # pairs drawn under one seed


def chunk_seed(seed: int, epoch: int, first_row: int) -> int:
    """A 32-bit SentencePiece seed per (training seed, epoch, chunk)."""
    return int(np.random.SeedSequence([seed, epoch, first_row]).generate_state(1)[0])


def sample_segmentations(tokenizer: Tokenizer, sources: list[str], targets: list[str],
                         options: SubwordSamplingConfig, seed: int) -> tuple[list[list[int]], list[Optional[list[int]]]]:
    """Sampled model ids of each pair; a target is None where its sample left the target vocabulary.

    One thread: SentencePiece's generator is per thread, so more would make the draw depend on
    scheduling.
    """
    spm.set_random_generator_seed(seed)
    kwargs = dict(out_type=int, enable_sampling=True, alpha=options.alpha, nbest_size=options.nbest_size,
                  num_threads=1)
    src = tokenizer.src_model.encode(sources, **kwargs)
    tgt = tokenizer.model_ids(tokenizer.tgt_model.encode(targets, **kwargs))
    return src, tgt


@dataclass
class Ragged:
    """Id sequences as one flat array and offsets: a few bytes a piece, not a Python list each."""

    values: np.ndarray  # (pieces,) int32
    offsets: np.ndarray  # (n + 1,) int64

    @classmethod
    def of(cls, sequences: list[list[int]]) -> "Ragged":
        lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        values = np.fromiter((i for s in sequences for i in s), dtype=np.int32, count=int(offsets[-1]))
        return cls(values, offsets)

    @classmethod
    def concat(cls, parts: list["Ragged"]) -> "Ragged":
        starts = np.cumsum([0] + [len(p.values) for p in parts[:-1]])
        offsets = np.concatenate([[0]] + [p.offsets[1:] + start for p, start in zip(parts, starts)])
        return cls(np.concatenate([p.values for p in parts]), offsets)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def row(self, i: int) -> list[int]:
        return self.values[self.offsets[i] : self.offsets[i + 1]].tolist()


@dataclass
class Segmented:
    """One epoch's segmentation of every training pair."""

    src: Ragged
    tgt: Ragged
    kept_best: int  # targets that kept their best segmentation


class EpochSegmentations:
    """The sampled segmentation of every training pair, one epoch at a time (the last one kept)."""

    def __init__(self, cache, tokenizer: Tokenizer, options: SubwordSamplingConfig, seed: int):
        self.dataset = cache.dataset.select_columns(["src_text", "tgt_text", "tgt_ids"])
        self.tokenizer = tokenizer
        self.options = options
        self.seed = seed
        self._epoch: Optional[int] = None
        self._current: Optional[Segmented] = None

    def __len__(self) -> int:
        return len(self.dataset)

    def for_epoch(self, epoch: int) -> Segmented:
        if self._epoch != epoch:
            self._current, self._epoch = self._draw(epoch), epoch
        return self._current

    def lengths(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(n,) source and (n,) target lengths of `epoch`'s segmentations, without EOS."""
        drawn = self.for_epoch(epoch)
        return drawn.src.lengths, drawn.tgt.lengths

    def _draw(self, epoch: int) -> Segmented:
        src_parts, tgt_parts, kept = [], [], 0
        for start in range(0, len(self.dataset), CHUNK):
            columns = self.dataset[start : start + CHUNK]
            src, tgt = sample_segmentations(self.tokenizer, columns["src_text"], columns["tgt_text"], self.options,
                                            chunk_seed(self.seed, epoch, start))
            kept += sum(t is None for t in tgt)
            src_parts.append(Ragged.of(src))
            tgt_parts.append(Ragged.of([t if t is not None else best for t, best in zip(tgt, columns["tgt_ids"])]))
        return Segmented(Ragged.concat(src_parts), Ragged.concat(tgt_parts), kept)

    def describe(self, best_src: np.ndarray, best_tgt: np.ndarray) -> str:
        """Epoch 0 against the best segmentation (`best_*`: the cache's lengths)."""
        drawn = self.for_epoch(0)
        return (f"subword sampling: {drawn.src.lengths.sum() / max(1, best_src.sum()):.2f}x source and "
                f"{drawn.tgt.lengths.sum() / max(1, best_tgt.sum()):.2f}x target pieces (epoch 0); "
                f"{100 * drawn.kept_best / max(1, len(self)):.1f}% of targets keep their best segmentation "
                f"(a sampled piece is outside the target vocabulary)")


class SampledPairRows(Dataset):
    """Training rows in their sampled segmentation of the current epoch.

    `epoch` is set by the training loader before each epoch (`ResumableLoader`).
    """

    def __init__(self, segmentations: EpochSegmentations):
        self.segmentations = segmentations
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.segmentations)

    def __getitems__(self, rows: list[int]) -> Rows:
        drawn = self.segmentations.for_epoch(self.epoch)
        return Rows([(drawn.src.row(r), drawn.tgt.row(r)) for r in rows], list(rows))

    def __getitem__(self, row: int) -> tuple[list[int], list[int]]:
        return self.__getitems__([row]).pairs[0]
