from __future__ import annotations

import itertools

import pytest
from datasets import Dataset, DatasetDict, Features, Translation

from nmt.config import CleanConfig, CorpusConfig
from nmt.data.corpus import CleanCounts, clean_pairs, corpus_fingerprint, read_corpus, read_parallel_files, read_tsv
from nmt.errors import DataError

from conftest import make_pairs, write_parallel


def files(src, tgt) -> CorpusConfig:
    return CorpusConfig(src=src, tgt=tgt)


def test_parallel_files_stream_aligned_pairs(tmp_path):
    pairs = make_pairs(20)
    src, tgt = write_parallel(tmp_path, "train", pairs)
    assert list(read_corpus(files(src, tgt), "de", "en")) == pairs


def test_reading_is_lazy_so_a_corpus_never_becomes_a_list(tmp_path):
    src, tgt = tmp_path / "a.de", tmp_path / "a.en"
    src.write_bytes(b"eins\nzwei\n\xff kaputt\n")
    tgt.write_bytes(b"one\ntwo\nbroken\n")
    first_two = list(itertools.islice(read_parallel_files(src, tgt), 2))  # line 3 is never decoded
    assert first_two == [("eins", "one"), ("zwei", "two")]


@pytest.mark.parametrize("src_lines, tgt_lines", [(5, 3), (3, 5)])
def test_different_line_counts_name_both_files_and_counts(tmp_path, src_lines, tgt_lines):
    src, tgt = tmp_path / "x.de", tmp_path / "x.en"
    src.write_text("".join(f"s{i}\n" for i in range(src_lines)), encoding="utf-8")
    tgt.write_text("".join(f"t{i}\n" for i in range(tgt_lines)), encoding="utf-8")
    with pytest.raises(DataError) as err:
        list(read_parallel_files(src, tgt))
    message = str(err.value)
    assert f"{src} has {src_lines} lines" in message and f"{tgt} has {tgt_lines}" in message
    assert "\n" not in message


def test_non_utf8_names_file_and_line(tmp_path):
    src, tgt = tmp_path / "x.de", tmp_path / "x.en"
    src.write_bytes("gut\nschön\n".encode("utf-8") + "größer\n".encode("latin-1"))
    tgt.write_text("good\nnice\nbigger\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{src}:3: not valid UTF-8 \(byte 0xf6"):
        list(read_parallel_files(src, tgt))


def test_missing_file_is_named(tmp_path):
    src, _ = write_parallel(tmp_path, "train", make_pairs(3))
    with pytest.raises(DataError, match=r"nope\.en: file not found"):
        list(read_parallel_files(src, tmp_path / "nope.en"))


def test_lines_split_only_on_newline_so_alignment_survives_odd_separators(tmp_path):
    src, tgt = tmp_path / "x.de", tmp_path / "x.en"
    src.write_text("ein\x0bwort\nzwei\u2028wörter\n", encoding="utf-8")
    tgt.write_text("a\x0bword\ntwo words\n", encoding="utf-8")
    assert len(list(read_parallel_files(src, tgt))) == 2


