"""Validation and test sets carved out of one corpus (nmt/data/holdout.py, `nmt prepare --holdout-*`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nmt.commands.main import main
from nmt.config import DataConfig
from nmt.data.holdout import carve
from nmt.data.pipeline import prepare, split_corpora
from nmt.errors import DataError

from conftest import make_pairs


def leaky_pairs() -> list[tuple[str, str]]:
    """(English, German) pairs built to leak: English sentences with one to three German
    translations, German sentences with two English ones, and exact duplicates."""
    pairs = []
    for i in range(120):
        pairs += [(f"english sentence {i}", f"deutscher satz {i} fassung {j}") for j in range(1 + i % 3)]
    for i in range(40):
        pairs += [(f"another english {i} {variant}", f"noch ein satz {i}") for variant in ("a", "b")]
    pairs += pairs[:30]  # exact duplicates
    return pairs


def write_tsv(path: Path, pairs) -> Path:
    path.write_text("".join(f"{en}\t{de}\n" for en, de in pairs), encoding="utf-8")
    return path


def config(tmp_path: Path, test: int = 20, valid: int = 10, seed: int = 1234, **data) -> DataConfig:
    tsv = tmp_path / "corpus.tsv"
    if not tsv.exists():
        write_tsv(tsv, leaky_pairs())
    return DataConfig.model_validate({
        "name": "leaky", "src_lang": "de", "tgt_lang": "en",
        "train": {"tsv": str(tsv), "columns": ["en", "de"]},
        "holdout": {"test": test, "valid": valid, "seed": seed},
        "tokenizer": {"vocab_size": 60}, "tokenizer_dir": str(tmp_path / "tok"),
        "cache_dir": str(tmp_path / "cache"), "batch_tokens": 200, "num_proc": 1, **data})


def read(directory: Path, split: str) -> list[tuple[str, str]]:
    src = (directory / f"{split}.de").read_text(encoding="utf-8").splitlines()
    tgt = (directory / f"{split}.en").read_text(encoding="utf-8").splitlines()
    return list(zip(src, tgt))


def test_no_held_out_sentence_occurs_on_either_side_of_training(tmp_path):
    held = carve(config(tmp_path), tmp_path / "cache", progress=False)
    train, test, valid = (read(held.directory, split) for split in ("train", "test", "valid"))
    assert (len(test), len(valid)) == (20, 10)
    held_out = test + valid
    assert not {s for s, _ in held_out} & {s for s, _ in train}
    assert not {t for _, t in held_out} & {t for _, t in train}
    counts = held.counts
    assert counts.removed > 0  # the corpus leaks: siblings of held-out pairs had to go
    assert counts.read == len(leaky_pairs()) == counts.train + counts.test + counts.valid + counts.removed
    assert counts.train == len(train)


def test_held_out_sets_share_no_sentence_with_each_other(tmp_path):
    held = carve(config(tmp_path, test=40, valid=40), tmp_path / "cache", progress=False)
    pairs = read(held.directory, "test") + read(held.directory, "valid")
    assert len({s for s, _ in pairs}) == len({t for _, t in pairs}) == len(pairs) == 80


def carved_test(directory: Path, seed: int = 1234) -> list[tuple[str, str]]:
    directory.mkdir(exist_ok=True)
    return read(carve(config(directory, seed=seed), directory / "cache", progress=False).directory, "test")


def test_carving_is_deterministic_and_follows_the_seed(tmp_path):
    first, again = carved_test(tmp_path / "a"), carved_test(tmp_path / "b")
    assert first == again
    assert carved_test(tmp_path / "b", seed=7) != first


def test_the_test_set_does_not_change_with_the_validation_size(tmp_path):
    small = read(carve(config(tmp_path, valid=5), tmp_path / "cache", progress=False).directory, "test")
    large = read(carve(config(tmp_path, valid=50), tmp_path / "cache", progress=False).directory, "test")
    assert small == large


def test_empty_and_overlong_pairs_are_never_held_out_but_counted_by_cleaning(tmp_path):
    good = make_pairs(60, seed=3, max_words=8)
    pairs = good + [("", "leer")] * 5 + [("x " * 20, "y z")] * 5
    write_tsv(tmp_path / "corpus.tsv", pairs)
    cfg = config(tmp_path, test=10, valid=10, clean={"max_words": 10})
    prepared = prepare(cfg, progress=False)
    held_out = read(prepared.holdout.directory, "test") + read(prepared.holdout.directory, "valid")
    assert len(held_out) == 20 and all((t, s) in good for s, t in held_out)  # TSV columns are en, de
    assert prepared.holdout.counts.eligible == 60
    dropped = prepared.splits["train"].counts.dropped
    assert (dropped["empty"], dropped["too_long"] + dropped["ratio"]) == (5, 5)


def test_prepare_trains_on_the_carved_corpus_and_reuses_the_carving(tmp_path):
    cfg = config(tmp_path)
    first = prepare(cfg, progress=False)
    assert first.holdout.built and first.splits["train"].counts.read == first.holdout.counts.train
    assert first.splits["valid"].counts.read == 10 and first.splits["test"].counts.read == 20
    again = prepare(cfg, progress=False)
    assert not again.holdout.built and again.holdout.directory == first.holdout.directory
    # evaluation reads the carved test set through the manifest
    assert split_corpora(cfg).test.src == first.holdout.directory / "test.de"


def run_cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def cli(tmp_path: Path, tsv: Path, *extra: str) -> list[str]:
    return ["prepare", "--tsv", str(tsv), "--tsv-columns", "en,de", "--src-lang", "de", "--tgt-lang", "en",
            "--vocab-size", "60", "--name", "leaky", "--tokenizer-dir", str(tmp_path / "tok"),
            "--cache-dir", str(tmp_path / "cache"), "--quiet", *extra]


def test_prepare_flags_carve_and_the_summary_reports_what_was_held_out_and_removed(tmp_path, capsys):
    tsv = write_tsv(tmp_path / "corpus.tsv", leaky_pairs())
    code, out, _ = run_cli(cli(tmp_path, tsv, "--holdout-test", "20", "--holdout-valid", "10"), capsys)
    assert code == 0
    line = next(line for line in out.splitlines() if line.strip().startswith("holdout"))
    assert "(seed 1234, carved)" in line and "held out test 20, valid 10" in line
    assert "training pairs sharing a sentence with them" in line
    assert "20 pairs (checked" in out and "10 pairs (cached" in out


def expect_one_line_error(argv, capsys, *fragments: str) -> None:
    code, _, err = run_cli(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_sizes_larger_than_the_corpus_are_a_one_line_error(tmp_path, capsys):
    tsv = write_tsv(tmp_path / "corpus.tsv", [(f"e {i}", f"d {i}") for i in range(30)])
    expect_one_line_error(cli(tmp_path, tsv, "--holdout-test", "25", "--holdout-valid", "10"), capsys,
                          "corpus.tsv", "cannot hold out test 25 + valid 10", "only 30")


def test_a_corpus_of_one_repeated_pair_is_a_one_line_error(tmp_path, capsys):
    tsv = write_tsv(tmp_path / "corpus.tsv", [("same", "gleich")] * 50)
    expect_one_line_error(cli(tmp_path, tsv, "--holdout-test", "1"), capsys,
                          "corpus.tsv", "no training pairs left after holding out", "removed 49")


def test_holding_out_a_split_that_is_also_given_is_a_config_error():
    with pytest.raises(ValueError, match="give data.valid or data.holdout.valid, not both"):
        DataConfig.model_validate({"name": "x", "src_lang": "de", "tgt_lang": "en", "train": {"tsv": "a.tsv"},
                                   "valid": {"tsv": "b.tsv"}, "holdout": {"valid": 10}})


def test_a_missing_language_in_the_columns_is_a_one_line_error(tmp_path, capsys):
    tsv = write_tsv(tmp_path / "corpus.tsv", leaky_pairs())
    argv = cli(tmp_path, tsv)
    argv[argv.index("en,de")] = "en,fr"
    expect_one_line_error(argv, capsys, "corpus.tsv", "no language 'de'")


def test_data_error_is_raised_for_an_empty_corpus(tmp_path):
    (tmp_path / "corpus.tsv").write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="empty corpus"):
        carve(config(tmp_path), tmp_path / "cache", progress=False)
