"""`nmt diagnose gradients`: how far back through time the loss reaches the encoder.

Without `--model`: the recall task (`recall_task.py`), one model per encoder cell, measured at
initialisation and after a short training. With `--model DIR --src S --ref R`: a trained model
on real sentence pairs, one line per encoder layer and direction.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.errors import NMTError

CELLS = ("rnn", "gru", "lstm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    task = parser.add_argument_group("recall task (the default)")
    task.add_argument("--cells", nargs="+", choices=CELLS, default=list(CELLS), help="encoder cells to compare")
    task.add_argument("--length", type=int, metavar="N", default=20,
                      help="source tokens the first one must travel through (default 20)")
    task.add_argument("--vocab", type=int, metavar="N", default=20, help="vocabulary size, 4 special ids included (default 20)")
    task.add_argument("--steps", type=int, metavar="N", default=600, help="training steps after the first measurement (default 600)")
    task.add_argument("--lr", type=float, metavar="X", default=3e-3, help="Adam learning rate (default 0.003)")
    task.add_argument("--hidden", type=int, metavar="N", default=64, help="encoder and decoder hidden size (default 64)")
    task.add_argument("--emb", type=int, metavar="N", default=32, help="embedding size (default 32)")
    task.add_argument("--init", choices=("xavier", "torch", "uniform"), default="xavier",
                      help="model.init: xavier: orthogonal recurrent weights, LSTM forget bias 1 (default); "
                           "torch: PyTorch's defaults, uniform +-1/sqrt(hidden); uniform: +-0.1")
    task.add_argument("--measure", type=int, default=256, metavar="N",
                      help="sentences in the fixed measurement batch (default 256)")
    trained = parser.add_argument_group("trained model")
    trained.add_argument("--model", type=Path, metavar="DIR", help="exported model directory")
    trained.add_argument("--src", type=Path, metavar="FILE", help="source sentences, one per line")
    trained.add_argument("--ref", type=Path, metavar="FILE", help="reference translations, line-aligned with --src")
    trained.add_argument("--max-sentences", type=int, default=500, metavar="N",
                         help="measure the first N pairs (default 500)")
    parser.add_argument("--batch-size", type=int, metavar="N", default=64, help="sentences per batch (default 64)")
    parser.add_argument("--seed", type=int, metavar="N", default=1234, help="default 1234")
    parser.add_argument("--threads", type=int, metavar="N", default=1, help="torch CPU threads (default 1: the matrices are small)")
    parser.add_argument("--every", type=int, metavar="K", help="print every K-th distance (default: about 20 rows)")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", default=Path("gradients.png"),
                        help="plot file, .png/.pdf/.svg (default gradients.png)")


def _check(args: argparse.Namespace) -> None:
    """Value errors as one-line `NMTError`s naming the option."""
    positive = {"--length": args.length, "--hidden": args.hidden, "--emb": args.emb, "--measure": args.measure,
                "--batch-size": args.batch_size, "--threads": args.threads, "--max-sentences": args.max_sentences}
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


def run(args: argparse.Namespace) -> int:
    import torch

    _check(args)
    torch.set_num_threads(args.threads)
    if args.model is not None:
        from nmt.diagnostics.model_gradients import report_model

        report_model(args)
    else:
        report_recall(args)
    return 0


def report_recall(args: argparse.Namespace) -> None:
    """Train and measure each cell on the recall task; print the table, write the plot."""
    from nmt.diagnostics.figures import save_figure
    from nmt.diagnostics.gradient_report import format_table, profile_figure, table_rows
    from nmt.diagnostics.recall_task import RecallTask, compare_cells

    task = RecallTask(args.vocab, args.length, args.hidden, args.emb, args.init)
    print(f"recall task: say the first of {args.length} random tokens ({args.vocab - 4} words) + EOS; "
          f"encoder one direction, hidden {args.hidden}, no attention; LSTM decoder; {args.init} initialisation")
    print(f"training: {args.steps} steps of {args.batch_size} sentences, Adam lr {args.lr:g}, clip 1.0, "
          f"seed {args.seed}; measured on {args.measure} fixed sentences")
    results = compare_cells(task, args.cells, args.steps, args.batch_size, args.lr, args.seed, args.measure,
                            progress=lambda cell: print(f"  {cell} ...", flush=True))
    print("\n" + summary_table(results))
    print(f"(acc: share of the {args.measure} measured sentences whose first token is recalled; far/near: "
          f"the norm at distance {args.length}, the first token, over the norm at distance 0)")
    columns = {}
    for r in results:
        columns[f"{r.cell} init"] = r.initial.norms[0]
        columns[f"{r.cell} trained"] = r.trained.norms[0]
    print("\nmean ‖dL/dh_t‖ by distance from the final encoder state (distance "
          f"{args.length} is the first token, the one to recall):")
    print(format_table(columns, table_rows(args.length, args.every)))
    panels = {"at initialisation": {r.cell: r.initial.norms[0] for r in results},
              f"after {args.steps} training steps": {r.cell: r.trained.norms[0] for r in results}}
    title = f"recall the first of {args.length} tokens: gradient through time"
    print(f"\nplot written to {save_figure(profile_figure(panels, title), args.output)}")


def summary_table(results) -> str:
    """Per cell: recall accuracy, loss per target token and far/near gradient ratio, before and after training."""
    heads = ("acc init", "acc trained", "loss init", "loss trained", "far/near init", "far/near trained")
    lines = [f"{'cell':<6}" + "".join(f"{h:>17}" for h in heads)]
    for r in results:
        values = (f"{r.initial_accuracy:.3f}", f"{r.accuracy:.3f}", f"{r.initial.loss:.3f}", f"{r.trained.loss:.3f}",
                  f"{_far_near(r.initial):.2e}", f"{_far_near(r.trained):.2e}")
        lines.append(f"{r.cell:<6}" + "".join(f"{v:>17}" for v in values))
    return "\n".join(lines)


def _far_near(profile) -> float:
    """Norm at the farthest distance over the norm at distance 0."""
    norms = profile.norms[0]
    return float(norms[-1] / norms[0]) if float(norms[0]) > 0 else float("nan")
