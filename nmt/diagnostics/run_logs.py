"""Training logs of a run directory, as one series per metric over the whole run.

`nmt train` writes Lightning's CSV logs to `RUN_DIR/logs/version_N/metrics.csv`, a new version
each time training (re)starts. After a resume from a checkpoint the steps since that checkpoint
are trained again, so a later version replaces every row of the earlier ones from its first step
on. `train/wall_minutes` restarts at 0 with each process; it is continued from the wall time the
run had reached before the resumed step (time spent on the steps that were redone is not counted).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nmt.errors import NMTError

WALL = "train/wall_minutes"
Row = dict[str, float]  # one CSV row: "step" and the metrics logged there


@dataclass
class Series:
    steps: np.ndarray  # (n,) increasing
    values: np.ndarray  # (n,)


@dataclass
class RunLog:
    path: Path
    versions: int  # metrics.csv files read
    rows: list[Row] = field(default_factory=list)  # merged, by step

    def series(self, metric: str) -> Series:
        """Every logged value of `metric`, by step (the last one where a step has several)."""
        points = {int(r["step"]): r[metric] for r in self.rows if metric in r}
        steps = np.array(sorted(points), dtype=np.int64)
        return Series(steps, np.array([points[s] for s in steps.tolist()], dtype=np.float64))

    def wall_minutes(self, steps: np.ndarray) -> np.ndarray:
        """Wall time at each step, interpolated from the training rows; empty without wall times."""
        wall = self.series(WALL)
        if wall.steps.size == 0:
            return np.array([])
        return np.interp(steps, wall.steps, wall.values)


def metric_files(run_dir: Path) -> list[Path]:
    """`logs/version_N/metrics.csv` of a run, by version number; a run without any is an error."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise NMTError(f"{run_dir}: not a directory")
    found = []
    for path in (run_dir / "logs").glob("version_*/metrics.csv"):
        match = re.fullmatch(r"version_(\d+)", path.parent.name)
        if match:
            found.append((int(match.group(1)), path))
    if not found:
        raise NMTError(f"{run_dir}: no training logs (expected {run_dir}/logs/version_N/metrics.csv)")
    return [path for _, path in sorted(found)]


def read_metrics(path: Path) -> list[Row]:
    """Rows of one metrics.csv with their numbers; empty cells are metrics not logged in that row."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None:
                return []
            if "step" not in reader.fieldnames:
                raise NMTError(f"{path}: no 'step' column (got {', '.join(reader.fieldnames)})")
            return [_numbers(path, line, raw) for line, raw in enumerate(reader, start=2)]
    except UnicodeDecodeError as err:
        raise NMTError(f"{path}: not UTF-8 ({err.reason} at byte {err.start})") from None


def _numbers(path: Path, line: int, raw: dict) -> Row:
    row = {}
    for key, text in raw.items():
        if key is None or text is None or text == "":  # extra or missing cells in a ragged row
            continue
        try:
            value = float(text)
        except ValueError:
            raise NMTError(f"{path}: line {line}: {key}: not a number ({text!r})") from None
        row[key] = value  # a metric may be nan (a gap in its curve)
    if not math.isfinite(row.get("step", math.nan)):
        raise NMTError(f"{path}: line {line}: no step")
    return row


def merge_versions(versions: list[list[Row]]) -> list[Row]:
    """One run from its versions in order: each replaces what the earlier ones logged from its first step."""
    merged: list[Row] = []
    for rows in versions:
        if not rows:
            continue
        first = min(r["step"] for r in rows)
        merged = [r for r in merged if r["step"] < first]
        walls = [r[WALL] for r in merged if WALL in r]
        restarted = [r[WALL] for r in rows if WALL in r]
        offset = walls[-1] if walls and restarted and restarted[0] < walls[-1] else 0.0
        merged += [{**r, WALL: r[WALL] + offset} if WALL in r else r for r in rows]
    return sorted(merged, key=lambda r: r["step"])  # stable: rows of one step keep their order


def read_run(run_dir: Path) -> RunLog:
    files = metric_files(run_dir)
    return RunLog(Path(run_dir), len(files), merge_versions([read_metrics(path) for path in files]))
