"""Validation and test sets carved out of one corpus, without leaking into training.

Corpora such as Tatoeba come as one file with no split, and the same sentence often occurs in
several pairs (one English sentence, three accepted German translations). Holding out random
pairs would leave their siblings in training and inflate test BLEU, so `carve` holds out pairs
in a seeded random order and then removes from training every pair that shares a source or a
target sentence (after whitespace normalisation) with a held-out pair. A candidate sharing a
sentence with a pair already held out is skipped, so the held-out sets share no sentence either.

The test set is filled first, then validation: changing the validation size leaves the test set
as it was. Held-out pairs are drawn among those training's word filters would keep (non-empty,
`clean.max_words`, `clean.max_ratio`).

The corpus is streamed three times (mark candidates, fetch the drawn ones, write training) and
never held in memory: what is kept per pair is one byte, plus the shuffled candidate order
(8 bytes a pair). The result is plain files, `{train,valid,test}.{src_lang,tgt_lang}` in
`<cache_dir>/<name>/holdout-<fingerprint>/`, which the rest of the pipeline reads like any corpus
and a user can pass to `nmt evaluate` or another toolkit.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from nmt.config import CorpusConfig, DataConfig
from nmt.data.corpus import Pair, corpus_fingerprint, drop_reason, normalise, read_corpus
from nmt.errors import DataError
from nmt.progress import progress_over

SUMMARY = "holdout.json"
VERSION = 1  # bump when the carving changes, so old carvings are not reused


@dataclass
class HoldoutCounts:
    """What carving did: pairs read, held out per split, training pairs removed for sharing a sentence."""

    read: int = 0
    eligible: int = 0  # pairs the word filters keep (candidates for holding out)
    test: int = 0
    valid: int = 0
    shared_source: int = 0  # training pairs removed: their source is a held-out source
    shared_target: int = 0  # ... their target (only) is a held-out target
    train: int = 0  # pairs left for training (cleaning still applies to them)

    @property
    def removed(self) -> int:
        return self.shared_source + self.shared_target

    def describe(self) -> str:
        return (f"{self.read} read; held out test {self.test}, valid {self.valid}; removed {self.removed} "
                f"training pairs sharing a sentence with them ({self.shared_source} the source, "
                f"{self.shared_target} the target); {self.train} left for training")


@dataclass
class Holdout:
    directory: Path
    counts: HoldoutCounts
    built: bool  # False: an earlier carving with the same inputs was reused

    def corpus(self, split: str, src_lang: str, tgt_lang: str) -> CorpusConfig:
        return CorpusConfig(src=self.directory / f"{split}.{src_lang}", tgt=self.directory / f"{split}.{tgt_lang}")

    @classmethod
    def load(cls, directory: Path) -> "Holdout":
        """A finished carving (its summary is written last)."""
        summary = Path(directory) / SUMMARY
        if not summary.is_file():
            raise DataError(f"{directory}: no held-out splits here; run `nmt prepare` again")
        return cls(Path(directory), HoldoutCounts(**json.loads(summary.read_text(encoding="utf-8"))), built=False)


def holdout_fingerprint(config: DataConfig) -> str:
    """What a carving depends on: corpus content, languages, sizes and seed, the word filters."""
    parts = {"version": VERSION, "corpus": corpus_fingerprint(config.train, config.src_lang, config.tgt_lang),
             "langs": [config.src_lang, config.tgt_lang], "holdout": config.holdout.model_dump(),
             "clean": config.clean.model_dump(include={"max_words", "max_ratio"})}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _normalised(config: DataConfig) -> Iterator[Pair]:
    for src, tgt in read_corpus(config.train, config.src_lang, config.tgt_lang, "train"):
        yield normalise(src), normalise(tgt)


def _draw(config: DataConfig, eligible: np.ndarray, progress: bool) -> tuple[list[Pair], list[Pair]]:
    """(test, valid): held-out pairs in seeded random order, no two sharing a sentence."""
    sizes = config.holdout
    wanted = sizes.test + sizes.valid
    order = np.random.default_rng(sizes.seed).permutation(np.flatnonzero(eligible))  # corpus indices
    held: list[Pair] = []
    sources: set[str] = set()
    targets: set[str] = set()
    start, window = 0, 2 * wanted + 64  # candidates fetched per pass; most are accepted
    while len(held) < wanted and start < len(order):
        chunk = order[start:start + window]
        rank = {int(index): position for position, index in enumerate(chunk)}
        fetched: list[Optional[Pair]] = [None] * len(chunk)
        pairs = read_corpus(config.train, config.src_lang, config.tgt_lang, "train")
        drawn = progress_over(pairs, progress, desc="drawing held-out pairs", unit=" pairs")
        for index, (src, tgt) in enumerate(drawn):
            position = rank.get(index)
            if position is not None:  # only the drawn pairs are normalised
                fetched[position] = normalise(src), normalise(tgt)
        for src, tgt in fetched:
            if src in sources or tgt in targets:
                continue  # shares a sentence with a pair already held out
            held.append((src, tgt))
            sources.add(src)
            targets.add(tgt)
            if len(held) == wanted:
                break
        start, window = start + len(chunk), window * 2
    if len(held) < wanted:
        raise DataError(
            f"{config.train.describe()}: cannot hold out test {sizes.test} + valid {sizes.valid} pairs: only "
            f"{len(held)} pairs without a shared sentence among {int(eligible.sum())} usable "
            f"(data.holdout asks for more than the corpus has)")
    return held[:sizes.test], held[sizes.test:]


def _write(path: Path, lines: Iterator[str]) -> None:
    with open(path, "w", encoding="utf-8") as file:
        file.writelines(line + "\n" for line in lines)


def carve(config: DataConfig, root: Path, progress: bool = True) -> Holdout:
    """Hold out `config.holdout`'s test and valid pairs from `config.train` (see the module doc)."""
    directory = root / f"holdout-{holdout_fingerprint(config)[:16]}"
    if (directory / SUMMARY).is_file():
        return Holdout.load(directory)

    counts = HoldoutCounts()
    marks = bytearray()  # 1: a candidate for holding out
    for src, tgt in progress_over(_normalised(config), progress, desc="reading for holdout", unit=" pairs"):
        usable = drop_reason(src, tgt, config.clean) is None
        marks.append(usable)
        counts.eligible += usable
    counts.read = len(marks)
    if counts.read == 0:
        raise DataError(f"{config.train.describe()}: empty corpus")
    test, valid = _draw(config, np.frombuffer(bytes(marks), dtype=np.uint8).astype(bool), progress)
    del marks
    counts.test, counts.valid = len(test), len(valid)

    work = root / f".holdout-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    src_lang, tgt_lang = config.src_lang, config.tgt_lang
    for split, pairs in (("test", test), ("valid", valid)):
        if pairs:
            _write(work / f"{split}.{src_lang}", (s for s, _ in pairs))
            _write(work / f"{split}.{tgt_lang}", (t for _, t in pairs))
    sources, targets = {s for s, _ in test + valid}, {t for _, t in test + valid}
    with open(work / f"train.{src_lang}", "w", encoding="utf-8") as src_file, \
            open(work / f"train.{tgt_lang}", "w", encoding="utf-8") as tgt_file:
        for src, tgt in progress_over(_normalised(config), progress, desc="writing training pairs", unit=" pairs"):
            if src in sources:
                counts.shared_source += 1  # held-out pairs themselves included
            elif tgt in targets:
                counts.shared_target += 1
            else:
                src_file.write(src + "\n")
                tgt_file.write(tgt + "\n")
                counts.train += 1
    # the held-out pairs are among the removed ones; count only their siblings as removed
    counts.shared_source -= counts.test + counts.valid
    if counts.train == 0:
        shutil.rmtree(work, ignore_errors=True)
        raise DataError(f"{config.train.describe()}: no training pairs left after holding out "
                        f"({counts.describe()})")
    (work / SUMMARY).write_text(json.dumps(asdict(counts), indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(directory, ignore_errors=True)
    work.replace(directory)
    for stale in root.glob("holdout-*"):
        if stale != directory:
            shutil.rmtree(stale, ignore_errors=True)  # an earlier carving of other inputs
    return Holdout(directory, counts, built=True)
