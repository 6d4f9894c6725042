"""Where decoding time goes: torch.profiler over the Translator on Multi30k test2016.

Translates `--sentences` lines at `--batch-size` with `--beam` under torch.profiler (after one
warm-up batch) and prints the operators by self CPU time, then one JSON line with the wall time
and each operator's share, so a before/after pair of profiles can be compared as ratios.

    python benchmarks/profile_decode.py --model /work/speed-runs/ref-de-en/export --beam 5
    python benchmarks/profile_decode.py --model DIR --beam 1 --rows 30 --threads 1
    python benchmarks/profile_decode.py --model DIR --int8 --shortlist 100,50 --fixed-length 15
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from nmt.training.allocator import tune_malloc
from nmt.commands.decoding_options import shortlist_sizes
from nmt.decoding.translator import Translator

DEFAULT_DATA = os.environ.get("NMT_DATA_DIR", "../shared/data/multi30k")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="an exported model directory")
    parser.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA))
    parser.add_argument("--src", default="de")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--rows", type=int, default=25, help="operators shown")
    parser.add_argument("--int8", action="store_true", help="the int8 decoder, as `nmt translate --int8` runs it")
    parser.add_argument("--shortlist", type=shortlist_sizes, metavar="F,K[,M]",
                        help="decode over the model's vocabulary shortlist, as `--shortlist F,K[,M]` runs it")
    parser.add_argument("--fixed-length", type=int, metavar="N",
                        help="every output exactly N pieces (the same work whatever the model ends)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tune_malloc()
    lines = (args.data_dir / f"test2016.{args.src}").read_text(encoding="utf-8").splitlines()[: args.sentences]
    translator = Translator.load(args.model, batch_size=args.batch_size, int8=args.int8, shortlist=args.shortlist)
    config = translator.search_config.model_copy(update={"beam_size": args.beam, "nbest": 1})
    if args.fixed_length:
        config = config.fixed_length(args.fixed_length)
    translator.translate(lines[: args.batch_size], config)  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        translator.translate(lines, config)
        seconds = time.perf_counter() - start
    averages = prof.key_averages()
    print(averages.table(sort_by="self_cpu_time_total", row_limit=args.rows))
    total = sum(e.self_cpu_time_total for e in averages)
    shares = sorted(((e.key, e.self_cpu_time_total / total) for e in averages), key=lambda kv: -kv[1])
    print(json.dumps({"beam": args.beam, "batch_size": args.batch_size, "int8": args.int8,
                      "shortlist": str(args.shortlist) if args.shortlist else None, "fixed_length": args.fixed_length, "sentences": len(lines),
                      "threads": torch.get_num_threads(), "seconds_under_profiler": round(seconds, 3),
                      "self_cpu_share": {k: round(v, 4) for k, v in shares[: args.rows]}}))


if __name__ == "__main__":
    main()
