"""`nmt diagnose gradients`: how far back through time the loss reaches the encoder.

Without `--model`: the recall task (`nmt/diagnostics/recall_task.py`), one model per encoder cell, measured along
its training (recall accuracy, loss and the far/near gradient ratio every `--every-steps`). With
`--model DIR --src S --ref R`: a trained model on real sentence pairs, one line per encoder layer
and direction. Defaults come from `RecallSettings`; this module only parses, checks and prints.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from nmt.config import EncoderConfig, ModelConfig, field_choices
from nmt.diagnostics.recall_settings import RecallSettings
from nmt.errors import NMTError

DEFAULTS = RecallSettings()
INITS = {"xavier": "orthogonal recurrent weights, LSTM forget bias 1",
         "torch": "PyTorch's defaults, uniform +-1/sqrt(hidden)",
         "uniform": "+-0.1, the training default"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    task = parser.add_argument_group("recall task (the default)")
    task.add_argument("--cells", nargs="+", choices=field_choices(EncoderConfig, "cell"), default=list(DEFAULTS.cells),
                      help=f"encoder cells to compare (default: {' '.join(DEFAULTS.cells)})")
    task.add_argument("--length", type=int, metavar="N", default=DEFAULTS.length,
                      help="source tokens the first one must travel through (default %(default)s)")
    task.add_argument("--vocab", type=int, metavar="N", default=DEFAULTS.vocab,
                      help="vocabulary size, 4 special ids included (default %(default)s)")
    task.add_argument("--steps", type=int, metavar="N", default=DEFAULTS.steps,
                      help="training steps after the first measurement (default %(default)s)")
    task.add_argument("--every-steps", type=int, metavar="K", default=DEFAULTS.every_steps,
                      help="measure at step 0, every K steps and at the end (default %(default)s)")
    task.add_argument("--lr", type=float, metavar="X", default=DEFAULTS.lr, help="Adam learning rate (default %(default)g)")
    task.add_argument("--hidden", type=int, metavar="N", default=DEFAULTS.hidden,
                      help="encoder and decoder hidden size (default %(default)s)")
    task.add_argument("--emb", type=int, metavar="N", default=DEFAULTS.emb, help="embedding size (default %(default)s)")
    inits = field_choices(ModelConfig, "init")
    task.add_argument("--init", choices=inits, default=DEFAULTS.init,
                      help="model.init: " + "; ".join(f"{name}: {INITS.get(name, '')}" for name in inits)
                           + " (default %(default)s)")
    task.add_argument("--measure", type=int, default=DEFAULTS.measure, metavar="N",
                      help="sentences in the fixed measurement batch (default %(default)s)")
    task.add_argument("--seed", type=int, metavar="N", default=DEFAULTS.seed, help="default %(default)s")
    trained = parser.add_argument_group("trained model")
    trained.add_argument("--model", type=Path, metavar="DIR", help="exported model directory")
    trained.add_argument("--src", type=Path, metavar="FILE", help="source sentences, one per line")
    trained.add_argument("--ref", type=Path, metavar="FILE", help="reference translations, line-aligned with --src")
    trained.add_argument("--max-sentences", type=int, default=500, metavar="N",
                         help="measure the first N pairs (default %(default)s)")
    parser.add_argument("--batch-size", type=int, metavar="N", default=DEFAULTS.batch_size,
                        help="sentences per training or measuring batch (default %(default)s)")
    parser.add_argument("--threads", type=int, metavar="N", default=1, help="torch CPU threads (default 1: the matrices are small)")
    parser.add_argument("--every", type=int, metavar="K", help="print every K-th distance (default: about 20 rows)")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", default=Path("gradients.png"),
                        help="plot file, .png/.pdf/.svg (default gradients.png)")


def _check(args: argparse.Namespace) -> None:
    """Value errors as one-line `NMTError`s naming the option, before any work."""
    from nmt.diagnostics.figures import check_figure_path

    positive = {"--length": args.length, "--hidden": args.hidden, "--emb": args.emb, "--measure": args.measure,
                "--batch-size": args.batch_size, "--threads": args.threads, "--max-sentences": args.max_sentences,
                "--every-steps": args.every_steps}
    if args.every is not None:
        positive["--every"] = args.every
    for option, value in positive.items():
        if value < 1:
            raise NMTError(f"{option}: must be at least 1 (got {value})")
    if args.steps < 0:
        raise NMTError(f"--steps: must be 0 or more (got {args.steps})")
    if args.vocab < 6:
        raise NMTError(f"--vocab: must be at least 6: 4 special ids and 2 words (got {args.vocab})")
    if not args.lr > 0:
        raise NMTError(f"--lr: must be positive (got {args.lr})")
    given = [name for name in ("model", "src", "ref") if getattr(args, name) is not None]
    if given and len(given) < 3:
        missing = ", ".join(f"--{name}" for name in ("model", "src", "ref") if name not in given)
        raise NMTError(f"a trained model needs --model, --src and --ref together (missing {missing})")
    check_figure_path(args.output)


def recall_settings(args: argparse.Namespace) -> RecallSettings:
    """The recall task as the options set it (option --every-steps is field every_steps)."""
    values = {f.name: getattr(args, f.name) for f in fields(RecallSettings)}
    return RecallSettings(**{**values, "cells": tuple(values["cells"])})


def run(args: argparse.Namespace) -> int:
    import torch

    _check(args)
    torch.set_num_threads(args.threads)
    if args.model is not None:
        report_model(args)
    else:
        report_recall(recall_settings(args), args.every, args.output)
    return 0


def report_recall(s: RecallSettings, every: int | None, output: Path) -> None:
    """Train and measure each cell on the recall task; print the tables, write the plot."""
    from nmt.diagnostics.figures import save_figure
    from nmt.diagnostics.gradient_report import format_table, recall_figure, table_rows
    from nmt.diagnostics.recall_task import compare_cells

    print(f"recall task: say the first of {s.length} random tokens ({s.vocab - 4} words, chance {s.chance:.3f}) + EOS; "
          f"encoder one direction, hidden {s.hidden}, no attention; LSTM decoder; {s.init} initialisation")
    print(f"training: {s.steps} steps of {s.batch_size} sentences, Adam lr {s.lr:g}, clip 1.0, seed {s.seed}; "
          f"measured on {s.measure} fixed sentences at step 0 and every {s.every_steps}")
    trajectories = compare_cells(s, progress=lambda cell: print(f"  {cell} ...", flush=True))
    print("\n" + trajectory_table(trajectories))
    print(f"(acc: share of the {s.measure} measured sentences whose first token is recalled; far/near: "
          f"mean ‖dL/dh_t‖ at distance {s.length}, the first token, over that at distance 0)")
    print("\n" + summary_table(trajectories))
    columns = {}
    for t in trajectories:
        columns[f"{t.cell} init"] = t.initial.profile.norms[0]
        columns[f"{t.cell} trained"] = t.final.profile.norms[0]
    print("\nmean ‖dL/dh_t‖ by distance from the final encoder state (distance "
          f"{s.length} is the first token, the one to recall):")
    print(format_table(columns, table_rows(s.length, every)))
    figure = recall_figure(trajectories, s.chance, f"recall the first of {s.length} tokens: accuracy and gradient through time")
    print(f"\nplot written to {save_figure(figure, output)}")


def trajectory_table(trajectories) -> str:
    """Training steps down; per cell, recall accuracy and far/near ratio at that step."""
    group = f"{'acc':>8}{'far/near':>11}"
    lines = [" " * 6 + "".join(f"{t.cell:^{len(group)}}" for t in trajectories),
             f"{'step':>6}" + group * len(trajectories)]
    for row in zip(*(t.checkpoints for t in trajectories)):
        lines.append(f"{row[0].step:>6}" + "".join(f"{c.accuracy:>8.3f}{c.far_near:>11.2e}" for c in row))
    return "\n".join(line.rstrip() for line in lines)


def summary_table(trajectories) -> str:
    """Per cell: recall accuracy, loss per target token and far/near ratio, before and after training."""
    heads = ("acc init", "acc trained", "loss init", "loss trained", "far/near init", "far/near trained")
    lines = [f"{'cell':<6}" + "".join(f"{h:>17}" for h in heads)]
    for t in trajectories:
        first, last = t.initial, t.final
        values = (f"{first.accuracy:.3f}", f"{last.accuracy:.3f}", f"{first.loss:.3f}", f"{last.loss:.3f}",
                  f"{first.far_near:.2e}", f"{last.far_near:.2e}")
        lines.append(f"{t.cell:<6}" + "".join(f"{v:>17}" for v in values))
    return "\n".join(lines)


def report_model(args: argparse.Namespace) -> None:
    """Measure the exported model on --src/--ref; print the table, write the plot."""
    from nmt.diagnostics.figures import save_figure
    from nmt.diagnostics.gradient_report import format_table, profile_figure, table_rows
    from nmt.diagnostics.model_gradients import measure_model

    measured = measure_model(args.model, args.src, args.ref, args.max_sentences, args.batch_size)
    profile, longest = measured.profile, measured.longest
    skipped = f" ({measured.skipped} skipped: empty source or reference)" if measured.skipped else ""
    print(f"model {args.model}: encoder {measured.cell}, attention {measured.attention}; "
          f"{measured.pairs} pairs from {args.src}{skipped}")
    print(f"loss {profile.loss:.3f} per target token over {profile.tokens} tokens")
    columns = dict(zip(profile.names, profile.norms))
    print("\nmean ‖dL/dh_t‖ by distance from each direction's final state (its last token read):")
    print(format_table(columns, table_rows(longest, args.every), counts=profile.counts))
    panels = {f"{args.model.name or args.model} on {args.src.name}": {n: v[: longest + 1] for n, v in columns.items()}}
    print(f"\nplot written to {save_figure(profile_figure(panels, 'gradient through time'), args.output)}")
