"""`nmt evaluate`: score a file of translations, or translate a source file and score it.

A thin shell over `nmt.metrics` (the scores, with their sacrebleu signatures, and paired
bootstrap resampling) and the `Translator`; `report` takes aligned lines from any source, so
translating and scoring in one go only has to produce the hypotheses.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sacrebleu.metrics import BLEU

from nmt.errors import NMTError
from nmt.lines import read_aligned, read_lines, write_lines
from nmt.metrics import BOOTSTRAP_SAMPLES, DEFAULT_METRICS, METRICS, MetricResult, PairedResult, paired_bootstrap, score


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nmt.commands.decoding_options import add_search_arguments

    parser.add_argument("model_dir", type=Path, nargs="*", metavar="MODEL_DIR",
                        help="an exported model: translate --src with it, then score (instead of --hyp); "
                             "several: translate with their ensemble")
    parser.add_argument("--hyp", type=Path, metavar="HYP", help="system output, one sentence per line (.gz too)")
    parser.add_argument("--ref", type=Path, nargs="+", required=True, metavar="REF",
                        help="reference file(s), aligned with HYP or SRC")
    parser.add_argument("--src", type=Path, metavar="SRC", help="with MODEL_DIR: the source text to translate")
    parser.add_argument("--hyp-out", type=Path, metavar="FILE",
                        help="with MODEL_DIR: where the translations go "
                             "(default: MODEL_DIR/../<SRC stem>.beam<K>.<target language>; an ensemble of N: "
                             "beside the first, <SRC stem>.beam<K>.ensemble<N>.<target language>)")
    parser.add_argument("-m", "--metrics", nargs="+", choices=list(METRICS), default=list(DEFAULT_METRICS),
                        help="metrics to compute, in this order (default: bleu chrf ter)")
    parser.add_argument("--tokenize", choices=BLEU.TOKENIZERS, default=None,
                        help="BLEU tokenizer (default: 13a, as sacrebleu)")
    parser.add_argument("-lc", "--lowercase", action="store_true",
                        help="case-insensitive BLEU and chrF (TER is case-insensitive by default)")
    parser.add_argument("--baseline", type=Path, metavar="HYP",
                        help="another system's output: paired bootstrap resampling of HYP against it")
    parser.add_argument("--bootstrap-samples", type=int, default=BOOTSTRAP_SAMPLES, metavar="N",
                        help="resamples for --baseline (default: %(default)s)")
    parser.add_argument("-w", "--width", type=int, default=1, help="decimals printed (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_search_arguments(parser, nbest=False)


def run(args: argparse.Namespace) -> int:
    if args.bootstrap_samples < 1:
        raise NMTError(f"--bootstrap-samples must be at least 1 (got {args.bootstrap_samples})")
    if not args.model_dir:
        if args.hyp is None:
            raise NMTError("give --hyp HYP to score a file, or MODEL_DIR --src SRC to translate and score")
        if args.src is not None or args.hyp_out is not None:
            raise NMTError("--src and --hyp-out need MODEL_DIR (nmt evaluate MODEL_DIR --src SRC --ref REF)")
        hypotheses, references = read_aligned(args.hyp, args.ref)
    else:
        if args.hyp is not None:
            raise NMTError("give either --hyp or MODEL_DIR --src, not both")
        if args.src is None:
            raise NMTError("MODEL_DIR needs --src SRC, the source text to translate")
        hypotheses, references = translate_source(args)
    report(hypotheses, references, args)
    return 0


def translate_source(args: argparse.Namespace) -> tuple[list[str], list[list[str]]]:
    """Translate --src with MODEL_DIR through the `Translator`, write the hypotheses, return them
    with the references. `args.hyp` becomes the written file, so reports name it."""
    import sys

    from nmt.commands.decoding_options import load_translator
    from nmt.progress import progress_bar

    sources, references = read_aligned(args.src, args.ref)  # mismatched files fail before any work
    translator, config = load_translator(args)
    with progress_bar(len(sources)) as bar:
        hypotheses = [t.text for t in translator.translate(sources, config, progress=bar.update)]
    args.hyp = args.hyp_out or default_hyp_path(args.model_dir, args.src, config.beam_size)
    write_lines(args.hyp, hypotheses)
    print(f"{len(hypotheses)} translations written to {args.hyp}", file=sys.stderr)
    return hypotheses, references


def default_hyp_path(model_dirs: list[Path], src: Path, beam: int) -> Path:
    """Beside the model's run: runs/<name>/export + test2016.de -> runs/<name>/test2016.beam5.en
    (an ensemble of 3: test2016.beam5.ensemble3.en beside the first model's run)."""
    from nmt.export import inspect_export

    name = src.name.removesuffix(".gz")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    tgt_lang = inspect_export(model_dirs[0]).config.data.tgt_lang
    label = f".ensemble{len(model_dirs)}" if len(model_dirs) > 1 else ""
    return Path(model_dirs[0]).resolve().parent / f"{stem}.beam{beam}{label}.{tgt_lang}"


def report(hypotheses: list[str], references: list[list[str]], args: argparse.Namespace) -> None:
    """Score aligned lines and print; any source of hypotheses (a file, a Translator) ends here."""
    if args.baseline is None:
        print_scores(score(hypotheses, references, args.metrics, args.tokenize, args.lowercase), args)
        return
    baseline = read_lines(args.baseline)
    if len(baseline) != len(hypotheses):
        raise NMTError(f"{args.baseline} has {len(baseline)} lines but the hypotheses have {len(hypotheses)}")
    results = paired_bootstrap(hypotheses, baseline, references, args.metrics, args.tokenize,
                               args.lowercase, args.bootstrap_samples)
    print_paired(results, args)


def print_scores(results: list[MetricResult], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps([r.to_json(args.width) for r in results], indent=1, ensure_ascii=False))
        return
    lines = [r.line(args.width) for r in results]
    left = max(line.index(" = ") for line in lines)
    for line in lines:
        name, rest = line.split(" = ", 1)
        print(f"{name:>{left}} = {rest}")


def print_paired(results: list[PairedResult], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=1, ensure_ascii=False))
        return
    w = args.width
    samples = args.bootstrap_samples
    print(f"paired bootstrap resampling ({samples} samples): {args.hyp} against {args.baseline}")
    print("score (bootstrap mean ± 95% CI); p <= 0.05 (*): the difference is unlikely to be chance")
    name_width = max(len(r.name) for r in results)
    for r in results:
        star = " *" if r.significant else ""
        print(f"{r.name:<{name_width}}  system {r.score:.{w}f} ({r.mean:.{w}f} ± {r.ci:.{w}f})"
              f"  baseline {r.baseline_score:.{w}f} ({r.baseline_mean:.{w}f} ± {r.baseline_ci:.{w}f})"
              f"  p = {r.p_value:.4f}{star}")
    for r in results:
        print(f"{r.name:<{name_width}}  {r.signature}")
