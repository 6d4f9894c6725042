"""Label-smoothed cross entropy over real target tokens, normalised by their number.

With smoothing e, the reference distribution q puts 1 - e on the reference token and spreads e
evenly over the vocabulary minus padding (which is never a target), as Szegedy et al. 2016.
The summed plain NLL (no smoothing) and the token count come back too, so perplexity is
exp(sum NLL / sum tokens) over a whole validation set, not an average of per-batch ratios.

The (tokens, vocab) matrix is the largest in training, so the gradient is written directly,
softmax(logits) - q, in one buffer: autograd's chain (log_softmax, gather, sum) would allocate
and fill several more tensors of that size. Training goes one step further (`projected_loss`):
the output layer and the loss run together over chunks of rows, and each chunk's gradient is
formed and consumed in the forward pass, so no (tokens, vocab) matrix outlives its chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

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


CHUNK_BYTES = 32 * 2**20  # one chunk's (rows, vocab) fp32 logits; 1,024 rows at 8,000 pieces


def projected_loss(features: Tensor, output: nn.Linear, targets: Tensor, label_smoothing: float = 0.0,
                   chunk_bytes: int = CHUNK_BYTES) -> LossOutput:
    """`sequence_loss(output(features), targets, label_smoothing)` without the logits matrix.

    features: (tokens, in) what the output layer reads (rows whose target is PAD are dropped,
    as in `sequence_loss`); output: the output layer (its weight may be tied to an embedding).
    Per chunk of rows: logits, log-softmax, loss, then the logits' gradient softmax - q and at once its
    products with the weight and the features; backward only scales those by the incoming
    gradient. Same values and gradients as the two-step form (a test pins it) with a peak of one
    chunk's logits instead of several (tokens, vocab) buffers. Measured on the reference model
    (8,000 pieces, 4,096-token batches, 2 AVX2 cores, benchmarks/README.md): the same speed within
    noise, and a lower peak RSS (1,410-1,678 MB against 1,637-1,782 MB in `train_speed.py` runs;
    that measure varies by about 200 MB between runs of the same code on this machine).
    """
    keep = targets.ne(PAD_ID)
    if not bool(keep.all()):
        features, targets = features[keep], targets[keep]
    tokens = targets.numel()
    vocab = output.out_features
    rows = max(64, chunk_bytes // (4 * vocab))
    summed, nll = _ProjectedCrossEntropy.apply(features, output.weight, output.bias, targets, label_smoothing, rows)
    return LossOutput(loss=summed / max(tokens, 1), nll=nll, tokens=tokens)


class _ProjectedCrossEntropy(torch.autograd.Function):
    """Summed label-smoothed cross entropy and summed NLL of `features @ weight.T + bias`."""

    @staticmethod
    def forward(ctx, features: Tensor, weight: Tensor, bias, targets: Tensor, smoothing: float, rows: int):
        wants = ctx.needs_input_grad[:3]
        dtype = features.dtype  # bf16 under autocast: the products in bf16, softmax and sums in fp32
        wide = torch.promote_types(dtype, torch.float32)
        with torch.autocast(features.device.type, enabled=False):
            w = weight.to(dtype)
            b = None if bias is None else bias.to(dtype)
            grad_features = torch.empty_like(features) if wants[0] else None
            grad_weight = torch.zeros_like(weight, dtype=wide) if wants[1] else None
            grad_bias = torch.zeros_like(bias, dtype=wide) if bias is not None and wants[2] else None
            loss = features.new_zeros((), dtype=wide)
            nll_total = features.new_zeros((), dtype=wide)
            share = smoothing / (w.size(0) - 1)
            for start in range(0, features.size(0), rows):
                f, t = features[start:start + rows], targets[start:start + rows].unsqueeze(1)  # (c, in), (c, 1)
                logits = f @ w.t() if b is None else torch.addmm(b, f, w.t())  # (c, vocab)
                log_probs = torch.log_softmax(logits.to(wide), dim=-1)
                del logits
                nll = -log_probs.gather(1, t).sum()
                nll_total += nll
                loss += nll * (1.0 - smoothing)
                if smoothing > 0.0:
                    loss -= (log_probs.sum() - log_probs[:, PAD_ID].sum()) * share  # -log p over non-pad ids
                if not any(wants):
                    continue
                grad = log_probs.exp_()  # softmax(logits) - q, in the log-probs' buffer
                if smoothing > 0.0:
                    grad.sub_(share)
                    grad[:, PAD_ID].add_(share)
                grad.scatter_add_(1, t, grad.new_full(t.shape, -(1.0 - smoothing)))
                if grad_bias is not None:
                    grad_bias += grad.sum(0)
                grad = grad.to(dtype)
                if grad_features is not None:
                    torch.mm(grad, w, out=grad_features[start:start + rows])
                if grad_weight is not None:
                    if dtype == wide:
                        grad_weight.addmm_(grad.t(), f)
                    else:  # bf16 product, fp32 sum over chunks
                        grad_weight += grad.t() @ f
        ctx.save_for_backward(grad_features, grad_weight, grad_bias)
        ctx.dtypes = (features.dtype, weight.dtype, None if bias is None else bias.dtype)
        ctx.mark_non_differentiable(nll_total)
        return loss, nll_total

    @staticmethod
    def backward(ctx, grad_loss: Tensor, _grad_nll: Tensor):
        grad_features, grad_weight, grad_bias = ctx.saved_tensors
        scaled = [None if g is None else (g * grad_loss.to(g.dtype)).to(dtype)
                  for g, dtype in zip((grad_features, grad_weight, grad_bias), ctx.dtypes)]
        return (*scaled, None, None, None)
