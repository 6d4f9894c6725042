"""The preparation pipeline: corpus -> cleaned pairs -> tokenizers -> token-id caches.

`prepare(config)` makes what `config` (a `data:` section) describes up to date, doing only what
is missing or stale:

1. streams each split through cleaning into an Arrow text table (and, for the tokenizer, into
   plain-text training files),
2. trains the tokenizer(s) into `<tokenizer_dir>/<name>/`,
3. encodes the train and valid splits into `<cache_dir>/<name>/<split>-<fingerprint>/`,
4. writes `<cache_dir>/<name>/manifest.json`, which `TranslationDataModule.setup` opens.

The test split is read and counted (so a bad test file fails now, not after training) but not
cached. A re-run with unchanged inputs hashes the corpus files and opens what is there.
`nmt prepare` (nmt/commands/prepare.py) and `TranslationDataModule.prepare_data` both call it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from nmt.config import CorpusConfig, DataConfig
from nmt.data.batching import TokenBatchSampler
from nmt.data.cache import TextTableWriter, TokenCache, build_cache, cache_fingerprint, cache_path, remove_stale
from nmt.data.corpus import CleanCounts, clean_pairs, corpus_fingerprint, read_corpus
from nmt.data.holdout import Holdout, carve
from nmt.errors import DataError
from nmt.progress import progress_over
from nmt.tokenizer import (Tokenizer, TrainingText, TrainingTextWriter, ensure_replaceable, tokenizer_status,
                           train_tokenizer)

SPLITS = ("train", "valid", "test")
CACHED_SPLITS = ("train", "valid")
MANIFEST = "manifest.json"


# ----------------------------------------------------------------------------- results


@dataclass
class SplitSummary:
    split: str
    corpus: str
    counts: CleanCounts
    cache: Optional[Path] = None  # None: counted only (test)
    built: bool = False  # False: an up-to-date cache was reused
    src_pieces: float = 0.0  # mean pieces per sentence
    tgt_pieces: float = 0.0


@dataclass
class Prepared:
    """What `prepare` made or found: enough to print the summary and to open the data."""

    config: DataConfig
    tokenizer: Tokenizer
    tokenizer_trained: bool
    splits: dict[str, SplitSummary] = field(default_factory=dict)
    holdout: Optional[Holdout] = None  # valid/test carved out of train (data.holdout)
    batches: int = 0  # per epoch at config.batch_tokens, one rank
    padding_share: float = 0.0
    seconds: float = 0.0


# ----------------------------------------------------------------------------- the pipeline


def with_holdout(config: DataConfig, holdout: Optional[Holdout]) -> DataConfig:
    """`config` with its corpora replaced by the carved files (unchanged without a holdout)."""
    if holdout is None:
        return config
    langs = config.src_lang, config.tgt_lang
    update = {"train": holdout.corpus("train", *langs)}
    for split in ("valid", "test"):
        if getattr(holdout.counts, split):
            update[split] = holdout.corpus(split, *langs)
    return config.model_copy(update=update)


def split_corpora(config: DataConfig) -> DataConfig:
    """The data config whose corpora are the ones training and evaluation read: with
    `data.holdout`, the carved files that `prepare` recorded in the manifest."""
    if not config.holdout.carves:
        return config
    return with_holdout(config, Holdout.load(Path(read_manifest(config)["holdout"])))


def corpora(config: DataConfig) -> dict[str, CorpusConfig]:
    return {split: getattr(config, split) for split in SPLITS if getattr(config, split) is not None}


def cache_root(config: DataConfig) -> Path:
    return Path(config.cache_dir) / config.name


def tokenizer_inputs(config: DataConfig, train_fingerprint: str) -> str:
    """What the tokenizer's training text depends on: corpus content, languages, word filters."""
    parts = {"corpus": train_fingerprint, "langs": [config.src_lang, config.tgt_lang],
             "clean": config.clean.model_dump(exclude={"max_pieces"})}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


@contextlib.contextmanager
def _datasets_progress(enabled: bool) -> Iterator[None]:
    import datasets

    was = datasets.is_progress_bar_enabled()
    (datasets.enable_progress_bars if enabled else datasets.disable_progress_bars)()
    try:
        yield
    finally:
        (datasets.enable_progress_bars if was else datasets.disable_progress_bars)()


