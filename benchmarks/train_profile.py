"""Where a real training step's time goes: torch.profiler over `nmt train` steps on Multi30k.

Runs `--warmup` steps of a `benchmarks/train_speed.py` variant, then profiles `--steps` more
(forward, loss, backward, optimizer, Lightning's logging and data loading: everything between two
batches), and prints the operators by self CPU time, plus per-step totals of the regions nmt marks
(see `--trace` for a Chrome trace to open in Perfetto).

    python benchmarks/train_profile.py --variant luong-feed --steps 3 --rows 30
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import VARIANTS, make_config, step_path_only  # noqa: E402  (sibling script)


def profiler_callback(warmup: int, steps: int):
    """Starts torch.profiler after step `warmup` and stops it after `steps` more."""
    import lightning as L
    import torch

    class ProfileSteps(L.Callback):
        def __init__(self):
            self.profile = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
            self.done = 0

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if batch_idx == warmup - 1:
                self.profile.__enter__()
            elif batch_idx >= warmup:
                self.done += 1
                if self.done == steps:
                    self.profile.__exit__(None, None, None)

    return ProfileSteps()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="luong-feed", choices=list(VARIANTS))
    parser.add_argument("--data-dir", default=os.environ.get("NMT_DATA_DIR", "../shared/data/multi30k"))
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--rows", type=int, default=30)
    parser.add_argument("--trace", type=Path, help="write a Chrome trace here")
    args = parser.parse_args()
    from nmt.training.run import RunPaths, train

    variant = VARIANTS[args.variant]
    callback = profiler_callback(args.warmup, args.steps)
    callbacks = [callback] + ([step_path_only()] if variant.step_path else [])
    with tempfile.TemporaryDirectory(prefix="nmt-train-profile-") as run_dir:
        config = make_config(variant, args.data_dir, run_dir, "32", args.threads, args.warmup + args.steps + 1)
        train(config, RunPaths(Path(run_dir) / config.run_name), callbacks=callbacks)
    averages = callback.profile.key_averages()
    print(averages.table(sort_by="self_cpu_time_total", row_limit=args.rows))
    total = sum(e.self_cpu_time_total for e in averages) / 1e6 / args.steps
    print(f"self CPU time per step, all operators: {total:.3f} s over {args.steps} steps "
          f"(load average {os.getloadavg()[0]:.2f})")
    if args.trace:
        callback.profile.export_chrome_trace(str(args.trace))


if __name__ == "__main__":
    main()
