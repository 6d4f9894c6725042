"""BLEU by source length as people read it: a table (buckets down, systems across) and a plot."""

from __future__ import annotations

from typing import Optional, Sequence

from matplotlib.figure import Figure

from nmt.diagnostics.length import LengthProfile


def _cell(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_table(profiles: Sequence[LengthProfile], metric: str = "bleu") -> str:
    """One row per bucket and a last row for the whole set; a column per system."""
    width = max([6] + [len(p.label) for p in profiles])
    lines = [f"{'words':>8}  {'sentences':>9}" + "".join(f"  {p.label:>{width}}" for p in profiles)]
    first = profiles[0]
    for row, bucket_score in enumerate(first.buckets):
        cells = "".join(f"  {_cell(getattr(p.buckets[row], metric)):>{width}}" for p in profiles)
        lines.append(f"{bucket_score.bucket.label:>8}  {bucket_score.sentences:>9}{cells}")
    total = sum(b.sentences for b in first.buckets)
    lines.append(f"{'all':>8}  {total:>9}" + "".join(f"  {_cell(getattr(p, metric)):>{width}}" for p in profiles))
    return "\n".join(lines)


def length_figure(profiles: Sequence[LengthProfile], title: str = "") -> Figure:
    """BLEU (left) and chrF (right) by bucket, one line per system; sentence counts under the ticks."""
    figure = Figure(figsize=(9.6, 3.8), layout="constrained")
    axes = figure.subplots(1, 2)
    buckets = profiles[0].buckets
    ticks = [f"{b.bucket.label}\n(n={b.sentences})" for b in buckets]
    for ax, metric, name in zip(axes, ("bleu", "chrf"), ("BLEU", "chrF")):
        for colour, profile in enumerate(profiles):
            values = [float("nan") if getattr(b, metric) is None else getattr(b, metric) for b in profile.buckets]
            ax.plot(range(len(values)), values, marker="o", lw=1.6, color=f"C{colour}",
                    label=f"{profile.label} ({name} {getattr(profile, metric):.1f})")
        ax.set_xticks(range(len(ticks)), ticks, fontsize=8)
        ax.set_xlabel("source sentence length (words)")
        ax.set_ylabel(name)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure
