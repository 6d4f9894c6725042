"""A synthetic long-dependency task: read a random sequence, then say its first token.

The source is `length` random tokens (plus the EOS that every source ends with); the target is
the first of them. The model has a one-direction encoder and no attention, so the only way
from that first token to the output is `length` recurrent steps through the encoder and its
final state: exactly the path along which plain RNN gradients are said to vanish. The decoder
(an LSTM, the same for every encoder cell) and the bridge are the toolkit's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from nmt.config import ModelConfig
from nmt.data.batch import Batch, collate
from nmt.diagnostics.gradients import GradientProfile, gradient_profile
from nmt.model.loss import sequence_loss
from nmt.model.seq2seq import Seq2Seq, build_model
from nmt.vocab import EOS_ID

FIRST_WORD = EOS_ID + 1  # ids below are special (pad, unk, bos, eos)


@dataclass
class RecallTask:
    vocab_size: int  # including the 4 special ids
    length: int  # source tokens before EOS: the distance the first token must travel
    hidden_size: int = 64
    emb_size: int = 32
    # `model.init`: xavier (orthogonal recurrent weights, LSTM forget bias 1; the figure in the
    # README); torch: PyTorch's defaults (uniform +-1/sqrt(hidden)), the textbook setting for
    # vanishing gradients; uniform: +-0.1, the training default
    init: str = "xavier"

    def batch(self, size: int, generator: torch.Generator) -> Batch:
        """`size` random sources and their first tokens as targets."""
        tokens = torch.randint(FIRST_WORD, self.vocab_size, (size, self.length), generator=generator)
        return collate([(row, row[:1]) for row in tokens.tolist()])

    def model(self, cell: str) -> Seq2Seq:
        """A fresh model whose encoder is `cell`: one layer, one direction, no attention, no dropout."""
        config = ModelConfig.model_validate({
            "encoder": {"cell": cell, "emb_size": self.emb_size, "hidden_size": self.hidden_size,
                        "layers": 1, "bidirectional": False, "dropout": 0.0},
            "decoder": {"cell": "lstm", "emb_size": self.emb_size, "hidden_size": self.hidden_size,
                        "dropout": 0.0, "attention": "none"},
            "init": self.init,
        })
        return build_model(config, self.vocab_size, self.vocab_size)


def train_briefly(model: Seq2Seq, task: RecallTask, steps: int, batch_size: int, lr: float,
                  generator: torch.Generator) -> list[float]:
    """Adam on fresh batches with gradient clipping at 1 (as `nmt train` by default); the losses."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        batch = task.batch(batch_size, generator)
        out = model(batch.src, batch.src_lengths, batch.tgt_in)
        loss = sequence_loss(out.logits, batch.tgt_out[out.mask]).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


@torch.no_grad()
def recall_accuracy(model: Seq2Seq, batch: Batch) -> float:
    """Fraction of sentences whose first predicted token is the source's first token."""
    model.eval()
    out = model(batch.src, batch.src_lengths, batch.tgt_in)
    first = out.logits.view(batch.size, -1, out.logits.size(-1))[:, 0]  # (batch, vocab): every target is y, EOS
    return float((first.argmax(-1) == batch.tgt_out[:, 0]).float().mean())


@dataclass
class CellResult:
    """One encoder cell on the task: gradient profiles before and after a short training."""

    cell: str
    initial: GradientProfile
    trained: GradientProfile
    initial_accuracy: float
    accuracy: float  # after training, on the same measurement batch
    steps: int


def compare_cells(task: RecallTask, cells: list[str], steps: int, batch_size: int, lr: float, seed: int,
                  measure_size: int = 256, progress: Optional[Callable[[str], None]] = None) -> list[CellResult]:
    """Each cell from the same seed, trained on the same batches, measured on the same batch."""
    measure = task.batch(measure_size, torch.Generator().manual_seed(seed + 1))
    results = []
    for cell in cells:
        if progress is not None:
            progress(cell)
        torch.manual_seed(seed)
        model = task.model(cell)
        initial, initial_accuracy = gradient_profile(model, measure), recall_accuracy(model, measure)
        train_briefly(model, task, steps, batch_size, lr, torch.Generator().manual_seed(seed))
        results.append(CellResult(cell, initial, gradient_profile(model, measure), initial_accuracy,
                                  recall_accuracy(model, measure), steps))
    return results
