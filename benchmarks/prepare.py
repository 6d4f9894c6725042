"""Wall time and peak memory of `nmt prepare` on Multi30k de-en, at 1x and on a replicated copy.

    python benchmarks/prepare.py [--data-dir DIR] [--scales 1 10]

Each scale runs `python -m nmt prepare` in a child process, in a fresh temporary directory:
"cold" (tokenizer training, encoding, caching) and "warm" (the same command again: everything is
reused); above 1x also "cold_capped", with SentencePiece's `input_sentence_size` capped at what it
reads at 1x, which separates SentencePiece's own memory (it holds its whole training sample) from
the pipeline's. The scale-N corpus repeats the training files N times; valid and test are the
originals. Peak RSS is the child's `ru_maxrss` from wait4 (Linux: the largest of the process
and the descendants it waited for, such as the encoding workers). Prints one JSON object.
Cost should grow linearly with the corpus and memory stay flat (nothing holds the corpus).
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
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = os.environ.get("NMT_DATA_DIR", str(REPO.parent / "shared" / "data" / "multi30k"))


def replicate(data_dir: Path, work: Path, scale: int) -> Path:
    """A corpus folder whose train.{de,en} hold `scale` copies of the originals."""
    corpus = work / "corpus"
    corpus.mkdir()
    for lang in ("de", "en"):
        with open(corpus / f"train.{lang}", "wb") as out:
            original = (data_dir / f"train.{lang}").read_bytes()
            for _ in range(scale):
                out.write(original)
        for split in ("val", "test2016"):
            shutil.copyfile(data_dir / f"{split}.{lang}", corpus / f"{split}.{lang}")
    return corpus


def write_config(corpus: Path, work: Path) -> Path:
    """The Multi30k recipe's data section, pointed at `corpus` and at caches inside `work`."""
    text = (REPO / "recipes" / "multi30k" / "de-en.yaml").read_text(encoding="utf-8")
    text = text.replace("${NMT_DATA_DIR:-../shared/data/multi30k}", str(corpus))
    text = re.sub(r"(?m)^  tokenizer_dir: \S+", f"  tokenizer_dir: {work / 'tokenizers'}", text)
    text = re.sub(r"(?m)^  cache_dir: \S+", f"  cache_dir: {work / 'cache'}", text)
    path = work / "de-en.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def run_prepare(config: Path, *extra: str) -> dict:
    """One `nmt prepare` child: wall seconds, peak RSS (MiB), and figures from its summary."""
    command = [sys.executable, "-m", "nmt", "prepare", "--config", str(config), "--quiet", *extra]
    out_path, err_path = config.with_suffix(".out"), config.with_suffix(".err")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if child.returncode != 0:
        raise SystemExit(f"nmt prepare failed:\n{err_path.read_text()}")
    stdout = out_path.read_text()
    share = re.search(r"padding share ([\d.]+)%", stdout)
    batches = re.search(r"batches at (\d+) tokens: (\d+) per epoch", stdout)
    kept = re.search(r"(\d+) read, (\d+) kept", stdout)
    return {
        "wall_s": round(wall, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "reported_s": float(re.search(r"prepared \S+ in ([\d.]+) s", stdout).group(1)),
        "train_pairs_kept": int(kept.group(2)), "batch_tokens": int(batches.group(1)),
        "batches_per_epoch": int(batches.group(2)), "padding_share": float(share.group(1)) / 100,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA), help="Multi30k folder")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()
    results = []
    for scale in args.scales:
        with tempfile.TemporaryDirectory(prefix=f"nmt-prepare-{scale}x-") as tmp:
            work = Path(tmp)
            config = write_config(replicate(args.data_dir, work, scale), work)
            result = {"scale": scale, "cold": run_prepare(config), "warm": run_prepare(config)}
            if scale > 1:
                cap = 2 * sum(1 for _ in open(args.data_dir / "train.de", "rb"))  # both sides, joint
                result["cold_capped"] = run_prepare(
                    config, "--input-sentence-size", str(cap), "--name", "multi30k-de-en-capped")
                result["cold_capped"]["input_sentence_size"] = cap
            results.append(result)
    machine = {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
               "python": platform.python_version(), "platform": platform.platform()}
    print(json.dumps({"benchmark": "nmt prepare, Multi30k de-en", "data_dir": str(args.data_dir),
                      "machine": machine, "results": results}, indent=2))


if __name__ == "__main__":
    main()
