"""BLEU, chrF and TER through sacrebleu, each with its signature, and paired bootstrap resampling.

Pure functions (strings in, named results out), shared by `nmt evaluate`, validation during
training, the recipes and the diagnostics. The numbers are sacrebleu's own: the same metric
classes with the defaults of the `sacrebleu` command, and its paired bootstrap test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Sequence

from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.metrics.base import Metric, Score
from sacrebleu.significance import PairedTest

from nmt.errors import NMTError

METRICS = {"bleu": BLEU, "chrf": CHRF, "ter": TER}
DEFAULT_METRICS = ("bleu", "chrf", "ter")
BOOTSTRAP_SAMPLES = 1000  # resamples of the paired bootstrap test, as `sacrebleu --paired-bs`


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
    samples: int = BOOTSTRAP_SAMPLES,
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
