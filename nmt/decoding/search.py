"""Greedy and beam search: pure functions over the `StepModel` interface.

Both decode a whole batch at once: one `model.step` call per output position serves every open
hypothesis of every sentence, and a sentence whose search is over leaves the batch (the model
`reorder`s its state to the rows still open), so each step gets cheaper as sentences finish.
Inside a step everything is tensor arithmetic; Python bookkeeping runs only when a hypothesis
finishes.

Scores. `log_prob` is the sum of the model's log-probabilities of the output tokens and the
final EOS; `score` is `log_prob` divided by the length penalty of `len(tokens) + 1` (EOS counts)
and is what hypotheses are ranked by. A sentence's output has at most
`min(max_len, floor(max_len_ratio * src_len + max_len_const))` tokens: at that length only EOS
is allowed, so every hypothesis ends with EOS and is scored the same way. Before `min_len`
tokens EOS is masked (the max length wins if they clash). PAD and BOS are never produced.

Controls (`nmt.decoding.controls`, all off by default): a forced target prefix per sentence
(its tokens are the only ones allowed at the first steps, scored by the model; the maximum
length grows to hold it), n-gram repetition blocking, the coverage penalty (beam search: added
to a finished hypothesis' score), and sampling (greedy search's loop, drawing instead of taking
the best; `nbest` independent samples per sentence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import torch
from torch import Tensor

from nmt.config import SearchConfig
from nmt.decoding.controls import (NO_PREFIX, block_repeated_ngrams, coverage_penalty, force_tokens, generator_for,
                                   prefix_at, sample_tokens)
from nmt.model.state import StepModel
from nmt.vocab import BOS_ID, EOS_ID, PAD_ID

NEVER = (PAD_ID, BOS_ID)  # ids search never emits


@dataclass
class Hypothesis:
    """One output sentence of a search."""

    tokens: list[int]  # output ids, without BOS and EOS
    score: float  # log_prob / length penalty: what hypotheses are ranked by
    log_prob: float  # sum of the model's log-probabilities of the tokens and the final EOS
    attention: Optional[Tensor] = None  # (len(tokens), src_len) weights per output token, if asked


def length_penalty(length: Union[int, Tensor], config: SearchConfig) -> Union[float, Tensor]:
    """Divisor of a log-probability; `length` counts the output tokens plus EOS."""
    if config.length_penalty == "gnmt":
        return ((5.0 + length) / 6.0) ** config.alpha
    if config.length_penalty == "length":
        return length * 1.0
    return 1.0


def max_output_lengths(src_lengths: Tensor, config: SearchConfig) -> Tensor:
    """(batch,) most output tokens per sentence: ratio * source length + constant, capped."""
    lengths = (src_lengths.double() * config.max_len_ratio + config.max_len_const).floor().long()
    return lengths.clamp(1, config.max_len)


def search(
    model: StepModel, src: Tensor, src_lengths: Tensor, config: SearchConfig = SearchConfig(),
    attention: bool = False, prefix: Optional[Tensor] = None,
) -> list[list[Hypothesis]]:
    """Greedy search for beam size 1 (or sampling), else beam search: n-best lists in input order.

    prefix (batch, p): target ids every output must start with, `NO_PREFIX`-padded; None: none.
    """
    decode = greedy_search if config.beam_size == 1 or config.sampling else beam_search
    return decode(model, src, src_lengths, config, attention=attention, prefix=prefix)


def _constrain(scores: Tensor, step: int, config: SearchConfig, history: Tensor, prefix: Tensor) -> Tensor:
    """Apply the n-gram block and the forced prefix to `scores` (rows, vocab), in place."""
    if config.no_repeat_ngram:
        block_repeated_ngrams(scores, history, step, config.no_repeat_ngram)
    forced = prefix_at(prefix, step)
    if forced is not None:
        force_tokens(scores, forced)
    return scores


def _mask_tokens(scores: Tensor, step: int, config: SearchConfig, at_max: Optional[Tensor]) -> Tensor:
    """`scores` (..., vocab) with the ids not allowed at `step` set to -inf, in place (search
    owns the log-probabilities a step returns).

    `at_max` (...) marks rows at their maximum length: EOS is all they may emit.
    """
    eos = scores[..., EOS_ID].clone() if at_max is not None else None
    banned = NEVER + ((EOS_ID,) if step < config.min_len else ())
    scores[..., list(banned)] = float("-inf")
    if at_max is not None:
        scores.masked_fill_(at_max.unsqueeze(-1), float("-inf"))
        scores[..., EOS_ID] = eos
    return scores


class _Finished:
    """Finished hypotheses per sentence, best first, at most `nbest` kept."""

    def __init__(self, batch: int, config: SearchConfig):
        self.config = config
        self.hypotheses: list[list[Hypothesis]] = [[] for _ in range(batch)]

    def add(self, sentence: int, tokens: list[int], log_prob: float, attention: Optional[Tensor],
            penalty: float = 0.0) -> float:
        """Store one hypothesis (`penalty`: its coverage penalty, <= 0); returns the score an open
        one must now beat (-inf: any)."""
        score = log_prob / length_penalty(len(tokens) + 1, self.config) + penalty
        kept = self.hypotheses[sentence]
        kept.append(Hypothesis(tokens, score, log_prob, attention))
        kept.sort(key=lambda h: -h.score)  # stable: earlier finishers win ties
        del kept[self.config.nbest:]
        return kept[-1].score if len(kept) == self.config.nbest else float("-inf")

    def results(self) -> list[list[Hypothesis]]:
        """An empty hypothesis at -inf where the model gave every ending zero probability."""
        empty = Hypothesis([], float("-inf"), float("-inf"))
        return [kept or [empty] for kept in self.hypotheses]


@dataclass
class _Open:
    """The sentences still searched, one row each; their beams are rows of the model state."""

    sentence: Tensor  # (n,) index in the input batch
    max_len: Tensor  # (n,) most output tokens
    best_penalty: Tensor  # (n,) length penalty at the longest possible output
    threshold: Tensor  # (n,) score an open beam must beat; -inf until nbest have finished
    src_len: list[int]  # source length per sentence, to trim attention
    prefix: Tensor  # (n, p) forced first target ids, NO_PREFIX-padded; p may be 0

    def select(self, keep: Tensor) -> "_Open":
        return _Open(self.sentence[keep], self.max_len[keep], self.best_penalty[keep],
                     self.threshold[keep], [self.src_len[i] for i in keep.tolist()], self.prefix[keep])


def _start(model: StepModel, src: Tensor, src_lengths: Tensor, config: SearchConfig, prefix: Optional[Tensor]):
    """Encode, start the decoder, and describe every sentence as open."""
    state = model.start(model.encode(src, src_lengths))
    if prefix is None:
        prefix = src.new_full((src.size(0), 0), NO_PREFIX)
    prefix = prefix.to(src.device)
    max_len = max_output_lengths(src_lengths, config).to(src.device)
    max_len = torch.maximum(max_len, prefix.ge(0).sum(dim=1))  # room for the whole prefix
    penalty = length_penalty(max_len.double() + 1, config)
    open_ = _Open(
        sentence=torch.arange(src.size(0), device=src.device),
        max_len=max_len,
        best_penalty=torch.as_tensor(penalty, dtype=torch.float32, device=src.device).expand_as(max_len),
        threshold=torch.full((src.size(0),), float("-inf"), device=src.device),
        src_len=src_lengths.tolist(),
        prefix=prefix,
    )
    return state, open_


@torch.no_grad()
def greedy_search(
    model: StepModel, src: Tensor, src_lengths: Tensor, config: SearchConfig = SearchConfig(),
    attention: bool = False, prefix: Optional[Tensor] = None,
) -> list[list[Hypothesis]]:
    """The most probable token at each step (with `config.sampling`, a drawn one); a sentence
    stops at its first EOS.

    src (batch, src_len) padded ids, src_lengths (batch,). Returns one list of one hypothesis
    per sentence (sampling: `nbest` samples, best first), in input order.
    """
    state, open_ = _start(model, src, src_lengths, config, prefix)
    rows = src.size(0)
    generator = generator_for(config, src.device) if config.sampling else None
    if config.sampling and config.nbest > 1:  # nbest rows per sentence, drawn independently
        copies = torch.arange(rows, device=src.device).repeat_interleave(config.nbest)
        state, open_, rows = model.reorder(state, copies, beams=config.nbest), open_.select(copies), rows * config.nbest
    finished = _Finished(src.size(0), config)
    steps = int(open_.max_len.max())
    tokens = src.new_full((rows, steps), PAD_ID)  # (n, steps) output so far
    weights: Optional[Tensor] = None  # (n, steps, src_len) attention so far, if asked
    log_prob = torch.zeros(rows, device=src.device)  # (n,)
    prev = src.new_full((rows,), BOS_ID)
    shortest = int(open_.max_len.min())
    for step in range(steps + 1):
        out = model.step(state, prev)
        at_max = open_.max_len.eq(step) if step >= shortest else None
        scores = _mask_tokens(out.log_probs.float(), step, config, at_max)
        _constrain(scores, step, config, tokens, open_.prefix)
        if generator is not None:
            prev = sample_tokens(scores, config, generator)  # (n,)
            best = scores.gather(1, prev.unsqueeze(1)).squeeze(1)  # the model's log-probability
        else:
            best, prev = scores.max(dim=-1)  # (n,)
        log_prob += best
        if step < steps:
            tokens[:, step] = prev
            if attention and out.attention is not None:
                if weights is None:
                    weights = out.attention.new_zeros(rows, steps, src.size(1))
                weights[:, step] = out.attention
        ended = prev.eq(EOS_ID) | open_.max_len.eq(step)  # (n,)
        if not bool(ended.any()):
            state = out.state
            continue
        rows = ended.nonzero().squeeze(1)
        sentences, log_probs = open_.sentence[rows].tolist(), log_prob[rows].tolist()
        outputs = tokens[rows, :step].tolist()
        for row, sentence, lp, out_tokens in zip(rows.tolist(), sentences, log_probs, outputs):
            att = weights[row, :step, : open_.src_len[row]].clone() if weights is not None else None
            finished.add(sentence, out_tokens, lp, att)
        keep = (~ended).nonzero().squeeze(1)
        if keep.numel() == 0:
            break
        state = model.reorder(out.state, keep)
        open_, tokens, log_prob, prev = open_.select(keep), tokens[keep], log_prob[keep], prev[keep]
        weights = weights[keep] if weights is not None else None
        shortest = int(open_.max_len.min())
    return finished.results()


@dataclass
class _Candidates:
    """The best extensions of every open sentence at one step; (n, c) each, best first."""

    score: Tensor  # summed log-probabilities
    parent: Tensor  # beam (row within the sentence) each extends
    token: Tensor  # the token it appends

    def take(self, index: Tensor) -> "_Candidates":
        """Columns `index` (n, c') of every row."""
        return _Candidates(*(t.gather(1, index) for t in (self.score, self.parent, self.token)))

    def take_rows(self, keep: Tensor) -> "_Candidates":
        return _Candidates(self.score[keep], self.parent[keep], self.token[keep])


def _candidates(log_probs: Tensor, beam_scores: Tensor, k: int) -> _Candidates:
    """Top 2k (beam, token) extensions per sentence: enough for k open ones after EOS ends some.

    log_probs (n, w, vocab), masked; beam_scores (n, w). A sentence's best 2k extensions are
    among the best 2k tokens of each of its beams (all extensions of a beam share its score), so
    each beam is cut to those first and beam scores are added to 2k entries, not the vocabulary.
    """
    n, w, vocab = log_probs.shape
    per_beam = min(2 * k, vocab)
    top, token = log_probs.topk(per_beam)  # (n, w, per_beam)
    total = (top + beam_scores.unsqueeze(-1)).view(n, w * per_beam)
    score, index = total.topk(min(2 * k, w * per_beam))  # (n, c)
    parent = torch.div(index, per_beam, rounding_mode="floor")
    return _Candidates(score, parent, token.view(n, w * per_beam).gather(1, index))


def _split(cand: _Candidates, k: int, w: int) -> tuple[Tensor, _Candidates]:
    """Which candidates end a hypothesis (an EOS among the best k), and the best k that go on."""
    is_eos = cand.token.eq(EOS_ID)  # (n, c)
    ended = is_eos & cand.score.isfinite()
    ended[:, k:] = False  # an EOS that would not have made the beam ends nothing
    c = is_eos.size(1)
    non_eos_first = is_eos.long() * c + torch.arange(c, device=is_eos.device)  # (n, c)
    width = min(k, c - w)  # at most w candidates are EOS, one per beam
    return ended, cand.take(non_eos_first.topk(width, largest=False).indices)  # best first


def _store(finished: _Finished, open_: _Open, cand: _Candidates, ended: Tensor, step: int,
           history: Tensor, weights: Optional[Tensor], w: int, coverage: Optional[Tensor] = None) -> None:
    """Move the hypotheses that ended at this step into `finished`; update thresholds."""
    where = ended.nonzero()  # (m, 2): sentence row, candidate rank
    rows = where[:, 0] * w + cand.parent[ended]  # (m,) model rows of their parents
    tokens = history[rows, :step].tolist()
    scores = cand.score[ended].tolist()
    sentences = open_.sentence[where[:, 0]].tolist()
    thresholds: dict[int, float] = {}  # sentence row -> threshold after its last hypothesis here
    for i, (row, sentence_row) in enumerate(zip(rows.tolist(), where[:, 0].tolist())):
        att = None
        if weights is not None:
            att = weights[row, :step, : open_.src_len[sentence_row]].clone()
        penalty = 0.0
        if coverage is not None:
            penalty = coverage_penalty(coverage[row], open_.src_len[sentence_row], finished.config.coverage_penalty)
        thresholds[sentence_row] = finished.add(sentences[i], tokens[i], scores[i], att, penalty)
    index = torch.tensor(list(thresholds), device=open_.threshold.device)
    open_.threshold[index] = torch.tensor(list(thresholds.values()), dtype=open_.threshold.dtype,
                                          device=open_.threshold.device)


@torch.no_grad()
def beam_search(
    model: StepModel, src: Tensor, src_lengths: Tensor, config: SearchConfig = SearchConfig(),
    attention: bool = False, prefix: Optional[Tensor] = None,
) -> list[list[Hypothesis]]:
    """Beam search over all sentences and beams at once.

    Each step ranks every (beam, token) extension of a sentence; EOS among the best `beam_size`
    ends a hypothesis, which is stored while the best `beam_size` others stay open. A sentence
    stops when no open beam can still beat its n-th best finished one, even at the longest
    length the penalty allows (log-probabilities only fall, the penalty grows at most to that
    length), or at its maximum length. With beam size 1 and `length_penalty: none` this is
    greedy search; with a length penalty a longer hypothesis may still win after the first EOS.
    With `config.early_stop` the bound takes the penalty at the next step's length instead of
    the longest: a sentence stops once no open beam would win if it ended at the next step.

    src (batch, src_len) padded ids, src_lengths (batch,). Returns the n-best list of every
    sentence, best first, in input order.
    """
    k = config.beam_size
    state, open_ = _start(model, src, src_lengths, config, prefix)
    finished = _Finished(src.size(0), config)
    steps = int(open_.max_len.max())
    history = src.new_full((src.size(0), steps), PAD_ID)  # (n * w, steps) tokens so far
    weights: Optional[Tensor] = None  # (n * w, steps, src_len) attention so far, if asked
    coverage: Optional[Tensor] = None  # (n * w, src_len) attention summed over steps (coverage penalty)
    beam_scores = torch.zeros(src.size(0), 1, device=src.device)  # (n, w): one beam to start
    prev = src.new_full((src.size(0),), BOS_ID)  # (n * w,)
    shortest = int(open_.max_len.min())
    for step in range(steps + 1):
        out = model.step(state, prev)
        n, w = beam_scores.shape
        at_max = open_.max_len.eq(step).unsqueeze(1).expand(n, w) if step >= shortest else None
        log_probs = _mask_tokens(out.log_probs.float().view(n, w, -1), step, config, at_max)  # (n, w, vocab)
        _constrain(log_probs.view(n * w, -1), step, config, history, open_.prefix.repeat_interleave(w, dim=0))
        cand = _candidates(log_probs, beam_scores, k)  # (n, c)
        ended, beams = _split(cand, k, w)  # (n, c) bool, (n, width) the beams that stay open
        if attention and out.attention is not None and weights is None:
            weights = out.attention.new_zeros(n * w, steps, src.size(1))
        if config.coverage_penalty:
            if out.attention is None:
                raise ValueError("the coverage penalty needs a model with attention")
            coverage = out.attention.float() if coverage is None else coverage + out.attention.float()
        if bool(ended.any()):
            _store(finished, open_, cand, ended, step, history, weights, w, coverage)
        # the open beams hold step + 1 tokens; ending next step, step + 2 count for the penalty
        penalty = length_penalty(step + 2, config) if config.early_stop else open_.best_penalty
        done = (beams.score[:, 0] / penalty).le(open_.threshold)  # (n,) none can win
        rows = (torch.arange(n, device=src.device) * w).unsqueeze(1) + beams.parent  # (n, width)
        if bool(done.any()):
            keep = (~done).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            open_, rows, beams = open_.select(keep), rows[keep], beams.take_rows(keep)
            shortest = int(open_.max_len.min())
        rows = rows.reshape(-1)  # (n' * width,) the parent row of every open beam
        state = model.reorder(out.state, rows, beams=beams.token.size(1))
        history = history[rows]
        history[:, step] = beams.token.reshape(-1)
        coverage = coverage[rows] if coverage is not None else None
        if weights is not None:
            weights = weights[rows]
            weights[:, step] = out.attention[rows]
        beam_scores, prev = beams.score, beams.token.reshape(-1)
    return finished.results()
