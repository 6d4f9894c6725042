"""The gradient profile as people read it: a table by distance and log-scale plots, and the
recall task's figure (accuracy and far/near ratio along training next to the profiles)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor

if TYPE_CHECKING:  # only the recall figure reads trajectories; the training callback needs none
    from nmt.diagnostics.recall_task import Trajectory

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
    _profile_panels(axes, panels)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def _profile_panels(axes, panels: dict[str, Lines]) -> None:
    """Fill one axis per panel with its norms by distance (log scale)."""
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


def recall_figure(trajectories: list[Trajectory], chance: float, title: str = "") -> Figure:
    """2 x 2 panels, one colour per cell. Top: recall accuracy and far/near ratio (log) by
    training step; bottom: ‖∂L/∂h_t‖ by distance at initialisation and after the last step."""
    figure = Figure(figsize=(9.6, 7.2), layout="constrained")
    (accuracy, ratio), (initial, final) = figure.subplots(2, 2)
    _accuracy_panel(accuracy, trajectories, chance)
    _ratio_panel(ratio, trajectories)
    last = max(t.final.step for t in trajectories)
    panels = {"at initialisation": {t.cell: t.initial.profile.norms[0] for t in trajectories},
              f"after {last} training steps": {t.cell: t.final.profile.norms[0] for t in trajectories}}
    initial.sharey(final)
    _profile_panels([initial, final], panels)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def _accuracy_panel(ax: Axes, trajectories: list[Trajectory], chance: float) -> None:
    """Recall accuracy against the step, one line per cell, with the chance level dashed."""
    for colour, t in enumerate(trajectories):
        ax.plot(t.steps, [c.accuracy for c in t.checkpoints], color=f"C{colour}", label=t.cell, lw=1.6, marker="o", ms=2.5)
    ax.axhline(chance, color="gray", ls="--", lw=1, label=f"chance ({chance:.2f})")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("recall accuracy on the measurement batch", fontsize=10)
    ax.set_xlabel("training step")
    ax.set_ylabel("share of first tokens recalled")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def _ratio_panel(ax: Axes, trajectories: list[Trajectory]) -> None:
    """far/near against the step on a log scale: orders of magnitude are the story."""
    for colour, t in enumerate(trajectories):
        ratios = [c.far_near if c.far_near > 0 else float("nan") for c in t.checkpoints]  # log scale: no zeros
        ax.plot(t.steps, ratios, color=f"C{colour}", label=t.cell, lw=1.6, marker="o", ms=2.5)
    ax.set_yscale("log")
    ax.set_title("far/near: ‖∂L/∂h_t‖ at the first token over at the last", fontsize=10)
    ax.set_xlabel("training step")
    ax.set_ylabel("far / near")
    ax.grid(True, which="major", alpha=0.3)
