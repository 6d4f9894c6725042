"""The teacher-forcing ratio: its schedules, and what a ratio below 1 feeds the decoder."""

from __future__ import annotations

import math

import pytest
import torch

from nmt.config import TrainConfig
from nmt.data.batch import collate
from nmt.training.module import teacher_forcing_ratio
from tiny_models import VOCAB, tiny_model


@pytest.mark.parametrize("schedule,start,k,step,expected", [
    ("constant", 1.0, 100, 0, 1.0),
    ("constant", 0.75, 100, 10_000, 0.75),
    ("linear", 1.0, 100, 0, 1.0),
    ("linear", 1.0, 100, 50, 0.5),
    ("linear", 0.8, 100, 25, 0.6),
    ("linear", 1.0, 100, 100, 0.0),
    ("linear", 1.0, 100, 250, 0.0),  # stays at 0 past k, never negative
    ("inverse_sigmoid", 1.0, 100, 0, 100 / 101),
    ("inverse_sigmoid", 1.0, 100, 100, 100 / (100 + math.e)),
    ("inverse_sigmoid", 0.5, 100, 1000, 0.5 * 100 / (100 + math.exp(10))),
    ("inverse_sigmoid", 1.0, 100, 10**9, 0.0),  # exp is capped: no overflow far into training
])
def test_ratio_follows_its_schedule(schedule, start, k, step, expected):
    cfg = TrainConfig(teacher_forcing=start, teacher_forcing_schedule=schedule, teacher_forcing_k=k)
    assert teacher_forcing_ratio(cfg, step) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("schedule", ["linear", "inverse_sigmoid"])
def test_decaying_schedules_never_rise(schedule):
    cfg = TrainConfig(teacher_forcing_schedule=schedule, teacher_forcing_k=50)
    ratios = [teacher_forcing_ratio(cfg, step) for step in range(0, 2000, 10)]
    assert ratios == sorted(ratios, reverse=True) and ratios[0] <= 1.0 and ratios[-1] >= 0.0


def equal_length_batch(sentences: int = 6, length: int = 7, seed: int = 2):
    """Targets all `length` long, so every position of `tgt_in` is a real input."""
    g = torch.Generator().manual_seed(seed)
    pairs = [(torch.randint(4, VOCAB, (5,), generator=g).tolist(), torch.randint(4, VOCAB, (length,), generator=g).tolist())
             for _ in range(sentences)]
    return collate(pairs)


@pytest.mark.parametrize("attention", ["general", "bahdanau", "none"])
def test_ratio_zero_feeds_the_models_own_greedy_predictions(attention):
    """With ratio 0 every input after BOS is the argmax of the previous step: the same logits as
    teacher forcing on the model's own greedy output."""
    model = tiny_model(attention=attention).eval()
    batch = equal_length_batch()
    rows, length = batch.tgt_in.shape
    with torch.no_grad():
        free = model(batch.src, batch.src_lengths, batch.tgt_in, teacher_forcing=0.0)
        predictions = free.logits.argmax(-1).view(rows, length)  # (batch, tgt_len)
        own = torch.cat([batch.tgt_in[:, :1], predictions[:, :-1]], dim=1)  # BOS, then its own tokens
        forced = model(batch.src, batch.src_lengths, own, teacher_forcing=1.0)
    assert not torch.equal(own, batch.tgt_in), "the test needs predictions that differ from the reference"
    torch.testing.assert_close(free.logits, forced.logits)


def test_ratio_sets_the_share_of_reference_inputs():
    """Each input is the reference with probability `ratio` (here 0.7 over 10,000 draws)."""
    model = tiny_model()
    tgt_in = torch.zeros(100, 100, dtype=torch.long)
    torch.manual_seed(0)
    plan = model.decoder._sampling_plan(tgt_in, 0.7)  # True: the model's own prediction is fed
    assert plan.shape == (100, 100)
    assert plan.float().mean().item() == pytest.approx(0.3, abs=0.02)
    assert model.decoder._sampling_plan(tgt_in, 1.0) is None  # full teacher forcing plans nothing
