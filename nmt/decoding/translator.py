"""Text in, text out: the one path from sentences to translations.

Validation BLEU during training, `nmt translate` and `nmt evaluate` all call `Translator`, so what
is measured is what users get. Sentences are encoded with SentencePiece, sorted by length into
batches (less padding, and search cost falls as short sentences finish), searched, decoded and
returned in the original order. A translator holds one model or an ensemble of several that share
their tokenizers (`nmt.decoding.ensemble`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

import torch

from nmt.config import SearchConfig, ShortlistConfig, TranslatorConfig, validate
from nmt.data.batch import collate
from nmt.decoding.controls import NO_PREFIX
from nmt.decoding.ensemble import EnsembleModel
from nmt.decoding.search import Hypothesis, search
from nmt.errors import NMTError
from nmt.model.seq2seq import Seq2Seq
from nmt.tokenizer import Tokenizer
from nmt.vocab import UNK_ID

Prefix = Union[None, str, Sequence[Optional[str]]]  # one for every line, or one per line

DEFAULTS = TranslatorConfig()


class LongSourceWarning(UserWarning):
    """Source lines longer than `max_src_tokens` pieces were cut (the warning names them)."""


@dataclass
class Translation:
    source: str
    hypotheses: list[Hypothesis]  # n-best, best first; empty for an empty source line
    texts: list[str]  # detokenized n-best, aligned with `hypotheses`
    src_ids: list[int]  # source pieces fed to the model (after truncation, without EOS)
    truncated: bool = False

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""


class Translator:
    """A model (or an ensemble of models), its tokenizer and decoding options, ready for batches
    of sentences."""

    def __init__(self, model: Union[Seq2Seq, Sequence[Seq2Seq]], tokenizer: Tokenizer,
                 search_config: SearchConfig = SearchConfig(), device: str | torch.device = "cpu",
                 batch_size: int = DEFAULTS.batch_size, max_src_tokens: int = DEFAULTS.max_src_tokens,
                 shortlist: Optional[tuple["LexicalTable", ShortlistConfig]] = None,
                 combine: str = DEFAULTS.combine):
        models = list(model) if isinstance(model, (list, tuple)) else [model]
        if not models:
            raise NMTError("an empty ensemble: give at least one model")
        for member in models:
            check_vocabularies(member, tokenizer)
        self.models = models
        self.combine = combine  # how an ensemble's distributions are combined
        self.tokenizer = tokenizer
        self.search_config = search_config
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.max_src_tokens = max_src_tokens  # longer sources are cut, with a warning
        self.shortlist = shortlist  # (lexical table, how each batch's shortlist is made)

    @property
    def model(self) -> Seq2Seq:
        """The model; of an ensemble, the first member."""
        return self.models[0]

    @property
    def has_attention(self) -> bool:
        return all(model.decoder.attention is not None for model in self.models)

    @classmethod
    def load(cls, model_dir: Union[Path, str, Sequence[Union[Path, str]]], device: str | torch.device = "cpu", *,
             options: Optional[TranslatorConfig] = None, **overrides) -> "Translator":
        """From an exported model directory (config, safetensors weights, tokenizers), or from a
        list of them: an ensemble, searched with the first one's search config.

        `options` (`TranslatorConfig`), or single fields of it as keywords (`batch_size=16`):
        int8: quantize the decoder's products for CPU inference (`nmt.decoding.quantization`).
        shortlist: `ShortlistConfig` or its numbers (most frequent pieces, translations per source
        piece[, fewest rows]): decode over the directory's vocabulary shortlist
        (`nmt.decoding.shortlist`) instead of the whole vocabulary.

        A tokenizer whose vocabulary differs from the one the model was trained with (meta.json)
        is an `NMTError`: its ids would index the wrong embeddings or run past them; so are
        ensemble members with different tokenizers.
        """
        from nmt.export import META, load_model_dir

        dirs = [Path(model_dir)] if isinstance(model_dir, (str, Path)) else [Path(d) for d in model_dir]
        if not dirs:
            raise NMTError("Translator.load: an empty ensemble: give at least one model directory")
        shortlist = overrides.get("shortlist")
        if shortlist is not None and not isinstance(shortlist, ShortlistConfig):
            overrides["shortlist"] = ShortlistConfig.of(shortlist)
        tree = (options or TranslatorConfig()).model_dump() | overrides
        options = validate(TranslatorConfig, tree, source="Translator.load")  # a bad value names the field
        if options.int8 and torch.device(device).type != "cpu":
            raise NMTError(f"--int8 runs on the CPU only, not on {device}")
        members = [load_model_dir(d, device=device) for d in dirs]
        first = members[0]
        tokenizer = first.tokenizer
        for side in ("src", "tgt"):
            expected, found = first.meta[f"{side}_vocab_size"], getattr(tokenizer, f"{side}_vocab_size")
            if expected != found:
                raise NMTError(f"{getattr(first.tokenizers, side)} has {found} pieces but {dirs[0] / META} "
                               f"says the model was trained with {expected}: the tokenizer does not match the model")
        for directory, member in zip(dirs[1:], members[1:]):
            _check_same_tokenizers(dirs[0], tokenizer, directory, member.tokenizer)
        models = [member.model for member in members]
        if options.int8:
            from nmt.decoding.quantization import quantize_decoder

            models = [quantize_decoder(model.eval()) for model in models]
        table = None
        if options.shortlist is not None:
            from nmt.decoding.shortlist import FILE, LexicalTable

            table = (LexicalTable.load(dirs[0] / FILE), options.shortlist)
        return cls(models if len(models) > 1 else models[0], tokenizer, first.config.search, device=device,
                   batch_size=options.batch_size, max_src_tokens=options.max_src_tokens, shortlist=table,
                   combine=options.combine)

    def translate(self, lines: Sequence[str], search_config: Optional[SearchConfig] = None,
                  attention: bool = False, progress=None, first_line: int = 1,
                  prefix: Prefix = None) -> list[Translation]:
        """Translate `lines`, in their order; an empty (or blank) line gives an empty translation.

        `progress` is an optional callable told how many lines were done; `first_line` is the line
        number of `lines[0]` in the warning about truncated sources. `prefix`: target text every
        translation must start with (one for all lines, or one per line; None or "" for none).
        """
        config = search_config or self.search_config
        if config.coverage_penalty and not self.has_attention:
            raise NMTError("coverage_penalty: the model has no attention (model.decoder.attention: none), "
                           "so there is no coverage to score")
        prefixes = self._encode_prefixes(prefix, len(lines))
        encoded = self.tokenizer.encode_src([line.strip() for line in lines])
        results = [Translation(line, [], [], []) for line in lines]
        todo = [row for row, ids in enumerate(encoded) if ids]
        if progress is not None and len(todo) < len(lines):
            progress(len(lines) - len(todo))
        self._warn_long([row for row in todo if len(encoded[row]) > self.max_src_tokens], encoded, first_line)
        for rows in self._batches(todo, encoded):
            ids = [encoded[r][: self.max_src_tokens] for r in rows]
            nbest = self._search(ids, config, attention, [prefixes[r] for r in rows] if prefixes else None)
            texts = iter(t.strip() for t in self.tokenizer.decode_tgt([h.tokens for hyps in nbest for h in hyps]))
            for row, src, hyps in zip(rows, ids, nbest):
                results[row] = Translation(lines[row], hyps, [next(texts) for _ in hyps], src,
                                           truncated=len(encoded[row]) > self.max_src_tokens)
            if progress is not None:
                progress(len(rows))
        return results

    def __call__(self, lines: Sequence[str]) -> list[str]:
        return [t.text for t in self.translate(lines)]

    def _encode_prefixes(self, prefix: Prefix, count: int) -> Optional[list[list[int]]]:
        """Target ids of each line's prefix; None when no line has one."""
        if prefix is None:
            return None
        texts = [prefix] * count if isinstance(prefix, str) else list(prefix)
        if len(texts) != count:
            raise NMTError(f"prefix: {len(texts)} prefixes for {count} lines")
        texts = [(text or "").strip() for text in texts]
        if not any(texts):
            return None
        encoded = self.tokenizer.encode_tgt(texts)
        for text, ids in zip(texts, encoded):
            if UNK_ID in ids:
                pieces = self.tokenizer.tgt_model.encode(text, out_type=str)  # one per id
                unknown = ", ".join(repr(piece) for piece, i in zip(pieces, ids) if i == UNK_ID)
                raise NMTError(f"prefix {text!r}: the target vocabulary cannot encode {unknown}")
        return encoded

    def _warn_long(self, rows: list[int], encoded: list[list[int]], first_line: int) -> None:
        if not rows:
            return
        shown = ", ".join(f"line {first_line + r} ({len(encoded[r])} pieces)" for r in rows[:3])
        more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
        warnings.warn(f"{len(rows)} source line(s) longer than {self.max_src_tokens} pieces cut to their first "
                      f"{self.max_src_tokens}: {shown}{more}", LongSourceWarning, stacklevel=3)

    def _batches(self, rows: list[int], encoded: list[list[int]]) -> Iterator[list[int]]:
        """Rows sorted longest first, `batch_size` at a time."""
        ordered = sorted(rows, key=lambda r: -len(encoded[r]))
        for start in range(0, len(ordered), self.batch_size):
            yield ordered[start : start + self.batch_size]

    def _step_model(self, members: list):
        return members[0] if len(members) == 1 else EnsembleModel(members, self.combine)

    @torch.inference_mode()
    def _search(self, ids: list[list[int]], config: SearchConfig, attention: bool,
                prefixes: Optional[list[list[int]]] = None) -> list[list[Hypothesis]]:
        batch = collate([(src, []) for src in ids])  # appends EOS to each source
        prefix = None
        if prefixes is not None:
            prefix = torch.full((len(ids), max(map(len, prefixes))), NO_PREFIX, dtype=torch.long)
            for row, forced in enumerate(prefixes):
                prefix[row, : len(forced)] = torch.as_tensor(forced, dtype=torch.long)
        was_training = [model.training for model in self.models]
        for model in self.models:
            model.eval()
        try:
            src, lengths = batch.src.to(self.device), batch.src_lengths.to(self.device)
            if self.shortlist is None:
                return search(self._step_model(self.models), src, lengths, config, attention=attention, prefix=prefix)
            from nmt.decoding.shortlist import ShortlistModel

            table, sizes = self.shortlist
            candidates = table.candidates(batch.src, *sizes.sizes())
            if prefix is not None:  # forced pieces must be in the shortlist; prefixes become positions in it
                candidates = torch.unique(torch.cat([candidates, prefix[prefix.ge(0)]]))
                prefix = torch.where(prefix.ge(0), torch.searchsorted(candidates, prefix.clamp(min=0)), prefix)
            members = [ShortlistModel(model, candidates.to(self.device)) for model in self.models]
            nbest = search(self._step_model(members), src, lengths, config, attention=attention, prefix=prefix)
            return [[replace(h, tokens=members[0].model_ids(h.tokens)) for h in hyps] for hyps in nbest]
        finally:
            for model, mode in zip(self.models, was_training):
                model.train(mode)


