"""Decoding options on the command line, shared by `nmt translate` and `nmt evaluate MODEL_DIR`.

Each search option overrides one field of the model's own `search:` section (`SearchConfig`), so
the defaults live in one place: the exported `config.yaml`, else `SearchConfig` itself; batching
and shortlist defaults and every choice are read from the config classes too. Nothing here
imports torch at module level, so `nmt evaluate --hyp` stays quick to start.
"""

from __future__ import annotations

import argparse

from pydantic import ValidationError

from nmt.config import (SearchConfig, ShortlistConfig, TranslatorConfig, field_choices, field_default,
                        format_validation_error)
from nmt.errors import ConfigError, NMTError

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
    "coverage_penalty": "coverage_penalty",
    "no_repeat_ngram": "no_repeat_ngram",
    "sample": "sampling",
    "temperature": "temperature",
    "top_k": "top_k",
    "top_p": "top_p",
    "seed": "seed",
}
FLAGS = {field: "--" + dest.replace("_", "-") for dest, field in OPTIONS.items()}


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def shortlist_sizes(text: str) -> ShortlistConfig:
    """`--shortlist F,K[,M]` -> ShortlistConfig; a malformed value is argparse's usage error."""
    try:
        return ShortlistConfig.parse(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_search_arguments(parser: argparse.ArgumentParser, nbest: bool = True) -> None:
    """Search, batching and device options; a search option left out keeps the model's value."""
    group = parser.add_argument_group("decoding (defaults: the model's search: section)")
    group.add_argument("-b", "--beam", type=int, metavar="K", help="beam size; 1 is greedy search")
    if nbest:
        group.add_argument("-n", "--nbest", type=int, metavar="N", help="hypotheses per sentence (at most K)")
    group.add_argument("--length-penalty", choices=field_choices(SearchConfig, "length_penalty"), help="how finished hypotheses are ranked")
    group.add_argument("--alpha", type=float, help="gnmt length penalty exponent")
    group.add_argument("--max-len", type=int, metavar="N", help="hard cap on output tokens")
    group.add_argument("--max-len-ratio", type=float, metavar="R",
                       help="at most R x source tokens + --max-len-const output tokens")
    group.add_argument("--max-len-const", type=int, metavar="C", help="see --max-len-ratio")
    group.add_argument("--min-len", type=int, metavar="N", help="no end of sentence before N tokens")
    group.add_argument("--early-stop", action=argparse.BooleanOptionalAction, default=None,
                       help="beam search: stop a sentence once no open hypothesis would outrank its n-best if it "
                            "ended at the next step, not at the longest length (faster; BLEU cost in docs/decoding.md)")
    group.add_argument("--coverage-penalty", type=float, metavar="BETA",
                       help="beam search: add BETA x sum of log(min(attention on each source word, 1)) to a finished "
                            "hypothesis' score (GNMT); 0 is off")
    group.add_argument("--no-repeat-ngram", type=int, metavar="N",
                       help="no n-gram of N pieces twice in one output; 0 is off")
    group = parser.add_argument_group("sampling (instead of search: synthetic data, diverse n-best)")
    group.add_argument("--sample", action=argparse.BooleanOptionalAction, default=None,
                       help="draw each output token by token from the model's distribution; --nbest N draws N per line")
    group.add_argument("--temperature", type=float, metavar="T", help="divide the logits by T (> 0; default 1)")
    group.add_argument("--top-k", type=int, metavar="K", help="draw among the K most probable pieces; 0 is all")
    group.add_argument("--top-p", type=float, metavar="P", help="draw from the smallest set of pieces holding mass P, 0 < P <= 1")
    group.add_argument("--seed", type=int, metavar="N", help="the sampling seed (same seed and input, same samples)")
    add_runtime_arguments(parser)


def add_runtime_arguments(parser: argparse.ArgumentParser, ensemble: bool = True) -> None:
    """How the Translator runs (`TranslatorConfig`, device, threads): shared by translate, evaluate
    and serve; `ensemble=False` leaves out `--combine` (serve's models are not an ensemble)."""
    group = parser.add_argument_group("batching and device")
    group.add_argument("--batch-size", type=positive_int, default=field_default(TranslatorConfig, "batch_size"), metavar="N",
                       help="sentences searched together (default: %(default)s)")
    group.add_argument("--max-src-tokens", type=positive_int, default=field_default(TranslatorConfig, "max_src_tokens"),
                       metavar="N",
                       help="longer source lines are cut to N pieces, with a warning (default: %(default)s)")
    group.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: auto: cuda if available)")
    group.add_argument("--threads", type=positive_int, metavar="N", help="torch CPU threads (default: all cores)")
    group.add_argument("--int8", action="store_true",
                       help="CPU only: int8 dynamic quantization of the decoder's products (faster; BLEU cost in docs/decoding.md)")
    group.add_argument("--shortlist", nargs="?", const=ShortlistConfig(), metavar="F,K[,M]", type=shortlist_sizes,
                       help="decode over a vocabulary shortlist: the F most frequent target pieces plus K per source "
                            "piece, topped up with frequent pieces to at least M rows (default when given: "
                            f"{ShortlistConfig()}; needs MODEL_DIR/shortlist.safetensors; BLEU cost in docs/decoding.md)")
    if not ensemble:
        return
    group.add_argument("--combine", choices=field_choices(TranslatorConfig, "combine"),
                       default=field_default(TranslatorConfig, "combine"),
                       help="several MODEL_DIRs (an ensemble): average the members' probabilities or their "
                            "log-probabilities at each step (default: %(default)s)")


def search_config(base: SearchConfig, args: argparse.Namespace) -> SearchConfig:
    """`base` with the options given on the command line; a bad combination names the options."""
    updates = {field: getattr(args, dest) for dest, field in OPTIONS.items() if getattr(args, dest, None) is not None}
    merged = base.model_dump() | updates
    try:
        return SearchConfig.model_validate(merged)
    except ValidationError as err:
        if not err.errors()[0]["loc"]:  # the model-level check: nbest <= beam_size unless sampling
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


def load_translator(args: argparse.Namespace):
    """The model directory's `Translator` on the chosen device, and its search config with the
    command-line options applied."""
    import torch

    from nmt.training.allocator import tune_malloc
    from nmt.decoding.translator import Translator

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    tune_malloc()
    options = TranslatorConfig(batch_size=args.batch_size, max_src_tokens=args.max_src_tokens,
                               int8=getattr(args, "int8", False), shortlist=getattr(args, "shortlist", None),
                               combine=args.combine)
    dirs = args.model_dir if isinstance(args.model_dir, list) else [args.model_dir]
    translator = Translator.load(dirs if len(dirs) > 1 else dirs[0], device=device, options=options)
    return translator, search_config(translator.search_config, args)
