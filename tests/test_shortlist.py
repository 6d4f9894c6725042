"""Vocabulary shortlists (`--shortlist`): the lexical table, the per-batch candidates, search over
a shortlist (exact when it holds every piece), int8 rows, and the command-line paths."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from nmt.commands.main import main
from nmt.config import SearchConfig
from nmt.decoding.quantization import Int8Linear, int8_available
from nmt.decoding.search import search
from nmt.commands.decoding_options import shortlist_sizes
from nmt.config import ShortlistConfig
from nmt.decoding.shortlist import FILE, LexicalTable, ShortlistModel
from nmt.decoding.translator import Translator
from tests.test_translator import SOURCES
from tiny_models import VOCAB, random_batch, tiny_model


def toy_table(k: int = 3) -> LexicalTable:
    """Source 5 always comes with target 9, source 6 with 10; target 4 is in every pair."""
    sources = [np.array(s) for s in ([5, 7], [6, 7], [5, 6], [5], [7])]
    targets = [np.array(t) for t in ([9, 4, 4], [10, 4], [9, 10, 4], [9, 4], [4, 11])]
    return LexicalTable.build(sources, targets, src_vocab=12, tgt_vocab=12, k=k)


def test_lexical_table_ranks_the_piece_that_always_co_occurs_first():
    table = toy_table()
    assert table.translations[5, 0] == 9 and table.translations[6, 0] == 10
    assert table.frequent[0] == 4  # the most frequent target piece (6 of 12 tokens)
    assert (table.translations[0] == -1).all()  # PAD never occurs in the training pairs


def test_candidates_are_sorted_with_the_special_ids_first_and_the_batch_translations_in():
    table = toy_table()
    ids = table.candidates(torch.tensor([[5, 3, 0]]), frequent=1, per_source=1)
    assert ids.tolist() == [0, 1, 2, 3, 4, 9]  # specials, the most frequent (4), 5's best (9)
    assert 10 not in table.candidates(torch.tensor([[5, 7, 3]]), frequent=0, per_source=1).tolist()


def test_candidates_are_topped_up_with_the_next_most_frequent_pieces_to_min_rows():
    table = toy_table()  # frequent: 4, 9, 10, 11, then the unseen ids
    src = torch.tensor([[6]])
    assert table.candidates(src, frequent=0, per_source=1).tolist() == [0, 1, 2, 3, 10]
    assert table.candidates(src, frequent=0, per_source=1, min_rows=7).tolist() == [0, 1, 2, 3, 4, 9, 10]
    assert table.candidates(src, frequent=0, per_source=1, min_rows=5).tolist() == [0, 1, 2, 3, 10]
    assert table.candidates(src, frequent=0, per_source=1, min_rows=100).tolist() == list(range(12))


def test_shortlist_sizes_take_an_optional_fewest_rows():
    assert shortlist_sizes("100,20") == ShortlistConfig(frequent=100, per_source=20, min_rows=1000)
    assert shortlist_sizes("100,20,0").sizes() == (100, 20, 0)
    with pytest.raises(argparse.ArgumentTypeError, match="expected F,K or F,K,M"):
        shortlist_sizes("1,2,3,4")
    with pytest.raises(argparse.ArgumentTypeError, match="must be >= 0"):
        shortlist_sizes("100,20,-1")


def test_table_from_a_cache_reads_its_pairs_and_caps_how_many(data_config):
    from nmt.data.cache import TokenCache
    from nmt.data.pipeline import prepare, read_manifest

    prepare(data_config, progress=False)
    cache = TokenCache.open(Path(read_manifest(data_config)["caches"]["train"]))
    full = LexicalTable.from_cache(cache, 64, 64)
    sources = [np.array(x) for x in cache.dataset["src_ids"]]
    targets = [np.array(x) for x in cache.dataset["tgt_ids"]]
    assert torch.equal(full.translations, LexicalTable.build(sources, targets, 64, 64).translations)
    capped = LexicalTable.from_cache(cache, 64, 64, max_pairs=10)
    assert not torch.equal(capped.frequent, full.frequent) or not torch.equal(capped.translations, full.translations)


def test_table_survives_a_save_and_load(tmp_path):
    table = toy_table()
    table.save(tmp_path / FILE)
    loaded = LexicalTable.load(tmp_path / FILE)
    assert torch.equal(loaded.frequent, table.frequent) and torch.equal(loaded.translations, table.translations)


@pytest.mark.parametrize("beam", [1, 4])
@pytest.mark.parametrize("attention", ["general", "none"])
def test_a_shortlist_of_every_piece_searches_exactly_like_the_full_model(beam, attention):
    model = tiny_model(attention=attention).eval()
    batch = random_batch(sentences=6, seed=2)
    config = SearchConfig(beam_size=beam, nbest=min(beam, 2), max_len=10)
    with torch.inference_mode():
        full = search(model, batch.src, batch.src_lengths, config)
        shortlisted = ShortlistModel(model, torch.arange(VOCAB))
        short = search(shortlisted, batch.src, batch.src_lengths, config)
    for a, b in zip(full, short):
        assert [h.tokens for h in a] == [shortlisted.model_ids(h.tokens) for h in b]
        assert [h.log_prob for h in a] == pytest.approx([h.log_prob for h in b], abs=1e-5)


def test_search_over_a_shortlist_emits_only_shortlisted_pieces():
    model = tiny_model().eval()
    batch = random_batch(sentences=8, seed=4)
    ids = torch.tensor([0, 1, 2, 3, 7, 11, 19])
    shortlisted = ShortlistModel(model, ids)
    with torch.inference_mode():
        nbest = search(shortlisted, batch.src, batch.src_lengths, SearchConfig(beam_size=3, max_len=8))
    emitted = {t for hyps in nbest for t in shortlisted.model_ids(hyps[0].tokens)}
    assert emitted and emitted <= {1, 7, 11, 19}


@pytest.mark.skipif(not int8_available(), reason="this torch build has no fbgemm int8 operators")
def test_int8_rows_give_the_same_outputs_as_those_rows_of_the_int8_layer():
    torch.manual_seed(0)
    layer = Int8Linear.from_linear(torch.nn.Linear(32, 50))
    x, ids = torch.randn(9, 32), torch.tensor([0, 3, 17, 49])
    torch.testing.assert_close(layer.rows(ids)(x), layer(x)[:, ids], atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------- files and commands


@pytest.fixture
def model_with_shortlist(tiny_model_dir, tmp_path):
    directory = shutil.copytree(tiny_model_dir, tmp_path / "export")
    vocab = Translator.load(directory).model.tgt_vocab_size
    sources = [np.array([4 + i % (vocab - 4)]) for i in range(vocab)]
    LexicalTable.build(sources, sources, vocab, vocab).save(directory / FILE)
    return directory


def test_translator_with_a_shortlist_translates_every_line(model_with_shortlist):
    translator = Translator.load(model_with_shortlist, shortlist=(5, 2))
    out = translator.translate(SOURCES)
    assert len(out) == len(SOURCES) and all(t.hypotheses for t in out)


def test_a_shortlist_topped_up_to_every_piece_translates_like_the_full_model(model_with_shortlist):
    """The default floor of 1,000 rows covers a tiny vocabulary whole, whatever F and K say."""
    full = Translator.load(model_with_shortlist).translate(SOURCES)
    floored = Translator.load(model_with_shortlist, shortlist=(0, 0)).translate(SOURCES)
    assert [t.text for t in floored] == [t.text for t in full]


def test_shortlist_option_without_the_file_is_a_one_line_error(tiny_model_dir, capsys):
    rc = main(["translate", str(tiny_model_dir), "--shortlist", "--threads", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "shortlist.safetensors: no shortlist here; build one with `nmt shortlist" in err


def test_shortlist_sizes_must_be_two_numbers(tiny_model_dir, capsys):
    with pytest.raises(SystemExit):
        main(["translate", str(tiny_model_dir), "--shortlist", "100"])
    assert "expected F,K" in capsys.readouterr().err


def test_shortlist_command_on_a_directory_without_a_model_is_a_one_line_error(tmp_path, capsys):
    assert main(["shortlist", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "config.yaml: not found; MODEL_DIR must be a directory written by `nmt train`" in err
