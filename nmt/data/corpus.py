"""Parallel corpora as streams of (source, target) pairs, and the filters that clean them.

Three kinds of corpus, one per `CorpusConfig` form: two aligned text files, one TSV file, or a
Hugging Face dataset (hub name + config + split, or a `save_to_disk` directory). Every reader
streams: files are read line by line and datasets batch by batch from their memory-mapped
Arrow tables, so a corpus larger than memory never becomes a Python list.

Bad input is a one-line `DataError` naming the file and line. Cleaning never drops a pair
silently: `CleanCounts` counts every dropped pair by reason.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional

from nmt.config import CleanConfig, CorpusConfig
from nmt.errors import DataError

Pair = tuple[str, str]

# Why a pair was dropped, in the order cleaning checks them. `too_many_pieces` is decided after
# tokenization, when the token-id cache is built (nmt/data/cache.py).
DROP_REASONS = ("empty", "too_long", "ratio", "too_many_pieces")

# Splits a Hugging Face corpus reads when its config names none.
DEFAULT_HF_SPLITS = {"train": "train", "valid": "validation", "test": "test"}


# ----------------------------------------------------------------------------- readers


def read_corpus(corpus: CorpusConfig, src_lang: str, tgt_lang: str, role: str = "train") -> Iterator[Pair]:
    """Stream the raw (source, target) pairs of one corpus split, in corpus order."""
    if corpus.src is not None:
        return read_parallel_files(corpus.src, corpus.tgt)
    if corpus.tsv is not None:
        return read_tsv(corpus.tsv, corpus.columns, src_lang, tgt_lang)
    return read_hf(corpus, src_lang, tgt_lang, role)


def _check_file(path: Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found" if not path.exists() else f"{path}: not a file")
    return path


def _decode(raw: bytes, path: Path, line: int) -> str:
    """One line's text without its line ending (a byte-order mark on line 1 is dropped)."""
    try:
        return raw.decode("utf-8-sig" if line == 1 else "utf-8").rstrip("\r\n")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1})"
        ) from None


def read_parallel_files(src: Path, tgt: Path) -> Iterator[Pair]:
    """Line i of `src` pairs with line i of `tgt`; a different line count is an error naming both."""
    src, tgt = _check_file(src), _check_file(tgt)
    # Binary lines split on b"\n" only, as `wc -l` counts; str.splitlines would also split on
    # \x0b, \x1c or U+2028 inside a sentence and break the alignment.
    with open(src, "rb") as src_file, open(tgt, "rb") as tgt_file:
        for line, (raw_src, raw_tgt) in enumerate(itertools.zip_longest(src_file, tgt_file), start=1):
            if raw_src is None or raw_tgt is None:
                src_lines = line - 1 + (raw_src is not None) + sum(1 for _ in src_file)
                tgt_lines = line - 1 + (raw_tgt is not None) + sum(1 for _ in tgt_file)
                raise DataError(
                    f"{src} has {src_lines} lines but {tgt} has {tgt_lines}: "
                    "parallel files must be aligned line by line"
                )
            yield _decode(raw_src, src, line), _decode(raw_tgt, tgt, line)


def tsv_columns(path: Path, columns: Optional[list[str]], src_lang: str, tgt_lang: str) -> tuple[int, int]:
    """The (source, target) column indexes: 0 and 1, or where `columns` names the two languages."""
    if columns is None:
        return 0, 1
    for lang in (src_lang, tgt_lang):
        if lang not in columns:
            raise DataError(f"{path}: columns {', '.join(columns)} have no language {lang!r}; "
                            "set data.src_lang / data.tgt_lang or the corpus's columns")
    return columns.index(src_lang), columns.index(tgt_lang)


def read_tsv(path: Path, columns: Optional[list[str]] = None, src_lang: str = "src",
             tgt_lang: str = "tgt") -> Iterator[Pair]:
    """One pair per line, `source<TAB>target`, or the columns `columns` names by language; a blank
    line is an empty pair (cleaning counts it). A line with another number of columns is an error."""
    path = _check_file(path)
    src_column, tgt_column = tsv_columns(path, columns, src_lang, tgt_lang)
    expected = len(columns) if columns is not None else 2
    with open(path, "rb") as file:
        for line, raw in enumerate(file, start=1):
            text = _decode(raw, path, line)
            if not text.strip():
                yield "", ""
                continue
            fields = text.split("\t")
            if len(fields) != expected:
                raise DataError(f"{path}:{line}: expected {expected} tab-separated columns, found {len(fields)}")
            yield fields[src_column], fields[tgt_column]


