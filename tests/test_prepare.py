from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from datasets import Dataset, Features, Translation

from nmt.commands.main import main
from nmt.config import load_data_config

from conftest import make_pairs, write_parallel

REPO = Path(__file__).resolve().parents[1]


def flags(corpus_dir: Path, tmp_path: Path, *extra: str) -> list[str]:
    return ["prepare", "--src", str(corpus_dir / "train.de"), "--tgt", str(corpus_dir / "train.en"),
            "--valid-src", str(corpus_dir / "val.de"), "--valid-tgt", str(corpus_dir / "val.en"),
            "--vocab-size", "64", "--name", "toy", "--tokenizer-dir", str(tmp_path / "tok"),
            "--cache-dir", str(tmp_path / "cache"), "--batch-tokens", "200", "--quiet", *extra]


def run_cli(argv, capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_prepare_from_flags_prints_the_summary(corpus_dir, tmp_path, capsys):
    code, out, _ = run_cli(flags(corpus_dir, tmp_path), capsys)
    assert code == 0
    assert "300 read, 300 kept, 0 dropped (empty 0, too_long 0, ratio 0, too_many_pieces 0)" in out
    assert "40 pairs (cached, not filtered)" in out
    assert re.search(r"\(trained\): joint unigram, vocabulary de 64 / en \d+ \(pieces seen in training, of 64\)", out)  # languages from the suffixes
    assert "pieces per sentence (de / en, mean): train" in out
    assert f"cache  {tmp_path / 'cache' / 'toy' / 'train-'}" in out and "(built)" in out
    assert "batches at 200 tokens:" in out and "padding share" in out
    assert (tmp_path / "tok" / "toy" / "tokenizer.json").is_file()


def test_rerun_reuses_tokenizer_and_caches(corpus_dir, tmp_path, capsys):
    run_cli(flags(corpus_dir, tmp_path), capsys)
    code, out, _ = run_cli(flags(corpus_dir, tmp_path), capsys)
    assert code == 0 and "(reused)" in out and "(built)" not in out and "(trained)" not in out


def test_prepare_from_a_config_reads_the_environment_and_accepts_overrides(corpus_dir, tmp_path, capsys,
                                                                           monkeypatch):
    config = {"data": {
        "name": "from-yaml", "src_lang": "de", "tgt_lang": "en",
        "train": {"src": "${TOY_DATA}/train.de", "tgt": "${TOY_DATA}/train.en"},
        "test": {"src": "${TOY_DATA}/val.de", "tgt": "${TOY_DATA}/val.en"},
        "tokenizer": {"vocab_size": 64, "joint": False},
        "tokenizer_dir": str(tmp_path / "tok"), "cache_dir": str(tmp_path / "cache"),
    }}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv("TOY_DATA", str(corpus_dir))
    code, out, _ = run_cli(["prepare", "--config", str(path), "--set", "data.clean.max_words=8", "--quiet"], capsys)
    assert code == 0
    assert "separate unigram, vocabulary de 64 / en 64" in out
    assert "40 pairs (checked, not filtered)" in out  # the test split is counted, not cached
    dropped = int(out.split("too_long ")[1].split(",")[0])
    assert dropped > 0  # sentences of 9 to 12 words are over max_words=8


def test_tsv_and_hf_corpora_from_flags(tmp_path, capsys):
    pairs = make_pairs(200, seed=4)
    tsv = tmp_path / "train.tsv"
    tsv.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    features = Features({"translation": Translation(languages=["de", "en"])})
    Dataset.from_list([{"translation": {"de": s, "en": t}} for s, t in pairs[:30]],
                      features=features).save_to_disk(str(tmp_path / "hf"))
    argv = ["prepare", "--tsv", str(tsv), "--hf", str(tmp_path / "hf"), "--valid-split", "train",
            "--src-lang", "de", "--tgt-lang", "en", "--vocab-size", "64", "--name", "mixed",
            "--tokenizer-dir", str(tmp_path / "tok"), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    code, out, _ = run_cli(argv, capsys)
    assert code == 0 and "200 read, 200 kept" in out and "30 pairs (cached" in out


def expect_one_line_error(argv, capsys, *fragments: str) -> None:
    code, out, err = run_cli(argv, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nmt prepare: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def test_different_line_counts_error(corpus_dir, tmp_path, capsys):
    write_parallel(corpus_dir, "train", make_pairs(300, seed=1))
    (corpus_dir / "train.en").write_text("".join(f"t{i}\n" for i in range(299)), encoding="utf-8")
    expect_one_line_error(flags(corpus_dir, tmp_path), capsys,
                          f"{corpus_dir / 'train.de'} has 300 lines", f"{corpus_dir / 'train.en'} has 299")


def test_non_utf8_error(corpus_dir, tmp_path, capsys):
    with open(corpus_dir / "val.de", "ab") as file:
        file.write(b"caf\xe9\n")
    with open(corpus_dir / "val.en", "a", encoding="utf-8") as file:
        file.write("coffee\n")
    expect_one_line_error(flags(corpus_dir, tmp_path), capsys, f"{corpus_dir / 'val.de'}:41: not valid UTF-8")


def test_empty_corpus_error(corpus_dir, tmp_path, capsys):
    (corpus_dir / "val.de").write_text("", encoding="utf-8")
    (corpus_dir / "val.en").write_text("", encoding="utf-8")
    expect_one_line_error(flags(corpus_dir, tmp_path), capsys, "val.de", "empty corpus")


def test_missing_file_error(corpus_dir, tmp_path, capsys):
    (corpus_dir / "train.en").unlink()
    expect_one_line_error(flags(corpus_dir, tmp_path), capsys, f"{corpus_dir / 'train.en'}: file not found")


def test_missing_language_key_error(tmp_path, capsys):
    features = Features({"translation": Translation(languages=["de", "en"])})
    Dataset.from_list([{"translation": {"de": "a", "en": "b"}}], features=features).save_to_disk(str(tmp_path / "hf"))
    argv = ["prepare", "--hf", str(tmp_path / "hf"), "--src-lang", "de", "--tgt-lang", "fr", "--name", "x",
            "--tokenizer-dir", str(tmp_path / "tok"), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    expect_one_line_error(argv, capsys, "no language 'fr' (available: de, en)")


def test_changed_tokenizer_options_need_force(corpus_dir, tmp_path, capsys):
    run_cli(flags(corpus_dir, tmp_path), capsys)
    changed = flags(corpus_dir, tmp_path, "--model-type", "bpe")
    expect_one_line_error(changed, capsys, "trained with type='unigram', now 'bpe'", "--force")
    code, out, _ = run_cli(changed + ["--force"], capsys)
    assert code == 0 and "(trained): joint bpe" in out


def test_config_errors_name_the_field(corpus_dir, tmp_path, capsys):
    expect_one_line_error(flags(corpus_dir, tmp_path, "--set", "data.tokenizer.type=wordpiece"), capsys,
                          "data.tokenizer.type: got 'wordpiece', valid: unigram or bpe")
    expect_one_line_error(["prepare", "--src", "a.de", "--tgt", "a.en"], capsys, "--name is required")


@pytest.mark.slow
def test_a_real_process_exits_2_with_one_line_and_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "nmt", "prepare", "--src", str(tmp_path / "no.de"), "--tgt", str(tmp_path / "no.en"),
         "--name", "x", "--cache-dir", str(tmp_path / "cache"), "--tokenizer-dir", str(tmp_path / "tok")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"nmt prepare: error: {tmp_path / 'no.de'}: file not found"


def test_multi30k_recipe_data_section(tmp_path, monkeypatch):
    monkeypatch.setenv("NMT_DATA_DIR", str(tmp_path / "m30k"))
    data = load_data_config(REPO / "recipes" / "multi30k" / "de-en.yaml")
    assert (data.src_lang, data.tgt_lang) == ("de", "en")
    assert data.train.src == tmp_path / "m30k" / "train.de" and data.valid.tgt == tmp_path / "m30k" / "val.en"
    options = data.tokenizer
    assert (options.type, options.vocab_size, options.joint, options.character_coverage) == ("unigram", 8000, True, 1.0)
    assert data.batch_tokens == 4096