class _Pipeline:
    """One `prepare` run; holds what the steps share (work directory, fingerprints, texts)."""

    def __init__(self, config: DataConfig, work: Path, progress: bool):
        self.config, self.work, self.progress = config, work, progress
        self.fingerprints = {split: corpus_fingerprint(corpus, config.src_lang, config.tgt_lang, split)
                             for split, corpus in corpora(config).items()}
        self.inputs = tokenizer_inputs(config, self.fingerprints["train"])
        self.tables: dict[str, tuple[Path, CleanCounts]] = {}

    def read_split(self, split: str, training_text: bool = False) -> Optional[TrainingText]:
        """Stream one split through cleaning into an Arrow text table (and tokenizer text)."""
        config, corpus = self.config, corpora(self.config)[split]
        counts = CleanCounts()
        pairs = read_corpus(corpus, config.src_lang, config.tgt_lang, split)
        cleaned = clean_pairs(pairs, config.clean if split == "train" else None, counts)
        text = TrainingTextWriter(self.work, corpus.describe(), self.inputs) if training_text else None
        table_path = self.work / f"{split}.arrow"
        with TextTableWriter(table_path) as table:
            for pair in progress_over(cleaned, self.progress, desc=f"reading {split}", unit=" pairs"):
                table.add(pair)
                if text is not None:
                    text.add(pair)
        _check_not_empty(corpus, counts)
        self.tables[split] = (table_path, counts)
        return text.close() if text is not None else None

    def tokenizer(self, force: bool) -> tuple[Tokenizer, bool]:
        """(tokenizer, whether it was trained now)."""
        config = self.config
        directory = Path(config.tokenizer_dir) / config.name
        ensure_replaceable(directory, config.tokenizer, self.inputs, force)
        if tokenizer_status(directory, config.tokenizer, self.inputs) == "same":
            return Tokenizer.load(directory), False
        text = self.read_split("train", training_text=True)
        if self.progress:
            options = config.tokenizer
            kind = f"{'joint' if options.joint else 'separate'} {options.type} {options.vocab_size}"
            print(f"training SentencePiece ({kind}) on {text.sentences} pairs ...", file=sys.stderr)
        return train_tokenizer(directory, text, config.tokenizer, config.src_lang, config.tgt_lang, force), True

    def cache(self, split: str, tokenizer: Tokenizer) -> SplitSummary:
        config, corpus = self.config, corpora(self.config)[split]
        train = split == "train"
        clean = config.clean.model_dump() if train else None
        keep_text = not train or config.subword_sampling.enabled  # sampling re-segments the training text
        fingerprint = cache_fingerprint(self.fingerprints[split], tokenizer.fingerprint, clean, keep_text)
        path = cache_path(cache_root(config), split, fingerprint)
        cache, built = TokenCache.find(path), False
        if cache is None:
            if split not in self.tables:
                self.read_split(split)
            table, counts = self.tables[split]
            cache = build_cache(table, tokenizer, path, fingerprint, counts,
                                config.clean.max_pieces if train else None, keep_text=keep_text,
                                num_proc=config.num_proc, corpus=corpus.describe(), desc=f"encoding {split}")
            built = True
        remove_stale(cache_root(config), split, path)
        return SplitSummary(split, corpus.describe(), cache.counts, path, built,
                            float(cache.src_lengths.mean()), float(cache.tgt_lengths.mean()))

    def count(self, split: str) -> SplitSummary:
        """Read a split only to check and count it (the test set is translated from raw text)."""
        corpus = corpora(self.config)[split]
        counts = CleanCounts()
        pairs = read_corpus(corpus, self.config.src_lang, self.config.tgt_lang, split)
        for _ in progress_over(clean_pairs(pairs, None, counts), self.progress, desc=f"checking {split}",
                               unit=" pairs"):
            pass
        _check_not_empty(corpus, counts)
        return SplitSummary(split, corpus.describe(), counts)


def _check_not_empty(corpus: CorpusConfig, counts: CleanCounts) -> None:
    if counts.read == 0:
        raise DataError(f"{corpus.describe()}: empty corpus")
    if counts.kept == 0:
        raise DataError(f"{corpus.describe()}: no pairs left after cleaning ({counts.describe()})")


def prepare(config: DataConfig, force: bool = False, progress: bool = True) -> Prepared:
    """Make the tokenizer and caches of `config` up to date; see the module docstring."""
    start = time.perf_counter()
    root = cache_root(config)
    root.mkdir(parents=True, exist_ok=True)
    work = root / f".work-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        with _datasets_progress(progress and sys.stderr.isatty()):
            holdout = carve(config, root, progress) if config.holdout.carves else None
            pipeline = _Pipeline(with_holdout(config, holdout), work, progress)
            tokenizer, trained = pipeline.tokenizer(force)
            prepared = Prepared(config, tokenizer, trained, holdout=holdout)
            for split in CACHED_SPLITS:
                if split in pipeline.fingerprints:
                    prepared.splits[split] = pipeline.cache(split, tokenizer)
            if "test" in pipeline.fingerprints:
                prepared.splits["test"] = pipeline.count("test")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_manifest(prepared)
    sampler = TokenBatchSampler(*_lengths(prepared.splits["train"].cache), config.batch_tokens)
    prepared.batches, prepared.padding_share = len(sampler), sampler.padding_share
    prepared.seconds = time.perf_counter() - start
    return prepared


def _lengths(cache_dir: Path):
    cache = TokenCache.open(cache_dir)
    return cache.src_lengths, cache.tgt_lengths


# ----------------------------------------------------------------------------- manifest


def config_digest(config: DataConfig) -> str:
    """Digest of the fields prepared data depends on (not batch sizes or workers)."""
    fields = config.model_dump(mode="json", exclude={"batch_tokens", "valid_batch_tokens", "num_workers", "num_proc"})
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def write_manifest(prepared: Prepared) -> Path:
    config = prepared.config
    manifest = {
        "config": config_digest(config),
        "tokenizer": str(prepared.tokenizer.directory.resolve()),
        "caches": {s.split: str(s.cache.resolve()) for s in prepared.splits.values() if s.cache is not None},
    }
    if prepared.holdout is not None:
        manifest["holdout"] = str(prepared.holdout.directory.resolve())
    path = cache_root(config) / MANIFEST
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_manifest(config: DataConfig) -> dict:
    """The prepared tokenizer and cache locations for `config`; an error if not prepared or stale."""
    path = cache_root(config) / MANIFEST
    if not path.is_file():
        raise DataError(f"{path}: data {config.name!r} is not prepared; run `nmt prepare` first")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("config") != config_digest(config):
        raise DataError(f"{path}: prepared from a different data config; run `nmt prepare` again")
    return manifest
