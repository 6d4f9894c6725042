"""`nmt prepare`: train tokenizers and build the token-id caches, then print a summary.

Reads the `data:` section of a config (`--config C.yaml`, values overridable with `--set`) or
builds one from flags (`--src train.de --tgt train.en --valid-src ... --vocab-size 8000
--name multi30k-de-en`), runs the pipeline (nmt/data/pipeline.py) and prints what it did: pairs
kept and dropped by reason, vocabulary sizes, mean pieces per sentence, cache locations, and the
batch sampler's padding share at `batch_tokens`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from nmt.config import (Config, DataConfig, HoldoutConfig, TokenizerConfig, apply_overrides, describe_sources, field_choices,
                        field_default, merge_trees, read_configs, validate)
from nmt.data.pipeline import prepare
from nmt.data.summary import format_summary
from nmt.errors import DataError


def _default(section, field: str) -> str:
    """How help shows a config default: the flags leave the config's value alone when not given."""
    value = field_default(section, field)
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, action="append", metavar="FILE",
                        help="YAML config; its data: section is used (several files are merged in order)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set data.tokenizer.vocab_size=4000")
    parser.add_argument("--name", metavar="NAME", help="tokenizers/<name>/ and the cache folder use it")
    parser.add_argument("--src-lang", metavar="LANG", help="source language key (default: the --src file suffix)")
    parser.add_argument("--tgt-lang", metavar="LANG", help="target language key (default: the --tgt file suffix)")
    for prefix, what in (("", "training"), ("valid-", "validation"), ("test-", "test")):
        group = parser.add_argument_group(f"{what} corpus")
        group.add_argument(f"--{prefix}src", type=Path, metavar="FILE", help="source text, one sentence per line")
        group.add_argument(f"--{prefix}tgt", type=Path, metavar="FILE", help="target text aligned with the source")
        group.add_argument(f"--{prefix}tsv", type=Path, metavar="FILE", help="source<TAB>target per line")
        group.add_argument(f"--{prefix}split", metavar="SPLIT", help="Hugging Face split (with --hf)")
    parser.add_argument("--tsv-columns", metavar="LANGS",
                        help="languages of the TSV columns, e.g. en,de for English<TAB>German; "
                             "--src-lang/--tgt-lang pick the columns (default: source, target)")
    group = parser.add_argument_group("validation and test sets held out of the training corpus")
    group.add_argument("--holdout-test", type=int, metavar="N", help="pairs held out as the test set")
    group.add_argument("--holdout-valid", type=int, metavar="N", help="pairs held out for validation")
    group.add_argument("--holdout-seed", type=int, metavar="SEED",
                       help=f"order the pairs are drawn in (default {_default(HoldoutConfig, 'seed')})")
    parser.add_argument("--hf", metavar="DATASET", help="Hugging Face dataset: hub name (e.g. wmt/wmt14) or save_to_disk directory")
    parser.add_argument("--hf-config", metavar="NAME", help="Hugging Face config name, e.g. de-en")
    parser.add_argument("--vocab-size", type=int, metavar="N",
                        help=f"SentencePiece vocabulary size (default {_default(TokenizerConfig, 'vocab_size')})")
    parser.add_argument("--model-type", choices=field_choices(TokenizerConfig, "type"),
                        help=f"SentencePiece model (default {_default(TokenizerConfig, 'type')})")
    parser.add_argument("--separate", action="store_true", help="one tokenizer per language instead of joint")
    parser.add_argument("--character-coverage", type=float, metavar="X", help=f"SentencePiece character coverage (default {_default(TokenizerConfig, 'character_coverage')})")
    parser.add_argument("--input-sentence-size", type=int, metavar="N",
                        help=f"sentences sampled for training; 0 = all "
                             f"(default {_default(TokenizerConfig, 'input_sentence_size')})")
    parser.add_argument("--tokenizer-dir", type=Path, metavar="DIR", help=f"where tokenizers/<name>/ go (default {_default(DataConfig, 'tokenizer_dir')})")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR", help=f"where token-id caches go (default {_default(DataConfig, 'cache_dir')})")
    parser.add_argument("--batch-tokens", type=int, metavar="N", help=f"padded tokens per batch for the report (default {_default(DataConfig, 'batch_tokens')})")
    parser.add_argument("--num-proc", type=int, metavar="N", help="encoding processes (default: all cores)")
    parser.add_argument("--force", action="store_true", help="overwrite a tokenizer trained on other inputs")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _corpus_flags(args: argparse.Namespace, prefix: str) -> Optional[dict]:
    """A corpus section from --{prefix}src/tgt/tsv/split (+ --hf), or None if none is given."""
    get = lambda name: getattr(args, f"{prefix}{name}")  # noqa: E731
    if get("src") is not None or get("tgt") is not None:
        return {"src": get("src"), "tgt": get("tgt")}
    if get("tsv") is not None:
        columns = args.tsv_columns.split(",") if args.tsv_columns else None
        return {"tsv": get("tsv"), "columns": columns}
    if get("split") is not None or (prefix == "" and args.hf):
        return {"hf": args.hf, "hf_config": args.hf_config, "split": get("split")}
    return None