def check_vocabularies(model: Seq2Seq, tokenizer: Tokenizer) -> None:
    """The tokenizer's ids must be the model's: same vocabulary sizes on both sides."""
    for side, model_size, tokenizer_size in (("source", model.src_vocab_size, tokenizer.src_vocab_size),
                                             ("target", model.tgt_vocab_size, tokenizer.tgt_vocab_size)):
        if model_size != tokenizer_size:
            raise NMTError(f"the tokenizer does not match the model: {side} vocabulary {tokenizer_size} "
                           f"in the tokenizer, {model_size} in the model")


def _check_same_tokenizers(first_dir: Path, first: Tokenizer, other_dir: Path, other: Tokenizer) -> None:
    """Ensemble members must share both vocabularies: the same id, the same piece. (Not the same
    model file bytes: SentencePiece stores its training input paths in the model.)"""
    for side, names in (("tgt", "target vocabularies"), ("src", "source tokenizers")):
        if _vocabulary(first, side) != _vocabulary(other, side):
            raise NMTError(f"{first_dir} and {other_dir}: different {names}; the models of an ensemble must "
                           f"share their tokenizers (train them from the same prepared data)")


def _vocabulary(tokenizer: Tokenizer, side: str) -> tuple[str, ...]:
    """Every model id's piece, on one side."""
    model = tokenizer.src_model if side == "src" else tokenizer.tgt_model
    ids = range(model.vocab_size()) if side == "src" else tokenizer.to_piece_ids(list(range(tokenizer.tgt_vocab_size)))
    return tuple(model.id_to_piece(int(i)) for i in ids)
