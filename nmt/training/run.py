"""A training run: config -> run directory -> Lightning Trainer -> exported model.

`runs/<name>/` holds `config.yaml` (the resolved config), `logs/` (CSV and TensorBoard, a new
version per attempt), `checkpoints/` (`last.ckpt` every N steps and at the end, `best.ckpt` by the
monitored validation metric, and the `best-k/` and `latest-k/` weights kept for averaging,
`nmt.training.averaging`) and `export/` (what `nmt translate` loads: the best checkpoint, or
with `train.average` the mean of the best or latest K). Running the same command
again resumes from `last.ckpt`: model, optimizer, scheduler, sampler position and RNG, so the
loss curve continues as if never interrupted.

Under DDP (`train.devices` processes on each of `train.num_nodes` machines) every process runs
`train`; global rank zero alone writes the run directory and prepares the data, which the others
wait for, and every rank resumes from the same `last.ckpt` (the run directory is on a filesystem
all nodes share; docs/training.md#multi-node-training).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from nmt.config import Config, TrainConfig, dump_config, read_yaml, validate
from nmt.diagnostics.gradient_callback import GradientProfileCallback
from nmt.errors import ConfigError
from nmt.training.optim import monitor_mode
from nmt.training.precision import resolve_precision

CONFIG_FILE = "config.yaml"
LAST = "last.ckpt"
BEST = "best.ckpt"


@dataclass
class RunPaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last(self) -> Path:
        return self.checkpoints / LAST

    @property
    def best(self) -> Path:
        return self.checkpoints / BEST

    @property
    def export(self) -> Path:
        return self.root / "export"


def resume_checkpoint(config: Config, paths: RunPaths, fresh: bool) -> Optional[Path]:
    """`last.ckpt` when this run exists with the same data and model; an error if they changed."""
    if fresh or not paths.last.is_file():
        return None
    if paths.config.is_file():
        saved = validate(Config, read_yaml(paths.config), source=str(paths.config))
        for section in ("data", "model"):
            if getattr(saved, section) != getattr(config, section):
                raise ConfigError(
                    f"{paths.root}: its {section} config differs from this one; resuming would mix runs "
                    f"(use --fresh to start over, or set train.name to a new run)"
                )
    return paths.last


@dataclass
class TrainResult:
    paths: RunPaths
    steps: int
    minutes: float
    best: Optional[float]
    monitor: str
    export: Optional[Path]
    primary: bool = True  # global rank zero: the process that exports and reports

    def summary(self) -> str:
        best = f"best val/{self.monitor} {self.best:.2f}" if self.best is not None else "no validation"
        where = f"model exported to {self.export}" if self.export else "nothing exported (smoke test)"
        return f"trained {self.steps} steps in {self.minutes:.1f} min; {best}; {where}"


def train(config: Config, paths: RunPaths, resume: Optional[Path] = None, fast_dev_run: int = 0,
          callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Train (or continue) the run in `paths`, then export its best model.

    `callbacks`: extra Lightning callbacks, e.g. the recipes' throughput meter.
    """
    from nmt.data.datamodule import TranslationDataModule
    from nmt.export import export_model_dir
    from nmt.training.module import TranslationModule

    started = time.monotonic()
    train_cfg = config.train
    check_launch(train_cfg)
    if train_cfg.threads:
        torch.set_num_threads(train_cfg.threads)
    L.seed_everything(train_cfg.seed, workers=True, verbose=False)
    trainer, best_cb = build_trainer(config, paths, fast_dev_run, [*callbacks, SameStart(resume, paths.last)])
    # Every process of a multi-process run gets here (DDP ranks, on one machine or several), and
    # they may share the run directory and the data cache (a shared filesystem, or two nodes on
    # one machine): what is written is written by global rank zero.
    if trainer.is_global_zero:
        paths.root.mkdir(parents=True, exist_ok=True)
        _write_atomic(paths.config, dump_config(config))
    # `fit` prepares the data (tokenizers, caches) on global rank zero while the other processes
    # wait, sets it up on every rank, then builds the model from the vocabulary sizes
    datamodule = TranslationDataModule(config.data, seed=train_cfg.seed)
    datamodule.prepare_data_per_node = False  # once for all nodes: data.cache_dir may be shared
    module = TranslationModule(config.model_dump(mode="json"))
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=True)
    primary = trainer.is_global_zero
    if fast_dev_run:
        return TrainResult(paths, trainer.global_step, (time.monotonic() - started) / 60, None,
                           train_cfg.monitor_metric, None, primary)
    trainer.save_checkpoint(paths.last, weights_only=False)  # every rank calls it, rank zero writes
    best = None
    if best_cb is not None and best_cb.best_model_score is not None:
        best = float(best_cb.best_model_score)  # the same on every rank (metrics are synced)
    if not primary:
        return TrainResult(paths, trainer.global_step, (time.monotonic() - started) / 60, best,
                           train_cfg.monitor_metric, None, primary)
    if best is not None:
        if train_cfg.average != "none":
            from nmt.training.averaging import average_checkpoints, kept_checkpoints

            kept = kept_checkpoints(paths.checkpoints, train_cfg.average, train_cfg.keep_checkpoints,
                                    monitor_mode(train_cfg.monitor_metric))
            module.load_state_dict(average_checkpoints([c.path for c in kept]).state_dict)
        elif paths.best.is_file():
            state = torch.load(paths.best, map_location="cpu", weights_only=True)["state_dict"]
            module.load_state_dict(state)
    from nmt.decoding.shortlist import write_for_export

    export_model_dir(paths.export, config, module.model, datamodule.tokenizer)
    write_for_export(paths.export, datamodule.train_cache, datamodule.src_vocab_size, datamodule.tgt_vocab_size)
    return TrainResult(paths, trainer.global_step, (time.monotonic() - started) / 60, best,
                       train_cfg.monitor_metric, paths.export, primary)


