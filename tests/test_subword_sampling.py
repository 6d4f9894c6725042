"""Subword regularization: sampled segmentations are seeded (by seed, epoch and batch), reach the
training batches, keep the token budget, survive a resume, and stay inside the target vocabulary."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
import pytest

from nmt.config import DataConfig, SubwordSamplingConfig
from nmt.data.batching import TokenBatchSampler
from nmt.data.datamodule import TranslationDataModule
from nmt.data.sampling import EpochSegmentations, Ragged, SampledPairRows, sample_segmentations
from nmt.errors import ConfigError
from tests.conftest import train_toy_tokenizer, write_parallel

WORDS_DE = ["hund", "katze", "läuft", "schnell", "über", "die", "straße", "der", "mann", "spielt", "ball", "grün"]
WORDS_EN = ["dog", "cat", "runs", "quickly", "across", "the", "street", "man", "plays", "ball", "green"]
SAMPLING = SubwordSamplingConfig(alpha=0.1)


def word_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """Sentences of repeated real-looking words, so a unigram model learns whole-word pieces that
    sampling can split."""
    rng = random.Random(seed)
    return [(" ".join(rng.choices(WORDS_DE, k=rng.randint(3, 8))), " ".join(rng.choices(WORDS_EN, k=rng.randint(3, 8))))
            for _ in range(n)]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return train_toy_tokenizer(tmp_path_factory.mktemp("sampling") / "tok", word_pairs(400, seed=1), vocab_size=48)


def test_sampled_segmentations_are_seeded_and_spell_the_same_text(tokenizer):
    pairs = word_pairs(40, seed=2)
    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
    first = sample_segmentations(tokenizer, sources, targets, SAMPLING, seed=5)
    assert first == sample_segmentations(tokenizer, sources, targets, SAMPLING, seed=5)
    other = sample_segmentations(tokenizer, sources, targets, SAMPLING, seed=6)
    assert first[0] != other[0]
    best = tokenizer.encode_src(sources)
    assert first[0] != best and sum(map(len, first[0])) > sum(map(len, best))  # more, shorter pieces
    assert tokenizer.src_model.decode(first[0]) == tokenizer.src_model.decode(best)
    assert tokenizer.decode_tgt([t for t in first[1] if t is not None]) == \
        tokenizer.decode_tgt([b for t, b in zip(first[1], tokenizer.encode_tgt(targets)) if t is not None])


@pytest.fixture
def sampled_data(tmp_path, tokenizer) -> DataConfig:
    corpus = tmp_path / "corpus"
    write_parallel(corpus, "train", word_pairs(300, seed=3))
    write_parallel(corpus, "val", word_pairs(10, seed=4))
    return DataConfig.model_validate({
        "name": "words", "src_lang": "de", "tgt_lang": "en",
        "train": {"src": str(corpus / "train.de"), "tgt": str(corpus / "train.en")},
        "valid": {"src": str(corpus / "val.de"), "tgt": str(corpus / "val.en")},
        "tokenizer": {"vocab_size": 48, "target_pieces": "all"}, "tokenizer_dir": str(tmp_path / "tokenizers"),
        "cache_dir": str(tmp_path / "cache"), "batch_tokens": 120, "num_proc": 1,
        "subword_sampling": {"alpha": 0.1},
    })


def module(config: DataConfig, seed: int = 3) -> TranslationDataModule:
    data = TranslationDataModule(config, seed=seed, verbose=False)
    data.prepare_data()
    data.setup("fit")
    return data


def epoch_batches(loader, epoch: int) -> list[list[list[int]]]:
    loader.sampler.set_epoch(epoch)
    return [batch.tgt_out.tolist() for batch in loader]


def test_each_epoch_gets_a_fresh_segmentation_and_a_rerun_the_same(sampled_data):
    data = module(sampled_data)
    loader = data.train_dataloader()
    assert isinstance(loader.loader.dataset, SampledPairRows)
    first, second = epoch_batches(loader, 0), epoch_batches(loader, 1)
    again = epoch_batches(module(sampled_data).train_dataloader(), 0)
    assert first == again  # the same seed: the same batches and segmentations
    rows0 = loader.sampler.batches(0)
    rows_in_first = {tuple(rows) for rows in map(list, rows0)}
    assert len(rows_in_first) == len(first)
    # the same pair, two epochs: drawn apart at least once over the corpus
    by_row = [{}, {}]
    for epoch, batches in ((0, first), (1, second)):
        for rows, batch in zip(loader.sampler.batches(epoch), batches):
            for row, ids in zip(rows.tolist(), batch):
                by_row[epoch][row] = ids
    assert sum(by_row[0][r] != by_row[1][r] for r in by_row[0]) > len(by_row[0]) // 4


def test_a_resumed_epoch_continues_with_the_same_segmentations(sampled_data):
    data = module(sampled_data)
    loader = data.train_dataloader()
    loader.sampler.set_epoch(2)
    full = [batch.tgt_out.tolist() for batch in loader]
    resumed = module(sampled_data).train_dataloader()
    resumed.load_state_dict({**loader.state_dict(), "epoch": 2, "position": 3})
    assert [batch.tgt_out.tolist() for batch in resumed] == full[3:]


def test_batches_hold_equal_sampled_lengths_within_the_budget(sampled_data):
    data = module(sampled_data)
    segmentations = EpochSegmentations(data.train_cache, data.tokenizer, sampled_data.subword_sampling, seed=3)
    src, tgt = segmentations.lengths(0)
    assert src.sum() > 1.05 * data.train_cache.src_lengths.sum()  # sampled: more, shorter pieces
    loader = data.train_dataloader()
    plain = TokenBatchSampler(data.train_cache.src_lengths, data.train_cache.tgt_lengths, 120)
    assert len(loader.sampler) > len(plain)  # longer pairs: more batches for the same budget
    for epoch in (0, 1, 2):
        loader.sampler.set_epoch(epoch)
        batches = list(loader)
        assert len(batches) == len(loader.sampler)  # the same count every epoch
        padded = sum(max(b.src.size(1), b.tgt_in.size(1)) * b.size for b in batches)
        real = sum(int(torch.maximum(b.src_lengths, b.tgt_out.ne(0).sum(1)).sum()) for b in batches)
        assert padded <= 120 * len(batches) * 1.1 and 1 - real / padded < 0.15  # full, and little padding


def test_training_cache_keeps_text_only_with_sampling(sampled_data):
    with_text = module(sampled_data).train_cache.dataset.column_names
    without = module(sampled_data.model_copy(update={"subword_sampling": SubwordSamplingConfig()}))
    assert "src_text" in with_text and "src_text" not in without.train_cache.dataset.column_names
    assert not isinstance(without.train_dataloader().loader.dataset, SampledPairRows)


def test_a_sampled_target_piece_outside_a_seen_vocabulary_keeps_the_best_segmentation(tokenizer):
    seen = tokenizer._to_model is not None
    piece_ids = tokenizer.tgt_model.encode("dog runs", out_type=int)
    assert seen and tokenizer.model_ids([piece_ids])[0] == tokenizer.encode_tgt(["dog runs"])[0]
    unseen = int(np.flatnonzero(tokenizer._to_model == 1)[-1])  # a piece no training target used
    assert tokenizer.model_ids([piece_ids, piece_ids + [unseen], [], [1]]) == \
        [tokenizer.model_ids([piece_ids])[0], None, [], [1]]


@pytest.mark.parametrize("data, message", [
    ({"tokenizer": {"type": "bpe"}, "subword_sampling": {"alpha": 1.0}}, "BPE-dropout"),
    ({"subword_sampling": {"nbest_size": 1}}, "nbest_size must be -1"),
    ({"subword_sampling": {"alpha": -0.1}}, "alpha"),
])
def test_bad_sampling_options_name_the_field(data, message):
    from nmt.config import Config, validate

    tree = {"data": {"name": "x", "train": {"src": "a", "tgt": "b"}, **data}}
    with pytest.raises(ConfigError, match=message):
        validate(Config, tree, source="config.yaml")


def test_an_epochs_segmentation_is_a_function_of_seed_and_epoch(sampled_data):
    data = module(sampled_data)

    def drawn(seed: int, epoch: int) -> list[list[int]]:
        segmentations = EpochSegmentations(data.train_cache, data.tokenizer, sampled_data.subword_sampling, seed)
        return [segmentations.for_epoch(epoch).src.row(i) for i in range(len(segmentations))]

    assert drawn(1, 0) == drawn(1, 0)
    assert drawn(1, 0) != drawn(1, 1) and drawn(1, 0) != drawn(2, 0)


def test_ragged_arrays_keep_every_sequence():
    sequences = [[4, 5], [], [7], [1, 2, 3]]
    one = Ragged.of(sequences)
    both = Ragged.concat([one, Ragged.of([[9]])])
    assert [both.row(i) for i in range(5)] == sequences + [[9]]
    assert both.lengths.tolist() == [2, 0, 1, 3, 1]
