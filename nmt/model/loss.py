"""Label-smoothed cross entropy over real target tokens, normalised by their number.

With smoothing e, the reference distribution q puts 1 - e on the reference token and spreads e
evenly over the vocabulary minus padding (which is never a target), as Szegedy et al. 2016.
The summed plain NLL (no smoothing) and the token count come back too, so perplexity is
exp(sum NLL / sum tokens) over a whole validation set, not an average of per-batch ratios.

The (tokens, vocab) matrix is the largest in training, so the gradient is written directly,
softmax(logits) - q, in one buffer: autograd's chain (log_softmax, gather, sum) would allocate
and fill several more tensors of that size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.vocab import PAD_ID


@dataclass
class LossOutput:
    loss: Tensor  # () label-smoothed cross entropy per target token: what training minimises
    nll: Tensor  # () summed negative log-likelihood, no smoothing, detached
    tokens: int  # real target tokens counted

    @property
    def perplexity(self) -> float:
        return float(torch.exp(self.nll.detach() / max(self.tokens, 1)))


def sequence_loss(logits: Tensor, targets: Tensor, label_smoothing: float = 0.0) -> LossOutput:
    """logits: (tokens, vocab); targets: (tokens,) ids. Rows whose target is PAD are ignored,
    so logits over every position with `tgt_out.flatten()` work too (slower: wasted rows)."""
    keep = targets.ne(PAD_ID)
    if not bool(keep.all()):
        logits, targets = logits[keep], targets[keep]
    tokens = targets.numel()
    summed, nll = _SmoothedCrossEntropy.apply(logits, targets, label_smoothing)
    return LossOutput(loss=summed / max(tokens, 1), nll=nll, tokens=tokens)


class _SmoothedCrossEntropy(torch.autograd.Function):
    """Summed label-smoothed cross entropy and summed NLL of logits (tokens, vocab)."""

    @staticmethod
    def forward(ctx, logits: Tensor, targets: Tensor, smoothing: float) -> tuple[Tensor, Tensor]:
        wide = torch.promote_types(logits.dtype, torch.float32)  # bf16 logits: softmax in fp32
        log_probs = torch.log_softmax(logits.to(wide), dim=-1)  # (tokens, vocab)
        nll = -log_probs.gather(1, targets.unsqueeze(1)).squeeze(1)  # (tokens,)
        loss = nll.sum() * (1.0 - smoothing)
        if smoothing > 0.0:
            vocab = log_probs.size(1)
            # -log p summed over the non-pad vocabulary: (tokens,)
            uniform = -(log_probs.sum(dim=1) - log_probs[:, PAD_ID])
            loss = loss + uniform.sum() * (smoothing / (vocab - 1))
        ctx.save_for_backward(log_probs, targets)
        ctx.smoothing = smoothing
        ctx.logits_dtype = logits.dtype
        ctx.mark_non_differentiable(nll)
        return loss, nll.sum()

    @staticmethod
    def backward(ctx, grad_loss: Tensor, _grad_nll: Tensor):
        log_probs, targets = ctx.saved_tensors
        smoothing = ctx.smoothing
        grad = log_probs.exp()  # softmax (not in place: backward may run again with retain_graph)
        if smoothing > 0.0:
            share = smoothing / (grad.size(1) - 1)
            grad.sub_(share)
            grad[:, PAD_ID].add_(share)  # q is 0 on padding
        rows = torch.arange(grad.size(0), device=grad.device)
        grad.index_put_((rows, targets), grad.new_tensor(-(1.0 - smoothing)), accumulate=True)
        grad.mul_(grad_loss)
        return grad.to(ctx.logits_dtype), None, None
