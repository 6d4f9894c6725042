"""Shared fixtures: tiny generated parallel corpora (no file outside tmp_path is read)."""

from __future__ import annotations

import random
from pathlib import Path

import datasets
import pytest

from nmt.config import DataConfig

datasets.disable_progress_bars()  # the tests' own save_to_disk calls would fill captured stderr

LETTERS = "abcdefghijklmnopqrstuvwxyzäöü"


def make_pairs(n: int, seed: int = 0, min_words: int = 2, max_words: int = 12) -> list[tuple[str, str]]:
    """A toy language pair: random words from a fixed lexicon; the target word is the source
    word reversed, so sentences are parallel and of similar length."""
    rng = random.Random(seed)
    lexicon = ["".join(rng.choice(LETTERS) for _ in range(rng.randint(2, 7))) for _ in range(150)]
    pairs = []
    for _ in range(n):
        words = [rng.choice(lexicon) for _ in range(rng.randint(min_words, max_words))]
        pairs.append((" ".join(words), " ".join(w[::-1] for w in reversed(words))))
    return pairs


def write_parallel(directory: Path, stem: str, pairs, src_lang: str = "de", tgt_lang: str = "en"):
    directory.mkdir(parents=True, exist_ok=True)
    src, tgt = directory / f"{stem}.{src_lang}", directory / f"{stem}.{tgt_lang}"
    src.write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
    tgt.write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")
    return src, tgt


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """train (300 pairs) and val (40 pairs) as aligned .de/.en files."""
    directory = tmp_path / "corpus"
    write_parallel(directory, "train", make_pairs(300, seed=1))
    write_parallel(directory, "val", make_pairs(40, seed=2))
    return directory


@pytest.fixture
def data_config(tmp_path: Path, corpus_dir: Path) -> DataConfig:
    """A tiny DataConfig: vocabulary 64, single-process encoding, everything under tmp_path."""
    return DataConfig.model_validate({
        "name": "toy-de-en", "src_lang": "de", "tgt_lang": "en",
        "train": {"src": str(corpus_dir / "train.de"), "tgt": str(corpus_dir / "train.en")},
        "valid": {"src": str(corpus_dir / "val.de"), "tgt": str(corpus_dir / "val.en")},
        "tokenizer": {"vocab_size": 64},
        "tokenizer_dir": str(tmp_path / "tokenizers"), "cache_dir": str(tmp_path / "cache"),
        "batch_tokens": 200, "valid_batch_tokens": 400, "num_proc": 1,
    })
