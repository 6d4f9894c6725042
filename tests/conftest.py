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


# ----------------------------------------------------------------------------- a tiny exported model


def export_tiny_model(directory: Path, tokenizer, attention: str = "luong") -> Path:
    """A tiny untrained LSTM model (Luong general + input feeding, or `attention`) exported with
    `tokenizer`. Its outputs are nonsense of up to 20 pieces; tests check plumbing, not quality."""
    import torch

    from nmt.config import Config
    from nmt.export import export_model_dir
    from nmt.model import build_model

    config = Config.model_validate({
        "data": {"name": "toy", "src_lang": "de", "tgt_lang": "en", "train": {"src": "train.de", "tgt": "train.en"}},
        "model": {"encoder": {"emb_size": 16, "hidden_size": 16, "dropout": 0.0},
                  "decoder": {"emb_size": 16, "hidden_size": 32, "dropout": 0.0, "attention": attention}},
        "search": {"beam_size": 3, "max_len": 20},
    })
    with torch.random.fork_rng():  # the tests' global random state stays as it was
        torch.manual_seed(0)
        model = build_model(config.model, tokenizer.src_vocab_size, tokenizer.tgt_vocab_size)
    return export_model_dir(directory, config, model, tokenizer)


def train_toy_tokenizer(directory: Path, pairs, vocab_size: int = 60):
    from nmt.config import TokenizerConfig
    from nmt.tokenizer import TrainingTextWriter, train_tokenizer

    text_dir = directory.with_name(directory.name + "-text")
    text_dir.mkdir(parents=True)
    writer = TrainingTextWriter(text_dir, "toy", f"toy-{vocab_size}")
    for pair in pairs:
        writer.add(pair)
    return train_tokenizer(directory, writer.close(), TokenizerConfig(vocab_size=vocab_size), "de", "en")


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory):
    """A joint 60-piece SentencePiece tokenizer of the toy language pair."""
    return train_toy_tokenizer(tmp_path_factory.mktemp("tiny-tokenizer") / "tokenizer",
                               make_pairs(300, seed=1, max_words=6))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """One exported model shared by the translate and evaluate tests (0.1 s to build).
    Tests that need a damaged copy copy it first."""
    return export_tiny_model(tmp_path_factory.mktemp("tiny-model") / "export", tiny_tokenizer)


@pytest.fixture(scope="session")
def tiny_none_model_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """The same, without attention (`model.decoder.attention: none`)."""
    return export_tiny_model(tmp_path_factory.mktemp("tiny-none") / "export", tiny_tokenizer, attention="none")
