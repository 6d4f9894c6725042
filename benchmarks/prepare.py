"""The data path at scale: `nmt prepare` on 1x, 10x and 100x the Tatoeba de-en corpus, and the
training process's memory when it reads the largest cache.

    python benchmarks/prepare.py [--data-dir DIR] [--scales 1 10 100] [--train-steps 200]

Each scale writes a corpus of N distinct copies of `de-en.tsv` (copy k > 0 appends " k" to both
sides, so neither deduplication nor the holdout's sentence matching can shrink it: 100x is 16.8M
pairs) and runs `python -m nmt prepare` with the Tatoeba recipe's data section (holdout of 2,000
test and 1,000 validation pairs, joint unigram 8k, SentencePiece sampling `input_sentence_size`
sentences; subword regularization off, see `write_config`) in a child process, in a fresh directory under `--work`. Measured: wall time, peak
RSS (the child's `ru_maxrss` from wait4: the largest single process among it and the encoding
workers it waited for), and the size on disk of the token-id caches and of the carved text.

Then `nmt train` runs `--train-steps` steps of the recipe's model from the smallest and the
largest scale's cache (no validation) and reports each process's peak RSS: the caches are
memory-mapped Arrow tables, so the training process should not grow with the corpus.
Prints one JSON object (and writes it to --output if given).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = os.environ.get("NMT_TATOEBA_DIR", str(REPO.parent / "shared" / "data" / "tatoeba"))
RECIPE = REPO / "recipes" / "tatoeba"


def replicate(source: Path, work: Path, scale: int) -> Path:
    """`scale` distinct copies of the TSV: copy 0 as it is, copy k with " k" after each side."""
    lines = source.read_text(encoding="utf-8").splitlines()
    path = work / "de-en.tsv"
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(line + "\n" for line in lines)
        for k in range(1, scale):
            out.writelines(f"{en} {k}\t{de} {k}\n" for en, de in (line.split("\t") for line in lines))
    return path


def write_config(corpus: Path, work: Path) -> Path:
    """The recipe's data section pointed at `corpus`, with tokenizers and caches inside `work`,
    and subword sampling off: it draws a fresh segmentation of every pair when an epoch starts
    (~80 us a pair on one core, 4 bytes a piece held in memory), a cost of the training recipe,
    not of the data path measured here (docs/data.md#cost says what it is at 100x)."""
    text = (RECIPE / "data.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^    alpha: \S+", "    alpha: 0.0", text)
    text = text.replace("${NMT_TATOEBA_DIR:-../shared/data/tatoeba}/de-en.tsv", str(corpus))
    text = re.sub(r"(?m)^  tokenizer_dir: \S+", f"  tokenizer_dir: {work / 'tokenizers'}", text)
    text = re.sub(r"(?m)^  cache_dir: \S+", f"  cache_dir: {work / 'cache'}", text)
    path = work / "data.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _tree(root: int) -> list[int]:
    """`root` and its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def _memory(pid: int) -> tuple[int, int]:
    """(RssAnon, RssFile) in KiB of one process; (0, 0) once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            fields = dict(line.split(":", 1) for line in status if line.startswith(("RssAnon", "RssFile")))
        return int(fields["RssAnon"].split()[0]), int(fields["RssFile"].split()[0])
    except (OSError, KeyError):
        return 0, 0


class MemoryWatch(threading.Thread):
    """Polls a process tree's memory every 0.2 s: the peak of its summed private (anonymous)
    memory, which is what a corpus held in memory would show, apart from the file pages it has
    mapped (memory-mapped caches: shared, clean, given back by the kernel when memory is short;
    `ru_maxrss` counts both). `until` (a path): also the peaks before it exists."""

    def __init__(self, pid: int, until: Path | None = None):
        super().__init__(daemon=True)
        self.pid, self.until = pid, until
        self.peak_anon = self.peak_file = self.before_anon = self.before_file = 0
        self.windows: list[int] = []  # peak private KiB of each 10-s window: where the peak falls
        self.done = threading.Event()

    def run(self) -> None:
        self.started = time.monotonic()
        while not self.done.wait(0.2):
            readings = [_memory(pid) for pid in _tree(self.pid)]
            anon, file = sum(a for a, _ in readings), max((f for _, f in readings), default=0)
            self.peak_anon, self.peak_file = max(self.peak_anon, anon), max(self.peak_file, file)
            window = int((time.monotonic() - self.started) // 10)
            self.windows += [0] * (window + 1 - len(self.windows))
            self.windows[window] = max(self.windows[window], anon)
            if self.until is not None and not self.until.exists():
                self.before_anon, self.before_file = self.peak_anon, self.peak_file


def run_child(command: list[str], log: Path, until: Path | None = None) -> tuple[float, float, str, MemoryWatch]:
    """(wall seconds, peak RSS MiB, stdout, memory watch) of one child process."""
    with open(log, "w") as out, open(log.with_suffix(".err"), "w") as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=err)
        watch = MemoryWatch(child.pid, until)
        watch.start()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        watch.done.set()
        watch.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{log.with_suffix('.err').read_text()[-3000:]}")
    return wall, usage.ru_maxrss / 1024, log.read_text(), watch


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


def size_mib(paths) -> float:
    return sum(f.stat().st_size for p in paths for f in Path(p).rglob("*") if f.is_file()) / 2**20


def prepare_scale(data: Path, work: Path, scale: int) -> dict:
    work.mkdir(parents=True)
    corpus = replicate(data / "de-en.tsv", work, scale)
    config = write_config(corpus, work)
    wall, rss, out, watch = run_child([sys.executable, "-m", "nmt", "prepare", "--config", str(config), "--quiet"],
                                      work / "prepare.out")
    cache = work / "cache" / "tatoeba-de-en"
    kept = re.search(r"(\d+) read, (\d+) kept", out)
    removed = re.search(r"removed (\d+) training pairs", out)
    return {
        "scale": scale, "corpus_pairs": sum(1 for _ in open(corpus, "rb")),
        "corpus_mib": round(corpus.stat().st_size / 2**20, 1),
        "wall_s": round(wall, 1), "peak_rss_mib": round(rss, 1),
        "peak_private_mib": mib(watch.peak_anon), "peak_mapped_file_mib": mib(watch.peak_file),
        "private_mib_per_10s": [round(k / 1024) for k in watch.windows],
        "token_cache_mib": round(size_mib(cache.glob("train-*")) + size_mib(cache.glob("valid-*")), 1),
        "holdout_text_mib": round(size_mib(cache.glob("holdout-*")), 1),
        "train_pairs_kept": int(kept.group(2)), "holdout_removed": int(removed.group(1)),
        "summary": out.strip().splitlines(),
    }


def train_rss(work: Path, steps: int) -> dict:
    """Peak RSS of `nmt train` over `steps` steps of the recipe model from this scale's cache."""
    configs = [work / "data.yaml", RECIPE / "model.yaml", RECIPE / "luong.yaml", RECIPE / "cpu.yaml"]
    command = [sys.executable, "-m", "nmt", "train", *[a for c in configs for a in ("--config", str(c))],
               f"train.max_steps={steps}", "train.max_minutes=null", f"train.val_every_steps={steps * 10}",
               "train.val_bleu=false", f"train.run_dir={work / 'runs'}", "train.keep_checkpoints=0",
               "train.average=none", f"train.checkpoint_every_steps={steps * 10}"]
    export = work / "runs" / "tatoeba-de-en" / "export"
    wall, rss, _, watch = run_child(command, work / "train.out", until=export)
    return {"steps": steps, "wall_s": round(wall, 1), "peak_rss_mib": round(rss, 1),
            "peak_private_mib": mib(watch.peak_anon), "peak_mapped_file_mib": mib(watch.peak_file),
            # the training loop only: before the export (which counts every training pair's
            # pieces for the decoding shortlist, one pass over the whole cache)
            "peak_private_before_export_mib": mib(watch.before_anon),
            "peak_mapped_file_before_export_mib": mib(watch.before_file)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA), help="folder with de-en.tsv")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--train-steps", type=int, default=200, help="0: skip the training measurement")
    parser.add_argument("--work", type=Path, default=REPO / ".cache" / "bench-prepare",
                        help="scratch folder (100x needs ~6 GB); emptied first")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    results = [prepare_scale(args.data_dir, args.work / f"{scale}x", scale) for scale in args.scales]
    training = {}
    if args.train_steps:
        for scale in sorted({min(args.scales), max(args.scales)}):
            training[f"{scale}x"] = train_rss(args.work / f"{scale}x", args.train_steps)
    by_scale = {r["scale"]: r for r in results}
    scaling = {}
    if 10 in by_scale and 100 in by_scale:  # time per pair at 100x relative to 10x (1.0: linear)
        scaling["time_ratio_100x_vs_10x_linear"] = round(
            (by_scale[100]["wall_s"] / by_scale[100]["corpus_pairs"]) / (by_scale[10]["wall_s"] / by_scale[10]["corpus_pairs"]), 3)
    if len(training) == 2:
        for key in ("peak_rss_mib", "peak_private_mib", "peak_private_before_export_mib"):
            low, high = (training[f"{s}x"][key] for s in sorted({min(args.scales), max(args.scales)}))
            scaling[f"train_growth_{key}"] = round(high - low, 1)
    import torch

    machine = {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
               "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
               "python": platform.python_version()}
    report = {"benchmark": "nmt prepare at scale, Tatoeba de-en (recipes/tatoeba/data.yaml)",
              "data_dir": str(args.data_dir), "machine": machine, "prepare": results, "train": training,
              "scaling": scaling}
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
