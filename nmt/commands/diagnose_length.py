"""`nmt diagnose length`: BLEU and chrF by source-length bucket, several systems side by side.

Each SYSTEM is a run directory (its `export/` is used), an exported model directory, or a file of
translations already made (one line per source line). Models translate `--src` through the same
`Translator` as `nmt translate`; every system is scored against `--ref`, overall and per bucket.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from nmt.config import TranslatorConfig, field_default
from nmt.diagnostics.length import DEFAULT_EDGES, length_profile, make_buckets, parse_edges
from nmt.errors import NMTError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("systems", nargs="+", type=Path, metavar="SYSTEM",
                        help="run directory (uses its export/), exported model directory, or a file of translations")
    parser.add_argument("--src", type=Path, required=True, metavar="FILE", help="source sentences, one per line")
    parser.add_argument("--ref", type=Path, required=True, metavar="FILE", help="references, line-aligned with --src")
    parser.add_argument("--buckets", default=",".join(map(str, DEFAULT_EDGES)), metavar="N,N,...",
                        help="upper ends of the length buckets in source words (default 10,15,20,25: "
                             "1-10, 11-15, 16-20, 21-25, 26+)")
    parser.add_argument("--labels", nargs="+", metavar="NAME", help="one name per SYSTEM (default: directory or file names)")
    parser.add_argument("--beam", type=int, metavar="N", help="beam size for models (default: each model's own; 1 = greedy)")
    parser.add_argument("--batch-size", type=int, default=field_default(TranslatorConfig, "batch_size"), metavar="N",
                        help="sentences per batch (default %(default)s)")
    parser.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: all cores)")
    parser.add_argument("-o", "--output", type=Path, default=Path("length.png"), metavar="FILE",
                        help="plot file, .png/.pdf/.svg (default length.png)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")


@dataclass
class System:
    label: str
    path: Path  # as given
    model_dir: Optional[Path]  # None: `path` is a file of translations


def resolve_system(path: Path, label: Optional[str]) -> System:
    """A run directory means its export/; a directory is a model; a file holds translations."""
    if path.is_dir():
        model_dir = path / "export" if (path / "export").is_dir() else path
        name = path.resolve().parent.name if path.resolve().name == "export" else path.resolve().name
        return System(label or name, path, model_dir)
    if path.is_file():
        return System(label or path.name, path, None)
    raise NMTError(f"{path}: no such run directory, model directory or translation file")


def _check(args: argparse.Namespace) -> None:
    if args.labels is not None and len(args.labels) != len(args.systems):
        raise NMTError(f"--labels: {len(args.labels)} names for {len(args.systems)} systems")
    for option, value in (("--beam", args.beam), ("--batch-size", args.batch_size), ("--threads", args.threads)):
        if value is not None and value < 1:
            raise NMTError(f"{option}: must be at least 1 (got {value})")


def translations(system: System, sources: list[str], args: argparse.Namespace) -> list[str]:
    """The system's output for `sources`: read from its file, or translated by its model."""
    from nmt.lines import read_lines

    if system.model_dir is None:
        lines = read_lines(system.path)
        if len(lines) != len(sources):
            raise NMTError(f"{system.path} has {len(lines)} lines but {args.src} has {len(sources)}")
        return lines
    import torch

    from nmt.decoding.translator import Translator

    translator = Translator.load(system.model_dir, device="cuda" if torch.cuda.is_available() else "cpu",
                                 batch_size=args.batch_size)
    search = translator.search_config
    if args.beam is not None:
        search = search.model_copy(update={"beam_size": args.beam, "nbest": 1})
    print(f"translating {len(sources)} sentences with {system.model_dir} (beam {search.beam_size}) ...", flush=True)
    return [t.text for t in translator.translate(sources, search)]


def run(args: argparse.Namespace) -> int:
    from nmt.diagnostics.figures import check_figure_path, save_figure
    from nmt.diagnostics.length_report import format_table, length_figure
    from nmt.lines import read_lines

    _check(args)
    buckets = make_buckets(parse_edges(args.buckets))
    labels = args.labels or [None] * len(args.systems)
    systems = [resolve_system(path, label) for path, label in zip(args.systems, labels)]
    check_figure_path(args.output)  # before the translations, which take a while
    sources, references = read_lines(args.src), read_lines(args.ref)
    if not sources or len(sources) != len(references):
        raise NMTError(f"{args.src} has {len(sources)} lines but {args.ref} has {len(references)}"
                       if sources else f"{args.src}: no lines")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    profiles = [length_profile(s.label, str(s.path), sources, references, translations(s, sources, args), buckets)
                for s in systems]
    figure = length_figure(profiles, f"BLEU and chrF by source length: {args.src.name} ({len(sources)} sentences)")
    path = save_figure(figure, args.output)
    if args.json:
        print(json.dumps({"src": str(args.src), "ref": str(args.ref), "plot": str(path),
                          "systems": [p.to_json() for p in profiles]}, indent=1, ensure_ascii=False))
        return 0
    print(f"\nBLEU by source length (words) on {args.src} ({len(sources)} sentences):")
    print(format_table(profiles, "bleu"))
    print("\nchrF by source length:")
    print(format_table(profiles, "chrf"))
    print(f"\n{profiles[0].signatures['bleu']}\n{profiles[0].signatures['chrf']}")
    print(f"plot written to {path}")
    return 0
