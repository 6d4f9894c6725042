"""Decoding options on the command line, shared by `nmt translate` and `nmt evaluate MODEL_DIR`.

Each search option overrides one field of the model's own `search:` section (`SearchConfig`), so
the defaults live in one place: the exported `config.yaml`, else `SearchConfig` itself. Nothing
here imports torch, so `nmt evaluate --hyp` stays quick to start.
"""

from __future__ import annotations

import argparse
from typing import NamedTuple
from pydantic import ValidationError

from nmt.config import SearchConfig, format_validation_error
from nmt.errors import NMTError

OPTIONS = {  # argparse destination -> SearchConfig field
    "beam": "beam_size",
    "nbest": "nbest",
    "length_penalty": "length_penalty",
    "alpha": "alpha",
    "max_len": "max_len",
    "max_len_ratio": "max_len_ratio",
    "max_len_const": "max_len_const",
    "min_len": "min_len",
    "early_stop": "early_stop",
}
FLAGS = {field: "--" + dest.replace("_", "-") for dest, field in OPTIONS.items()}


class ShortlistSizes(NamedTuple):
    """How a batch's vocabulary shortlist is made (`nmt.decoding.shortlist.LexicalTable.candidates`)."""

    frequent: int  # the most frequent target pieces, always in
    per_source: int  # the best translations of every source piece in the batch
    # At least this many rows, topped up with the next most frequent pieces. A single sentence's
    # union is small (about 200 rows at 100,20 on Multi30k), and greedy search has no second beam
    # to recover a missing word: at batch 1 the Luong recipe model lost 0.37 BLEU greedy without
    # it and at most 0.10 with 1,000 rows, for 5-13 % of the batch-1 rate; batches of 64 hold
    # 1,236+ rows on test2016 and are unchanged.
    min_rows: int = 1000


# `--shortlist` given alone. On the Luong recipe model (test2016 de-en, batch 1 and 64, fp32 and
# int8) 100,20,1000 changed beam-5 BLEU by +0.11 to +0.45 against exact fp32 search and greedy
# by -0.05 to +0.07 (README, "Shortlist size").
DEFAULT_SHORTLIST = ShortlistSizes(100, 20)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def shortlist_sizes(text: str) -> ShortlistSizes:
    """`F,K` or `F,K,M` -> ShortlistSizes (M, the fewest rows, defaults to 1,000)."""
    try:
        sizes = [int(x) for x in text.split(",")]
        if len(sizes) not in (2, 3):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected F,K or F,K,M (e.g. {DEFAULT_SHORTLIST.frequent},"
                                         f"{DEFAULT_SHORTLIST.per_source}), got {text!r}") from None
    if min(sizes) < 0:
        raise argparse.ArgumentTypeError(f"sizes must be >= 0, got {text!r}")
    return ShortlistSizes(*sizes)


def add_search_arguments(parser: argparse.ArgumentParser, nbest: bool = True) -> None:
    """Search, batching and device options; a search option left out keeps the model's value."""
    group = parser.add_argument_group("decoding (defaults: the model's search: section)")
    group.add_argument("-b", "--beam", type=int, metavar="K", help="beam size; 1 is greedy search")
    if nbest:
        group.add_argument("-n", "--nbest", type=int, metavar="N", help="hypotheses per sentence (at most K)")
    group.add_argument("--length-penalty", choices=["gnmt", "length", "none"], help="how finished hypotheses are ranked")
    group.add_argument("--alpha", type=float, help="gnmt length penalty exponent")
    group.add_argument("--max-len", type=int, metavar="N", help="hard cap on output tokens")
    group.add_argument("--max-len-ratio", type=float, metavar="R",
                       help="at most R x source tokens + --max-len-const output tokens")
    group.add_argument("--max-len-const", type=int, metavar="C", help="see --max-len-ratio")
    group.add_argument("--min-len", type=int, metavar="N", help="no end of sentence before N tokens")
    group.add_argument("--early-stop", action=argparse.BooleanOptionalAction, default=None,
                       help="beam search: stop a sentence once no open hypothesis would outrank its n-best if it "
                            "ended at the next step, not at the longest length (faster; BLEU cost in the README)")
    group = parser.add_argument_group("batching and device")
    group.add_argument("--batch-size", type=positive_int, default=64, metavar="N",
                       help="sentences searched together (default: %(default)s)")
    group.add_argument("--max-src-tokens", type=positive_int, default=400, metavar="N",
                       help="longer source lines are cut to N pieces, with a warning (default: %(default)s)")
    group.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: auto: cuda if available)")
    group.add_argument("--threads", type=positive_int, metavar="N", help="torch CPU threads (default: all cores)")
    group.add_argument("--int8", action="store_true",
                       help="CPU only: int8 dynamic quantization of the decoder's products (faster; BLEU cost in the README)")
    group.add_argument("--shortlist", nargs="?", const=DEFAULT_SHORTLIST, metavar="F,K[,M]", type=shortlist_sizes,
                       help="decode over a vocabulary shortlist: the F most frequent target pieces plus K per source "
                            "piece, topped up with frequent pieces to at least M rows (default when given: %s,%s,%s; "
                            "needs MODEL_DIR/shortlist.safetensors; BLEU cost in the README)" % DEFAULT_SHORTLIST)


def search_config(base: SearchConfig, args: argparse.Namespace) -> SearchConfig:
    """`base` with the options given on the command line; a bad combination names the options."""
    updates = {field: getattr(args, dest) for dest, field in OPTIONS.items() if getattr(args, dest, None) is not None}
    merged = base.model_dump() | updates
    try:
        return SearchConfig.model_validate(merged)
    except ValidationError as err:
        if not err.errors()[0]["loc"]:  # the model-level check: nbest <= beam_size
            raise NMTError(f"--nbest {merged['nbest']} is more than the beam size {merged['beam_size']}; "
                           f"give --beam {merged['nbest']} or more") from None
        message = format_validation_error(err, SearchConfig)
        field = message.split(":", 1)[0]
        raise NMTError(message.replace(field, FLAGS.get(field, field), 1)) from None


def resolve_device(name: str) -> str:
    """`auto` -> cuda when available, else cpu; an unusable device is a one-line error."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise NMTError(f"--device {name}: not a device (use cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NMTError(f"--device {name}: no CUDA device is available")
    return str(device)
