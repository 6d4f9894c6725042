"""Decoding options on the command line, shared by `nmt translate` and `nmt evaluate MODEL_DIR`.

Each search option overrides one field of the model's own `search:` section (`SearchConfig`), so
the defaults live in one place: the exported `config.yaml`, else `SearchConfig` itself. Nothing
here imports torch, so `nmt evaluate --hyp` stays quick to start.
"""

from __future__ import annotations

import argparse
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
# `--shortlist` given alone: 100 frequent pieces + 20 per source piece. On the Luong recipe model
# (test2016 de-en) it cost at most 0.2 BLEU at batch 1 and 64, fp32 and int8, greedy and beam 5;
# 20 -> 10 per source piece was 1.1-1.2x faster at batch 64 but cost up to 0.6 at batch 1 (README).
DEFAULT_SHORTLIST = (100, 20)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def shortlist_sizes(text: str) -> tuple[int, int]:
    """`F,K` -> (most frequent target pieces, translations per source piece)."""
    try:
        frequent, per_source = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected F,K (e.g. {DEFAULT_SHORTLIST[0]},{DEFAULT_SHORTLIST[1]}), "
                                         f"got {text!r}") from None
    if frequent < 0 or per_source < 0:
        raise argparse.ArgumentTypeError(f"sizes must be >= 0, got {text!r}")
    return frequent, per_source


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
    group.add_argument("--shortlist", nargs="?", const=DEFAULT_SHORTLIST, metavar="F,K", type=shortlist_sizes,
                       help="decode over a vocabulary shortlist: the F most frequent target pieces plus K per source "
                            "piece (default when given: %s,%s; needs MODEL_DIR/shortlist.safetensors; BLEU cost in the README)" % DEFAULT_SHORTLIST)


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
