from __future__ import annotations

import pytest

from nmt.data import cache as cache_module
from nmt.data.cache import TextTableWriter, TokenCache, build_cache
from nmt.data.corpus import CleanCounts
from nmt.data.pipeline import prepare
from nmt.tokenizer import Tokenizer

from conftest import make_pairs, write_parallel


def caches(prepared) -> dict:
    return {name: split.cache for name, split in prepared.splits.items() if split.cache is not None}


def test_cache_holds_the_tokenizer_ids_and_lengths(data_config):
    prepared = prepare(data_config, progress=False)
    train = TokenCache.open(prepared.splits["train"].cache)
    tokenizer = prepared.tokenizer
    sources = (data_config.train.src).read_text(encoding="utf-8").splitlines()
    rows = train.dataset[:10]
    assert rows["src_ids"] == tokenizer.encode_src(sources[:10])
    assert list(train.src_lengths[:10]) == [len(ids) for ids in rows["src_ids"]]
    assert list(train.tgt_lengths[:10]) == [len(ids) for ids in rows["tgt_ids"]]
    assert "src_text" not in train.dataset.column_names  # training caches keep no text


def test_cache_is_memory_mapped_arrow(data_config):
    prepared = prepare(data_config, progress=False)
    dataset = TokenCache.open(prepared.splits["train"].cache).dataset
    assert dataset.cache_files and all(f["filename"].endswith(".arrow") for f in dataset.cache_files)
    assert type(dataset.data).__name__ == "MemoryMappedTable"


def test_valid_cache_keeps_whole_normalised_text_for_bleu(data_config, corpus_dir):
    prepared = prepare(data_config, progress=False)
    sources, references = TokenCache.open(prepared.splits["valid"].cache).texts()
    assert sources == (corpus_dir / "val.de").read_text(encoding="utf-8").splitlines()
    assert references == (corpus_dir / "val.en").read_text(encoding="utf-8").splitlines()


def test_rerun_reuses_everything(data_config):
    first = prepare(data_config, progress=False)
    second = prepare(data_config, progress=False)
    assert first.tokenizer_trained and not second.tokenizer_trained
    assert all(s.built for s in first.splits.values() if s.cache)
    assert not any(s.built for s in second.splits.values())
    assert caches(first) == caches(second)
    assert second.splits["train"].counts == first.splits["train"].counts


def test_changed_corpus_rebuilds_and_removes_the_stale_cache(data_config, corpus_dir):
    first = prepare(data_config, progress=False)
    write_parallel(corpus_dir, "val", make_pairs(41, seed=9))
    second = prepare(data_config, progress=False)
    assert second.splits["valid"].built and second.splits["valid"].counts.read == 41
    assert not second.splits["train"].built  # the tokenizer and train cache did not change
    assert not first.splits["valid"].cache.exists()


def test_changed_cleaning_option_rebuilds_only_the_train_cache(data_config):
    first = prepare(data_config, progress=False)
    data_config.clean.max_pieces = 5
    second = prepare(data_config, progress=False)
    assert not second.tokenizer_trained  # max_pieces does not change the tokenizer's text
    assert second.splits["train"].built and not second.splits["valid"].built
    assert second.splits["train"].cache != first.splits["train"].cache


def test_pairs_over_max_pieces_are_dropped_and_counted(data_config):
    data_config.clean.max_pieces = 6
    prepared = prepare(data_config, progress=False)
    counts = prepared.splits["train"].counts
    train = TokenCache.open(prepared.splits["train"].cache)
    assert counts.dropped["too_many_pieces"] > 0
    assert counts.kept == len(train) == 300 - counts.total_dropped
    assert train.src_lengths.max() <= 6 and train.tgt_lengths.max() <= 6


def test_changed_tokenizer_rebuilds_the_caches(data_config):
    first = prepare(data_config, progress=False)
    data_config.tokenizer.vocab_size = 70
    second = prepare(data_config, force=True, progress=False)
    assert second.tokenizer_trained and second.tokenizer.src_vocab_size == 70
    assert all(second.splits[s].built for s in ("train", "valid"))
    assert set(caches(first).values()).isdisjoint(caches(second).values())


def test_encoding_with_several_processes_gives_the_same_cache(tmp_path, data_config, monkeypatch):
    tokenizer = Tokenizer.load(prepare(data_config, progress=False).tokenizer.directory)
    pairs = make_pairs(300, seed=5)
    with TextTableWriter(tmp_path / "text.arrow", chunk=64) as table:
        for pair in pairs:
            table.add(pair)
    monkeypatch.setattr(cache_module, "ROWS_PER_PROCESS", 100)  # 300 rows -> 2 processes
    assert cache_module.encoding_processes(300, num_proc=2) == 2
    built = {}
    for procs in (1, 2):
        counts = CleanCounts(read=300, kept=300)
        built[procs] = build_cache(tmp_path / "text.arrow", tokenizer, tmp_path / f"c{procs}", f"{procs:064d}",
                                   counts, max_pieces=None, keep_text=False, num_proc=procs)
    assert built[1].dataset[:]["src_ids"] == built[2].dataset[:]["src_ids"]
    assert built[2].dataset[:]["src_ids"] == tokenizer.encode_src([s for s, _ in pairs])


@pytest.mark.parametrize("rows, num_proc, expected", [(500, None, 1), (25_000, 8, 3), (10**6, 2, 2)])
def test_encoding_processes_default_to_all_cores_with_enough_rows_each(rows, num_proc, expected):
    assert cache_module.encoding_processes(rows, num_proc) == expected
