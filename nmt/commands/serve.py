"""`nmt serve MODEL_DIR [NAME=MODEL_DIR ...]`: the models behind an HTTP JSON API and a web page.

Options come from `ServeConfig` (limits, batching, address) and the translate command's
batching and device options (`--int8`, `--shortlist`, `--threads`); every default is read from
the config classes. The API key may come from the environment (`NMT_API_KEY`) so that it stays
out of the process list.
"""

from __future__ import annotations

import argparse
import os

from nmt.config import ServeConfig, TranslatorConfig, field_default
from nmt.errors import NMTError

API_KEY_ENV = "NMT_API_KEY"


def _default(name: str):
    return field_default(ServeConfig, name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nmt.commands.decoding_options import add_runtime_arguments, positive_int

    parser.add_argument("models", nargs="+", metavar="[NAME=]MODEL_DIR",
                        help="exported model directories; NAME (default: the run's name) is what requests "
                             "ask for; the first is the default model")
    parser.add_argument("--host", default=_default("host"),
                        help="address to bind (default: %(default)s, this machine only; 0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=_default("port"), help="default: %(default)s; 0: any free port")
    parser.add_argument("--api-key", default=None, metavar="KEY",
                        help=f"require 'Authorization: Bearer KEY' on every request but /health and the page "
                             f"(default: ${API_KEY_ENV} if set, else none)")
    group = parser.add_argument_group("batching")
    group.add_argument("--no-batching", dest="batching", action="store_false",
                       help="decode each request alone (for comparison)")
    group.add_argument("--max-batch-tokens", type=positive_int, default=_default("max_batch_tokens"), metavar="N",
                       help="source pieces decoded together at most (default: %(default)s)")
    group.add_argument("--in-process", dest="decoder_process", action="store_false",
                       help="decode on a thread of the HTTP process instead of a child process (slower under load)")
    group.add_argument("--max-wait-ms", type=float, default=_default("max_wait_ms"), metavar="MS",
                       help="how long the first request of a batch waits for others (default: %(default)s)")
    group = parser.add_argument_group("limits (beyond them: a 4xx naming the field, or 503 when the queue is full)")
    for name, text in (("max_queue", "sentences waiting to be decoded"), ("max_sentences", "sentences per request"),
                       ("max_sentence_chars", "characters per sentence"), ("max_beam", "beam_size and nbest a request may ask")):
        group.add_argument("--" + name.replace("_", "-"), type=positive_int, default=_default(name), metavar="N",
                           help=f"{text} (default: %(default)s)")
    group.add_argument("--request-timeout", type=float, default=_default("request_timeout_s"), metavar="S",
                       help="a request not decoded after S seconds gets 503 (default: %(default)s)")
    add_runtime_arguments(parser, ensemble=False)
    parser.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"],
                        help="uvicorn's log level; info logs every request (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    import torch
    from pydantic import ValidationError

    from nmt.commands.decoding_options import resolve_device
    from nmt.config import format_validation_error
    from nmt.serving.server import print_listening, serve
    from nmt.serving.service import TranslationService
    from nmt.training.allocator import tune_malloc

    try:
        config = ServeConfig(host=args.host, port=args.port, batching=args.batching, max_batch_tokens=args.max_batch_tokens,
                             max_wait_ms=args.max_wait_ms, decoder_process=args.decoder_process, max_queue=args.max_queue, max_sentences=args.max_sentences,
                             max_sentence_chars=args.max_sentence_chars, max_beam=args.max_beam,
                             request_timeout_s=args.request_timeout, api_key=args.api_key or os.environ.get(API_KEY_ENV) or None)
    except ValidationError as err:
        raise NMTError("--" + format_validation_error(err, ServeConfig).replace("_", "-", 2)) from None
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    tune_malloc()
    options = TranslatorConfig(batch_size=args.batch_size, max_src_tokens=args.max_src_tokens, int8=args.int8,
                               shortlist=args.shortlist)
    service = TranslationService.load(args.models, config, options, device=resolve_device(args.device),
                                      threads=args.threads)
    serve(service, config.host, config.port, log_level=args.log_level, on_listening=print_listening)
    return 0
