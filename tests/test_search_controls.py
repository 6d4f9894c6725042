"""Search controls: sampling, a forced prefix, n-gram blocking, the coverage penalty, hard word
alignments, the prompt's commands, and one-line errors for bad values."""

from __future__ import annotations

import pytest
import torch

from nmt.commands.interactive import PromptSettings, is_command, run_command, sentence_of
from nmt.commands.main import main
from nmt.config import SearchConfig
from nmt.decoding.alignment import Alignment, hard_alignment, word_indices
from nmt.decoding.controls import NO_PREFIX, block_repeated_ngrams, force_tokens, sample_tokens
from nmt.decoding.search import search
from nmt.decoding.translator import Translator
from nmt.errors import NMTError
from tests.conftest import make_pairs
from tests.tiny_models import random_batch, tiny_model

SOURCES = [s for s, _ in make_pairs(6, seed=4, max_words=6)]


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=7).eval()


@pytest.fixture(scope="module")
def batch():
    return random_batch(sentences=6, seed=5)


def outputs(model, batch, **options):
    config = SearchConfig(max_len=12, **options)
    return [[h.tokens for h in hyps] for hyps in search(model, batch.src, batch.src_lengths, config)]


# ----------------------------------------------------------------------------- sampling


def test_sampling_is_reproducible_by_seed_and_differs_between_seeds(model, batch):
    first = outputs(model, batch, sampling=True, nbest=3, seed=11)
    assert first == outputs(model, batch, sampling=True, nbest=3, seed=11)
    assert first != outputs(model, batch, sampling=True, nbest=3, seed=12)
    assert all(len(samples) == 3 for samples in first)


def test_sampling_with_top_k_1_or_a_tiny_temperature_is_greedy(model, batch):
    greedy = outputs(model, batch, beam_size=1)
    assert outputs(model, batch, sampling=True, top_k=1, seed=3) == greedy
    assert outputs(model, batch, sampling=True, temperature=1e-4, seed=3) == greedy


def test_top_p_and_top_k_draw_only_inside_their_set():
    scores = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log().repeat(200, 1)
    generator = torch.Generator().manual_seed(0)
    nucleus = sample_tokens(scores.clone(), SearchConfig(sampling=True, top_p=0.75), generator)
    assert set(nucleus.tolist()) == {0, 1}  # 0.5 + 0.3 covers 0.75; 0.15 is never needed
    top2 = sample_tokens(scores.clone(), SearchConfig(sampling=True, top_k=3), generator)
    assert set(top2.tolist()) <= {0, 1, 2}


def test_sampled_scores_are_the_models_log_probabilities(model, batch):
    """A sample's log_prob is what the model gives its tokens, whatever the temperature."""
    hyps = search(model, batch.src, batch.src_lengths, SearchConfig(sampling=True, temperature=3.0, max_len=12))
    forced = search(model, batch.src[:1], batch.src_lengths[:1], SearchConfig(beam_size=1, max_len=12),
                    prefix=torch.tensor([hyps[0][0].tokens + [3]]))  # 3 = EOS: the sample, then its end
    assert forced[0][0].tokens == hyps[0][0].tokens
    assert forced[0][0].log_prob == pytest.approx(hyps[0][0].log_prob, abs=1e-4)


# ----------------------------------------------------------------------------- prefix


@pytest.mark.parametrize("beam", [1, 4])
def test_prefix_forced_output_starts_with_the_prefix(model, batch, beam):
    prefix = torch.full((6, 3), NO_PREFIX)
    prefix[0, :3] = torch.tensor([5, 6, 7])
    prefix[2, :1] = torch.tensor([9])
    config = SearchConfig(beam_size=beam, nbest=min(beam, 2), max_len=12)
    nbest = search(model, batch.src, batch.src_lengths, config, prefix=prefix)
    assert all(h.tokens[:3] == [5, 6, 7] for h in nbest[0])
    assert all(h.tokens[:1] == [9] for h in nbest[2])
    free = search(model, batch.src, batch.src_lengths, config)
    assert [h.tokens for h in nbest[1]] == [h.tokens for h in free[1]]  # rows without a prefix are untouched


def test_force_tokens_keeps_the_model_score_of_the_forced_token():
    scores = torch.log_softmax(torch.randn(3, 6), dim=-1)
    forced = force_tokens(scores.clone(), torch.tensor([2, NO_PREFIX, 5]))
    assert forced[0, 2] == scores[0, 2] and torch.isinf(forced[0, [0, 1, 3, 4, 5]]).all()
    assert torch.equal(forced[1], scores[1])


