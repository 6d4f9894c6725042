"""The gradient profile as people read it: a table by distance and a log-scale plot."""

from __future__ import annotations

import math
from typing import Optional

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor

Lines = dict[str, Tensor]  # label -> (distances,) mean norms


def table_rows(max_distance: int, every: Optional[int] = None) -> list[int]:
    """Distances to print: all up to 25, else about 20 evenly spaced; the farthest always."""
    every = every or (1 if max_distance <= 25 else math.ceil(max_distance / 20))
    rows = list(range(0, max_distance + 1, every))
    return rows if rows[-1] == max_distance else rows + [max_distance]


def format_table(columns: Lines, rows: list[int], counts: Optional[Tensor] = None) -> str:
    """Distances down, one column of norms per label; `counts` adds how many sentences each row averages."""
    width = max([10] + [len(label) for label in columns])
    header = f"{'distance':>8}" + "".join(f"  {label:>{width}}" for label in columns)
    if counts is not None:
        header += f"  {'sentences':>9}"
    lines = [header]
    for d in rows:
        cells = "".join(f"  {_number(norms, d):>{width}}" for norms in columns.values())
        lines.append(f"{d:>8}{cells}" + (f"  {int(counts[d]):>9}" if counts is not None else ""))
    return "\n".join(lines)


def _number(norms: Tensor, distance: int) -> str:
    return f"{float(norms[distance]):.3e}" if distance < norms.numel() else "-"


def profile_figure(panels: dict[str, Lines], title: str = "") -> Figure:
    """One log-scale panel per entry (e.g. "at initialisation", "after 300 steps"), one line per label.

    A label keeps its colour across panels; zero norms (states the loss does not reach) are gaps.
    """
    figure = Figure(figsize=(4.2 * len(panels) + 0.6, 3.6), layout="constrained")
    axes = figure.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (name, lines) in zip(axes, panels.items()):
        for colour, (label, norms) in enumerate(lines.items()):
            values = norms.double()
            values = values.masked_fill(values <= 0, float("nan"))  # log scale: no zeros
            ax.plot(range(values.numel()), values.tolist(), label=label, color=f"C{colour}", lw=1.6)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("distance from the final encoder state (steps)")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("mean ‖∂L/∂h_t‖")
    axes[-1].legend(fontsize=8)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure
