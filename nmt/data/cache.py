"""Token ids of one corpus split, cached as memory-mapped Arrow with `datasets`.

A cache directory `<cache_dir>/<name>/<split>-<fingerprint>/` holds a `save_to_disk` dataset with
columns `src_ids`, `tgt_ids` (piece ids, no BOS/EOS), `src_len`, `tgt_len` (for the batch
sampler) and, for validation and test, `src_text`, `tgt_text` (the references BLEU is scored
against; for training too with `data.subword_sampling`, which re-segments the text), plus `meta.json` with the cleaning counts. The fingerprint covers the corpus content,
the tokenizer model files and the cleaning options: change any and the cache is rebuilt; change
none and a re-run only opens it.

Building streams: cleaned pairs go to an Arrow text table on disk (`TextTableWriter`), which
`datasets.map` encodes with `num_proc` processes into the id table.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pyarrow as pa

from nmt.data.corpus import CleanCounts, Pair
from nmt.errors import DataError
from nmt.tokenizer import Tokenizer

CACHE_FORMAT = 1
TEXT_SCHEMA = pa.schema([("src", pa.string()), ("tgt", pa.string())])
ROWS_PER_PROCESS = 10_000  # below this, starting an encoding process costs more than it saves


def cache_fingerprint(corpus: str, tokenizer: str, clean: Optional[dict], keep_text: bool) -> str:
    """Digest of everything a cache's content depends on (see module docstring)."""
    parts = {"format": CACHE_FORMAT, "corpus": corpus, "tokenizer": tokenizer,
             "clean": clean, "keep_text": keep_text}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def cache_path(cache_root: Path, split: str, fingerprint: str) -> Path:
    return Path(cache_root) / f"{split}-{fingerprint[:16]}"


class TextTableWriter:
    """Streams (source, target) pairs into an Arrow IPC file, `chunk` rows per record batch."""

    def __init__(self, path: Path, chunk: int = 10_000):
        self.path = Path(path)
        self.chunk = chunk
        self.rows = 0
        self._src: list[str] = []
        self._tgt: list[str] = []
        self._sink = pa.OSFile(str(self.path), "wb")
        self._writer = pa.ipc.new_stream(self._sink, TEXT_SCHEMA)

    def add(self, pair: Pair) -> None:
        self._src.append(pair[0])
        self._tgt.append(pair[1])
        if len(self._src) >= self.chunk:
            self._flush()

    def _flush(self) -> None:
        if self._src:
            self._writer.write_batch(pa.record_batch([self._src, self._tgt], schema=TEXT_SCHEMA))
            self.rows += len(self._src)
            self._src, self._tgt = [], []

    def close(self) -> None:
        self._flush()
        self._writer.close()
        self._sink.close()

    def __enter__(self) -> "TextTableWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EncodeBatch:
    """`datasets.map` function: a batch of text pairs -> ids and lengths, dropping pairs with
    more than `max_pieces` pieces on either side (a batched map may return fewer rows)."""

    def __init__(self, tokenizer: Tokenizer, max_pieces: Optional[int], keep_text: bool, threads: int):
        self.tokenizer = tokenizer
        self.max_pieces = max_pieces
        self.keep_text = keep_text
        self.threads = threads

    def __call__(self, batch: dict) -> dict:
        src = self.tokenizer.encode_src(batch["src"], num_threads=self.threads)
        tgt = self.tokenizer.encode_tgt(batch["tgt"], num_threads=self.threads)
        keep = range(len(src))
        if self.max_pieces is not None:
            keep = [i for i in keep if len(src[i]) <= self.max_pieces and len(tgt[i]) <= self.max_pieces]
        out = {"src_ids": [src[i] for i in keep], "tgt_ids": [tgt[i] for i in keep],
               "src_len": [len(src[i]) for i in keep], "tgt_len": [len(tgt[i]) for i in keep]}
        if self.keep_text:
            out["src_text"] = [batch["src"][i] for i in keep]
            out["tgt_text"] = [batch["tgt"][i] for i in keep]
        return out