def test_translator_prefix_text_starts_the_translation(tiny_model_dir):
    translator = Translator.load(tiny_model_dir)
    prefix = "abc"
    for beam in (1, 3):
        config = translator.search_config.model_copy(update={"beam_size": beam, "nbest": 1})
        for t in translator.translate(SOURCES, config, prefix=prefix):
            assert t.text.startswith(prefix)
    per_line = translator.translate(SOURCES[:2], prefix=["abc", None])
    assert per_line[0].text.startswith("abc") and per_line[1].text == translator(SOURCES[1:2])[0]


def test_a_prefix_the_target_vocabulary_cannot_encode_is_one_error(tiny_model_dir):
    with pytest.raises(NMTError, match="prefix '€€': the target vocabulary cannot encode"):
        Translator.load(tiny_model_dir).translate(SOURCES[:1], prefix="€€")


# ----------------------------------------------------------------------------- n-gram blocking


def repeats(tokens: list[int], n: int) -> bool:
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(grams) != len(set(grams))


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("beam", [1, 4])
def test_blocked_ngrams_never_repeat(model, batch, n, beam):
    unblocked = outputs(model, batch, beam_size=beam, nbest=beam, min_len=10)
    assert any(repeats(t, n) for hyps in unblocked for t in hyps)  # the untrained model does repeat
    blocked = outputs(model, batch, beam_size=beam, nbest=beam, min_len=10, no_repeat_ngram=n)
    assert not any(repeats(t, n) for hyps in blocked for t in hyps)


def test_block_repeated_ngrams_bans_the_token_that_completes_a_seen_ngram():
    history = torch.tensor([[4, 5, 6, 4, 5]])
    scores = torch.zeros(1, 8)
    block_repeated_ngrams(scores, history, step=5, n=3)
    assert torch.isinf(scores[0, 6]) and torch.isfinite(scores[0, [4, 5, 7]]).all()


# ----------------------------------------------------------------------------- coverage penalty


def test_coverage_penalty_off_changes_nothing_and_on_lowers_scores(model, batch):
    config = SearchConfig(beam_size=4, nbest=4, max_len=12)
    plain = search(model, batch.src, batch.src_lengths, config)
    zero = search(model, batch.src, batch.src_lengths, config.model_copy(update={"coverage_penalty": 0.0}))
    assert [[(h.tokens, h.score) for h in x] for x in plain] == [[(h.tokens, h.score) for h in x] for x in zero]
    penalised = search(model, batch.src, batch.src_lengths, config.model_copy(update={"coverage_penalty": 1.0}))
    for hyps in penalised:
        for h in hyps:
            assert h.score <= h.log_prob / ((5 + len(h.tokens) + 1) / 6) ** config.alpha + 1e-6


def test_coverage_penalty_without_attention_is_one_error(tiny_none_model_dir):
    translator = Translator.load(tiny_none_model_dir)
    with pytest.raises(NMTError, match="coverage_penalty: the model has no attention"):
        translator.translate(SOURCES[:1], SearchConfig(coverage_penalty=0.2))


# ----------------------------------------------------------------------------- alignments


def test_hard_alignment_links_words_through_their_strongest_piece():
    weights = torch.tensor([[0.8, 0.1, 0.0, 0.1],   # ▁Ein -> ▁A
                            [0.0, 0.1, 0.7, 0.2],   # ▁Hund ... ▁dog (piece 2 is 'und', word 1)
                            [0.1, 0.6, 0.1, 0.2]])  # s -> ▁H (word 1), same target word as ▁dog
    alignment = Alignment(["▁Ein", "▁H", "und", "</s>"], ["▁A", "▁dog", "s"], weights)
    assert word_indices(["▁A", "▁dog", "s", "▁run"]) == [0, 1, 1, 2]
    assert hard_alignment(alignment) == [(0, 0), (1, 1)]


