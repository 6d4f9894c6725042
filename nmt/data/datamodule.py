"""The LightningDataModule that ties corpus, tokenizer, cache and batching together.

`prepare_data` (once per node) runs `nmt prepare`'s pipeline (nmt/data/pipeline.py): tokenizers and caches are made or
reused. `setup` (every rank) opens what the manifest points at. The training loader is a
`ResumableLoader`: Lightning checkpoints carry its position, so a resumed run continues with the
identical batch sequence. Under DDP each rank gets its own share of batches from the sampler
(Lightning's `DistributedSampler` injection does not apply to these loaders).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import lightning as L

from nmt.config import DataConfig
from nmt.data.batching import TokenBatchSampler
from nmt.data.cache import TokenCache
from nmt.data.loader import BatchLoader, ResumableLoader, make_dataloader
from nmt.data.pipeline import prepare, read_manifest
from nmt.data.summary import format_summary
from nmt.errors import DataError
from nmt.tokenizer import Tokenizer


class TranslationDataModule(L.LightningDataModule):
    """Train/valid `Batch` loaders, the tokenizer, vocabulary sizes and raw validation text."""

    def __init__(self, config: DataConfig, seed: int = 1234, force: bool = False, verbose: bool = True):
        super().__init__()
        self.config = config
        self.seed = seed  # batch shuffling; the training config's seed
        self.force = force
        self.verbose = verbose
        self.tokenizer: Optional[Tokenizer] = None
        self.train_cache: Optional[TokenCache] = None
        self.valid_cache: Optional[TokenCache] = None
        self._valid_text: Optional[tuple[list[str], list[str]]] = None

    def prepare_data(self) -> None:
        prepared = prepare(self.config, force=self.force, progress=self.verbose)
        if self.verbose:
            print(format_summary(prepared))

    def setup(self, stage: Optional[str] = None) -> None:
        if self.tokenizer is not None:
            return
        manifest = read_manifest(self.config)
        self.tokenizer = Tokenizer.load(Path(manifest["tokenizer"]))
        caches = manifest["caches"]
        self.train_cache = TokenCache.open(Path(caches["train"]))
        if "valid" in caches:
            self.valid_cache = TokenCache.open(Path(caches["valid"]))

    def _require_setup(self) -> Tokenizer:
        if self.tokenizer is None:
            raise DataError("TranslationDataModule: call prepare_data() and setup() first")
        return self.tokenizer

    # ------------------------------------------------------------------------- what models need

    @property
    def src_vocab_size(self) -> int:
        return self._require_setup().src_vocab_size

    @property
    def tgt_vocab_size(self) -> int:
        return self._require_setup().tgt_vocab_size

    def _texts(self) -> tuple[list[str], list[str]]:
        self._require_setup()
        if self.valid_cache is None:
            raise DataError(f"data {self.config.name!r} has no valid: corpus")
        if self._valid_text is None:
            self._valid_text = self.valid_cache.texts()
        return self._valid_text

    @property
    def valid_sources(self) -> list[str]:
        """Validation source sentences (whitespace-normalised), in corpus order."""
        return self._texts()[0]

    @property
    def valid_references(self) -> list[str]:
        """Validation reference translations, aligned with `valid_sources`."""
        return self._texts()[1]

    # ------------------------------------------------------------------------- loaders

    def _ranks(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return trainer.world_size, trainer.global_rank

    def _sampler(self, cache: TokenCache, batch_tokens: int, shuffle: bool, epoch_lengths=None) -> TokenBatchSampler:
        replicas, rank = self._ranks()
        return TokenBatchSampler(cache.src_lengths, cache.tgt_lengths, batch_tokens, shuffle=shuffle,
                                 seed=self.seed, num_replicas=replicas, rank=rank, epoch_lengths=epoch_lengths)

    def train_dataloader(self) -> ResumableLoader:
        self._require_setup()
        options = self.config.subword_sampling
        if not options.enabled:
            sampler = self._sampler(self.train_cache, self.config.batch_tokens, shuffle=True)
            return ResumableLoader(make_dataloader(self.train_cache.dataset, sampler, self.config.num_workers))
        from nmt.data.sampling import EpochSegmentations, SampledPairRows

        segmentations = EpochSegmentations(self.train_cache, self.tokenizer, options, self.seed)
        if self.verbose:
            print(segmentations.describe(self.train_cache.src_lengths, self.train_cache.tgt_lengths))
        sampler = self._sampler(self.train_cache, self.config.batch_tokens, shuffle=True,
                                epoch_lengths=segmentations.lengths)
        rows = SampledPairRows(segmentations)
        return ResumableLoader(make_dataloader(self.train_cache.dataset, sampler, self.config.num_workers, rows=rows))

    def val_dataloader(self) -> BatchLoader:
        self._require_setup()
        if self.valid_cache is None:
            return []
        sampler = self._sampler(self.valid_cache, self.config.valid_batch_tokens, shuffle=False)
        return BatchLoader(make_dataloader(self.valid_cache.dataset, sampler, self.config.num_workers))

    @property
    def padding_share(self) -> float:
        """Padding share of the training batches at `batch_tokens` (one rank's view of all)."""
        self._require_setup()
        return self._sampler(self.train_cache, self.config.batch_tokens, shuffle=True).padding_share
