"""Greedy and beam search against hand-built models: fixed probability tables with scores
computed by hand, and a small random recurrent model for properties (batch independence,
beam 1 = greedy, exhaustive n-best, agreement with teacher forcing)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from math import log

import pytest
import torch

from nmt.config import SearchConfig
from nmt.model.state import DecoderState, EncoderOutput, StepOutput
from nmt.decoding.search import beam_search, greedy_search, length_penalty, search
from nmt.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from tiny_models import random_batch, tiny_model

A, B, C = 4, 5, 6  # output tokens of the table model


class TableModel:
    """Next-token probabilities read from tables: `tables[src[0]][prefix] -> {token: prob}`.

    The source's first id picks the table, so one batch can mix sentences with different
    tables; the output prefix (without BOS) picks the row, `"*"` is a table's default row.
    Attention is one-hot at position sum(prefix) % src_len, so it depends on the path.
    """

    def __init__(self, tables: dict, vocab: int = 8, attention: bool = True):
        self.tables, self.vocab, self.attention = tables, vocab, attention
        self.prefixes: list[tuple] = [()]
        self.rows_per_step: list[int] = []

    def encode(self, src, src_lengths):
        mask = torch.arange(src.size(1)).unsqueeze(0) < src_lengths.unsqueeze(1)
        return EncoderOutput(src.unsqueeze(-1).double(), mask, src_lengths, final=())

    def start(self, encoder_out):
        hidden = torch.zeros(1, encoder_out.states.size(0), 1)  # prefix id per row
        return DecoderState(hidden, None, encoder_out.states, encoder_out.mask)

    def step(self, state, prev_tokens):
        self.rows_per_step.append(prev_tokens.numel())
        log_probs, ids, attention = [], [], []
        keys = state.memory[:, 0, 0].long().tolist()
        lengths = state.mask.sum(1).tolist()
        prefix_ids = state.hidden[0, :, 0].long().tolist()
        for key, pid, token, length in zip(keys, prefix_ids, prev_tokens.tolist(), lengths):
            prefix = self.prefixes[pid] + (() if token == BOS_ID else (token,))
            table = self.tables[key]
            row = torch.zeros(self.vocab, dtype=torch.float64)
            for t, p in table.get(prefix, table["*"]).items():
                row[t] = p
            log_probs.append(row.log())
            self.prefixes.append(prefix)
            ids.append(len(self.prefixes) - 1)
            attention.append(torch.eye(state.mask.size(1))[sum(prefix) % length])
        hidden = torch.tensor(ids, dtype=torch.float32).view(1, -1, 1)
        att = torch.stack(attention) if self.attention else None
        return StepOutput(torch.stack(log_probs), replace(state, hidden=hidden), att)

    def reorder(self, state, index, beams=1):
        return state.index_select(index)  # one source row per state row: what `step` reads


class RecurrentModel:
    """A random, untrained tanh RNN encoder-decoder with dot attention, in float64."""

    def __init__(self, vocab: int = 12, dim: int = 16, seed: int = 0):
        g = torch.Generator().manual_seed(seed)

        def rand(*shape, scale=1.0):
            return torch.randn(*shape, generator=g, dtype=torch.float64) * scale

        self.emb = rand(vocab, dim)
        self.w_enc, self.w_dec, self.w_in = (rand(dim, dim, scale=dim**-0.5) for _ in range(3))
        self.out = rand(dim, vocab, scale=1.5)
        self.bias = torch.zeros(vocab, dtype=torch.float64)
        self.bias[EOS_ID] = 1.0  # so that some sentences end before their maximum length
        self.rows_per_step: list[int] = []

    def encode(self, src, src_lengths):
        mask = torch.arange(src.size(1)).unsqueeze(0) < src_lengths.unsqueeze(1)  # (batch, src_len)
        h = torch.zeros(src.size(0), self.emb.size(1), dtype=torch.float64)
        states = []
        for t in range(src.size(1)):
            h = torch.where(mask[:, t : t + 1], torch.tanh(h @ self.w_enc + self.emb[src[:, t]]), h)
            states.append(h)
        return EncoderOutput(torch.stack(states, 1), mask, src_lengths, final=(h.unsqueeze(0),))

    def start(self, encoder_out):
        return DecoderState(encoder_out.final[0], None, encoder_out.states, encoder_out.mask)

    def step(self, state, prev_tokens):
        self.rows_per_step.append(prev_tokens.numel())
        h = torch.tanh(state.hidden[0] @ self.w_dec + self.emb[prev_tokens] @ self.w_in)  # (batch, dim)
        energy = (state.memory @ h.unsqueeze(-1)).squeeze(-1)  # (batch, src_len)
        attention = energy.masked_fill(~state.mask, float("-inf")).softmax(-1)
        context = (attention.unsqueeze(1) @ state.memory).squeeze(1)  # (batch, dim)
        log_probs = ((h + context) @ self.out + self.bias).log_softmax(-1)
        return StepOutput(log_probs, replace(state, hidden=h.unsqueeze(0)), attention)

    def reorder(self, state, index, beams=1):
        return state.index_select(index)  # one source row per state row: what `step` reads


def sources(lengths: list[int], vocab: int = 12, seed: int = 0, first: list[int] | None = None):
    """Padded source ids (random pieces + EOS) and their lengths, EOS included."""
    g = torch.Generator().manual_seed(seed)
    src = torch.full((len(lengths), max(lengths) + 1), PAD_ID, dtype=torch.long)
    for row, n in enumerate(lengths):
        src[row, :n] = torch.randint(4, vocab, (n,), generator=g)
        src[row, n] = EOS_ID
    if first is not None:
        src[:, 0] = torch.tensor(first)
    return src, torch.tensor(lengths) + 1


def teacher_forced(model, src_row, length: int, tokens: list[int]):
    """Log-probability of tokens + EOS and the attention of each token, decoding one sentence."""
    state = model.start(model.encode(src_row[:length].unsqueeze(0), torch.tensor([length])))
    log_prob, attention, prev = 0.0, [], BOS_ID
    for token in tokens + [EOS_ID]:
        out = model.step(state, torch.tensor([prev]))
        log_prob += float(out.log_probs[0, token])
        attention.append(out.attention[0])
        state, prev = out.state, token
    return log_prob, torch.stack(attention)[: len(tokens)]


# The paper example: greedy takes A and stops; the best ending path starts with B.
PAPER = {
    (): {A: 0.6, B: 0.4},
    (A,): {EOS_ID: 0.5, C: 0.4, A: 0.1},
    (B,): {B: 0.9, EOS_ID: 0.1},
    (B, B): {B: 0.9, EOS_ID: 0.1},
    (B, B, B): {EOS_ID: 0.9, B: 0.1},
    "*": {EOS_ID: 0.9, A: 0.05, B: 0.03, C: 0.02},
}
SHORT = {
    (): {EOS_ID: 0.5, A: 0.3, B: 0.2},
    (A,): {EOS_ID: 0.6, A: 0.25, B: 0.15},
    "*": {EOS_ID: 0.7, A: 0.2, B: 0.1},
}
LONG = {"*": {A: 0.6, B: 0.3, EOS_ID: 0.1}}
QUICK = {(): {A: 0.9, B: 0.1}, "*": {EOS_ID: 0.97, A: 0.02, B: 0.01}}
TABLES = {A: PAPER, B: SHORT, C: LONG, 7: QUICK}
FIXED = dict(max_len_ratio=0.0, max_len_const=5)  # at most 5 output tokens


def decode(fn, first: list[int], lengths: list[int] | None = None, attention=False, **config):
    model = TableModel(TABLES)
    src, src_lengths = sources(lengths or [2] * len(first), first=first)
    return fn(model, src, src_lengths, SearchConfig(**config), attention=attention), model


def gnmt(log_prob: float, tokens: int, alpha: float) -> float:
    return log_prob / ((5 + tokens + 1) / 6) ** alpha


def assert_hypotheses(got, expected: list[tuple[list[int], float, float]]):
    assert [h.tokens for h in got] == [tokens for tokens, _, _ in expected]
    assert [h.log_prob for h in got] == pytest.approx([lp for _, lp, _ in expected], abs=1e-6)
    assert [h.score for h in got] == pytest.approx([s for _, _, s in expected], abs=1e-6)


def test_greedy_takes_the_most_probable_token_and_stops_at_eos():
    (best,), = decode(greedy_search, [A], **FIXED)[0]
    lp = log(0.6) + log(0.5)
    assert_hypotheses([best], [([A], lp, gnmt(lp, 1, 0.6))])


def test_beam_keeps_an_early_finisher_that_nothing_later_beats():
    results, model = decode(beam_search, [A], beam_size=2, length_penalty="none", **FIXED)
    lp = log(0.6) + log(0.5)
    assert_hypotheses(results[0], [([A], lp, lp)])
    # [A] ended at step 1; the search went on until no open beam (B B B B: .0324) could beat it
    assert model.rows_per_step == [1, 2, 2, 2]


def test_beam_with_gnmt_penalty_finds_the_longer_hypothesis():
    (best,), = decode(beam_search, [A], beam_size=2, alpha=1.0, **FIXED)[0]
    lp = log(0.4) + 3 * log(0.9)
    assert_hypotheses([best], [([B, B, B], lp, lp / ((5 + 4) / 6))])


def test_beam_with_length_normalisation():
    (best,), = decode(beam_search, [A], beam_size=2, length_penalty="length", **FIXED)[0]
    lp = log(0.4) + 3 * log(0.9)
    assert_hypotheses([best], [([B, B, B], lp, lp / 4)])


def test_nbest_lists_are_best_first_with_their_scores():
    (got,), _ = decode(beam_search, [A], beam_size=2, nbest=2, alpha=1.0, **FIXED)
    long_lp, short_lp = log(0.4) + 3 * log(0.9), log(0.6) + log(0.5)
    expected = [([B, B, B], long_lp, gnmt(long_lp, 3, 1.0)), ([A], short_lp, gnmt(short_lp, 1, 1.0))]
    assert_hypotheses(got, expected)


# A late winner: [A] ends at step 1; [B, B, B, B] outranks it under gnmt alpha 1 only at its full length.
LATE = {
    (): {A: 0.5, B: 0.5},
    (A,): {EOS_ID: 0.6, A: 0.4},
    (B,): {B: 0.5, C: 0.5},
    (B, B): {B: 1.0},
    (B, B, B): {B: 1.0},
    (B, B, B, B): {EOS_ID: 1.0},
    "*": {EOS_ID: 0.5, C: 0.5},
}


@pytest.mark.parametrize("early_stop", [False, True])
def test_early_stop_gives_up_on_a_winner_that_needs_more_than_one_more_step(early_stop):
    """At step 1 the open [B, B] (.25) could beat [A] (.3) only if it ran 2+ more tokens: the
    exact bound (penalty at the longest length) keeps searching, early stop (next length) not."""
    model = TableModel({A: LATE})
    src, lengths = sources([2], first=[A])
    config = SearchConfig(beam_size=2, alpha=1.0, early_stop=early_stop, **FIXED)
    (best,), = beam_search(model, src, lengths, config)
    short_lp, long_lp = log(0.5) + log(0.6), 2 * log(0.5)
    if early_stop:
        assert_hypotheses([best], [([A], short_lp, gnmt(short_lp, 1, 1.0))])
        assert model.rows_per_step == [1, 2]
    else:
        assert_hypotheses([best], [([B, B, B, B], long_lp, gnmt(long_lp, 4, 1.0))])
        assert model.rows_per_step == [1, 2, 2, 2, 2]


@pytest.mark.parametrize("seed", range(3))
def test_early_stop_changes_nothing_without_a_length_penalty(seed):
    """Log-probabilities only fall: with no penalty the next length bounds every longer one."""
    model, (src, lengths) = RecurrentModel(seed=seed), sources(LENGTHS, seed=seed)
    exact = beam_search(model, src, lengths, SearchConfig(beam_size=3, nbest=2, length_penalty="none"))
    early = beam_search(model, src, lengths, SearchConfig(beam_size=3, nbest=2, length_penalty="none", early_stop=True))
    assert [summary(r) for r in exact] == [summary(r) for r in early]


@pytest.mark.parametrize("fn", [greedy_search, beam_search])
def test_min_len_masks_eos_until_enough_tokens(fn):
    (best, *_), = decode(fn, [B], beam_size=2, min_len=2, length_penalty="none", **FIXED)[0]
    lp = log(0.3) + log(0.25) + log(0.7)  # EOS (.5, then .6) was not allowed before two tokens
    assert_hypotheses([best], [([A, A], lp, lp)])
    (best, *_), = decode(fn, [B], beam_size=2, min_len=1, length_penalty="none", **FIXED)[0]
    assert_hypotheses([best], [([A], log(0.3) + log(0.6), log(0.3) + log(0.6))])


@pytest.mark.parametrize("fn", [greedy_search, beam_search])
def test_a_sentence_can_end_at_the_first_step_when_min_len_is_zero(fn):
    (got,), _ = decode(fn, [B], beam_size=2, min_len=0, length_penalty="none", **FIXED)
    assert_hypotheses(got[:1], [([], log(0.5), log(0.5))])


@pytest.mark.parametrize("fn", [greedy_search, beam_search])
def test_max_len_is_ratio_times_source_plus_constant_capped_and_ends_with_eos(fn):
    config = dict(beam_size=2, length_penalty="none", max_len_ratio=0.5, max_len_const=1)
    results, _ = decode(fn, [C, C], lengths=[2, 6], **config)  # 3 and 7 source tokens with EOS
    for (best, *_), n in zip(results, [2, 4]):  # floor(0.5 * 3 + 1), floor(0.5 * 7 + 1)
        assert_hypotheses([best], [([A] * n, n * log(0.6) + log(0.1), n * log(0.6) + log(0.1))])
    results, _ = decode(fn, [C, C], lengths=[2, 6], max_len=3, **config)
    assert [r[0].tokens for r in results] == [[A, A], [A, A, A]]


def test_finished_sentences_leave_the_batch():
    config = dict(beam_size=2, length_penalty="none", max_len_ratio=0.5, max_len_const=1)
    _, model = decode(greedy_search, [7, C], lengths=[2, 6], **config)
    assert model.rows_per_step == [2, 2, 1, 1, 1]  # QUICK ends after A; LONG runs to 4 tokens + EOS
    _, model = decode(beam_search, [7, C], lengths=[2, 6], **config)
    assert model.rows_per_step == [2, 4, 2, 2, 2]  # one row per sentence at the start, then 2 beams


def test_sentences_with_different_tables_decode_as_if_alone():
    together, _ = decode(beam_search, [A, B, C, 7], beam_size=2, nbest=2, alpha=1.0, **FIXED)
    for i, first in enumerate([A, B, C, 7]):
        (alone,), _ = decode(beam_search, [first], beam_size=2, nbest=2, alpha=1.0, **FIXED)
        assert [(h.tokens, h.score) for h in together[i]] == [(h.tokens, h.score) for h in alone]


def test_attention_follows_the_hypothesis_path_and_is_only_collected_when_asked():
    (best,), = decode(beam_search, [A], lengths=[6], beam_size=2, attention=True, alpha=1.0, **FIXED)[0]
    assert best.tokens == [B, B, B]
    positions = [0, B % 7, 2 * B % 7]  # prefixes (), (B,), (B, B) over 7 source tokens
    assert torch.equal(best.attention, torch.eye(7)[positions])
    (best,), = decode(beam_search, [A], beam_size=2, attention=False, **FIXED)[0]
    assert best.attention is None
    model = TableModel(TABLES, attention=False)
    (best,), = greedy_search(model, *sources([2], first=[A]), attention=True)
    assert best.attention is None


# ----------------------------------------------------------------------------- random model

LENGTHS = [1, 7, 3, 9, 2, 5]
CONFIGS = {
    "greedy": SearchConfig(beam_size=1),
    "beam": SearchConfig(beam_size=3, nbest=3),
    "beam-length": SearchConfig(beam_size=4, nbest=2, length_penalty="length"),
}


def summary(hypotheses):
    return [(h.tokens, round(h.score, 5), round(h.log_prob, 5)) for h in hypotheses]


@pytest.mark.parametrize("name", CONFIGS)
def test_results_do_not_depend_on_batch_size_or_neighbours(name):
    model, config = RecurrentModel(seed=1), CONFIGS[name]
    src, lengths = sources(LENGTHS, seed=1)
    together = search(model, src, lengths, config, attention=True)
    order = [4, 0, 5, 2, 1, 3]
    shuffled = search(model, src[order], lengths[order], config, attention=True)
    for i in range(len(LENGTHS)):
        alone = search(model, src[i : i + 1, : lengths[i]], lengths[i : i + 1], config, attention=True)[0]
        assert summary(together[i]) == summary(alone) == summary(shuffled[order.index(i)])
        for a, b in zip(together[i], alone):
            torch.testing.assert_close(a.attention, b.attention)
    assert len({len(r[0].tokens) for r in together}) > 2  # varied output lengths, ends before the max


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("min_len", [0, 1])
def test_beam_size_one_equals_greedy_without_length_penalty(seed, min_len):
    model, (src, lengths) = RecurrentModel(seed=seed), sources(LENGTHS, seed=seed)
    config = SearchConfig(beam_size=1, length_penalty="none", min_len=min_len)
    greedy = greedy_search(model, src, lengths, config)
    beam = beam_search(model, src, lengths, config)
    assert [summary(r) for r in greedy] == [summary(r) for r in beam]


@pytest.mark.parametrize("penalty", ["none", "gnmt", "length"])
def test_a_wide_beam_returns_the_exhaustive_nbest(penalty):
    """Beam 40 over 3 output ids and at most 3 tokens covers all 40 outputs: exact search."""
    model = RecurrentModel(vocab=6, seed=3)
    src, lengths = sources([4, 2], vocab=6, seed=3)
    config = SearchConfig(beam_size=40, nbest=5, length_penalty=penalty, alpha=1.0, min_len=0,
                          max_len_ratio=0.0, max_len_const=3)
    results = beam_search(model, src, lengths, config)
    outputs = [list(t) for n in range(4) for t in itertools.product([UNK_ID, 4, 5], repeat=n)]
    for i, got in enumerate(results):
        scored = []
        for tokens in outputs:
            lp, _ = teacher_forced(model, src[i], int(lengths[i]), tokens)
            scored.append((lp / length_penalty(len(tokens) + 1, config), tokens))
        scored.sort(key=lambda pair: -pair[0])
        assert [h.tokens for h in got] == [tokens for _, tokens in scored[:5]]
        assert [h.score for h in got] == pytest.approx([s for s, _ in scored[:5]], abs=1e-5)


@pytest.mark.parametrize("name", CONFIGS)
def test_scores_and_attention_agree_with_teacher_forcing(name):
    model, config = RecurrentModel(seed=1), CONFIGS[name]
    src, lengths = sources(LENGTHS, seed=1)
    results = search(model, src, lengths, config, attention=True)
    for i, hypotheses in enumerate(results):
        assert len(hypotheses) == config.nbest
        assert len({tuple(h.tokens) for h in hypotheses}) == len(hypotheses)
        assert [h.score for h in hypotheses] == sorted((h.score for h in hypotheses), reverse=True)
        for h in hypotheses:
            assert not {PAD_ID, BOS_ID, EOS_ID} & set(h.tokens)
            lp, attention = teacher_forced(model, src[i], int(lengths[i]), h.tokens)
            assert h.log_prob == pytest.approx(lp, abs=1e-4)
            assert h.score == pytest.approx(h.log_prob / length_penalty(len(h.tokens) + 1, config), abs=1e-6)
            assert h.attention.shape == (len(h.tokens), int(lengths[i]))
            torch.testing.assert_close(h.attention, attention)


def test_search_config_rejects_nbest_above_beam_size():
    with pytest.raises(ValueError, match="nbest"):
        SearchConfig(beam_size=2, nbest=3)


@pytest.mark.parametrize("beam", [1, 3])
def test_a_fixed_length_config_makes_every_output_exactly_that_long(beam):
    """Benchmarks compare toolkits with every output forced to one length (`fixed_length`)."""
    model = tiny_model().eval()
    batch = random_batch(sentences=5, seed=3)
    config = SearchConfig(beam_size=beam, nbest=beam).fixed_length(6)
    assert (config.min_len, config.max_len, config.max_len_ratio, config.max_len_const) == (6, 6, 0.0, 6)
    nbest = search(model, batch.src, batch.src_lengths, config)
    assert [len(h.tokens) for hyps in nbest for h in hyps] == [6] * (5 * beam)
