"""`nmt diagnose`: look inside the recurrent models.

Each diagnostic is a subcommand in its own module exposing `add_arguments(parser)` and
`run(args) -> int`, like the top-level commands; a module is imported only for its own command.
"""

from __future__ import annotations

import argparse
import importlib

DIAGNOSTICS = {
    "gradients": ("nmt.commands.diagnose_gradients",
                  "norm of dL/dh_t by distance through time, for rnn, gru and lstm encoders or a trained model"),
    "length": ("nmt.commands.diagnose_length",
               "BLEU and chrF by source-length bucket for several models: the context-vector bottleneck"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="diagnostic", title="diagnostics", required=True)
    for name, (module_name, help_text) in DIAGNOSTICS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module_name).add_arguments(command)


def run(args: argparse.Namespace) -> int:
    return int(importlib.import_module(DIAGNOSTICS[args.diagnostic][0]).run(args) or 0)
