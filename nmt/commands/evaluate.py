"""`nmt evaluate`: BLEU, chrF and TER through sacrebleu, each with its signature.

The scoring functions are pure (strings in, named results out), so validation during training
reuses them; the command is a thin shell that reads files and prints. The numbers are
sacrebleu's own: the same metric classes with the defaults of the `sacrebleu` command, files
read the way it reads them, and its paired bootstrap resampling for significance.
`report` takes aligned lines from any source, so translating and scoring in one go only has to
produce the hypotheses.
"""

from __future__ import annotations

import argparse
import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.metrics.base import Metric, Score
from sacrebleu.significance import PairedTest

from nmt.errors import NMTError

METRICS = {"bleu": BLEU, "chrf": CHRF, "ter": TER}
DEFAULT_METRICS = ("bleu", "chrf", "ter")


@dataclass
class MetricResult:
    """One corpus-level score."""

    metric: str  # key in METRICS: bleu, chrf, ter
    name: str  # sacrebleu's name: BLEU, chrF2, TER
    score: float  # full precision; higher is better except for TER
    signature: str  # sacrebleu's reproducibility signature
    sacrebleu: Score  # the score object, for its details (BLEU n-gram precisions, brevity penalty)

    def line(self, width: int = 1) -> str:
        """`NAME|signature = score details`, as the sacrebleu command prints it."""
        return self.sacrebleu.format(width, signature=self.signature)

    def to_json(self, width: int = 1) -> dict:
        """sacrebleu's JSON object: name, score rounded to `width`, signature and its fields."""
        return json.loads(self.sacrebleu.format(width, signature=self.signature, is_json=True))


@dataclass
class PairedResult:
    """A system against a baseline under paired bootstrap resampling (sacrebleu's test)."""

    name: str  # sacrebleu's metric name
    score: float  # the system's score
    mean: float  # its mean over the resamples
    ci: float  # half-width of its 95% confidence interval
    baseline_score: float
    baseline_mean: float
    baseline_ci: float
    p_value: float  # probability of a difference this large by chance; <= 0.05: significant
    signature: str  # includes the number of resamples and the seed

    @property
    def significant(self) -> bool:
        """sacrebleu's mark (p <= 0.05), never for equal scores: when every resample ties,
        its test returns p = 1 / (samples + 1) although there is no difference to explain."""
        return self.p_value <= 0.05 and self.score != self.baseline_score

    def to_json(self) -> dict:
        return dict(vars(self), significant=self.significant)


def make_metrics(
    names: Sequence[str] = DEFAULT_METRICS, tokenize: Optional[str] = None, lowercase: bool = False,
    references: Optional[Sequence[Sequence[str]]] = None,
) -> dict[str, Metric]:
    """sacrebleu metric objects with its command's defaults.

    `tokenize` is BLEU's tokenizer (None: 13a). `lowercase` applies to BLEU and chrF; TER is
    case-insensitive by default. `references` (streams of lines) are cached for reuse.
    """
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise NMTError(f"unknown metric {unknown[0]!r} (valid: {', '.join(METRICS)})")
    options = {
        "bleu": {"tokenize": tokenize, "lowercase": lowercase},
        "chrf": {"lowercase": lowercase},
        "ter": {},
    }
    metrics = {}
    for name in dict.fromkeys(names):
        try:
            metrics[name] = METRICS[name](references=references, **options[name])
        except (ImportError, OSError, RuntimeError) as err:  # tokenizers needing a package, a download
            reason = " ".join(str(err).split())  # sacrebleu's advice spans several lines
            raise NMTError(f"{name}: cannot set up tokenizer {tokenize!r}: {reason}") from None
    return metrics


def _check_lengths(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    if not references:
        raise NMTError("no references given")
    for i, stream in enumerate(references, 1):
        if len(stream) != len(hypotheses):
            raise NMTError(f"{len(hypotheses)} hypotheses but {len(stream)} lines in reference {i}")


def score(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], metrics: Sequence[str] = DEFAULT_METRICS,
    tokenize: Optional[str] = None, lowercase: bool = False,
) -> list[MetricResult]:
    """Corpus scores of `hypotheses` against one or more reference streams, in `metrics` order."""
    _check_lengths(hypotheses, references)
    results = []
    for key, metric in make_metrics(metrics, tokenize, lowercase).items():
        result = metric.corpus_score(list(hypotheses), [list(r) for r in references])
        signature = metric.get_signature().format()  # known only once references are counted
        results.append(MetricResult(key, result.name, result.score, signature, result))
    return results


def paired_bootstrap(
    hypotheses: Sequence[str], baseline: Sequence[str], references: Sequence[Sequence[str]],
    metrics: Sequence[str] = DEFAULT_METRICS, tokenize: Optional[str] = None, lowercase: bool = False,
    samples: int = 1000,
) -> list[PairedResult]:
    """sacrebleu's paired bootstrap resampling (`sacrebleu --paired-bs`) of a system against a baseline.

    The seed is sacrebleu's: $SACREBLEU_SEED, 12345 by default, recorded in the signature.
    """
    _check_lengths(hypotheses, references)
    _check_lengths(baseline, references)
    references = [list(r) for r in references]
    objects = make_metrics(metrics, tokenize, lowercase, references)
    systems = [("baseline", list(baseline)), ("system", list(hypotheses))]
    test = PairedTest(systems, objects, references=None, test_type="bs", n_samples=samples)
    signatures, table = test()
    results = []
    for name, (base, system) in ((k, v) for k, v in table.items() if k != "System"):
        numbers = (system.score, system.mean, system.ci, base.score, base.mean, base.ci, system.p_value)
        results.append(PairedResult(name, *map(float, numbers), signatures[name].format()))  # numpy -> float
    return results


