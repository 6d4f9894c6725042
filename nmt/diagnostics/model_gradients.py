"""The gradient profile of a trained, exported model on real sentence pairs.

With attention, every encoder state also reaches the loss directly, so the profile mixes the
path through time with the attention path; without attention it is the path through time alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from nmt.data.batch import collate
from nmt.diagnostics.gradients import GradientProfile, gradient_profile
from nmt.errors import NMTError
from nmt.lines import read_lines
from nmt.export import load_model_dir
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


def report_model(args: argparse.Namespace) -> None:
    """Measure the exported model on --src/--ref; print the table, write the plot."""
    from nmt.diagnostics.figures import save_figure
    from nmt.diagnostics.gradient_report import format_table, profile_figure, table_rows

    exported = load_model_dir(args.model, device="cpu")  # a bad directory is a one-line NMTError
    lines = read_pairs(args.src, args.ref, args.max_sentences)
    tokenizer = exported.tokenizer
    src_ids = tokenizer.encode_src([s for s, _ in lines])
    tgt_ids = tokenizer.encode_tgt([r for _, r in lines])
    pairs = [(s, t) for s, t in zip(src_ids, tgt_ids) if s and t]
    skipped = len(lines) - len(pairs)
    if not pairs:
        raise NMTError(f"{args.src}: no pair with both a source and a reference to measure")
    profile = corpus_profile(exported.model, pairs, args.batch_size)
    decoder = exported.config.model.decoder
    print(f"model {args.model}: encoder {exported.config.model.encoder.cell}, attention {decoder.attention}; "
          f"{len(pairs)} pairs from {args.src}" + (f" ({skipped} skipped: empty source or reference)" if skipped else ""))
    print(f"loss {profile.loss:.3f} per target token over {profile.tokens} tokens")
    columns = dict(zip(profile.names, profile.norms))
    longest = int((profile.counts > 0).nonzero().max())
    print("\nmean ‖dL/dh_t‖ by distance from each direction's final state (its last token read):")
    print(format_table(columns, table_rows(longest, args.every), counts=profile.counts))
    panels = {f"{args.model.name or args.model} on {args.src.name}": {n: v[: longest + 1] for n, v in columns.items()}}
    print(f"\nplot written to {save_figure(profile_figure(panels, 'gradient through time'), args.output)}")
