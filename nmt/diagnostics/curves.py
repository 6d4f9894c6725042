"""Training curves of one or more runs on one figure, and a one-line account of each run.

Top row by optimizer step, bottom row by wall-clock minutes: training loss (as logged, label
smoothing included), validation perplexity (log scale) and validation BLEU, read from the CSV
logs `nmt train` writes (`run_logs.py` merges restarts).
"""

from __future__ import annotations

import numpy as np

PANELS = {"train/loss": "training loss", "val/ppl": "validation perplexity", "val/bleu": "validation BLEU"}


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
