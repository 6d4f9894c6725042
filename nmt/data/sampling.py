"""Subword regularization: a fresh SentencePiece segmentation of every training pair each epoch.

How sampled segmentations meet the Arrow cache: the cache keeps what is fixed, the ids of the
best segmentation (they plan the batches and build the shortlist's lexical table) and, with
sampling on, the cleaned text. A sampled segmentation is not stored: it is drawn when its batch
is read (`SampledPairRows`), seeded by (train seed, epoch, the batch's first row). Storing one
per epoch would grow the cache with every epoch and tie it to a seed; drawing costs about 50 us
a sentence on one core (unigram, Multi30k), measured in benchmarks/README.md.

- Deterministic and resumable: a batch's rows are fixed by the batch sampler's (seed, epoch)
  and a batch is read whole in one process, so the same batch gets the same segmentation in a
  rerun, after a resume (the sampler restores epoch and position), and with any number of
  DataLoader workers.
- Token budget: sampled segmentations have more pieces than the best one. The batch sampler
  plans with the best lengths scaled by the corpus's mean growth, measured once at start on up
  to 2,000 pairs (`measure_growth`), so a batch still holds about `batch_tokens` padded tokens.
- A target vocabulary of seen pieces (`target_pieces: seen`) lacks some pieces a sampled
  segmentation can use; such a sentence keeps its best segmentation rather than learn <unk>
  (the share is measured and printed when training starts).
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

GROWTH_SAMPLE = 2000  # pairs sampled to measure how much longer sampled segmentations are


def batch_seed(seed: int, epoch: int, first_row: int) -> int:
    """A 32-bit SentencePiece seed per (training seed, epoch, batch)."""
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


class SampledPairRows(Dataset):
    """Training rows with a sampled segmentation, a whole batch per Arrow read and draw.

    `epoch` is set by the training loader before each epoch (`ResumableLoader`).
    """

    def __init__(self, dataset, tokenizer: Tokenizer, options: SubwordSamplingConfig, seed: int):
        self.dataset = dataset.select_columns(["tgt_ids", "src_text", "tgt_text"])
        self.tokenizer = tokenizer
        self.options = options
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitems__(self, rows: list[int]) -> Rows:
        columns = self.dataset[rows]
        seed = batch_seed(self.seed, self.epoch, min(rows))
        src, tgt = sample_segmentations(self.tokenizer, columns["src_text"], columns["tgt_text"], self.options, seed)
        targets = [sampled if sampled is not None else best for sampled, best in zip(tgt, columns["tgt_ids"])]
        return Rows(list(zip(src, targets)), list(rows))

    def __getitem__(self, row: int) -> tuple[list[int], list[int]]:
        return self.__getitems__([row]).pairs[0]


@dataclass
class Growth:
    """Sampled pieces per best-segmentation piece, and the share of targets kept at their best."""

    src: float
    tgt: float
    kept_best: float

    def describe(self) -> str:
        return (f"subword sampling: {self.src:.2f}x source and {self.tgt:.2f}x target pieces per sentence; "
                f"{100 * self.kept_best:.1f}% of targets keep their best segmentation (a sampled piece is "
                f"outside the target vocabulary)")


def measure_growth(cache, tokenizer: Tokenizer, options: SubwordSamplingConfig, seed: int,
                   rows: int = GROWTH_SAMPLE) -> Growth:
    """Mean growth over up to `rows` evenly spaced training pairs (the same ones every run)."""
    total = len(cache)
    picked = np.unique(np.linspace(0, total - 1, min(rows, total)).astype(np.int64)).tolist()
    columns = cache.dataset.select_columns(["src_len", "tgt_len", "src_text", "tgt_text"])[picked]
    src, tgt = sample_segmentations(tokenizer, columns["src_text"], columns["tgt_text"], options,
                                    batch_seed(seed, 0, total))  # no batch starts at row `total`
    kept = [t is None for t in tgt]
    src_growth = sum(map(len, src)) / max(1, sum(columns["src_len"]))
    sampled_tgt = sum(len(t) for t in tgt if t is not None)
    best_tgt = sum(n for n, k in zip(columns["tgt_len"], kept) if not k)
    return Growth(src_growth, sampled_tgt / max(1, best_tgt), sum(kept) / len(kept))
