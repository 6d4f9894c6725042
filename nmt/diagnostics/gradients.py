"""The gradient of the loss with respect to each encoder hidden state h_t, through time.

L is the summed negative log-likelihood of a batch's target tokens, so each sentence's gradient
is that of its own loss whatever the batch. The encoder runs step by step (`stepwise`), so
dL/dh_t includes every path from h_t to the loss: through the later steps of its direction
(backpropagation through time) and, with attention, directly through the attention memory.
Norms are grouped by distance: how many steps h_t lies before its direction's final state (the
state the bridge hands to the decoder). Without attention that final state is the only way
from the source to the loss, so the norm at distance d shows what survives d steps back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.data.batch import Batch
from nmt.diagnostics.stepwise import stepwise
from nmt.model.loss import sequence_loss
from nmt.model.seq2seq import Seq2Seq


@dataclass
class GradientProfile:
    """Norms of dL/dh_t summed by distance from the final state, per encoder layer and direction."""

    names: list[str]  # "layer 1 forward", ... in torch's order
    sums: Tensor  # (directions, max_distance + 1) summed ||dL/dh_t|| over sentences, float64
    counts: Tensor  # (max_distance + 1,) sentences long enough to have a state at each distance
    nll: float  # summed negative log-likelihood of the targets
    tokens: int  # target tokens

    @property
    def norms(self) -> Tensor:
        """(directions, max_distance + 1) mean norm over the sentences that reach each distance."""
        return self.sums / self.counts.clamp(min=1)

    @property
    def loss(self) -> float:
        """Mean negative log-likelihood per target token."""
        return self.nll / max(self.tokens, 1)

    def far_near(self) -> list[float]:
        """Per direction: the mean norm at the farthest distance over the one at distance 0.

        One number for how much of the gradient survives the whole way back (averaged over the
        longest sentences only, when lengths differ); NaN where nothing reaches distance 0."""
        norms = self.norms.double()  # (directions, max_distance + 1)
        near = norms[:, 0]
        return (norms[:, -1] / near).masked_fill(near <= 0, float("nan")).tolist()

    def merge(self, other: "GradientProfile") -> "GradientProfile":
        """The profile of both sets of sentences together (for data read in several batches)."""
        width = max(self.counts.numel(), other.counts.numel())
        return GradientProfile(
            names=self.names,
            sums=_pad(self.sums, width) + _pad(other.sums, width),
            counts=_pad(self.counts, width) + _pad(other.counts, width),
            nll=self.nll + other.nll,
            tokens=self.tokens + other.tokens,
        )


def _pad(values: Tensor, width: int) -> Tensor:
    """Zero-pad the last dimension to `width`."""
    return torch.nn.functional.pad(values, (0, width - values.size(-1)))


@dataclass
class StateGradients:
    names: list[str]  # encoder layer and direction, torch's order
    grads: Tensor  # (directions, batch, src_len, hidden) dL/dh_t in each direction's reading order
    nll: float  # summed negative log-likelihood of the targets
    tokens: int


def state_gradients(model: Seq2Seq, batch: Batch) -> StateGradients:
    """dL/dh_t for every encoder state of `batch`, in eval mode (no dropout).

    Parameter gradients are left untouched (`torch.autograd.grad`), so a training callback can
    measure between backward and the optimizer step.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad(), stepwise(model.encoder) as directions:
            out = model(batch.src, batch.src_lengths, batch.tgt_in)
            loss = sequence_loss(out.logits.float(), batch.tgt_out[out.mask])
            summed = loss.loss * loss.tokens  # summed NLL (no label smoothing)
            states = [h for direction in directions for h in direction.states]
            grads = torch.autograd.grad(summed, states, allow_unused=True)
    finally:
        model.train(was_training)
    # an unused state (none so far: every state feeds the next step) has a zero gradient
    grads = [g if g is not None else torch.zeros_like(h) for g, h in zip(grads, states)]
    src_len = batch.src.size(1)
    per_direction = [torch.stack(grads[i : i + src_len], dim=1) for i in range(0, len(grads), src_len)]
    return StateGradients([d.name for d in directions], torch.stack(per_direction).detach(),  # (dirs, batch, src_len, hidden)
                          float(loss.nll.detach()), loss.tokens)


def gradient_profile(model: Seq2Seq, batch: Batch) -> GradientProfile:
    """Norms of dL/dh_t for `batch`, summed by distance from each direction's final state."""
    measured = state_gradients(model, batch)
    norms = measured.grads.float().norm(dim=3)  # (directions, batch, src_len)
    sums, counts = by_distance(norms, batch.src_lengths.to(norms.device))
    return GradientProfile(measured.names, sums, counts, measured.nll, measured.tokens)


def by_distance(norms: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """norms: (directions, batch, src_len) in reading order -> sums (directions, src_len) and
    counts (src_len,) indexed by distance lengths - 1 - position; padding positions are left out."""
    directions, batch, src_len = norms.shape
    positions = torch.arange(src_len, device=norms.device).unsqueeze(0)  # (1, src_len)
    distance = lengths.unsqueeze(1) - 1 - positions  # (batch, src_len)
    real = distance >= 0
    index = distance[real]  # (real states,)
    sums = norms.new_zeros(directions, src_len, dtype=torch.float64)
    sums.index_add_(1, index, norms[:, real].double())  # norms[:, real]: (directions, real states)
    counts = torch.zeros(src_len, dtype=torch.float64, device=norms.device).index_add_(
        0, index, torch.ones_like(index, dtype=torch.float64))
    return sums.cpu(), counts.cpu()
