"""What a recipe run is (its pair, merged config and where the config came from) and what its
training step measured: the records the driver fills in and `results.json` reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from nmt.config import Config

if TYPE_CHECKING:
    from nmt.training.throughput import ThroughputMeter


@dataclass(frozen=True)
class Pair:
    src: str
    tgt: str

    @classmethod
    def parse(cls, text: str) -> "Pair":
        src, _, tgt = text.partition("-")
        return cls(src, tgt)

    def __str__(self) -> str:
        return f"{self.src}-{self.tgt}"


@dataclass
class Plan:
    """What a recipe run will do: the merged config and where it came from."""

    recipe: str
    test_name: str
    config: Config
    files: list[Path]
    overrides: list[str]
    pair: Pair
    model: str
    profile: str


@dataclass
class Training:
    """What the training step measured (this session only, when a run resumed)."""

    steps: int
    wall_seconds: float  # the whole train call: data preparation, training loop, export
    best: Optional[float]  # best validation score of `monitor`
    monitor: str
    resumed_from: Optional[Path]
    meter: "ThroughputMeter"
    primary: bool = True  # global rank zero of a multi-process run: the one that evaluates and reports

    def to_json(self) -> dict:
        return {"steps": self.steps, "wall_seconds": round(self.wall_seconds, 1),
                "best_validation": {"metric": self.monitor, "value": None if self.best is None else round(self.best, 2)},
                "resumed_from": str(self.resumed_from) if self.resumed_from else None, **self.meter.to_json()}
