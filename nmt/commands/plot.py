"""`nmt plot RUN_DIR [RUN_DIR ...]`: training curves of one or more runs on one figure.

Top row by optimizer step, bottom row by wall-clock minutes: training loss (as logged, label
smoothing included), validation perplexity (log scale) and validation BLEU. The logs are the
CSV files `nmt train` writes (`diagnostics/run_logs.py` merges restarts).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nmt.errors import NMTError

PANELS = {"train/loss": "training loss", "val/ppl": "validation perplexity", "val/bleu": "validation BLEU"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories (runs/<name>)")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", default=Path("curves.png"),
                        help="figure file, .png/.pdf/.svg (default curves.png)")
    parser.add_argument("--labels", nargs="+", metavar="LABEL", help="legend names, one per run (default: directory names)")
    parser.add_argument("--dpi", type=int, metavar="N", default=100, help="resolution of a PNG (default 100)")


def run(args: argparse.Namespace) -> int:
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


def describe(label: str, log) -> str:
    """One line per run: steps, wall time, the last and best validation BLEU."""
    parts = [f"{label}: {log.versions} log version{'s' if log.versions > 1 else ''}"]
    steps = log.series("train/loss").steps
    if steps.size:
        parts.append(f"steps {steps[0]}..{steps[-1]}")
    wall = log.series("train/wall_minutes").values
    if wall.size:
        parts.append(f"{wall[-1]:.1f} min")
    bleu = log.series("val/bleu")
    if bleu.steps.size:
        best = int(np.nanargmax(bleu.values)) if not np.isnan(bleu.values).all() else -1
        parts.append(f"val BLEU {bleu.values[-1]:.2f} at step {bleu.steps[-1]}"
                     + (f" (best {bleu.values[best]:.2f} at step {bleu.steps[best]})" if best >= 0 else ""))
    return ", ".join(parts)


def curves_figure(logs: list, labels: list[str]):
    """2 x 3 panels: rows by step and by wall minutes, columns loss, perplexity, BLEU; one line per run."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import LogFormatter

    figure = Figure(figsize=(12, 6.5), layout="constrained")
    axes = figure.subplots(2, len(PANELS), squeeze=False)
    for column, (metric, title) in enumerate(PANELS.items()):
        by_step, by_wall = axes[0][column], axes[1][column]
        for colour, (log, label) in enumerate(zip(logs, labels)):
            series = log.series(metric)
            if series.steps.size == 0:
                continue
            style = {"color": f"C{colour}", "label": label, "lw": 1.4, "marker": "o" if metric.startswith("val") else None,
                     "ms": 3}
            by_step.plot(series.steps, series.values, **style)
            wall = log.wall_minutes(series.steps)
            if wall.size:
                by_wall.plot(wall, series.values, **style)
        for ax, xlabel in ((by_step, "step"), (by_wall, "wall-clock minutes")):
            ax.set_title(title, fontsize=10)
            ax.set_xlabel(xlabel)
            ax.grid(True, alpha=0.3)
            if metric == "val/ppl" and ax.has_data():
                ax.set_yscale("log")  # plain numbers (12, 6, 4), not 1.2 x 10^1
                ax.yaxis.set_major_formatter(LogFormatter())
                ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.4)))
            if not ax.has_data():
                ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes, color="gray")
    handles = [Line2D([], [], color=f"C{colour}", lw=1.4, label=label) for colour, label in enumerate(labels)]
    figure.legend(handles=handles, loc="outside lower center", ncol=min(len(labels), 4), fontsize=9)
    return figure
