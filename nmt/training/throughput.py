"""Training throughput: target tokens per second of training-step time.

A Lightning callback that times every training batch from `on_train_batch_start` to
`on_train_batch_end` (forward, backward, optimizer step) and counts its real target tokens
(EOS included, padding not). Validation, checkpoint writing and data loading fall outside those
intervals, so the figure compares models and machines rather than validation settings. Lightning's
own `ThroughputMonitor` logs windowed rates; a recipe needs one total for its results file.
"""

from __future__ import annotations

import time

import lightning as L
import torch

from nmt.data.batch import Batch


class ThroughputMeter(L.Callback):
    def __init__(self) -> None:
        self.seconds = 0.0  # summed training-step time
        self.target_tokens = 0
        self.source_tokens = 0
        self.steps = 0  # batches (optimizer steps x accumulation)
        self._started = 0.0

    @property
    def target_tokens_per_second(self) -> float:
        return self.target_tokens / self.seconds if self.seconds > 0 else 0.0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Batch, batch_idx: int) -> None:
        _synchronize(pl_module.device)
        self._started = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch: Batch,
                           batch_idx: int) -> None:
        _synchronize(pl_module.device)
        self.seconds += time.perf_counter() - self._started
        self.target_tokens += batch.num_target_tokens
        self.source_tokens += int(batch.src_lengths.sum())
        self.steps += 1

    def to_json(self) -> dict:
        return {"batches": self.steps, "step_seconds": round(self.seconds, 2), "target_tokens": self.target_tokens,
                "source_tokens": self.source_tokens,
                "target_tokens_per_s": round(self.target_tokens_per_second, 1)}


def _synchronize(device: torch.device) -> None:
    """GPU work is asynchronous: wait for it, or the interval measures only the launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
