"""What `prepare` did, for a person: pairs kept and dropped by reason, vocabulary sizes, mean
pieces per sentence, cache locations, and the batch sampler's padding share at `batch_tokens`.

Printed by `nmt prepare` and by training's data set-up, so both report a corpus the same way.
"""

from __future__ import annotations

from nmt.data.pipeline import Prepared


def format_summary(prepared: Prepared) -> str:
    config, tokenizer = prepared.config, prepared.tokenizer
    options = config.tokenizer
    lines = [f"prepared {config.name} in {prepared.seconds:.1f} s"]
    if prepared.holdout is not None:
        state = "carved" if prepared.holdout.built else "reused"
        lines.append(f"  holdout {config.train.describe()} (seed {config.holdout.seed}, {state}): "
                     f"{prepared.holdout.counts.describe()}")
        lines.append(f"         files in {prepared.holdout.directory}")
    for summary in prepared.splits.values():
        counts = summary.counts
        lines.append(f"  {summary.split:<6} {summary.corpus}")
        if summary.split == "train":
            lines.append(f"         {counts.describe()}")
        else:
            lines.append(f"         {counts.read} pairs ({'cached' if summary.cache else 'checked'}, not filtered)")
    state = "trained" if prepared.tokenizer_trained else "reused"
    kind = f"{'joint' if tokenizer.joint else 'separate'} {options.type}"
    pruned = tokenizer.tgt_vocab_size != tokenizer.tgt_model.vocab_size()
    seen = f" (pieces seen in training, of {tokenizer.tgt_model.vocab_size()})" if pruned else ""
    lines.append(f"  tokenizer {tokenizer.directory} ({state}): {kind}, vocabulary "
                 f"{config.src_lang} {tokenizer.src_vocab_size} / {config.tgt_lang} {tokenizer.tgt_vocab_size}{seen}")
    pieces = ", ".join(f"{s.split} {s.src_pieces:.1f} / {s.tgt_pieces:.1f}"
                       for s in prepared.splits.values() if s.cache is not None)
    lines.append(f"  pieces per sentence ({config.src_lang} / {config.tgt_lang}, mean): {pieces}")
    for summary in prepared.splits.values():
        if summary.cache is not None:
            lines.append(f"  cache  {summary.cache} ({'built' if summary.built else 'reused'})")
    train = prepared.splits["train"].counts.kept
    lines.append(f"  batches at {config.batch_tokens} tokens: {prepared.batches} per epoch, "
                 f"{train / max(prepared.batches, 1):.1f} pairs each, padding share {prepared.padding_share:.1%}")
    return "\n".join(lines)
