"""A training callback that shows gradients in TensorBoard (`train.gradient_profile_every: N`).

Every N optimizer steps, between backward and the optimizer step (before clipping), it logs
- `grad_norm/<layer>`: the L2 norm of each layer's parameter gradients (`encoder.layers.0.left_to_right`,
  `decoder.output`; a multi-layer torch RNN's layers apart: `decoder.rnn.l0`) and `grad_norm/total`;
- `grad_profile/<layer>_<direction>/d<k>`: the mean ‖dL/dh_t‖ of encoder states k steps before
  their direction's final state, at k = 0, 1, 2, 4, 8, ..., measured on the first sentences of the
  step's batch (`gradients.py`; it does not touch the parameter gradients);
- `grad_profile` (TensorBoard image): the whole profile, log scale.
Scalars go to every logger directly at that step, whatever `log_every_steps` is.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Optional

import lightning as L
from torch import nn

from nmt.data.batch import Batch
from nmt.diagnostics.gradients import GradientProfile, gradient_profile

_RNN_LAYER = re.compile(r"_l(\d+)(_reverse)?$")  # weight_hh_l1 -> layer 1 of a torch RNN module


def layer_gradient_norms(model: nn.Module) -> dict[str, float]:
    """L2 norm of the gradient per layer (a module's own parameters; a multi-layer torch RNN split
    into `.l0`, `.l1`, ...) and in total. A tied weight counts once, in its first module."""
    squares: dict[str, float] = defaultdict(float)
    seen: set[int] = set()
    for prefix, module in model.named_modules():
        split = isinstance(module, nn.RNNBase) and module.num_layers > 1
        for name, param in module.named_parameters(recurse=False):
            if param.grad is None or id(param) in seen:
                continue
            seen.add(id(param))
            layer = f"{prefix}.l{_RNN_LAYER.search(name).group(1)}" if split else prefix
            squares[layer] += float(param.grad.detach().double().pow(2).sum())
    norms = {f"grad_norm/{layer}": math.sqrt(total) for layer, total in squares.items()}
    if norms:
        norms["grad_norm/total"] = math.sqrt(sum(squares.values()))
    return norms


def profile_scalars(profile: GradientProfile) -> dict[str, float]:
    """Norms at distances 0, 1, 2, 4, 8, ... that at least one sentence reaches."""
    reached = int((profile.counts > 0).nonzero().max()) if bool((profile.counts > 0).any()) else -1
    distances = [0] + [2**i for i in range(reached.bit_length())] if reached >= 0 else []
    scalars = {}
    for name, norms in zip(profile.names, profile.norms):
        tag = name.replace("layer ", "layer").replace(" ", "_")  # "layer 1 forward" -> layer1_forward
        scalars.update({f"grad_profile/{tag}/d{d}": float(norms[d]) for d in distances if d <= reached})
    return scalars


def first_rows(batch: Batch, rows: int) -> Batch:
    return Batch(*(t[:rows] for t in (batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out, batch.index)))


class GradientProfileCallback(L.Callback):
    def __init__(self, every: int, sentences: int = 32):
        self.every = every
        self.sentences = sentences  # rows of the batch measured for the profile
        self._batch: Optional[Batch] = None

    def _due(self, trainer: L.Trainer) -> bool:
        return trainer.global_step % self.every == 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._batch = batch if self._due(trainer) else None  # with accumulation: the step's last batch

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self._batch is None or not self._due(trainer):
            return
        batch, self._batch = first_rows(self._batch, self.sentences).to(pl_module.device), None
        metrics = layer_gradient_norms(pl_module.model)
        profile = gradient_profile(pl_module.model, batch)
        metrics.update(profile_scalars(profile))
        step = trainer.global_step
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
            if isinstance(logger, L.pytorch.loggers.TensorBoardLogger):
                self._add_figure(logger, profile, step)

    @staticmethod
    def _add_figure(logger, profile: GradientProfile, step: int) -> None:
        from nmt.diagnostics.gradient_report import profile_figure

        reached = int((profile.counts > 0).nonzero().max())
        lines = {name: norms[: reached + 1] for name, norms in zip(profile.names, profile.norms)}
        logger.experiment.add_figure("grad_profile", profile_figure({f"step {step}": lines}), global_step=step)
