"""What a recipe measures once its model is trained, and the `results.json` that records it.

The test set is translated twice through the same `Translator` that `nmt translate` uses (greedy,
then beam search), scored with sacreBLEU's BLEU and chrF (each with its signature), and a few
sample translations are printed before the scores. `results.json` holds the scores, the training
time and throughput, the parameter count and the machine, so a number in a README can always be
traced to the run that produced it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import torch
from nmt.config import Config
from nmt.data.corpus import read_corpus
from nmt.data.pipeline import split_corpora
from nmt.lines import write_lines
from nmt.metrics import MetricResult, score
from nmt.training.machine import describe_machine
from nmt.progress import progress_bar
from nmt.decoding.translator import Translator

if TYPE_CHECKING:
    from nmt.recipe.plan import Plan, Training
    from nmt.training.run import RunPaths

RESULTS = "results.json"


@dataclass
class TestSet:
    name: str  # e.g. test2016
    corpus: str  # where it was read from
    sources: list[str]
    references: list[str]


@dataclass
class SearchRun:
    """One decoding of the test set."""

    label: str  # greedy | beam5
    beam_size: int
    hypotheses: list[str]
    seconds: float
    scores: list[MetricResult]  # BLEU, chrF
    output: Path  # the hypotheses file

    def to_json(self) -> dict:
        metrics = {m.metric: {"score": round(m.score, 2), "signature": m.signature, "text": m.line(1)}
                   for m in self.scores}
        rate = len(self.hypotheses) / self.seconds if self.seconds > 0 else 0.0
        return {"beam_size": self.beam_size, **metrics, "seconds": round(self.seconds, 2),
                "sentences_per_s": round(rate, 1), "hypotheses": str(self.output)}


def read_test_set(config: Config, name: str) -> TestSet:
    """The test corpus as raw lines (references right-stripped, as sacreBLEU reads files)."""
    data = split_corpora(config.data)  # the carved test set where data.holdout made one
    pairs = list(read_corpus(data.test, data.src_lang, data.tgt_lang, role="test"))
    return TestSet(name, data.test.describe(), [s for s, _ in pairs], [t.rstrip() for _, t in pairs])


def search_label(beam_size: int) -> str:
    return "greedy" if beam_size == 1 else f"beam{beam_size}"


def decode(translator: Translator, test: TestSet, beam_size: int, output: Path) -> SearchRun:
    label = search_label(beam_size)
    search = translator.search_config.model_copy(update={"beam_size": beam_size, "nbest": 1})
    print(f"translating {test.name} ({label}) ...", flush=True)
    started = time.monotonic()
    with progress_bar(len(test.sources)) as bar:
        translations = translator.translate(test.sources, search, progress=bar.update)
    seconds = time.monotonic() - started
    hypotheses = [t.text for t in translations]
    write_lines(output, hypotheses)
    scores = score(hypotheses, [test.references], metrics=("bleu", "chrf"))
    return SearchRun(label, beam_size, hypotheses, seconds, scores, output)


def format_samples(test: TestSet, runs: list[SearchRun], count: int) -> str:
    """`count` test sentences spread over the set: source, reference and each decoding."""
    if not count or not test.sources:
        return ""
    step = max(len(test.sources) // count, 1)
    lines = [f"sample translations from {test.name}:"]
    width = max(len(r.label) for r in runs)
    for i in range(0, min(len(test.sources), step * count), step):
        lines += [f"  {'src':<{width}}  {test.sources[i]}", f"  {'ref':<{width}}  {test.references[i]}"]
        lines += [f"  {r.label:<{width}}  {r.hypotheses[i]}" for r in runs]
        lines.append("")
    return "\n".join(lines)


def format_scores(test: TestSet, runs: list[SearchRun]) -> str:
    lines = [f"{test.name}: {len(test.sources)} sentences ({test.corpus})"]
    for run in runs:
        rate = len(run.hypotheses) / run.seconds if run.seconds > 0 else 0.0
        lines.append(f"  {run.label} ({run.seconds:.1f} s, {rate:.0f} sentences/s):")
        lines += [f"    {m.line(1)}" for m in run.scores]
    return "\n".join(lines)


def evaluate_run(plan: "Plan", paths: "RunPaths", training: Optional["Training"], beam: int, samples: int,
                 started: float) -> Path:
    """Translate and score the test set with the run's exported model; write `results.json`."""
    config = plan.config
    device = "cuda" if torch.cuda.is_available() and config.train.accelerator != "cpu" else "cpu"
    translator = Translator.load(paths.export, device=device)
    test = read_test_set(config, plan.test_name)
    runs = []
    for beam_size in dict.fromkeys((1, beam)):  # greedy, then the beam (once if --beam 1)
        output = paths.root / f"{test.name}.{search_label(beam_size)}.{config.data.tgt_lang}"
        runs.append(decode(translator, test, beam_size, output))
    report = format_samples(test, runs, samples)
    if report:
        print("\n" + report)
    print(format_scores(test, runs))
    record = {
        "recipe": plan.recipe, "pair": str(plan.pair), "model": plan.model, "profile": plan.profile,
        "run_dir": str(paths.root), "configs": [str(f) for f in plan.files], "overrides": plan.overrides,
        "machine": describe_machine(gpu=device == "cuda").to_json(),
        "parameters": sum(p.numel() for p in translator.model.parameters()),
        "train": training.to_json() if training is not None else None,
        "test": {"name": test.name, "corpus": test.corpus, "sentences": len(test.sources),
                 **{run.label: run.to_json() for run in runs}},
        "total_seconds": round(time.monotonic() - started, 1),
    }
    path = paths.root / RESULTS
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
