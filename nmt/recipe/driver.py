"""The recipe driver: data -> tokenizers -> train -> translate the test set -> BLEU and chrF.

A recipe is a folder `recipes/<corpus>/` holding YAML files and one `run.py` that declares a
`Recipe` (its pairs, models, profiles and where its data comes from) and calls `main`. All the
work is here, so every recipe runs the same steps and writes the same `results.json`.

The config of a run is merged from the recipe's files in order (`nmt.config.read_configs`):

    data.yaml        the corpus and tokenizer (languages and files are set from --pair;
                     Multi30k calls it de-en.yaml, its default pair)
    model.yaml       the architecture shared by the recipe's models (where there are several)
    <model>.yaml     what makes this model itself (e.g. baseline: attention none)
    <profile>.yaml   how long and where to train: cpu (a wall-clock budget), gpu (to convergence)

then `KEY=VALUE` overrides from the command line. The run lives in `runs/<name>/` as any
`nmt train` run does, so rerunning the recipe resumes an interrupted training.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from nmt.config import (Config, SearchConfig, TrainConfig, apply_overrides, describe_sources, dump_config,
                        field_choices, field_default, read_configs, validate)
from nmt.errors import DataError, NMTError
from nmt.recipe.plan import Pair, Plan, Training

if TYPE_CHECKING:
    from nmt.training.run import RunPaths


@dataclass(frozen=True)
class DataRequest:
    """What the recipe's data function is asked for."""

    pair: Pair
    data_dir: Optional[Path]  # --data-dir, or the recipe's environment variable; None: its default
    download: bool = False  # --download: fetch what is missing even into a directory the user named
    fetch: bool = True  # False: only say where the data would be (no network, no files written)


def ensure_files(request: DataRequest, directory: Path, files: Sequence[Path],
                 get: Callable[[Path, list[Path]], None]) -> None:
    """Make sure `files` exist, calling `get(directory, missing)` to download (and prepare) them.

    A directory the user named is not written into without --download: a typo in --data-dir
    should be an error, not a silent download somewhere unexpected.
    """
    missing = [path for path in files if not path.is_file()]
    if not missing or not request.fetch:
        return
    if request.data_dir is not None and not request.download:
        names = ", ".join(path.name for path in missing)
        raise DataError(f"{directory}: missing {names} (add --download to fetch them there)")
    get(directory, missing)


@dataclass(frozen=True)
class Recipe:
    name: str  # corpus name: run names, tokenizer names and results use it
    directory: Path  # the folder with the YAML files
    pairs: tuple[str, ...]  # the first is the default
    models: tuple[str, ...]  # <model>.yaml files; the first is the default
    profiles: tuple[str, ...]  # <profile>.yaml files; the first is the default
    # the `data:` corpora (train/valid/test CorpusConfig trees) for a pair; may download
    data: Callable[[DataRequest], dict]
    base: tuple[str, ...] = ("data.yaml", "model.yaml")  # merged before <model>.yaml and <profile>.yaml
    data_env: Optional[str] = None  # environment variable naming the data directory
    data_help: str = "directory holding the corpus"
    description: str = ""
    test_name: str = "test"  # how the README calls the test set, e.g. test2016
    downloads: bool = True  # offers --download (hub datasets download themselves)

    def config_files(self, model: str, profile: str) -> list[Path]:
        return [self.directory / name for name in (*self.base, f"{model}.yaml", f"{profile}.yaml")]


# ----------------------------------------------------------------------------- command line


def build_parser(recipe: Recipe) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"recipes/{recipe.name}/run.py", description=recipe.description)
    parser.add_argument("--pair", default=recipe.pairs[0], metavar="SRC-TGT",
                        help=f"language pair: {', '.join(recipe.pairs)} (default {recipe.pairs[0]})")
    parser.add_argument("--model", choices=recipe.models, default=recipe.models[0],
                        help=f"model config <model>.yaml (default {recipe.models[0]})")
    parser.add_argument("--profile", choices=recipe.profiles, default=recipe.profiles[0],
                        help=f"training profile <profile>.yaml (default {recipe.profiles[0]})")
    env = f" (default: ${recipe.data_env} if set)" if recipe.data_env else ""
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help=recipe.data_help + env)
    if recipe.downloads:
        parser.add_argument("--download", action="store_true", help="download missing data files into --data-dir")
    parser.add_argument("--name", help="run name: runs/<name>/ (default <corpus>-<pair>-<model>-<profile>)")
    parser.add_argument("--fresh", action="store_true", help="start training over instead of resuming the run")
    parser.add_argument("--skip-training", action="store_true", help="only evaluate the run's exported model")
    parser.add_argument("--beam", type=int, default=field_default(SearchConfig, "beam_size"), metavar="N",
                        help="beam size compared with greedy (default %(default)s: SearchConfig.beam_size)")
    parser.add_argument("--samples", type=int, default=3, metavar="N", help="sample translations shown (default 3)")
    parser.add_argument("--average", choices=field_choices(TrainConfig, "average"),
                        help="export (and score) the mean of the run's best or latest train.keep_checkpoints "
                             "validation checkpoints instead of its best one (train.average; default: the profile's)")
    parser.add_argument("--print-config", action="store_true", help="print the merged config and stop")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="override config keys, e.g. train.max_minutes=10 model.decoder.hidden_size=256")
    return parser


