"""`nmt average`: an exported model from the mean of several checkpoints' weights.

    nmt average runs/NAME --last 5            the 5 latest validation checkpoints of a run
    nmt average runs/NAME --best 5 -o DIR     the 5 best by the run's monitored metric
    nmt average A.ckpt B.ckpt C.ckpt -o DIR   any checkpoints of one architecture and tokenizer
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.errors import NMTError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=Path, metavar="RUN_DIR|CHECKPOINT",
                        help="a run directory (with --best or --last), or checkpoint files")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--best", type=int, metavar="K", help="the K best kept checkpoints by validation metric")
    which.add_argument("--last", type=int, metavar="K", help="the K latest kept checkpoints")
    parser.add_argument("-o", "--output", type=Path, metavar="DIR",
                        help="exported model directory (default RUN_DIR/average-best-K or average-last-K)")


def run(args: argparse.Namespace) -> int:
    from nmt.training.averaging import average_checkpoints, export_average

    files, output = _checkpoints(args)
    for path in files:
        print(f"  {path}")
    export_average(average_checkpoints(files), output)
    print(f"averaged {len(files)} checkpoints into {output}")
    return 0


def _checkpoints(args: argparse.Namespace) -> tuple[list[Path], Path]:
    from nmt.config import load_config
    from nmt.training.averaging import kept_checkpoints
    from nmt.training.optim import monitor_mode
    from nmt.training.run import RunPaths

    k = args.best if args.best is not None else args.last
    if k is not None and k < 1:
        raise NMTError(f"--{'best' if args.best is not None else 'last'} must be at least 1 (got {k})")
    if len(args.inputs) == 1 and args.inputs[0].is_dir():
        if k is None:
            raise NMTError(f"{args.inputs[0]} is a run directory: say which checkpoints with --best K or --last K")
        paths = RunPaths(args.inputs[0])
        if not paths.config.is_file():
            raise NMTError(f"{paths.config}: not found; RUN_DIR must be a directory written by `nmt train`")
        config = load_config(paths.config)
        which = "best" if args.best is not None else "last"
        kept = kept_checkpoints(paths.checkpoints, which, k, monitor_mode(config.train.monitor_metric))
        if len(kept) < k:
            print(f"only {len(kept)} of the {k} checkpoints asked for are kept (train.keep_checkpoints)")
        return [c.path for c in kept], args.output or paths.root / f"average-{which}-{len(kept)}"
    if k is not None:
        raise NMTError("--best and --last choose from a run directory; with checkpoint files, list the files")
    if args.output is None:
        raise NMTError("averaging checkpoint files needs -o DIR, where the model is written")
    return list(args.inputs), args.output