def _flag_tree(args: argparse.Namespace) -> dict:
    """The data-section keys given as flags (corpora replace the config's whole corpus entry)."""
    tree: dict = {}
    for split, prefix in (("train", ""), ("valid", "valid_"), ("test", "test_")):
        corpus = _corpus_flags(args, prefix)
        if corpus is not None:
            tree[split] = {k: str(v) if isinstance(v, Path) else v for k, v in corpus.items() if v is not None}
    plain = {"name": args.name, "src_lang": args.src_lang, "tgt_lang": args.tgt_lang,
             "tokenizer_dir": args.tokenizer_dir, "cache_dir": args.cache_dir,
             "batch_tokens": args.batch_tokens, "num_proc": args.num_proc}
    tree.update({k: str(v) if isinstance(v, Path) else v for k, v in plain.items() if v is not None})
    tokenizer = {"vocab_size": args.vocab_size, "type": args.model_type,
                 "character_coverage": args.character_coverage, "input_sentence_size": args.input_sentence_size,
                 "joint": False if args.separate else None}
    tokenizer = {k: v for k, v in tokenizer.items() if v is not None}
    if tokenizer:
        tree["tokenizer"] = tokenizer
    if args.tsv_columns and not any(getattr(args, f"{p}tsv") for p in ("", "valid_", "test_")):
        raise DataError("--tsv-columns names the columns of a --tsv file: give --tsv")
    holdout = {"test": args.holdout_test, "valid": args.holdout_valid, "seed": args.holdout_seed}
    holdout = {k: v for k, v in holdout.items() if v is not None}
    if holdout:
        tree["holdout"] = holdout
    return tree


def _language_from_suffix(tree: dict, key: str, side: str) -> None:
    """--src train.de without --src-lang: call the source language "de"."""
    path = tree.get("train", {}).get(side)
    suffix = Path(path).suffix.lstrip(".") if path else ""
    if key not in tree and suffix.isalpha() and 2 <= len(suffix) <= 3:
        tree[key] = suffix


def data_config_from_args(args: argparse.Namespace) -> DataConfig:
    flags = _flag_tree(args)
    if args.config is not None:
        tree = read_configs(args.config)
        source = describe_sources(args.config)
    else:
        tree, source = {}, "command line"
        _language_from_suffix(flags, "src_lang", "src")
        _language_from_suffix(flags, "tgt_lang", "tgt")
        if "name" not in flags:
            raise DataError("--name is required without --config (tokenizers/<name>/ uses it)")
        if "train" not in flags:
            raise DataError("give a training corpus: --src and --tgt, --tsv, or --hf, or use --config")
    tree.setdefault("data", {})
    if not isinstance(tree["data"], dict):
        raise DataError(f"{source}: data: expected a mapping")
    for section in ("tokenizer", "holdout"):  # flags change single options of these; corpora are replaced whole
        if isinstance(flags.get(section), dict) and isinstance(tree["data"].get(section), dict):
            flags[section] = merge_trees(tree["data"][section], flags[section])
    tree["data"].update(flags)
    tree = apply_overrides(tree, args.overrides)
    return validate(Config, tree, source=source).data


def run(args: argparse.Namespace) -> int:
    config = data_config_from_args(args)
    prepared = prepare(config, force=args.force, progress=not args.quiet)
    print(format_summary(prepared))
    return 0