def check_launch(cfg: TrainConfig) -> None:
    """A launcher's world size (torchrun and Lightning's own launcher set WORLD_SIZE in every
    process) must be `num_nodes x devices`. Lightning checks this under DDP only: with
    `num_nodes: 1, devices: 1` every process of a two-node launch would train alone as rank zero,
    all of them writing to one run directory."""
    launched = os.environ.get("WORLD_SIZE")
    if launched is not None and launched.isdigit() and int(launched) != cfg.num_nodes * cfg.devices:
        raise ConfigError(
            f"this process is one of {launched} (WORLD_SIZE) but train.num_nodes x train.devices is "
            f"{cfg.num_nodes} x {cfg.devices}: set them to the number of nodes and the processes started on each")


class SameStart(Callback):
    """Stops a multi-process run whose processes disagree about resuming: each rank looks for
    `last.ckpt` itself (and loads it itself), so a node that cannot see the run directory of
    global rank zero would start from step 0 while the others continue, and hang at the end."""

    def __init__(self, resume: Optional[Path], last: Path):
        self.resume, self.last = resume, last

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.world_size == 1:
            return
        resuming = self.resume is not None
        every = trainer.strategy.reduce_boolean_decision(resuming, all=True)
        some = trainer.strategy.reduce_boolean_decision(resuming, all=False)
        if some and not every:  # raised on every rank, so that none waits for the others
            raise ConfigError(
                f"{self.last}: some of the {trainer.world_size} processes resume from it and some start afresh "
                f"(they do not see it, or were given --fresh); every node must run the same command, with "
                f"train.run_dir on a filesystem they all share")