# ----------------------------------------------------------------------------- files


def read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file (or .gz) with trailing whitespace removed, as sacrebleu reads them."""
    path = Path(path)
    if not path.is_file():
        raise NMTError(f"{path}: file not found")
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as err:
        raise NMTError(f"{path}: cannot read: {err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise NMTError(f"{path}: line {line}: not UTF-8 ({err.reason} at byte {err.start})") from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return [line.rstrip() for line in lines]


def _read_aligned(primary: Path, others: Sequence[Path]) -> tuple[list[str], list[list[str]]]:
    """`primary` and `others` read and checked to have the same number of lines."""
    lines = read_lines(primary)
    if not lines:
        raise NMTError(f"{primary}: no lines to score")
    streams = []
    for path in others:
        stream = read_lines(path)
        if len(stream) != len(lines):
            raise NMTError(f"{primary} has {len(lines)} lines but {path} has {len(stream)}")
        streams.append(stream)
    return lines, streams


# ----------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nmt.commands.decoding import add_search_arguments

    parser.add_argument("model_dir", type=Path, nargs="?", metavar="MODEL_DIR",
                        help="an exported model: translate --src with it, then score (instead of --hyp)")
    parser.add_argument("--hyp", type=Path, metavar="HYP", help="system output, one sentence per line (.gz too)")
    parser.add_argument("--ref", type=Path, nargs="+", required=True, metavar="REF",
                        help="reference file(s), aligned with HYP or SRC")
    parser.add_argument("--src", type=Path, metavar="SRC", help="with MODEL_DIR: the source text to translate")
    parser.add_argument("--hyp-out", type=Path, metavar="FILE",
                        help="with MODEL_DIR: where the translations go "
                             "(default: MODEL_DIR/../<SRC stem>.beam<K>.<target language>)")
    parser.add_argument("-m", "--metrics", nargs="+", choices=list(METRICS), default=list(DEFAULT_METRICS),
                        help="metrics to compute, in this order (default: bleu chrf ter)")
    parser.add_argument("--tokenize", choices=BLEU.TOKENIZERS, default=None,
                        help="BLEU tokenizer (default: 13a, as sacrebleu)")
    parser.add_argument("-lc", "--lowercase", action="store_true",
                        help="case-insensitive BLEU and chrF (TER is case-insensitive by default)")
    parser.add_argument("--baseline", type=Path, metavar="HYP",
                        help="another system's output: paired bootstrap resampling of HYP against it")
    parser.add_argument("--bootstrap-samples", type=int, default=1000, metavar="N",
                        help="resamples for --baseline (default: %(default)s)")
    parser.add_argument("-w", "--width", type=int, default=1, help="decimals printed (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_search_arguments(parser, nbest=False)


def run(args: argparse.Namespace) -> int:
    if args.bootstrap_samples < 1:
        raise NMTError(f"--bootstrap-samples must be at least 1 (got {args.bootstrap_samples})")
    if args.model_dir is None:
        if args.hyp is None:
            raise NMTError("give --hyp HYP to score a file, or MODEL_DIR --src SRC to translate and score")
        if args.src is not None or args.hyp_out is not None:
            raise NMTError("--src and --hyp-out need MODEL_DIR (nmt evaluate MODEL_DIR --src SRC --ref REF)")
        hypotheses, references = _read_aligned(args.hyp, args.ref)
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

    from nmt.commands.translate import load_translator, progress_bar

    sources, references = _read_aligned(args.src, args.ref)  # mismatched files fail before any work
    translator, config = load_translator(args)
    with progress_bar(len(sources)) as bar:
        hypotheses = [t.text for t in translator.translate(sources, config, progress=bar.update)]
    args.hyp = args.hyp_out or default_hyp_path(args.model_dir, args.src, config.beam_size)
    write_lines(args.hyp, hypotheses)
    print(f"{len(hypotheses)} translations written to {args.hyp}", file=sys.stderr)
    return hypotheses, references


def default_hyp_path(model_dir: Path, src: Path, beam: int) -> Path:
    """Beside the model's run: runs/<name>/export + test2016.de -> runs/<name>/test2016.beam5.en."""
    from nmt.export import inspect_export

    name = src.name.removesuffix(".gz")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    tgt_lang = inspect_export(model_dir).config.data.tgt_lang
    return Path(model_dir).resolve().parent / f"{stem}.beam{beam}.{tgt_lang}"


def write_lines(path: Path, lines: Sequence[str]) -> None:
    """One line each, UTF-8, written beside `path` and renamed onto it (never half a file)."""
    path = Path(path)
    work = path.with_name(f".{path.name}.tmp")
    try:
        work.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        work.replace(path)
    except OSError as err:
        work.unlink(missing_ok=True)
        raise NMTError(f"{path}: cannot write ({err.strerror})") from None


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
