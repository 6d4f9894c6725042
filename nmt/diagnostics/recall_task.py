"""A synthetic long-dependency task: read a random sequence, then say its first token.

The source is `length` random tokens (plus the EOS that every source ends with); the target is
the first of them. The model has a one-direction encoder and no attention, so the only way
from that first token to the output is `length` recurrent steps through the encoder and its
final state: exactly the path along which plain RNN gradients are said to vanish. The decoder
(an LSTM, the same for every encoder cell) and the bridge are the toolkit's own.

Each cell is measured along its training (`Checkpoint`s at step 0 and every `every_steps`), so
a cell that learns late is not mistaken for one that cannot learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from nmt.config import ModelConfig
from nmt.data.batch import Batch, collate
from nmt.diagnostics.gradients import GradientProfile, gradient_profile
from nmt.diagnostics.recall_settings import FIRST_WORD, RecallSettings
from nmt.model.loss import sequence_loss
from nmt.model.seq2seq import Seq2Seq, build_model

@dataclass(frozen=True)
class RecallTask:
    vocab_size: int  # including the 4 special ids
    length: int  # source tokens before EOS: the distance the first token must travel
    hidden_size: int
    emb_size: int
    init: str  # `model.init`: xavier, torch or uniform

    @classmethod
    def of(cls, settings: RecallSettings) -> "RecallTask":
        return cls(settings.vocab, settings.length, settings.hidden, settings.emb, settings.init)

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


def train_steps(model: Seq2Seq, optimizer: torch.optim.Optimizer, task: RecallTask, steps: int,
                batch_size: int, generator: torch.Generator) -> None:
    """`steps` optimizer steps on fresh batches, gradients clipped at 1 (as `nmt train` by default)."""
    model.train()
    for _ in range(steps):
        batch = task.batch(batch_size, generator)
        out = model(batch.src, batch.src_lengths, batch.tgt_in)
        loss = sequence_loss(out.logits, batch.tgt_out[out.mask]).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()


@torch.no_grad()
def recall_accuracy(model: Seq2Seq, batch: Batch) -> float:
    """Fraction of sentences whose first predicted token is the source's first token."""
    model.eval()
    out = model(batch.src, batch.src_lengths, batch.tgt_in)
    first = out.logits.view(batch.size, -1, out.logits.size(-1))[:, 0]  # (batch, vocab): every target is y, EOS
    return float((first.argmax(-1) == batch.tgt_out[:, 0]).float().mean())


@dataclass(frozen=True)
class Checkpoint:
    """One cell measured on the fixed measurement batch after `step` training steps."""

    step: int
    accuracy: float  # share of sentences whose first token is recalled
    profile: GradientProfile  # ‖dL/dh_t‖ by distance; distance `length` is the token to recall

    @property
    def loss(self) -> float:
        """Mean negative log-likelihood per target token (the recalled token and EOS)."""
        return self.profile.loss

    @property
    def far_near(self) -> float:
        """What reaches the token to recall, relative to what reaches the last one read."""
        return self.profile.far_near()[0]


@dataclass(frozen=True)
class Trajectory:
    """One encoder cell along its training: checkpoints in step order, the first at step 0."""

    cell: str
    checkpoints: list[Checkpoint]

    @property
    def initial(self) -> Checkpoint:
        return self.checkpoints[0]

    @property
    def final(self) -> Checkpoint:
        return self.checkpoints[-1]

    @property
    def steps(self) -> list[int]:
        return [c.step for c in self.checkpoints]


def checkpoint_steps(steps: int, every: int) -> list[int]:
    """0, every, 2 * every, ... and `steps` itself: where a trajectory is measured."""
    marks = list(range(0, steps + 1, every))
    return marks if marks[-1] == steps else marks + [steps]


def measure(model: Seq2Seq, batch: Batch, step: int) -> Checkpoint:
    """Accuracy and gradient profile on the fixed batch after `step` training steps."""
    return Checkpoint(step, recall_accuracy(model, batch), gradient_profile(model, batch))


def train_cell(cell: str, settings: RecallSettings, batch: Batch) -> Trajectory:
    """One cell from `settings.seed`, trained on the seed's batches, measured on `batch`.

    Measuring neither draws random numbers nor touches the parameters' gradients, so the
    checkpoints do not change the training they observe."""
    task = RecallTask.of(settings)
    torch.manual_seed(settings.seed)
    model = task.model(cell)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    generator = torch.Generator().manual_seed(settings.seed)
    checkpoints = [measure(model, batch, 0)]
    for step in checkpoint_steps(settings.steps, settings.every_steps)[1:]:
        train_steps(model, optimizer, task, step - checkpoints[-1].step, settings.batch_size, generator)
        checkpoints.append(measure(model, batch, step))
    return Trajectory(cell, checkpoints)


def compare_cells(settings: RecallSettings, progress: Optional[Callable[[str], None]] = None) -> list[Trajectory]:
    """Each of `settings.cells` from the same seed, trained on the same batches, measured on the same batch."""
    batch = RecallTask.of(settings).batch(settings.measure, torch.Generator().manual_seed(settings.seed + 1))
    trajectories = []
    for cell in settings.cells:
        if progress is not None:
            progress(cell)
        trajectories.append(train_cell(cell, settings, batch))
    return trajectories
