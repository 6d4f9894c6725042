"""Writing matplotlib figures to files, with one-line errors.

Figures are built with `matplotlib.figure.Figure` directly, not pyplot: no global figure state,
no display needed (PNG goes through matplotlib's Agg renderer).
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from nmt.errors import NMTError

FORMATS = (".png", ".pdf", ".svg")


def check_figure_path(path: Path) -> Path:
    """A plot format matplotlib writes, in a directory that exists; else an `NMTError`.
    Commands call it before long work, so a typo does not cost the computation."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise NMTError(f"{path}: unsupported plot format {path.suffix or '(none)'!r} (use {', '.join(FORMATS)})")
    if not path.parent.is_dir():
        raise NMTError(f"{path}: directory {path.parent} does not exist")
    return path


def save_figure(figure: Figure, path: Path, dpi: int = 100) -> Path:
    """Write `figure` to `path` (format from the suffix); a bad path is an `NMTError`."""
    path = check_figure_path(path)
    try:
        figure.savefig(path, dpi=dpi)
    except OSError as err:
        raise NMTError(f"{path}: cannot write: {err.strerror or err}") from None
    return path