def build_trainer(config: Config, paths: RunPaths, fast_dev_run: int = 0,
                  extra_callbacks: Sequence[Callback] = ()) -> tuple[L.Trainer, Optional[ModelCheckpoint]]:
    cfg = config.train
    device_type = "cuda" if cfg.accelerator == "gpu" or (cfg.accelerator == "auto" and torch.cuda.is_available()) else "cpu"
    precision = resolve_precision(cfg.precision, device_type)
    has_valid = config.data.has_valid
    monitor = f"val/{cfg.monitor_metric}"
    mode = monitor_mode(cfg.monitor_metric)
    callbacks: list = [
        ModelCheckpoint(dirpath=paths.checkpoints, filename="step-{step}", every_n_train_steps=cfg.checkpoint_every_steps,
                        save_top_k=0, save_last=True, enable_version_counter=False),
        LearningRateMonitor(logging_interval="step"),
        ProgressBar(refresh_rate=max(1, min(cfg.log_every_steps, 10))),
        *extra_callbacks,
    ]
    if cfg.gradient_profile_every:
        callbacks.append(GradientProfileCallback(cfg.gradient_profile_every))
    best_cb = None
    if has_valid:
        best_cb = ModelCheckpoint(dirpath=paths.checkpoints, filename="best", monitor=monitor, mode=mode,
                                  save_top_k=1, auto_insert_metric_name=False, enable_version_counter=False)
        callbacks.append(best_cb)
        callbacks.extend(averaging_pools(paths, cfg.monitor_metric, mode, cfg.keep_checkpoints))
        if cfg.early_stopping_patience:
            callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=cfg.early_stopping_patience,
                                           check_on_train_epoch_end=False, strict=False))
    # one logs/version_N per (re)start, shared by both loggers; `nmt plot` joins the versions
    version = f"version_{len(list((paths.root / 'logs').glob('version_*')))}"
    loggers = [CSVLogger(paths.root, name="logs", version=version),
               TensorBoardLogger(paths.root, name="logs", version=version, default_hp_metric=False)]
    every = cfg.val_every_steps
    max_epochs = cfg.max_epochs if cfg.max_epochs is not None else (-1 if cfg.max_steps > 0 or cfg.max_minutes else None)
    trainer = L.Trainer(
        accelerator=cfg.accelerator, devices=cfg.devices, num_nodes=cfg.num_nodes, precision=precision,
        max_epochs=max_epochs, max_steps=cfg.max_steps,
        max_time={"minutes": cfg.max_minutes} if cfg.max_minutes else None,
        val_check_interval=every * cfg.accumulate if every else None,
        check_val_every_n_epoch=None if every else 1,
        limit_val_batches=1.0 if has_valid else 0,
        gradient_clip_val=cfg.clip_grad_norm, accumulate_grad_batches=cfg.accumulate,
        log_every_n_steps=cfg.log_every_steps, callbacks=callbacks, logger=loggers,
        default_root_dir=paths.root, num_sanity_val_steps=0, enable_model_summary=False,
        use_distributed_sampler=False, fast_dev_run=fast_dev_run or False,
    )
    return trainer, best_cb


def averaging_pools(paths: RunPaths, metric: str, mode: str, k: int) -> list[ModelCheckpoint]:
    """Lightning keeps the K best and the K latest validation weights (`nmt.training.averaging`)."""
    if not k:
        return []
    from nmt.training.averaging import POOLS, pool_filename

    name = pool_filename(metric)
    common = dict(filename=name, save_top_k=k, save_weights_only=True, auto_insert_metric_name=False,
                  enable_version_counter=False)
    return [PoolCheckpoint(dirpath=paths.checkpoints / POOLS["best"], monitor=f"val/{metric}", mode=mode, **common),
            PoolCheckpoint(dirpath=paths.checkpoints / POOLS["last"], monitor="step", mode="max", **common)]


class PoolCheckpoint(ModelCheckpoint):
    """A `ModelCheckpoint` whose saved state is told apart from `best.ckpt`'s by its folder
    (Lightning keys a callback's state by monitor and mode, which the best-K pool shares)."""

    @property
    def state_key(self) -> str:
        return self._generate_state_key(pool=Path(self.dirpath).name, monitor=self.monitor, mode=self.mode)


class ProgressBar(TQDMProgressBar):
    """Lightning's bar without the logger version number, which means nothing to a reader."""

    def get_metrics(self, trainer, pl_module):
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
