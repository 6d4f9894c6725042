"""`nmt plot RUN_DIR [RUN_DIR ...]`: training curves of one or more runs on one figure.

The figure and the one line per run are `nmt.diagnostics.curves`; the logs are the CSV files
`nmt train` writes (`nmt.diagnostics.run_logs` merges restarts).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.errors import NMTError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories (runs/<name>)")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", default=Path("curves.png"),
                        help="figure file, .png/.pdf/.svg (default curves.png)")
    parser.add_argument("--labels", nargs="+", metavar="LABEL", help="legend names, one per run (default: directory names)")
    parser.add_argument("--dpi", type=int, metavar="N", default=100, help="resolution of a PNG (default 100)")


def run(args: argparse.Namespace) -> int:
    from nmt.diagnostics.curves import curves_figure, describe
    from nmt.diagnostics.figures import save_figure
    from nmt.diagnostics.run_logs import read_run

    if args.labels is not None and len(args.labels) != len(args.runs):
        raise NMTError(f"--labels: {len(args.labels)} labels for {len(args.runs)} runs")
    if args.dpi < 10:
        raise NMTError(f"--dpi: must be at least 10 (got {args.dpi})")
    logs = [read_run(path) for path in args.runs]
    labels = args.labels or _labels(args.runs)
    for label, log in zip(labels, logs):
        print(describe(label, log))
    path = save_figure(curves_figure(logs, labels), args.output, dpi=args.dpi)
    print(f"plot written to {path}")
    return 0


def _labels(runs: list[Path]) -> list[str]:
    """Directory names, or whole paths where two runs share a name."""
    names = [path.resolve().name for path in runs]
    return names if len(set(names)) == len(names) else [str(path) for path in runs]