def open_hf(corpus: CorpusConfig, role: str = "train"):
    """The `datasets.Dataset` of a hub corpus or a `save_to_disk` directory (memory-mapped)."""
    import datasets

    name = corpus.hf
    split = corpus.split or DEFAULT_HF_SPLITS.get(role, role)
    local = Path(name).expanduser()
    if local.exists() or name.startswith((".", "/", "~")):
        if not local.is_dir():
            raise DataError(f"{name}: dataset directory not found")
        try:
            loaded = datasets.load_from_disk(str(local))
        except FileNotFoundError as err:
            raise DataError(f"{name}: not a dataset saved by `datasets` ({err})") from None
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise DataError(f"{name}: no split {split!r} (available: {', '.join(loaded)})")
            loaded = loaded[split]
        return loaded
    try:
        return datasets.load_dataset(name, corpus.hf_config, split=split)
    except Exception as err:  # network, unknown name/config/split: all user-fixable, one line
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot load Hugging Face dataset {corpus.describe()}: {message}") from None


def _languages(dataset) -> tuple[Optional[str], list[str]]:
    """(column holding {lang: text} dicts or None, the language keys available)."""
    from datasets import Translation

    feature = dataset.features.get("translation")
    if isinstance(feature, Translation):
        return "translation", list(feature.languages)
    if isinstance(feature, dict):
        return "translation", list(feature)
    return None, list(dataset.column_names)


def read_hf(corpus: CorpusConfig, src_lang: str, tgt_lang: str, role: str = "train") -> Iterator[Pair]:
    """Pairs from a `translation` column of {lang: text} (e.g. wmt14) or from one column per language."""
    dataset = open_hf(corpus, role)
    column, available = _languages(dataset)
    for lang in (src_lang, tgt_lang):
        if lang not in available:
            raise DataError(
                f"{corpus.describe()}: no language {lang!r} (available: {', '.join(available)}); "
                "set data.src_lang / data.tgt_lang"
            )
    if column is not None:
        for batch in dataset.select_columns([column]).iter(batch_size=1000):
            yield from ((row[src_lang], row[tgt_lang]) for row in batch[column])
    else:
        for batch in dataset.select_columns([src_lang, tgt_lang]).iter(batch_size=1000):
            yield from zip(batch[src_lang], batch[tgt_lang])


# ----------------------------------------------------------------------------- fingerprint


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(_check_file(path), "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def corpus_fingerprint(corpus: CorpusConfig, src_lang: str, tgt_lang: str, role: str = "train") -> str:
    """A digest of the corpus content (not its path): files by their bytes, datasets by their
    `datasets` fingerprint. Caches and tokenizers are keyed by it, so an edited corpus rebuilds."""
    if corpus.src is not None:
        parts = {"files": [_file_sha256(corpus.src), _file_sha256(corpus.tgt)]}
    elif corpus.tsv is not None:
        parts = {"tsv": _file_sha256(corpus.tsv)}
        if corpus.columns is not None:  # which columns are read depends on the languages
            parts["columns"] = list(tsv_columns(corpus.tsv, corpus.columns, src_lang, tgt_lang))
    else:
        parts = {"hf": open_hf(corpus, role)._fingerprint, "langs": [src_lang, tgt_lang]}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


# ----------------------------------------------------------------------------- cleaning


@dataclass
class CleanCounts:
    """Pairs read, kept and dropped by reason (one of DROP_REASONS)."""

    read: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    def describe(self) -> str:
        reasons = ", ".join(f"{reason} {self.dropped[reason]}" for reason in DROP_REASONS)
        return f"{self.read} read, {self.kept} kept, {self.total_dropped} dropped ({reasons})"

    def to_dict(self) -> dict:
        return {"read": self.read, "kept": self.kept, "dropped": {r: self.dropped[r] for r in DROP_REASONS}}

    @classmethod
    def from_dict(cls, state: dict) -> "CleanCounts":
        return cls(state["read"], state["kept"], Counter(state["dropped"]))


def normalise(text: str) -> str:
    """Strip and collapse whitespace runs (tabs, newlines inside a dataset string) to one space."""
    return " ".join(text.split())


def drop_reason(src: str, tgt: str, config: CleanConfig) -> Optional[str]:
    """Why a normalised pair fails the word-level filters, or None to keep it."""
    if not src or not tgt:
        return "empty"
    src_words, tgt_words = src.count(" ") + 1, tgt.count(" ") + 1
    if max(src_words, tgt_words) > config.max_words:
        return "too_long"
    if max(src_words, tgt_words) / min(src_words, tgt_words) > config.max_ratio:
        return "ratio"
    return None


def clean_pairs(pairs: Iterable[Pair], config: Optional[CleanConfig], counts: CleanCounts) -> Iterator[Pair]:
    """Normalise every pair and drop those that fail `config`, counting both.

    `config=None` keeps every pair (validation and test sets are scored whole).
    """
    for src, tgt in pairs:
        counts.read += 1
        src, tgt = normalise(src), normalise(tgt)
        reason = drop_reason(src, tgt, config) if config is not None else None
        if reason is not None:
            counts.dropped[reason] += 1
            continue
        counts.kept += 1
        yield src, tgt
