"""Optimizers and learning-rate schedules from `TrainConfig`.

Step-based schedules are pure factor functions of the optimizer step (warmup included) driven by
torch's LambdaLR; `plateau` is torch's ReduceLROnPlateau on the monitored validation metric.

Adam and AdamW use torch's fused kernel (CPU and CUDA since torch 2.4): one pass over each
parameter instead of about ten element-wise operations, each a pass over memory.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from nmt.config import TrainConfig


def build_optimizer(params, cfg: TrainConfig, fused: bool = True) -> torch.optim.Optimizer:
    """`fused=False` where the fused kernel cannot be used: Lightning refuses gradient clipping
    with it under mixed precision (it would unscale gradients inside the step)."""
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer in ("adam", "adamw"):
        adam = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
        options = dict(lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        if not fused:
            return adam(params, **options)
        try:
            return adam(params, fused=True, **options)
        except RuntimeError:  # a device without torch's fused kernel
            return adam(params, **options)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def lr_factor(cfg: TrainConfig) -> Callable[[int], float]:
    """Multiplier of `cfg.lr` at optimizer step `step` (0-based), floored at `min_lr`."""
    warmup = cfg.warmup_steps
    floor = cfg.min_lr / cfg.lr

    def factor(step: int) -> float:
        n = step + 1
        if cfg.schedule == "inverse_sqrt":
            # linear warmup to 1 at `warmup`, then 1/sqrt decay (Vaswani et al.) relative to it
            scale = n / warmup if warmup and n < warmup else math.sqrt(max(warmup, 1) / n)
        else:
            scale = n / warmup if warmup and n < warmup else 1.0
            if cfg.schedule == "step":
                scale *= cfg.step_gamma ** (max(step - warmup, 0) // cfg.step_size)
        return max(scale, floor)

    return factor


def monitor_mode(metric: str) -> str:
    return "max" if metric in ("bleu", "chrf") else "min"


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> dict:
    """A Lightning `lr_scheduler` config dict."""
    if cfg.schedule == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode=monitor_mode(cfg.monitor_metric),
            factor=cfg.plateau_factor,
            patience=cfg.plateau_patience,
            min_lr=cfg.min_lr,
        )
        # step after every validation: per epoch, or every `val_every_steps` optimizer steps
        every = {"interval": "step", "frequency": cfg.val_every_steps} if cfg.val_every_steps else {"interval": "epoch"}
        return {"scheduler": scheduler, "monitor": f"val/{cfg.monitor_metric}", "strict": False, **every}
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg))
    return {"scheduler": scheduler, "interval": "step"}