def test_print_alignment_adds_a_column_of_word_pairs(tiny_model_dir, tmp_path, capsys):
    src = tmp_path / "in.de"
    src.write_text("\n".join([SOURCES[0], "", SOURCES[1]]) + "\n")
    assert main(["translate", str(tiny_model_dir), "-i", str(src), "-q", "--print-alignment"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 3 and rows[1] == "\t"
    for row in (rows[0], rows[2]):
        text, pairs = row.split("\t")
        for pair in pairs.split():
            i, j = map(int, pair.split("-"))
            assert 0 <= j < len(text.split()) and i >= 0


# ----------------------------------------------------------------------------- bad values, the prompt


@pytest.mark.parametrize("argv, message", [
    (["--temperature", "-1"], "--temperature"),
    (["--top-p", "0"], "--top-p"),
    (["--top-p", "1.5"], "--top-p"),
    (["--top-k", "-2"], "--top-k"),
    (["--coverage-penalty", "-0.1"], "--coverage-penalty"),
    (["--no-repeat-ngram", "-1"], "--no-repeat-ngram"),
])
def test_bad_search_values_are_one_line_errors_naming_the_option(tiny_model_dir, tmp_path, capsys, argv, message):
    src = tmp_path / "in.de"
    src.write_text(SOURCES[0] + "\n")
    assert main(["translate", str(tiny_model_dir), "-i", str(src), "-q", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_prompt_commands_change_the_options_between_sentences():
    settings = PromptSettings(SearchConfig(beam_size=5))
    assert is_command(":beam 3") and not is_command("::beam") and sentence_of("::beam") == ":beam"
    run_command(":beam 3", settings)
    run_command(":nbest 2", settings)
    run_command(":sample on", settings)
    run_command(":top-p 0.9", settings)
    run_command(":prefix Ein Mann", settings)
    assert (settings.config.beam_size, settings.config.nbest, settings.config.sampling) == (3, 2, True)
    assert settings.config.top_p == 0.9 and settings.nbest and settings.prefix == "Ein Mann"
    assert run_command(":prefix", settings) == ["no prefix"] and settings.prefix == ""
    assert any(":beam K" in line for line in run_command(":help", settings))
    assert "beam 3" in run_command(":options", settings)[0]


@pytest.mark.parametrize("line, message", [
    (":bogus 1", ":bogus: unknown command"),
    (":beam", ":beam needs a value"),
    (":beam zero", ":beam zero:"),
    (":top-p 2", ":top-p 2:"),
    (":align maybe", ":align takes on or off"),
    (":nbest 9", "nbest"),
])
def test_bad_prompt_commands_are_errors_and_change_nothing(line, message):
    settings = PromptSettings(SearchConfig(beam_size=5))
    before = settings.config
    with pytest.raises(NMTError, match=message.replace("?", r"\?")):
        run_command(line, settings)
    assert settings.config == before


def test_align_on_needs_a_model_with_attention():
    settings = PromptSettings(SearchConfig(), can_align=False)
    with pytest.raises(NMTError, match="no attention"):
        run_command(":align on", settings)
    assert not settings.align


def test_translate_prefix_option_starts_every_line_and_refuses_an_unencodable_prefix(tiny_model_dir, tmp_path,
                                                                                  capsys):
    src = tmp_path / "in.de"
    src.write_text("\n".join(SOURCES) + "\n")
    assert main(["translate", str(tiny_model_dir), "-i", str(src), "-q", "--prefix", "abc"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == len(SOURCES) and all(row.startswith("abc") for row in rows)
    assert main(["translate", str(tiny_model_dir), "-i", str(src), "-q", "--prefix", "€"]) == 2
    assert "prefix '€': the target vocabulary cannot encode" in capsys.readouterr().err


def test_samples_carry_their_attention(model, batch):
    nbest = search(model, batch.src, batch.src_lengths, SearchConfig(sampling=True, nbest=3, max_len=12), attention=True)
    for hyps, length in zip(nbest, batch.src_lengths.tolist()):
        assert len(hyps) == 3
        for h in hyps:
            assert h.attention.shape == (len(h.tokens), length)


def test_a_prefix_is_forced_through_a_shortlist_that_lacks_its_pieces(tiny_model_dir, tiny_tokenizer, tmp_path):
    import shutil

    import numpy as np

    from nmt.decoding.shortlist import FILE, LexicalTable

    directory = tmp_path / "export"
    shutil.copytree(tiny_model_dir, directory)
    src = [np.asarray(i) for i in tiny_tokenizer.encode_src(SOURCES)]
    tgt = [np.asarray(i) for i in tiny_tokenizer.encode_tgt(SOURCES)]
    LexicalTable.build(src, tgt, tiny_tokenizer.src_vocab_size, tiny_tokenizer.tgt_vocab_size).save(directory / FILE)
    translator = Translator.load(directory, shortlist=(0, 1, 0))  # specials and one piece per source piece
    for t in translator.translate(SOURCES, prefix="xyz"):
        assert t.text.startswith("xyz")
