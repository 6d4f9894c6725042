"""Tiny model configs and batches shared by the model tests (dimensions small enough for CPU).

Tests run on one torch thread (conftest's autouse `one_thread` fixture).
"""

from __future__ import annotations

import itertools

import torch

from nmt.config import ModelConfig
from nmt.data.batch import Batch, collate
from nmt.model import Seq2Seq, build_model

VOCAB = 23

CELLS = ("rnn", "gru", "lstm")
ATTENTIONS = ("none", "bahdanau", "dot", "general")  # dot and general are luong scores


def tiny_config(
    cell: str = "lstm",
    attention: str = "general",
    bidirectional: bool = True,
    input_feeding: bool = True,
    layers: int = 1,
    dropout: float = 0.0,
    init: str = "uniform",
    **decoder,
) -> ModelConfig:
    """Encoder states and decoder hidden both 16 wide, so luong `dot` works in every layout."""
    luong = attention in ("dot", "general")
    return ModelConfig.model_validate(
        {
            "encoder": dict(cell=cell, emb_size=8, hidden_size=8 if bidirectional else 16,
                            bidirectional=bidirectional, layers=layers, dropout=dropout),
            "decoder": dict(cell=cell, emb_size=8, hidden_size=16, layers=layers, dropout=dropout,
                            attention="luong" if luong else attention, score=attention if luong else "general",
                            input_feeding=input_feeding, **decoder),
            "init": init,
        }
    )


def tiny_model(seed: int = 0, vocab: int = VOCAB, **options) -> Seq2Seq:
    torch.manual_seed(seed)
    return build_model(tiny_config(**options), vocab, vocab)


def grid() -> list[tuple[str, str, bool]]:
    """Every cell x attention x bidirectional combination."""
    return list(itertools.product(CELLS, ATTENTIONS, (False, True)))


def fused_grid() -> list[tuple[str, str, bool]]:
    """The combinations the fused path serves (luong without input feeding, none)."""
    return list(itertools.product(CELLS, ("none", "dot", "general"), (False, True)))


def random_batch(sentences: int = 5, seed: int = 1, vocab: int = VOCAB, low: int = 1, high: int = 7) -> Batch:
    """Pairs of random lengths low..high, so the batch has real padding on both sides."""
    g = torch.Generator().manual_seed(seed)

    def sentence() -> list[int]:
        n = int(torch.randint(low, high + 1, (1,), generator=g))
        return torch.randint(4, vocab, (n,), generator=g).tolist()

    return collate([(sentence(), sentence()) for _ in range(sentences)])
