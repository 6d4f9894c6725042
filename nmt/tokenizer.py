"""SentencePiece subword tokenizers: training, reuse, and the `Tokenizer` that models use.

A tokenizer directory (`<tokenizer_dir>/<name>/`, or `<model_dir>/tokenizers/` in an exported
model) holds the SentencePiece model(s) and `tokenizer.json`: the options, the corpus, the sha256
of the training text, the fixed special ids and which model serves which side. A joint tokenizer
is one model for both languages (needed to tie source and target embeddings); a separate one is
a model per language.

Training is keyed by its inputs (options + corpus content + cleaning): the same inputs reuse the
directory, different inputs refuse to overwrite it unless forced.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Optional, Sequence

import numpy as np
import sentencepiece as spm

from nmt.config import TokenizerConfig
from nmt.errors import DataError
from nmt.vocab import BOS_ID, BOS_PIECE, EOS_ID, EOS_PIECE, PAD_ID, PAD_PIECE, UNK_ID, UNK_PIECE

METADATA = "tokenizer.json"
FORMAT = 1


@dataclass
class TrainingText:
    """The cleaned training sentences SentencePiece learns from, one file per side."""

    src: Path
    tgt: Path
    sentences: int  # pairs written
    sha256: str  # sha256 over the sha256 of the source and of the target file
    corpus: str  # human description of where the text came from
    inputs: str  # fingerprint of corpus content + cleaning options: what reuse compares


class TrainingTextWriter:
    """Writes cleaned pairs as SentencePiece input files, hashing the text as it goes."""

    def __init__(self, directory: Path, corpus: str, inputs: str):
        self.src_path, self.tgt_path = Path(directory) / "train.src.txt", Path(directory) / "train.tgt.txt"
        self.corpus, self.inputs = corpus, inputs
        self.sentences = 0
        self._src = open(self.src_path, "w", encoding="utf-8")
        self._tgt = open(self.tgt_path, "w", encoding="utf-8")
        self._src_hash, self._tgt_hash = hashlib.sha256(), hashlib.sha256()

    def add(self, pair: tuple[str, str]) -> None:
        for text, file, digest in ((pair[0], self._src, self._src_hash), (pair[1], self._tgt, self._tgt_hash)):
            line = text + "\n"
            file.write(line)
            digest.update(line.encode("utf-8"))
        self.sentences += 1

    def close(self) -> TrainingText:
        self._src.close()
        self._tgt.close()
        digest = hashlib.sha256(self._src_hash.digest() + self._tgt_hash.digest()).hexdigest()
        return TrainingText(self.src_path, self.tgt_path, self.sentences, digest, self.corpus, self.inputs)


def _sha256(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def read_metadata(directory: Path) -> Optional[dict]:
    path = Path(directory) / METADATA
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"{path}: not a valid tokenizer metadata file") from None


def tokenizer_status(directory: Path, options: TokenizerConfig, inputs: str) -> str:
    """"missing", "same" (reuse it) or "different" (training would overwrite other work)."""
    directory = Path(directory)
    if not directory.exists():
        return "missing"
    meta = read_metadata(directory)
    if meta is None:
        return "different"
    same = meta.get("options") == options.model_dump() and meta.get("inputs") == inputs
    return "same" if same else "different"


def _difference(directory: Path, options: TokenizerConfig, inputs: str) -> str:
    meta = read_metadata(directory)
    if meta is None:
        return f"{directory} exists but has no {METADATA}"
    for key, value in options.model_dump().items():
        if meta["options"].get(key) != value:
            return f"{directory} was trained with {key}={meta['options'].get(key)!r}, now {value!r}"
    return f"{directory} was trained on a different corpus or cleaning ({meta.get('corpus')})"


def ensure_replaceable(directory: Path, options: TokenizerConfig, inputs: str, force: bool) -> None:
    """Raise unless training may write `directory`: it is missing, holds the same inputs, or `force`."""
    if not force and tokenizer_status(directory, options, inputs) == "different":
        raise DataError(f"{_difference(Path(directory), options, inputs)}; use --force to overwrite it")


@contextlib.contextmanager
def _stderr_to(log: IO) -> Iterator[None]:
    """Send file descriptor 2 (where SentencePiece's C++ code logs) to `log` for a while.

    SentencePiece's own `logstream` needs `sys.stderr.fileno()`, which fails under pytest's
    capture and in notebooks; the descriptor itself is always there.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _train_one(inputs: list[Path], prefix: Path, options: TokenizerConfig, log: IO) -> None:
    spm.set_random_generator_seed(options.seed)
    try:
        with _stderr_to(log):
            spm.SentencePieceTrainer.Train(
                input=[str(p) for p in inputs], model_prefix=str(prefix), model_type=options.type,
                vocab_size=options.vocab_size, character_coverage=options.character_coverage,
                input_sentence_size=options.input_sentence_size, shuffle_input_sentence=True,
                pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
                pad_piece=PAD_PIECE, unk_piece=UNK_PIECE, bos_piece=BOS_PIECE, eos_piece=EOS_PIECE,
                num_threads=os.cpu_count() or 1,
            )
    except RuntimeError as err:
        limit = re.search(r"value <= (\d+)", str(err))
        if limit:
            raise DataError(
                f"data.tokenizer.vocab_size: {options.vocab_size} is more pieces than this corpus has "
                f"(SentencePiece allows at most {limit.group(1)}); lower it"
            ) from None
        raise DataError(f"SentencePiece training failed: {str(err).splitlines()[0]}") from None


def train_tokenizer(directory: Path, text: TrainingText, options: TokenizerConfig,
                    src_lang: str, tgt_lang: str, force: bool = False) -> "Tokenizer":
    """Train into `directory` (atomically: a crash leaves no half-written tokenizer).

    Reuses an existing tokenizer trained on the same inputs; refuses to replace one trained on
    different inputs unless `force`.
    """
    directory = Path(directory)
    status = tokenizer_status(directory, options, text.inputs)
    if status == "same":
        return Tokenizer.load(directory)
    ensure_replaceable(directory, options, text.inputs, force)
    work = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        with open(work / "train.log", "w", encoding="utf-8") as log:
            if options.joint:
                _train_one([text.src, text.tgt], work / "joint", options, log)
                models = {"src": "joint.model", "tgt": "joint.model"}
            else:
                _train_one([text.src], work / "src", options, log)
                _train_one([text.tgt], work / "tgt", options, log)
                models = {"src": "src.model", "tgt": "tgt.model"}
        tgt_model = spm.SentencePieceProcessor(model_file=str(work / models["tgt"]))
        meta = {
            "format": FORMAT, "name": directory.name, "src_lang": src_lang, "tgt_lang": tgt_lang,
            "tgt_pieces": seen_pieces(tgt_model, text.tgt) if options.target_pieces == "seen" else None,
            "options": options.model_dump(), "corpus": text.corpus, "inputs": text.inputs,
            "training_text": {"sentences": text.sentences, "sha256": text.sha256},
            "special_ids": {"pad": PAD_ID, "unk": UNK_ID, "bos": BOS_ID, "eos": EOS_ID},
            "models": models, "sentencepiece": spm.__version__,
        }
        (work / METADATA).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if directory.exists():
            shutil.rmtree(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        work.rename(directory)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Tokenizer.load(directory)


def seen_pieces(model: spm.SentencePieceProcessor, text: Path, chunk: int = 100_000) -> list[int]:
    """Piece ids that occur in `text` (one sentence per line), specials first: the target vocabulary.

    Reads in chunks so a large corpus never sits in memory.
    """
    seen = np.zeros(model.vocab_size(), dtype=bool)
    seen[[PAD_ID, UNK_ID, BOS_ID, EOS_ID]] = True
    with open(text, encoding="utf-8") as handle:
        while lines := [line.rstrip("\n") for _, line in zip(range(chunk), handle)]:
            for ids in model.encode(lines, out_type=int, num_threads=os.cpu_count() or 1):
                seen[ids] = True
    return np.flatnonzero(seen).tolist()  # sorted: the specials keep ids 0..3


class Tokenizer:
    """Source and target SentencePiece models: text <-> piece ids, a batch at a time.

    Ids follow nmt/vocab.py (pad 0, unk 1, bos 2, eos 3). `encode_*` adds no BOS/EOS (the batch
    adds them); `decode_*` drops every special id.
    """

    def __init__(self, directory: Path, meta: dict, src: spm.SentencePieceProcessor,
                 tgt: spm.SentencePieceProcessor):
        self.directory = Path(directory)
        self.meta = meta
        self.src_model = src
        self.tgt_model = tgt
        # The target side may keep only the pieces seen in training (`tgt_pieces`): model id i is
        # piece tgt_pieces[i]; unseen pieces map to <unk>. Without it model ids are piece ids.
        pieces = meta.get("tgt_pieces")
        self._to_piece = np.asarray(pieces, dtype=np.int64) if pieces else None  # (model vocab,)
        self._to_model = None
        if pieces:
            self._to_model = np.full(tgt.vocab_size(), UNK_ID, dtype=np.int64)  # (piece vocab,)
            self._to_model[self._to_piece] = np.arange(len(pieces))

    @classmethod
    def load(cls, directory: Path) -> "Tokenizer":
        directory = Path(directory)
        meta = read_metadata(directory)
        if meta is None:
            raise DataError(f"{directory}: no tokenizer here (missing {METADATA}); run `nmt prepare`")
        models = {}
        for side in ("src", "tgt"):
            path = directory / meta["models"][side]
            if not path.is_file():
                raise DataError(f"{path}: tokenizer model file missing")
            try:
                models[side] = spm.SentencePieceProcessor(model_file=str(path))
            except (RuntimeError, OSError) as err:  # a truncated or foreign file
                raise DataError(f"{path}: not a SentencePiece model ({str(err).splitlines()[0]})") from None
        if (models["src"].pad_id(), models["src"].eos_id()) != (PAD_ID, EOS_ID):
            raise DataError(f"{directory}: tokenizer special ids differ from nmt's (pad {PAD_ID}, eos {EOS_ID})")
        pieces = meta.get("tgt_pieces")
        if pieces and max(pieces) >= models["tgt"].vocab_size():
            raise DataError(f"{directory / meta['models']['tgt']} has {models['tgt'].vocab_size()} pieces, but "
                            f"{directory / METADATA} keeps piece {max(pieces)}: the files do not belong together")
        return cls(directory, meta, models["src"], models["tgt"])

    @property
    def joint(self) -> bool:
        return self.meta["models"]["src"] == self.meta["models"]["tgt"]

    @property
    def src_vocab_size(self) -> int:
        return self.src_model.vocab_size()

    @property
    def tgt_vocab_size(self) -> int:
        """Size of the model's target vocabulary (the seen pieces, or the whole model)."""
        return len(self._to_piece) if self._to_piece is not None else self.tgt_model.vocab_size()

    @property
    def files(self) -> list[str]:
        return sorted({METADATA, *self.meta["models"].values()})

    @property
    def fingerprint(self) -> str:
        """sha256 of the model files and target vocabulary: what the token-id cache is keyed by."""
        digest = _sha256([self.directory / self.meta["models"][side] for side in ("src", "tgt")])
        pieces = self.meta.get("tgt_pieces")
        return hashlib.sha256((digest + json.dumps(pieces)).encode()).hexdigest() if pieces else digest

    def encode_src(self, texts: list[str], num_threads: int = -1) -> list[list[int]]:
        return self.src_model.encode(texts, out_type=int, num_threads=num_threads)

    def encode_tgt(self, texts: list[str], num_threads: int = -1) -> list[list[int]]:
        """Model ids of the target side."""
        ids = self.tgt_model.encode(texts, out_type=int, num_threads=num_threads)
        if self._to_model is None:
            return ids
        return [self._to_model[row].tolist() if row else [] for row in ids]

    def model_ids(self, sentences: list[list[int]]) -> list[Optional[list[int]]]:
        """Target piece ids -> model ids, per sentence; None for a sentence with a piece outside a
        seen-pieces vocabulary (one array lookup for the whole batch)."""
        if self._to_model is None:
            return [list(ids) for ids in sentences]
        lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
        pieces = np.fromiter((i for ids in sentences for i in ids), dtype=np.int64, count=int(lengths.sum()))
        mapped = self._to_model[pieces]
        outside = (mapped == UNK_ID) & (pieces != UNK_ID)
        ends = np.cumsum(lengths)
        bad = np.add.reduceat(outside, ends - lengths) if len(pieces) else np.zeros(len(sentences), bool)
        bad = np.where(lengths > 0, bad, 0)
        return [None if b else row.tolist() for b, row in zip(bad, np.split(mapped, ends[:-1]))]

    def tgt_pieces(self, ids: list[int]) -> list[str]:
        """Target model ids -> SentencePiece pieces (for alignments and attention plots)."""
        return [self.tgt_model.id_to_piece(int(i)) for i in self.to_piece_ids(ids)]

    def to_piece_ids(self, ids: list[int]) -> list[int]:
        """Target model ids -> SentencePiece ids."""
        return self._to_piece[np.asarray(ids, dtype=np.int64)].tolist() if self._to_piece is not None else list(ids)

    def decode_src(self, ids: list[list[int]]) -> list[str]:
        return self.src_model.decode([list(map(int, row)) for row in ids])

    def decode_tgt(self, ids: list[list[int]]) -> list[str]:
        return self.tgt_model.decode([self.to_piece_ids(row) for row in ids])

    def export(self, directory: Path) -> "Tokenizer":
        """Copy the model files and metadata into `directory` (e.g. `<model_dir>/tokenizers/`)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name in self.files:
            shutil.copyfile(self.directory / name, directory / name)
        return Tokenizer.load(directory)