def _features(keep_text: bool):
    from datasets import Features, List, Value

    columns = {"src_ids": List(Value("int32")), "tgt_ids": List(Value("int32")),
               "src_len": Value("int32"), "tgt_len": Value("int32")}
    if keep_text:
        columns.update(src_text=Value("string"), tgt_text=Value("string"))
    return Features(columns)


def encoding_processes(rows: int, num_proc: Optional[int]) -> int:
    """`num_proc` (None = all cores), but at least ROWS_PER_PROCESS rows per process."""
    wanted = num_proc or os.cpu_count() or 1
    return max(1, min(wanted, math.ceil(rows / ROWS_PER_PROCESS)))


def build_cache(text_table: Path, tokenizer: Tokenizer, directory: Path, fingerprint: str,
                counts: CleanCounts, max_pieces: Optional[int], keep_text: bool,
                num_proc: Optional[int] = None, corpus: str = "", desc: str = "encoding") -> "TokenCache":
    """Encode an Arrow text table into a cache directory (written aside, then renamed).

    `counts` arrives with the word-level cleaning counts and leaves with `too_many_pieces` added.
    """
    from datasets import Dataset

    text = Dataset.from_file(str(text_table))
    procs = encoding_processes(len(text), num_proc)
    ids = text.map(
        EncodeBatch(tokenizer, max_pieces, keep_text, threads=1 if procs > 1 else -1),
        batched=True, batch_size=1000, num_proc=procs if procs > 1 else None,
        remove_columns=text.column_names, features=_features(keep_text),
        new_fingerprint=fingerprint[:32], load_from_cache_file=False, desc=desc,
    )
    counts.dropped["too_many_pieces"] += len(text) - len(ids)
    counts.kept = len(ids)
    if len(ids) == 0:
        raise DataError(f"{corpus or directory}: no pairs left after cleaning ({counts.describe()})")
    directory = Path(directory)
    work = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    try:
        ids.save_to_disk(str(work / "data"))
        meta = {"format": CACHE_FORMAT, "fingerprint": fingerprint, "counts": counts.to_dict(),
                "tokenizer": str(tokenizer.directory)}
        (work / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(directory, ignore_errors=True)
        work.rename(directory)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return TokenCache.open(directory)


def remove_stale(cache_root: Path, split: str, keep: Path) -> None:
    """Delete caches of `split` with other fingerprints: a changed input leaves no orphans."""
    for old in Path(cache_root).glob(f"{split}-*"):
        if old.is_dir() and old.resolve() != Path(keep).resolve():
            shutil.rmtree(old, ignore_errors=True)


@dataclass
class TokenCache:
    """An opened cache: the memory-mapped id table and what was recorded when it was built."""

    directory: Path
    dataset: "object"  # datasets.Dataset, memory-mapped
    meta: dict

    @classmethod
    def open(cls, directory: Path) -> "TokenCache":
        from datasets import load_from_disk

        directory = Path(directory)
        meta_path = directory / "meta.json"
        if not meta_path.is_file():
            raise DataError(f"{directory}: no token-id cache here; run `nmt prepare`")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        return cls(directory, load_from_disk(str(directory / "data")), meta)

    @classmethod
    def find(cls, directory: Path) -> Optional["TokenCache"]:
        """The cache at `directory` if a complete one is there, else None."""
        return cls.open(directory) if (Path(directory) / "meta.json").is_file() else None

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def counts(self) -> CleanCounts:
        return CleanCounts.from_dict(self.meta["counts"])

    def _column(self, name: str) -> np.ndarray:
        return self.dataset.data.column(name).to_numpy()  # the cache's own integer type

    @property
    def src_lengths(self) -> np.ndarray:
        """(rows,) source pieces per sentence, without EOS."""
        return self._column("src_len")

    @property
    def tgt_lengths(self) -> np.ndarray:
        """(rows,) target pieces per sentence, without BOS/EOS."""
        return self._column("tgt_len")

    def texts(self) -> tuple[list[str], list[str]]:
        """(sources, references) as cleaned; only caches built with keep_text have them."""
        if "src_text" not in self.dataset.column_names:
            raise DataError(f"{self.directory}: this cache keeps no text (training caches do not)")
        return (self.dataset.data.column("src_text").to_pylist(),
                self.dataset.data.column("tgt_text").to_pylist())
