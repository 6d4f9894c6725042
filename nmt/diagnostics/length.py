"""BLEU by source-length bucket: the context-vector bottleneck made visible.

A model without attention must carry the whole source through one fixed-size vector, so its
quality should fall with sentence length faster than an attention model's. Sentences are grouped
by their number of source words (whitespace-separated, before subwords, so every model is cut at
the same places), and each group is scored as a corpus of its own with sacreBLEU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from nmt.errors import NMTError
from nmt.metrics import score

DEFAULT_EDGES = (10, 15, 20, 25)  # 1-10, 11-15, 16-20, 21-25, 26+


@dataclass(frozen=True)
class Bucket:
    low: int  # source words, inclusive
    high: Optional[int]  # inclusive; None: no upper bound

    @property
    def label(self) -> str:
        if self.high is None:
            return f"{self.low}+"
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"

    def holds(self, words: int) -> bool:
        return words >= self.low and (self.high is None or words <= self.high)


def parse_edges(text: str) -> list[int]:
    """`"10,15,20,25"` -> [10, 15, 20, 25]: the upper ends of all buckets but the last."""
    try:
        edges = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise NMTError(f"--buckets: expected comma-separated whole numbers, e.g. 10,15,20,25 (got {text!r})") from None
    if not edges or edges[0] < 1 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise NMTError(f"--buckets: expected increasing numbers of words >= 1, e.g. 10,15,20,25 (got {text!r})")
    return edges


def make_buckets(edges: Sequence[int]) -> list[Bucket]:
    """Edges 10,15 -> 1-10, 11-15, 16+. (An empty source line, 0 words, counts in the first.)"""
    lows = [1, *(edge + 1 for edge in edges)]
    highs = [*edges, None]
    return [Bucket(low, high) for low, high in zip(lows, highs)]


def source_words(line: str) -> int:
    return len(line.split())


def assign(sources: Sequence[str], buckets: Sequence[Bucket]) -> list[list[int]]:
    """Line indices per bucket, in corpus order."""
    rows: list[list[int]] = [[] for _ in buckets]
    for index, line in enumerate(sources):
        words = max(source_words(line), 1)
        rows[next(i for i, bucket in enumerate(buckets) if bucket.holds(words))].append(index)
    return rows


@dataclass
class BucketScore:
    bucket: Bucket
    sentences: int
    bleu: Optional[float]  # None for a bucket without sentences
    chrf: Optional[float]


@dataclass
class LengthProfile:
    """One system's scores, overall and per bucket."""

    label: str
    source: str  # where the hypotheses came from (model directory or file)
    bleu: float
    chrf: float
    buckets: list[BucketScore]
    signatures: dict[str, str]  # metric -> sacreBLEU signature

    def to_json(self) -> dict:
        return {"label": self.label, "source": self.source, "bleu": self.bleu, "chrf": self.chrf,
                "signatures": self.signatures,
                "buckets": [{"bucket": b.bucket.label, "low": b.bucket.low, "high": b.bucket.high,
                             "sentences": b.sentences, "bleu": b.bleu, "chrf": b.chrf} for b in self.buckets]}


def _scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    return {m.metric: m for m in score(hypotheses, [references], metrics=("bleu", "chrf"))}


def length_profile(label: str, source: str, sources: Sequence[str], references: Sequence[str],
                   hypotheses: Sequence[str], buckets: Sequence[Bucket]) -> LengthProfile:
    """Corpus BLEU and chrF of all lines, then of each bucket's lines alone."""
    overall = _scores(hypotheses, references)
    per_bucket = []
    for bucket, rows in zip(buckets, assign(sources, buckets)):
        if not rows:
            per_bucket.append(BucketScore(bucket, 0, None, None))
            continue
        scores = _scores([hypotheses[r] for r in rows], [references[r] for r in rows])
        per_bucket.append(BucketScore(bucket, len(rows), scores["bleu"].score, scores["chrf"].score))
    return LengthProfile(label, source, overall["bleu"].score, overall["chrf"].score, per_bucket,
                         {name: m.signature for name, m in overall.items()})
