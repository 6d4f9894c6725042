"""`nmt shortlist MODEL_DIR`: build the vocabulary shortlist of an exported model (for --shortlist).

`nmt train` writes it with every export; this rebuilds it, e.g. for a model exported before."""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.decoding.shortlist import build_for_model_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", metavar="MODEL_DIR", type=Path, help="an exported model directory")


def run(args: argparse.Namespace) -> int:
    path, pairs = build_for_model_dir(args.model_dir)
    print(f"wrote {path} ({pairs:,} training pairs)")
    return 0
