"""`nmt train`: train a model from YAML configs, or resume a run; the run itself is
`nmt.training.run.train`, which the recipes call too."""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.config import Config, apply_overrides, load_config, read_yaml, validate
from nmt.errors import ConfigError, NMTError
from nmt.training.run import CONFIG_FILE, RunPaths, resume_checkpoint, train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, action="append", metavar="FILE",
                        help="YAML config with data/model/train/search sections; give it several times to "
                             "merge files in order (e.g. a model file, then a profile)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="override single keys, e.g. train.lr=0.002 model.decoder.attention=bahdanau")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR",
                        help="continue the run in RUN_DIR (its config.yaml; overrides still apply)")
    parser.add_argument("--fresh", action="store_true",
                        help="start over even if the run directory has checkpoints (they are replaced)")
    parser.add_argument("--fast-dev-run", type=int, default=0, metavar="N",
                        help="run N training and validation batches only, as a smoke test")


def run(args: argparse.Namespace) -> int:
    from nmt.training.allocator import tune_malloc

    config = _load(args)
    tune_malloc()  # the entry point's job (see nmt/training/allocator.py): large step buffers are reused
    paths = RunPaths(config.train.run_dir / config.run_name)
    resume = resume_checkpoint(config, paths, args.fresh) if not args.fast_dev_run else None
    result = train(config, paths, resume=resume, fast_dev_run=args.fast_dev_run)
    if result.primary:  # under DDP every rank returns here; one summary is enough
        print(result.summary())
    return 0


def _load(args: argparse.Namespace) -> Config:
    if args.resume is not None:
        if args.config is not None:
            raise ConfigError("give either --config or --resume RUN_DIR, not both")
        path = args.resume / CONFIG_FILE
        if not path.is_file():
            raise NMTError(f"{args.resume}: not a run directory (no {CONFIG_FILE})")
        return validate(Config, apply_overrides(read_yaml(path), args.overrides), source=str(path))
    if args.config is None:
        raise ConfigError("--config is required (or --resume RUN_DIR)")
    return load_config(args.config, args.overrides)
