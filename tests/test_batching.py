from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from datasets import Dataset

from nmt.data.batch import collate
from nmt.data.batching import TokenBatchSampler, divisible, pack
from nmt.data.loader import ResumableLoader, make_dataloader
from nmt.errors import DataError
from nmt.vocab import BOS_ID, EOS_ID

RNG = np.random.default_rng(0)
SRC = RNG.integers(1, 40, size=500)  # pieces per sentence, without EOS
TGT = np.clip(SRC + RNG.integers(-5, 6, size=500), 1, None)


def sampler(**kwargs) -> TokenBatchSampler:
    return TokenBatchSampler(SRC, TGT, **{"batch_tokens": 300, "seed": 7, **kwargs})


def epoch(s: TokenBatchSampler, number: int) -> list[list[int]]:
    s.set_epoch(number)
    return list(s)


def test_every_batch_respects_the_padded_token_budget():
    for batch in epoch(sampler(), 0):
        cost = len(batch) * max(max(SRC[i], TGT[i]) + 1 for i in batch)
        assert cost <= 300


def test_a_sentence_longer_than_the_budget_gets_a_batch_of_its_own():
    s = TokenBatchSampler([3, 500, 4], [3, 2, 4], batch_tokens=100)
    assert sorted(map(sorted, s)) == [[0, 2], [1]]


def test_each_sentence_exactly_once_per_epoch():
    s = sampler()
    for number in range(3):
        rows = sorted(itertools.chain.from_iterable(epoch(s, number)))
        assert rows == list(range(len(SRC)))


def test_batches_group_similar_lengths():
    spreads = [np.ptp(np.maximum(SRC, TGT)[b]) for b in epoch(sampler(), 0)]
    assert np.mean(spreads) <= 2


def test_order_is_deterministic_per_seed_and_epoch():
    assert epoch(sampler(), 1) == epoch(sampler(), 1)
    assert epoch(sampler(), 1) != epoch(sampler(), 2)
    assert epoch(sampler(), 1) != epoch(sampler(seed=8), 1)


def test_every_epoch_has_the_same_number_of_batches():
    s = sampler()
    assert {len(epoch(s, n)) for n in range(5)} == {len(s)}


def test_unshuffled_batches_come_in_length_order():
    batches = list(sampler(shuffle=False))
    longest = [max(np.maximum(SRC, TGT)[b]) for b in batches]
    assert longest == sorted(longest) and batches == list(sampler(shuffle=False))


def test_resume_from_a_mid_epoch_state_continues_identically():
    reference = sampler()
    reference.set_epoch(3)
    full = list(reference)
    first = sampler()
    first.set_epoch(3)
    for _ in range(5):
        first.advance()  # five batches consumed
    restored = sampler()
    restored.load_state_dict(first.state_dict())
    restored.set_epoch(3)  # Lightning sets the same epoch again after restoring
    assert list(restored) == full[5:]


def test_a_state_from_other_data_warns_and_restarts_the_epoch():
    state = sampler().state_dict() | {"epoch": 2, "position": 4, "sentences": 499}
    restored = sampler()
    with pytest.warns(UserWarning, match="sentences 499 -> 500"):
        restored.load_state_dict(state)
    assert (restored.epoch, restored.position) == (2, 0)


@pytest.mark.parametrize("ranks", [2, 3, 4, 7])
def test_ddp_ranks_get_equal_batch_counts_and_cover_everything_once(ranks):
    shards = [sampler(num_replicas=ranks, rank=r) for r in range(ranks)]
    for number in (0, 1):
        batches = [epoch(s, number) for s in shards]
        assert len({len(b) for b in batches}) == 1 and len(batches[0]) == len(shards[0])
        rows = sorted(itertools.chain.from_iterable(itertools.chain.from_iterable(batches)))
        assert rows == list(range(len(SRC)))
    for batch in epoch(shards[0], 0):  # splitting keeps every batch under budget
        assert len(batch) * max(max(SRC[i], TGT[i]) + 1 for i in batch) <= 300


def test_divisible_merges_when_no_batch_can_be_split():
    assert divisible(np.array([0, 1, 2, 3, 4, 5]), 2).tolist() == [0, 1, 2, 3, 5]
    assert divisible(np.array([0, 4, 5]), 3).tolist() == [0, 2, 4, 5]
    with pytest.raises(DataError, match="2 sentence pairs cannot be shared by 3 ranks"):
        divisible(np.array([0, 1, 2]), 3)


def test_pack_fills_batches_greedily():
    costs = np.array([2, 2, 2, 3, 3, 10, 10])
    # [2 2 2] costs 6 (a 3 would make it 12), [3 3] costs 6 (a 10 would make it 30), [10] and [10]
    # each exceed the budget alone.
    assert pack(costs, 9).tolist() == [0, 3, 5, 6, 7]


def test_padding_share_counts_padded_positions_on_both_sides():
    s = TokenBatchSampler([1, 3], [2, 2], batch_tokens=100)  # one batch: src 2/4, tgt 3/3 with EOS/BOS
    assert s.padding_share == pytest.approx(1 - (2 + 4 + 3 + 3) / (2 * 4 + 2 * 3))
    assert 0 < sampler().padding_share < 0.2


def test_loader_position_counts_consumed_batches_not_worker_prefetch():
    dataset = Dataset.from_dict({"src_ids": [[5] * int(n) for n in SRC], "tgt_ids": [[6] * int(n) for n in TGT]})
    loader = ResumableLoader(make_dataloader(dataset, sampler(), num_workers=2))
    iterator = iter(loader)
    taken = [next(iterator).index.tolist() for _ in range(3)]  # workers have prefetched more by now
    state = loader.state_dict()
    assert state["position"] == 3
    resumed = ResumableLoader(make_dataloader(dataset, sampler(), num_workers=0))
    resumed.load_state_dict(state)
    rest = [b.index.tolist() for b in resumed]
    assert taken + rest == [b.index.tolist() for b in ResumableLoader(make_dataloader(dataset, sampler()))]


def reference_collate(pairs):
    """The padding rules written out row by row."""
    n, src_len, tgt_len = len(pairs), max(len(s) for s, _ in pairs) + 1, max(len(t) for _, t in pairs) + 1
    src = [[0] * src_len for _ in range(n)]
    tgt_in = [[0] * tgt_len for _ in range(n)]
    tgt_out = [[0] * tgt_len for _ in range(n)]
    for row, (s, t) in enumerate(pairs):
        src[row][: len(s) + 1] = s + [EOS_ID]
        tgt_in[row][: len(t) + 1] = [BOS_ID] + t
        tgt_out[row][: len(t) + 1] = t + [EOS_ID]
    return src, [len(s) + 1 for s, _ in pairs], tgt_in, tgt_out


@pytest.mark.parametrize("seed", range(3))
def test_collate_pads_like_the_row_by_row_rules(seed):
    rng = np.random.default_rng(seed)
    pairs = [(rng.integers(4, 50, rng.integers(0, 9)).tolist(), rng.integers(4, 50, rng.integers(1, 9)).tolist())
             for _ in range(int(rng.integers(1, 12)))]
    batch = collate(pairs, index=list(range(100, 100 + len(pairs))))
    src, src_lengths, tgt_in, tgt_out = reference_collate(pairs)
    assert batch.src.tolist() == src and batch.src_lengths.tolist() == src_lengths
    assert batch.tgt_in.tolist() == tgt_in and batch.tgt_out.tolist() == tgt_out
    assert batch.index.tolist() == list(range(100, 100 + len(pairs)))
    assert batch.src.dtype == batch.tgt_out.dtype == torch.long