def main(recipe: Recipe, argv: Optional[Sequence[str]] = None) -> int:
    """The recipe's command: one-line errors (exit 2) for user mistakes, never a traceback."""
    parser = build_parser(recipe)
    args = parser.parse_args(argv)
    try:
        return run(recipe, args)
    except NMTError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (rerun the same command to resume the training)", file=sys.stderr)
        return 130


# ----------------------------------------------------------------------------- config


def check_pair(recipe: Recipe, text: str) -> Pair:
    if text not in recipe.pairs:
        raise NMTError(f"--pair: {text!r} is not a pair of this recipe (valid: {', '.join(recipe.pairs)})")
    return Pair.parse(text)


def resolve(recipe: Recipe, args: argparse.Namespace, fetch: bool = True) -> Plan:
    """The merged config for the chosen pair, model and profile, with the data located (or fetched)."""
    pair = check_pair(recipe, args.pair)
    files = [_relative(path) for path in recipe.config_files(args.model, args.profile)]
    tree = read_configs(files)
    request = DataRequest(pair, data_dir(recipe, args), download=getattr(args, "download", False), fetch=fetch)
    corpora = recipe.data(request)
    data = tree.setdefault("data", {})
    data.update(name=f"{recipe.name}-{pair}", src_lang=pair.src, tgt_lang=pair.tgt, **corpora)  # whole corpora
    tree.setdefault("train", {})["name"] = args.name or f"{recipe.name}-{pair}-{args.model}-{args.profile}"
    overrides = list(args.overrides) + ([f"train.average={args.average}"] if getattr(args, "average", None) else [])
    tree = apply_overrides(tree, overrides)
    config = validate(Config, tree, source=describe_sources(files))
    if not config.data.has_test:
        raise NMTError(f"{describe_sources(files)}: a recipe needs a data.test corpus (or data.holdout.test) to score")
    return Plan(recipe.name, recipe.test_name, config, files, overrides, pair, args.model, args.profile)


def data_dir(recipe: Recipe, args: argparse.Namespace) -> Optional[Path]:
    """--data-dir, else the recipe's environment variable, else None (the recipe's default)."""
    if args.data_dir is not None:
        return args.data_dir
    value = os.environ.get(recipe.data_env) if recipe.data_env else None
    return Path(value) if value else None


def _relative(path: Path) -> Path:
    """`recipes/multi30k/de-en.yaml` rather than an absolute path, where the file is below the
    working directory: shorter in messages and results, and the same on every checkout."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


# ----------------------------------------------------------------------------- the steps


def run(recipe: Recipe, args: argparse.Namespace) -> int:
    if args.beam < 1 or args.samples < 0:
        raise NMTError(f"--beam must be at least 1 and --samples at least 0 (got {args.beam}, {args.samples})")
    started = time.monotonic()
    plan = resolve(recipe, args, fetch=not args.print_config)
    if args.print_config:
        print(dump_config(plan.config), end="")
        return 0
    from nmt.training.allocator import tune_malloc
    from nmt.recipe.results import evaluate_run
    from nmt.training.run import RunPaths

    tune_malloc()  # the entry point's job: faster large allocations for training and decoding
    paths = RunPaths(plan.config.train.run_dir / plan.config.run_name)
    print(f"{recipe.name} {plan.pair}, model {plan.model}, profile {plan.profile}: run directory {paths.root}")
    print(f"config: {describe_sources(plan.files)}" + (f" with {' '.join(plan.overrides)}" if plan.overrides else ""))
    if args.skip_training and not paths.export.is_dir():
        raise NMTError(f"--skip-training: {paths.export} not found (train the run first)")
    training = None if args.skip_training else train_step(plan, paths, args.fresh)
    if training is not None and not training.primary:
        return 0  # another rank of a multi-process run: global rank zero evaluates and writes results
    results = evaluate_run(plan, paths, training, beam=args.beam, samples=args.samples, started=started)
    print(f"results written to {results}")
    return 0


def train_step(plan: Plan, paths: "RunPaths", fresh: bool) -> Training:
    """`nmt train` on the merged config, with a throughput meter; resumes an interrupted run."""
    from nmt.training.throughput import ThroughputMeter
    from nmt.training.run import resume_checkpoint, train

    resume = resume_checkpoint(plan.config, paths, fresh)
    if resume is not None:
        print(f"resuming from {resume}")
    meter = ThroughputMeter()
    started = time.monotonic()
    result = train(plan.config, paths, resume=resume, callbacks=[meter])
    print(result.summary())
    return Training(result.steps, time.monotonic() - started, result.best, result.monitor, resume, meter,
                    primary=result.primary)
