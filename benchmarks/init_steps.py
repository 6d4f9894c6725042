"""What the first N training steps learn, by initialisation (`model.init`): test2016 greedy BLEU.

Each entry trains the reference model (`train_speed.py`'s variant, default `luong-feed-all`:
input feeding, all 8000 target pieces, OpenNMT-py's shape) for `--steps` real `nmt train` steps
in a child process, same seed and batch order, then translates test2016 greedily with the export.
An entry is a scheme (`uniform`, `xavier`, `torch`) or `xavier+PART[+PART]`: xavier with those
parts redrawn U(-0.1, 0.1) before the first step (`rnn`: recurrent weights and biases; `linear`:
bridge, attention and attentional layer; `embout`: embeddings and output layer), to find which
part makes the difference. Prints one JSON document; progress goes to stderr.

    python benchmarks/init_steps.py --steps 300                                   # about 23 min on 2 cores
    python benchmarks/init_steps.py --inits xavier+rnn xavier+linear xavier+embout --steps 300
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from train_speed import VARIANTS, machine, prepare_data, run_child  # noqa: E402  (sibling script)

SCHEMES = ("uniform", "xavier", "torch")
PARTS = ("rnn", "linear", "embout")
PARTS_ENV = "NMT_INIT_STEPS_UNIFORM_PARTS"


def parse_entry(entry: str) -> tuple[str, list[str]]:
    """`xavier+rnn+linear` -> ("xavier", ["rnn", "linear"]); a usage error names the bad part."""
    scheme, *parts = entry.split("+")
    if scheme not in SCHEMES:
        raise argparse.ArgumentTypeError(f"{entry}: scheme must be one of {', '.join(SCHEMES)}")
    bad = [p for p in parts if p not in PARTS]
    if bad:
        raise argparse.ArgumentTypeError(f"{entry}: unknown part {bad[0]!r} (parts: {', '.join(PARTS)})")
    return scheme, parts


def callbacks() -> list:
    """In the child: redraw the parts named in $NMT_INIT_STEPS_UNIFORM_PARTS at the start of fit."""
    import lightning as L
    import torch
    from torch import nn

    parts = set(filter(None, os.environ.get(PARTS_ENV, "").split(",")))

    class RedrawParts(L.Callback):
        @torch.no_grad()
        def on_fit_start(self, trainer, pl_module) -> None:
            model = pl_module.model
            output = model.decoder.output
            chosen = []
            for module in model.modules():
                if isinstance(module, nn.RNNBase) and "rnn" in parts:
                    chosen += list(module.parameters())
                elif isinstance(module, nn.Linear) and module is not output and "linear" in parts:
                    chosen += list(module.parameters(recurse=False))
                elif (isinstance(module, nn.Embedding) or module is output) and "embout" in parts:
                    chosen += list(module.parameters(recurse=False))
            for param in chosen:
                param.uniform_(-0.1, 0.1)

    return [RedrawParts()] if parts else []


def greedy_bleu(export: str, data_dir: Path, threads: int) -> dict:
    import sacrebleu
    import torch

    from nmt.decoding.translator import Translator

    torch.set_num_threads(threads)
    lines = (data_dir / "test2016.de").read_text(encoding="utf-8").splitlines()
    refs = (data_dir / "test2016.en").read_text(encoding="utf-8").splitlines()
    translator = Translator.load(export, batch_size=64)
    config = translator.search_config.model_copy(update={"beam_size": 1, "nbest": 1})
    hyps = [t.text for t in translator.translate(lines, config)]
    return {"bleu_greedy": round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2), "samples": hyps[:2]}


def last_losses(run: Path, window: int = 50) -> Optional[float]:
    """Mean logged training loss over the last `window` steps (label-smoothed, per target token);
    None for a run too short to have written its CSV log."""
    from nmt.diagnostics.run_logs import read_run
    from nmt.errors import NMTError

    try:
        loss = read_run(run).series("train/loss")
    except NMTError:
        return None
    if loss.steps.size == 0:
        return None
    return round(float(loss.values[loss.steps > loss.steps[-1] - window].mean()), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("NMT_DATA_DIR", "../shared/data/multi30k")),
                        help="Multi30k train/val/test2016 .de/.en files (default: $NMT_DATA_DIR or ../shared/data/multi30k)")
    parser.add_argument("--inits", nargs="+", type=parse_entry, default=[("uniform", []), ("xavier", [])],
                        metavar="ENTRY", help="uniform | xavier | torch, or xavier+PART[+PART] (default: uniform xavier)")
    parser.add_argument("--variant", choices=list(VARIANTS), default="luong-feed-all")
    parser.add_argument("--steps", type=int, default=300, help="training steps per entry (default 300)")
    parser.add_argument("--seed", type=int, default=1234, help="train.seed: weights, dropout and batch order")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    if not (args.data_dir / "test2016.de").is_file():
        parser.error(f"{args.data_dir}: no test2016.de (give --data-dir or set NMT_DATA_DIR)")
    if args.steps < 2:
        parser.error("--steps must be at least 2")

    prepare_data([args.variant], str(args.data_dir))
    rows, started = [], time.monotonic()
    for scheme, parts in args.inits:
        name = "+".join([scheme] + parts)
        with tempfile.TemporaryDirectory(prefix="nmt-init-steps-") as run_dir:
            spec = {"variant": args.variant, "data_dir": str(args.data_dir), "threads": args.threads,
                    "warmup": 1, "steps": args.steps - 1, "run_dir": run_dir,  # the timer needs one step before
                    "overrides": [f"model.init={scheme}", f"train.seed={args.seed}"],
                    "setup": f"{Path(__file__).resolve()}:callbacks" if parts else None}
            trained = run_child(spec, env={PARTS_ENV: ",".join(parts)})
            if "error" in trained:
                rows.append({"init": name, "error": trained["error"]})
            else:
                rows.append({"init": name, "train_loss_last_50": last_losses(Path(trained["export"]).parent),
                             **greedy_bleu(trained["export"], args.data_dir, args.threads),
                             "train_minutes": round(trained["wall_s"] / 60, 1)})
        print(f"{name}: {rows[-1].get('bleu_greedy', rows[-1].get('error'))} BLEU", file=sys.stderr, flush=True)
    print(json.dumps({**machine(), "variant": args.variant, "steps": args.steps, "seed": args.seed,
                      "data_dir": str(args.data_dir), "minutes": round((time.monotonic() - started) / 60, 1),
                      "results": rows}, indent=1))


if __name__ == "__main__":
    main()
