"""Text in, text out: the one path from sentences to translations.

Validation BLEU during training, `nmt translate` and `nmt evaluate` all call `Translator`, so what
is measured is what users get. Sentences are encoded with SentencePiece, sorted by length into
batches (less padding, and search cost falls as short sentences finish), searched, decoded and
returned in the original order.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Optional, Sequence

import torch

from nmt.config import SearchConfig, ShortlistConfig, TranslatorConfig, validate
from nmt.data.batch import collate
from nmt.decoding.search import Hypothesis, search
from nmt.errors import NMTError
from nmt.model.seq2seq import Seq2Seq
from nmt.tokenizer import Tokenizer

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
    """A model, its tokenizer and decoding options, ready for batches of sentences."""

    def __init__(self, model: Seq2Seq, tokenizer: Tokenizer, search_config: SearchConfig = SearchConfig(),
                 device: str | torch.device = "cpu", batch_size: int = DEFAULTS.batch_size,
                 max_src_tokens: int = DEFAULTS.max_src_tokens,
                 shortlist: Optional[tuple["LexicalTable", ShortlistConfig]] = None):
        check_vocabularies(model, tokenizer)
        self.model = model
        self.tokenizer = tokenizer
        self.search_config = search_config
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.max_src_tokens = max_src_tokens  # longer sources are cut, with a warning
        self.shortlist = shortlist  # (lexical table, how each batch's shortlist is made)

    @classmethod
    def load(cls, model_dir: Path, device: str | torch.device = "cpu", *, options: Optional[TranslatorConfig] = None,
             **overrides) -> "Translator":
        """From an exported model directory (config, safetensors weights, tokenizers).

        `options` (`TranslatorConfig`), or single fields of it as keywords (`batch_size=16`):
        int8: quantize the decoder's products for CPU inference (`nmt.decoding.quantization`).
        shortlist: `ShortlistConfig` or its numbers (most frequent pieces, translations per source
        piece[, fewest rows]): decode over the directory's vocabulary shortlist
        (`nmt.decoding.shortlist`) instead of the whole vocabulary.

        A tokenizer whose vocabulary differs from the one the model was trained with (meta.json)
        is an `NMTError`: its ids would index the wrong embeddings or run past them.
        """
        from nmt.export import META, load_model_dir

        shortlist = overrides.get("shortlist")
        if shortlist is not None and not isinstance(shortlist, ShortlistConfig):
            overrides["shortlist"] = ShortlistConfig.of(shortlist)
        tree = (options or TranslatorConfig()).model_dump() | overrides
        options = validate(TranslatorConfig, tree, source="Translator.load")  # a bad value names the field
        if options.int8 and torch.device(device).type != "cpu":
            raise NMTError(f"--int8 runs on the CPU only, not on {device}")
        exported = load_model_dir(Path(model_dir), device=device)
        tokenizer = exported.tokenizer
        for side in ("src", "tgt"):
            expected, found = exported.meta[f"{side}_vocab_size"], getattr(tokenizer, f"{side}_vocab_size")
            if expected != found:
                raise NMTError(f"{getattr(exported.tokenizers, side)} has {found} pieces but {Path(model_dir) / META} "
                               f"says the model was trained with {expected}: the tokenizer does not match the model")
        model = exported.model
        if options.int8:
            from nmt.decoding.quantization import quantize_decoder

            model = quantize_decoder(model.eval())
        table = None
        if options.shortlist is not None:
            from nmt.decoding.shortlist import FILE, LexicalTable

            table = (LexicalTable.load(Path(model_dir) / FILE), options.shortlist)
        return cls(model, tokenizer, exported.config.search, device=device, batch_size=options.batch_size,
                   max_src_tokens=options.max_src_tokens, shortlist=table)

    def translate(self, lines: Sequence[str], search_config: Optional[SearchConfig] = None,
                  attention: bool = False, progress=None, first_line: int = 1) -> list[Translation]:
        """Translate `lines`, in their order; an empty (or blank) line gives an empty translation.

        `progress` is an optional callable told how many lines were done; `first_line` is the line
        number of `lines[0]` in the warning about truncated sources.
        """
        config = search_config or self.search_config
        encoded = self.tokenizer.encode_src([line.strip() for line in lines])
        results = [Translation(line, [], [], []) for line in lines]
        todo = [row for row, ids in enumerate(encoded) if ids]
        if progress is not None and len(todo) < len(lines):
            progress(len(lines) - len(todo))
        self._warn_long([row for row in todo if len(encoded[row]) > self.max_src_tokens], encoded, first_line)
        for rows in self._batches(todo, encoded):
            ids = [encoded[r][: self.max_src_tokens] for r in rows]
            nbest = self._search(ids, config, attention)
            texts = iter(t.strip() for t in self.tokenizer.decode_tgt([h.tokens for hyps in nbest for h in hyps]))
            for row, src, hyps in zip(rows, ids, nbest):
                results[row] = Translation(lines[row], hyps, [next(texts) for _ in hyps], src,
                                           truncated=len(encoded[row]) > self.max_src_tokens)
            if progress is not None:
                progress(len(rows))
        return results

    def __call__(self, lines: Sequence[str]) -> list[str]:
        return [t.text for t in self.translate(lines)]

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

    @torch.inference_mode()
    def _search(self, ids: list[list[int]], config: SearchConfig, attention: bool) -> list[list[Hypothesis]]:
        batch = collate([(src, []) for src in ids])  # appends EOS to each source
        was_training = self.model.training
        self.model.eval()
        try:
            src, lengths = batch.src.to(self.device), batch.src_lengths.to(self.device)
            if self.shortlist is None:
                return search(self.model, src, lengths, config, attention=attention)
            from nmt.decoding.shortlist import ShortlistModel

            table, sizes = self.shortlist
            model = ShortlistModel(self.model, table.candidates(batch.src, *sizes.sizes()).to(self.device))
            nbest = search(model, src, lengths, config, attention=attention)
            return [[replace(h, tokens=model.model_ids(h.tokens)) for h in hyps] for hyps in nbest]
        finally:
            self.model.train(was_training)


def check_vocabularies(model: Seq2Seq, tokenizer: Tokenizer) -> None:
    """The tokenizer's ids must be the model's: same vocabulary sizes on both sides."""
    for side, model_size, tokenizer_size in (("source", model.src_vocab_size, tokenizer.src_vocab_size),
                                             ("target", model.tgt_vocab_size, tokenizer.tgt_vocab_size)):
        if model_size != tokenizer_size:
            raise NMTError(f"the tokenizer does not match the model: {side} vocabulary {tokenizer_size} "
                           f"in the tokenizer, {model_size} in the model")
