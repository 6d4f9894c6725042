"""The `nmt` command: a thin shell over the library.

Each subcommand lives in its own module exposing `add_arguments(parser)` and `run(args) -> int`;
modules are imported only when their command runs, so `nmt --help` stays fast.
A user mistake (`NMTError`) prints one line and exits with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from nmt.errors import NMTError

COMMANDS = {
    "prepare": ("nmt.commands.prepare", "train tokenizers and build the token-id cache"),
    "train": ("nmt.commands.train", "train a model from a YAML config"),
    "translate": ("nmt.commands.translate", "translate interactively, from stdin or from files"),
    "evaluate": ("nmt.commands.evaluate", "BLEU, chrF and TER with sacrebleu signatures"),
    "average": ("nmt.commands.average", "an exported model from the mean of a run's best or latest checkpoints"),
    "serve": ("nmt.commands.serve", "an HTTP JSON API and a web page over exported models, batching concurrent requests"),
    "info": ("nmt.commands.info", "architecture and parameter counts per component"),
    "shortlist": ("nmt.commands.shortlist", "build the vocabulary shortlist of an exported model (for --shortlist)"),
    "plot": ("nmt.commands.plot", "training curves from run directories"),
    "diagnose": ("nmt.commands.diagnose", "gradients through time and BLEU by source length"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nmt", description="Recurrent neural machine translation.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if name == only:
            importlib.import_module(module_name).add_arguments(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=name if name in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        module = importlib.import_module(COMMANDS[args.command][0])
        return int(module.run(args) or 0)
    except NMTError as err:
        print(f"nmt {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