def test_tsv_pairs_and_blank_lines_as_empty_pairs(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text("hallo welt\thello world\n\nja\tyes\n", encoding="utf-8")
    assert list(read_tsv(path)) == [("hallo welt", "hello world"), ("", ""), ("ja", "yes")]


def test_tsv_with_wrong_column_count_names_the_line(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text("a\tb\nc\td\te\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"c\.tsv:2: expected 2 tab-separated columns, found 3"):
        list(read_tsv(path))


# ----------------------------------------------------------------------------- Hugging Face


def save_translation_dataset(path, pairs, langs=("de", "en")):
    features = Features({"translation": Translation(languages=list(langs))})
    rows = [{"translation": {langs[0]: s, langs[1]: t}} for s, t in pairs]
    Dataset.from_list(rows, features=features).save_to_disk(str(path))


def test_hf_translation_column_like_wmt14(tmp_path):
    pairs = make_pairs(30)
    save_translation_dataset(tmp_path / "ds", pairs)
    corpus = CorpusConfig(hf=str(tmp_path / "ds"))
    assert list(read_corpus(corpus, "de", "en")) == pairs
    assert list(read_corpus(corpus, "en", "de")) == [(t, s) for s, t in pairs]


def test_hf_one_column_per_language_in_a_dataset_dict(tmp_path):
    pairs = make_pairs(10)
    columns = {"de": [s for s, _ in pairs], "en": [t for _, t in pairs], "id": list(range(10))}
    DatasetDict({"validation": Dataset.from_dict(columns)}).save_to_disk(str(tmp_path / "dd"))
    corpus = CorpusConfig(hf=str(tmp_path / "dd"))
    assert list(read_corpus(corpus, "de", "en", role="valid")) == pairs  # default split: validation
    with pytest.raises(DataError, match=r"no split 'train' \(available: validation\)"):
        list(read_corpus(corpus, "de", "en", role="train"))


def test_hf_language_key_missing_lists_the_available_ones(tmp_path):
    save_translation_dataset(tmp_path / "ds", make_pairs(5))
    with pytest.raises(DataError, match=r"no language 'fr' \(available: de, en\)"):
        list(read_corpus(CorpusConfig(hf=str(tmp_path / "ds")), "de", "fr"))


def test_hf_missing_directory_is_an_error(tmp_path):
    with pytest.raises(DataError, match="dataset directory not found"):
        list(read_corpus(CorpusConfig(hf=str(tmp_path / "absent")), "de", "en"))


# ----------------------------------------------------------------------------- cleaning


def test_cleaning_counts_every_dropped_pair_by_reason():
    config = CleanConfig(max_words=5, max_ratio=2.0)
    pairs = [
        ("  ein   haus ", "a house"),  # kept, whitespace normalised
        ("", "empty source"),  # empty
        ("text", "   "),  # empty
        ("a b c d e f", "a b c d e f"),  # too_long (6 > 5)
        ("a", "a b c"),  # ratio 3 > 2
        ("a b", "a b c d"),  # ratio 2: kept
    ]
    counts = CleanCounts()
    kept = list(clean_pairs(pairs, config, counts))
    assert kept == [("ein haus", "a house"), ("a b", "a b c d")]
    assert (counts.read, counts.kept) == (6, 2)
    assert counts.dropped == {"empty": 2, "too_long": 1, "ratio": 1}
    assert counts.read == counts.kept + counts.total_dropped


def test_validation_sets_are_normalised_but_never_filtered():
    counts = CleanCounts()
    kept = list(clean_pairs([("", "x"), ("a\tb", "c")], None, counts))
    assert kept == [("", "x"), ("a b", "c")] and counts.total_dropped == 0


def test_fingerprint_follows_content_not_path(tmp_path):
    pairs = make_pairs(10)
    a = files(*write_parallel(tmp_path / "a", "train", pairs))
    b = files(*write_parallel(tmp_path / "b", "train", pairs))
    c = files(*write_parallel(tmp_path / "c", "train", pairs[:-1] + [("x", "y")]))
    assert corpus_fingerprint(a, "de", "en") == corpus_fingerprint(b, "de", "en")
    assert corpus_fingerprint(a, "de", "en") != corpus_fingerprint(c, "de", "en")


# ----------------------------------------------------------------------------- TSV columns by language


def test_tsv_columns_named_by_language_serve_both_directions(tmp_path):
    path = tmp_path / "de-en.tsv"
    path.write_text("Hi.\tHallo!\nRun!\tLauf!\n", encoding="utf-8")
    corpus = CorpusConfig(tsv=path, columns=["en", "de"])
    assert list(read_corpus(corpus, "de", "en")) == [("Hallo!", "Hi."), ("Lauf!", "Run!")]
    assert list(read_corpus(corpus, "en", "de")) == [("Hi.", "Hallo!"), ("Run!", "Lauf!")]
    # the same file read in the other direction is another corpus for caches and tokenizers
    assert corpus_fingerprint(corpus, "de", "en") != corpus_fingerprint(corpus, "en", "de")


def test_tsv_columns_set_the_expected_column_count(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text("a\tb\tCC-BY x\nc\td\n", encoding="utf-8")
    corpus = CorpusConfig(tsv=path, columns=["en", "de", "attribution"])
    with pytest.raises(DataError, match=r"c\.tsv:2: expected 3 tab-separated columns, found 2"):
        list(read_corpus(corpus, "de", "en"))


def test_a_tsv_line_without_a_tab_names_the_line(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text("a\tb\nno tab here\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"c\.tsv:2: expected 2 tab-separated columns, found 1"):
        list(read_corpus(CorpusConfig(tsv=path, columns=["en", "de"]), "de", "en"))


def test_tsv_columns_without_the_languages_are_an_error_naming_the_file(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text("a\tb\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"c\.tsv: columns en, fr have no language 'de'"):
        list(read_corpus(CorpusConfig(tsv=path, columns=["en", "fr"]), "de", "en"))


@pytest.mark.parametrize("fields, message", [
    ({"src": "a", "tgt": "b", "columns": ["en", "de"]}, "columns names the languages of a tsv file"),
    ({"tsv": "a.tsv", "columns": ["en", "en"]}, "at least two distinct language names"),
])
def test_bad_columns_are_config_errors(fields, message):
    with pytest.raises(ValueError, match=message):
        CorpusConfig.model_validate(fields)
