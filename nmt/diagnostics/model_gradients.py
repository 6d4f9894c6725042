"""The gradient profile of a trained, exported model on real sentence pairs.

With attention, every encoder state also reaches the loss directly, so the profile mixes the
path through time with the attention path; without attention it is the path through time alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from nmt.data.batch import collate
from nmt.diagnostics.gradients import GradientProfile, gradient_profile
from nmt.errors import NMTError
from nmt.export import load_model_dir
from nmt.lines import read_lines
from nmt.model.seq2seq import Seq2Seq


def read_pairs(src: Path, ref: Path, limit: int) -> list[tuple[str, str]]:
    """The first `limit` aligned (source, reference) lines; files of different lengths are an error."""
    sources, references = read_lines(src), read_lines(ref)
    if len(sources) != len(references):
        raise NMTError(f"{src} has {len(sources)} lines but {ref} has {len(references)}")
    if not sources:
        raise NMTError(f"{src}: no lines")
    return list(zip(sources, references))[:limit]


def corpus_profile(model: Seq2Seq, pairs: list[tuple[list[int], list[int]]], batch_size: int) -> GradientProfile:
    """The profile of all `pairs` (token ids without BOS/EOS), batched by length."""
    ordered = sorted(pairs, key=lambda pair: len(pair[0]))  # similar lengths together: little padding
    total: Optional[GradientProfile] = None
    for start in range(0, len(ordered), batch_size):
        profile = gradient_profile(model, collate(ordered[start : start + batch_size]))
        total = profile if total is None else total.merge(profile)
    return total


@dataclass(frozen=True)
class ModelProfile:
    """An exported model measured on sentence pairs."""

    cell: str  # encoder cell
    attention: str  # decoder attention: with any, every state also reaches the loss directly
    pairs: int  # pairs measured
    skipped: int  # pairs left out: empty source or reference after tokenization
    profile: GradientProfile

    @property
    def longest(self) -> int:
        """The largest distance any measured sentence reaches."""
        return int((self.profile.counts > 0).nonzero().max())


def measure_model(model_dir: Path, src: Path, ref: Path, max_sentences: int, batch_size: int) -> ModelProfile:
    """The gradient profile of the model in `model_dir` on the first `max_sentences` pairs of
    `src`/`ref`; a bad directory or files are one-line `NMTError`s."""
    exported = load_model_dir(model_dir, device="cpu")
    lines = read_pairs(src, ref, max_sentences)
    src_ids = exported.tokenizer.encode_src([s for s, _ in lines])
    tgt_ids = exported.tokenizer.encode_tgt([r for _, r in lines])
    pairs = [(s, t) for s, t in zip(src_ids, tgt_ids) if s and t]
    if not pairs:
        raise NMTError(f"{src}: no pair with both a source and a reference to measure")
    model = exported.config.model
    return ModelProfile(model.encoder.cell, model.decoder.attention, len(pairs), len(lines) - len(pairs),
                        corpus_profile(exported.model, pairs, batch_size))
