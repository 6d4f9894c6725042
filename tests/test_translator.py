"""The `Translator`: order, empty lines, batch-size independence, long sources, vocabulary checks."""

from __future__ import annotations

import pytest

from nmt.config import SearchConfig
from nmt.errors import NMTError
from nmt.export import load_model_dir
from nmt.decoding.translator import LongSourceWarning, Translator
from tests.conftest import make_pairs, train_toy_tokenizer


SOURCES = [s for s, _ in make_pairs(9, seed=3, max_words=8)]


@pytest.fixture(scope="module")
def translator(tiny_model_dir):
    return Translator.load(tiny_model_dir)


@pytest.mark.parametrize("beam", [1, 3])
def test_results_do_not_depend_on_batch_size_and_keep_input_order(translator, beam):
    config = SearchConfig(beam_size=beam, nbest=beam, max_len=20)
    alone = [translator.translate([line], config)[0] for line in SOURCES]
    translator.batch_size = 4  # sorted by length into 3 batches, then restored to input order
    try:
        together = translator.translate(SOURCES, config)
    finally:
        translator.batch_size = 64
    assert [t.source for t in together] == SOURCES
    assert [t.texts for t in together] == [t.texts for t in alone]
    for a, b in zip(together, alone):
        assert [h.score for h in a.hypotheses] == pytest.approx([h.score for h in b.hypotheses], abs=1e-4)
        assert len(a.hypotheses) == beam


def test_empty_and_blank_lines_give_empty_translations_and_count_as_done(translator):
    lines = ["", SOURCES[0], "   ", SOURCES[1]]
    done = []
    results = translator.translate(lines, progress=done.append)
    assert [bool(t.text) for t in results] == [False, True, False, True]
    assert results[0].hypotheses == [] and results[2].texts == []
    assert sum(done) == len(lines)
    assert translator(lines) == [t.text for t in results]


def test_a_long_source_is_cut_with_a_warning_naming_its_line(tiny_model_dir):
    translator = Translator.load(tiny_model_dir, max_src_tokens=30)
    long_line = " ".join(SOURCES * 3)
    with pytest.warns(LongSourceWarning, match=r"1 source line\(s\) longer than 30 pieces .*: line 11 \(\d+ pieces\)$"):
        results = translator.translate([SOURCES[0], long_line], first_line=10)
    assert results[1].truncated and not results[0].truncated
    assert len(results[1].src_ids) == 30
    assert results[1].src_ids == translator.tokenizer.encode_src([long_line])[0][:30]
    assert results[1].text


def test_a_tokenizer_with_another_vocabulary_is_refused(tiny_model_dir, tmp_path):
    other = train_toy_tokenizer(tmp_path / "other", make_pairs(300, seed=1, max_words=6), vocab_size=50)
    model = load_model_dir(tiny_model_dir).model
    with pytest.raises(NMTError, match="source vocabulary 50 in the tokenizer, 60 in the model"):
        Translator(model, other)


def test_translate_leaves_the_model_in_its_mode(translator):
    translator.model.train()
    try:
        translator.translate(SOURCES[:2])
        assert translator.model.training
    finally:
        translator.model.eval()


def test_options_come_whole_or_as_fields_and_a_bad_value_names_the_field(tiny_model_dir):
    from nmt.config import ShortlistConfig, TranslatorConfig
    from nmt.errors import ConfigError

    whole = Translator.load(tiny_model_dir, options=TranslatorConfig(batch_size=7, max_src_tokens=30))
    fields = Translator.load(tiny_model_dir, batch_size=7, max_src_tokens=30)
    assert (whole.batch_size, whole.max_src_tokens) == (fields.batch_size, fields.max_src_tokens) == (7, 30)
    defaults = Translator.load(tiny_model_dir)
    assert (defaults.batch_size, defaults.max_src_tokens) == (TranslatorConfig().batch_size, TranslatorConfig().max_src_tokens)
    with pytest.raises(ConfigError, match=r"^Translator.load: batch_size: .*greater than or equal to 1"):
        Translator.load(tiny_model_dir, batch_size=0)
    with pytest.raises(ConfigError, match="Translator.load: beam: unknown key"):
        Translator.load(tiny_model_dir, beam=3)
    with pytest.raises(TypeError):
        Translator.load(tiny_model_dir, "cpu", True)  # options are keywords only
    assert ShortlistConfig(frequent=5, per_source=2) == ShortlistConfig.parse("5,2")
