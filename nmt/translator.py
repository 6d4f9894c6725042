"""Text in, text out: the one path from sentences to translations.

Validation BLEU during training, `nmt translate` and `nmt evaluate` all call `Translator`, so what
is measured is what users get. Sentences are encoded with SentencePiece, sorted by length into
batches (less padding, and search cost falls as short sentences finish), searched, decoded and
returned in the original order.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import torch

from nmt.config import SearchConfig
from nmt.data.batch import collate
from nmt.model.seq2seq import Seq2Seq
from nmt.search import Hypothesis, search
from nmt.tokenizer import Tokenizer


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
                 device: str | torch.device = "cpu", batch_size: int = 64, max_src_tokens: int = 400):
        self.model = model
        self.tokenizer = tokenizer
        self.search_config = search_config
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.max_src_tokens = max_src_tokens  # longer sources are cut, with a warning

    @classmethod
    def load(cls, model_dir: Path, device: str | torch.device = "cpu", **options) -> "Translator":
        """From an exported model directory (config, safetensors weights, tokenizers)."""
        from nmt.export import load_model_dir

        exported = load_model_dir(Path(model_dir), device=device)
        return cls(exported.model, exported.tokenizer, exported.config.search, device=device, **options)

    def translate(self, lines: Sequence[str], search_config: Optional[SearchConfig] = None,
                  attention: bool = False, progress=None) -> list[Translation]:
        """Translate `lines`; `progress` is an optional callable told how many lines were done."""
        config = search_config or self.search_config
        encoded = self.tokenizer.encode_src([line.strip() for line in lines])
        results: list[Optional[Translation]] = [None] * len(lines)
        for row, line in enumerate(lines):
            if not encoded[row]:
                results[row] = Translation(line, [], [], [])
        todo = [row for row in range(len(lines)) if results[row] is None]
        long_rows = [row for row in todo if len(encoded[row]) > self.max_src_tokens]
        if long_rows:
            warnings.warn(f"{len(long_rows)} source line(s) longer than {self.max_src_tokens} pieces were "
                          f"truncated (first: line {long_rows[0] + 1})", stacklevel=2)
        for rows in self._batches(todo, encoded):
            ids = [encoded[r][: self.max_src_tokens] for r in rows]
            for row, hyps in zip(rows, self._search(ids, config, attention)):
                texts = self.tokenizer.decode_tgt([h.tokens for h in hyps])
                results[row] = Translation(lines[row], hyps, texts, encoded[row][: self.max_src_tokens],
                                           truncated=len(encoded[row]) > self.max_src_tokens)
            if progress is not None:
                progress(len(rows))
        return results  # type: ignore[return-value]

    def __call__(self, lines: Sequence[str]) -> list[str]:
        return [t.text for t in self.translate(lines)]

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
            return search(self.model, batch.src.to(self.device), batch.src_lengths.to(self.device),
                          config, attention=attention)
        finally:
            self.model.train(was_training)
