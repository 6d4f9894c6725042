"""Ensemble decoding: one member equals the model, copies equal the model, the combination rules,
and the one-line errors for members that cannot be combined."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from nmt.commands.main import main
from nmt.config import SearchConfig
from nmt.decoding.ensemble import EnsembleModel, combine_log_probs
from nmt.decoding.search import search
from nmt.decoding.translator import Translator
from nmt.errors import NMTError
from tests.conftest import export_tiny_model, make_pairs, train_toy_tokenizer
from tests.tiny_models import random_batch, tiny_model

SOURCES = [s for s, _ in make_pairs(6, seed=4, max_words=6)]
SEARCHES = [SearchConfig(beam_size=1, max_len=15), SearchConfig(beam_size=4, nbest=3, max_len=15),
            SearchConfig(sampling=True, nbest=2, seed=3, max_len=15)]


def hypotheses(model, config):
    batch = random_batch(sentences=4, seed=2)
    return search(model, batch.src, batch.src_lengths, config)


@pytest.mark.parametrize("config", SEARCHES, ids=["greedy", "beam-nbest", "sampling"])
def test_an_ensemble_of_one_model_equals_that_model_exactly(config):
    model = tiny_model(seed=5).eval()
    alone, ensemble = hypotheses(model, config), hypotheses(EnsembleModel([model]), config)
    assert [[(h.tokens, h.score, h.log_prob) for h in hyps] for hyps in alone] == \
           [[(h.tokens, h.score, h.log_prob) for h in hyps] for hyps in ensemble]


@pytest.mark.parametrize("combine", ["probability", "log_probability"])
@pytest.mark.parametrize("config", SEARCHES[:2], ids=["greedy", "beam-nbest"])
def test_an_ensemble_of_two_copies_equals_the_model(config, combine):
    model = tiny_model(seed=5).eval()
    alone, pair = hypotheses(model, config), hypotheses(EnsembleModel([model, model], combine), config)
    assert [[h.tokens for h in hyps] for hyps in alone] == [[h.tokens for h in hyps] for hyps in pair]
    for a, b in zip(alone, pair):
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-4)


def test_probabilities_are_mixed_and_log_probabilities_averaged():
    p = torch.tensor([[0.7, 0.2, 0.1]]).log()
    q = torch.tensor([[0.1, 0.1, 0.8]]).log()
    mixed = combine_log_probs([p, q], "probability").exp()
    torch.testing.assert_close(mixed, torch.tensor([[0.4, 0.15, 0.45]]))
    product = combine_log_probs([p, q], "log_probability")
    torch.testing.assert_close(product, (p + q) / 2)
    assert math.isclose(float(mixed.sum()), 1.0, rel_tol=1e-6)


def test_ensemble_attention_is_the_members_mean():
    one, two = tiny_model(seed=1).eval(), tiny_model(seed=2).eval()
    batch = random_batch(sentences=2, seed=3)
    outputs = []
    for model in (one, two, EnsembleModel([one, two])):
        state = model.start(model.encode(batch.src, batch.src_lengths))
        outputs.append(model.step(state, torch.full((2,), 2)))
    torch.testing.assert_close(outputs[2].attention, (outputs[0].attention + outputs[1].attention) / 2)


def test_translator_load_of_several_directories_decodes_with_their_ensemble(tiny_model_dir, tiny_tokenizer,
                                                                            tmp_path):
    import nmt.export

    other = tmp_path / "other"
    export_tiny_model(other, tiny_tokenizer)
    state = nmt.export.load_model_dir(other).model.state_dict()
    with torch.no_grad():  # a different member: weights scaled
        scaled = {k: v * 1.5 if v.is_floating_point() else v for k, v in state.items()}
    model = nmt.export.load_model_dir(other).model
    model.load_state_dict(scaled)
    nmt.export.export_model_dir(other, nmt.export.load_model_dir(other).config, model, tiny_tokenizer)

    single = Translator.load(tiny_model_dir)
    ensemble = Translator.load([tiny_model_dir, other])
    assert len(ensemble.models) == 2 and ensemble.model is ensemble.models[0]
    twice = Translator.load([tiny_model_dir, tiny_model_dir])
    assert twice(SOURCES) == single(SOURCES)
    by_hand = Translator([single.model, Translator.load(other).model], single.tokenizer, single.search_config)
    assert ensemble(SOURCES) == by_hand(SOURCES)
    # int8 and the shortlist apply to every member (the first member's lexical table serves all)
    import numpy as np

    from nmt.decoding.shortlist import FILE, LexicalTable

    first = tmp_path / "first"
    shutil.copytree(tiny_model_dir, first)
    pairs = [(np.asarray(s), np.asarray(t)) for s, t in zip(tiny_tokenizer.encode_src(SOURCES), tiny_tokenizer.encode_tgt(SOURCES))]
    LexicalTable.build([s for s, _ in pairs], [t for _, t in pairs], tiny_tokenizer.src_vocab_size,
                       tiny_tokenizer.tgt_vocab_size).save(first / FILE)
    assert len(Translator.load([first, other], int8=True, shortlist=(10, 5))(SOURCES)) == len(SOURCES)


def test_members_with_another_target_vocabulary_are_one_error(tiny_model_dir, tmp_path):
    tokenizer = train_toy_tokenizer(tmp_path / "tok", make_pairs(300, seed=9, max_words=6), vocab_size=50)
    other = export_tiny_model(tmp_path / "other", tokenizer)
    with pytest.raises(NMTError, match=r"export and .*other: different target vocabularies"):
        Translator.load([tiny_model_dir, other])
    with pytest.raises(NMTError, match="an empty ensemble"):
        Translator.load([])


def test_nmt_translate_and_evaluate_take_several_model_directories(tiny_model_dir, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    src = tmp_path / "src.de"
    src.write_text("\n".join(SOURCES) + "\n")
    assert main(["translate", str(tiny_model_dir), "-i", str(src), "-q"]) == 0
    alone = capsys.readouterr().out
    assert main(["translate", str(tiny_model_dir), str(copy), "-i", str(src), "-q", "--combine",
                 "log_probability"]) == 0
    assert capsys.readouterr().out == alone
    ref = tmp_path / "ref.en"
    ref.write_text(alone)
    assert main(["evaluate", str(copy), str(tiny_model_dir), "--src", str(src), "--ref", str(ref), "-m", "bleu"]) == 0
    out = capsys.readouterr()
    assert "BLEU" in out.out and (tmp_path / "src.beam3.ensemble2.en").is_file()


def test_members_whose_tokenizers_were_trained_apart_on_the_same_data_combine(tmp_path):
    """SentencePiece stores its training input paths in the model file, so two runs' identical
    vocabularies differ byte for byte; the pieces are what must agree."""
    pairs = make_pairs(300, seed=1, max_words=6)
    a = export_tiny_model(tmp_path / "a" / "export", train_toy_tokenizer(tmp_path / "a" / "tok", pairs))
    b = export_tiny_model(tmp_path / "b" / "export", train_toy_tokenizer(tmp_path / "b" / "tok", pairs))
    assert (a / "tokenizers" / "tgt.model").read_bytes() != (b / "tokenizers" / "tgt.model").read_bytes()
    assert len(Translator.load([a, b])(SOURCES)) == len(SOURCES)
