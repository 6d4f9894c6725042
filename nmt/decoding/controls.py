"""Search controls: masks and scores that steer greedy and beam search, as pure tensor functions.

Each one is off by default (`SearchConfig`) and, when off, search never calls it: n-gram
repetition blocking and a forced target prefix mask a step's log-probabilities in place; the
coverage penalty scores a finished hypothesis by how much attention each source word received;
sampling draws the next token instead of taking the best.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from nmt.config import SearchConfig

NO_PREFIX = -1  # pad of a prefix tensor: no forced token at this position


def block_repeated_ngrams(scores: Tensor, history: Tensor, step: int, n: int) -> Tensor:
    """`scores` (rows, vocab) with -inf on every token that would repeat an n-gram of `history`.

    history (rows, >= step) holds the `step` tokens output so far per row. The last n-1 of them
    are matched against every earlier window; the token that followed a match is banned.
    """
    if n < 1 or step < n:  # no earlier n-gram yet
        return scores
    if n == 1:
        return scores.scatter_(1, history[:, :step], float("-inf"))  # every earlier token
    windows = history[:, :step].unfold(1, n, 1)  # (rows, step - n + 1, n)
    tail = history[:, step - n + 1 : step]  # (rows, n - 1) the n-gram being completed
    match = windows[:, :, : n - 1].eq(tail.unsqueeze(1)).all(dim=-1)  # (rows, step - n + 1)
    if not bool(match.any()):
        return scores
    rows, where = match.nonzero(as_tuple=True)
    scores[rows, windows[rows, where, n - 1]] = float("-inf")
    return scores


def force_tokens(scores: Tensor, forced: Tensor) -> Tensor:
    """`scores` (rows, vocab) where rows with a forced token (forced (rows,) >= 0) may emit only
    it, at the model's log-probability; rows with `NO_PREFIX` are untouched."""
    rows = forced.ge(0).nonzero().squeeze(1)
    if rows.numel() == 0:
        return scores
    tokens = forced[rows]
    kept = scores[rows, tokens]
    scores[rows] = float("-inf")
    scores[rows, tokens] = kept
    return scores


def prefix_at(prefix: Tensor, step: int) -> Optional[Tensor]:
    """(rows,) the forced token of every row at `step` (`NO_PREFIX` where none); None past all."""
    if prefix.numel() == 0 or step >= prefix.size(1):
        return None
    return prefix[:, step]


def coverage_penalty(coverage: Tensor, src_len: int, beta: float) -> float:
    """beta * sum over source words of log(min(attention received, 1)) (GNMT); <= 0.

    coverage (>= src_len,) attention summed over output steps; the last position (</s>) is not
    a word and is left out.
    """
    words = coverage[: max(src_len - 1, 1)].float().clamp(min=1e-10, max=1.0)
    return beta * float(words.log().sum())


def sample_tokens(scores: Tensor, config: SearchConfig, generator: torch.Generator) -> Tensor:
    """(rows,) one token per row drawn from softmax(scores / temperature), cut to the top k
    pieces and to the nucleus of mass top_p. scores (rows, vocab): masked log-probabilities."""
    logits = scores / config.temperature
    if config.top_k and config.top_k < logits.size(-1):
        kth = logits.topk(config.top_k, dim=-1).values[:, -1:]  # (rows, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if config.top_p < 1.0:
        ordered, order = logits.sort(dim=-1, descending=True)
        probs = ordered.softmax(dim=-1)
        outside = probs.cumsum(dim=-1) - probs >= config.top_p  # mass before it already enough
        outside[:, 0] = False  # the most probable piece always stays
        logits = logits.scatter(1, order, ordered.masked_fill(outside, float("-inf")))
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def generator_for(config: SearchConfig, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(config.seed)
    return generator
