"""Training speed on Multi30k: target tokens/s and peak RSS of real `nmt train` steps, per variant.

Each variant trains the reference model (bi-LSTM encoder 256 per direction, LSTM decoder 512,
embeddings 256, joint 8k SentencePiece, 4096-token batches, Adam 1e-3, label smoothing 0.1,
dropout 0.3; Luong general attention unless the variant says otherwise) through `nmt.training.run.train`:
the data comes through `nmt prepare`'s pipeline and cache, every step is a real Lightning step with
the optimizer, logging and progress bar, and validation is off. Throughput is wall time over a
window of steps after a warm-up, data loading included, and the target tokens (EOS included, BOS
and padding not) of the batches in that window.

Every variant runs in its own child process, so its peak RSS (`os.wait4` rusage of that child) is
its own; variants are interleaved over `--rounds`, so load from other processes hits them alike.
bf16-mixed runs only where the CPU has native bf16; elsewhere it is reported as skipped, with the
reason. Prints one JSON document:

    python benchmarks/train_speed.py                          # every variant, 2 rounds
    python benchmarks/train_speed.py --variants luong-feed luong-fused --rounds 3 --steps 30
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence

REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "recipes" / "multi30k" / "de-en.yaml"
sys.path.insert(0, str(REPO))  # this checkout's nmt, whatever is installed


@dataclass(frozen=True)
class Variant:
    decoder: dict  # model.decoder overrides
    target_pieces: str = "seen"  # data.tokenizer.target_pieces
    step_path: bool = False  # force the step path where the fused one would apply
    data: tuple[tuple[str, str], ...] = ()  # more data.* overrides (key, value); the data gets its own name
    about: str = ""


LUONG = dict(attention="luong", score="general")
VARIANTS = {
    "luong-feed": Variant({**LUONG, "input_feeding": True}, about="the reference: Luong general + input feeding (step path)"),
    "luong-feed-all": Variant({**LUONG, "input_feeding": True}, target_pieces="all",
                              about="the reference with all 8000 target pieces (OpenNMT-py's width)"),
    "luong-fused": Variant({**LUONG, "input_feeding": False}, about="Luong general, no input feeding: fused path"),
    "luong-step": Variant({**LUONG, "input_feeding": False}, step_path=True,
                          about="Luong general, no input feeding, forced onto the step path"),
    "luong-feed-sampled": Variant({**LUONG, "input_feeding": True}, data=(("subword_sampling.alpha", "0.5"),),
                                  about="the reference with subword regularization (unigram sampling, alpha 0.5)"),
    "bahdanau": Variant({"attention": "bahdanau"}, about="Bahdanau (step path)"),
    "none": Variant({"attention": "none"}, about="no attention, Cho et al. 2014 (fused path)"),
    "none-step": Variant({"attention": "none"}, step_path=True, about="no attention, forced onto the step path"),
}
PRECISIONS = ("32", "bf16-mixed")


# ----------------------------------------------------------------------------- in the child


def make_config(variant: Variant, data_dir: str, run_dir: str, precision: str, threads: int, max_steps: int,
                accelerator: str = "cpu", extra: Sequence[str] = ()):
    """The recipe's config with the variant's overrides, validation off and a step budget; on a GPU
    with the gpu profile's two DataLoader workers, so batches are collated beside the steps."""
    from nmt.config import load_config

    os.environ["NMT_DATA_DIR"] = data_dir
    suffix = "" if variant.target_pieces == "seen" else f"-{variant.target_pieces}"
    suffix += "-sampled" if variant.data else ""  # its own cache (with text), beside the others'
    overrides = [f"model.decoder.{key}={value}" for key, value in variant.decoder.items()] + [
        f"data.{key}={value}" for key, value in variant.data] + [
        f"data.name=multi30k-de-en{suffix}",
        f"data.tokenizer.target_pieces={variant.target_pieces}",
        f"train.run_dir={run_dir}",
        f"train.precision='{precision}'",
        f"train.threads={threads}",
        f"train.max_steps={max_steps}",
        "train.val_every_steps=1000000000",  # never reached: no validation inside the window
        "train.val_bleu=false",
        f"train.accelerator={accelerator}",
    ] + (["data.num_workers=2"] if accelerator == "gpu" else [])
    return load_config(RECIPE, overrides + list(extra))


def step_timer(warmup: int, steps: int):
    """A Lightning callback that records the end time, CPU time and target tokens of every step."""
    import lightning as L
    import torch

    class StepTimer(L.Callback):
        def __init__(self):
            self.ends: list[float] = []
            self.cpu: list[float] = []
            self.tokens: list[int] = []
            self.sentences: list[int] = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if batch.src.is_cuda:  # the step's kernels have run, not only been queued
                torch.cuda.synchronize()
            self.ends.append(time.perf_counter())
            self.cpu.append(time.process_time())
            self.tokens.append(batch.num_target_tokens)
            self.sentences.append(batch.size)

        def window(self) -> dict:
            """Steps warmup+1 .. warmup+steps: wall from the end of step `warmup` to the end of the last."""
            if len(self.ends) < warmup + steps:
                raise RuntimeError(f"only {len(self.ends)} steps ran; need {warmup + steps}")
            a, b = warmup - 1, warmup + steps - 1
            wall = self.ends[b] - self.ends[a]
            tokens = sum(self.tokens[a + 1 : b + 1])
            per_step = [self.ends[i] - self.ends[i - 1] for i in range(a + 1, b + 1)]
            return {
                "steps": steps, "wall_s": round(wall, 3), "tgt_tokens": tokens,
                "tgt_tokens_per_s": round(tokens / wall, 1),
                "s_per_step": round(wall / steps, 4), "median_s_per_step": round(statistics.median(per_step), 4),
                "sentences_per_step": round(sum(self.sentences[a + 1 : b + 1]) / steps, 1),
                "cpu_utilisation": round((self.cpu[b] - self.cpu[a]) / wall, 2),  # cores busy on average
            }

    return StepTimer()


def step_path_only():
    """A callback that makes the decoder take its step path even where the fused one applies."""
    import lightning as L

    class StepPathOnly(L.Callback):
        def on_fit_start(self, trainer, pl_module) -> None:
            pl_module.model.decoder.can_fuse = lambda teacher_forcing=1.0: False

    return StepPathOnly()


def measure(variant: Variant, data_dir: str, precision: str = "32", threads: int = 2,
            warmup: int = 5, steps: int = 20, setup: Optional[str] = None, run_dir: Optional[str] = None,
            accelerator: str = "cpu", overrides: Sequence[str] = ()) -> dict:
    """Train `warmup + steps` real steps in this process, as `nmt train` does (malloc tuned);
    throughput over the last `steps`.

    setup: "FILE.py:FUNCTION", called first; the Lightning callbacks it returns join the run
    (for A/B experiments: a change tried in one child and not in its neighbour).
    run_dir: keep the run (and its export) there instead of in a temporary directory.
    accelerator: cpu or gpu (`train.accelerator`); on a GPU the peak GPU memory is reported too.
    overrides: more `KEY=VALUE` config overrides (e.g. `model.init=xavier`), applied last."""
    from nmt.training.allocator import tune_malloc
    from nmt.training.run import RunPaths, train

    tune_malloc()
    timer = step_timer(warmup, steps)
    callbacks = [timer] + ([step_path_only()] if variant.step_path else []) + _run_setup(setup)
    with (contextlib.nullcontext(run_dir) if run_dir else tempfile.TemporaryDirectory(prefix="nmt-train-speed-")) as where:
        config = make_config(variant, data_dir, where, precision, threads, warmup + steps, accelerator, overrides)
        load = os.getloadavg()[0]
        result = train(config, RunPaths(Path(where) / config.run_name), callbacks=callbacks)
    gpu = {}
    if accelerator == "gpu":
        import torch

        gpu = {"gpu_peak_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)}
    return {**timer.window(), "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
            "tgt_vocab": _target_vocab(config), "export": str(result.export) if run_dir else None, **gpu}


def _run_setup(setup: Optional[str]) -> list:
    if not setup:
        return []
    import importlib.util

    path, function = setup.rsplit(":", 1)
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(getattr(module, function)() or [])


def _target_vocab(config) -> int:
    from nmt.data.pipeline import read_manifest
    from nmt.tokenizer import Tokenizer

    return Tokenizer.load(Path(read_manifest(config.data)["tokenizer"])).tgt_vocab_size


# ----------------------------------------------------------------------------- in the parent


def run_child(spec: dict, env: Optional[dict] = None) -> dict:
    """One variant in a fresh process (`spec`: `measure`'s arguments, the variant by name, and
    `env`: variables added to its environment); its peak RSS from `os.wait4`."""
    with tempfile.TemporaryDirectory(prefix="nmt-train-speed-child-") as tmp:
        out, log = Path(tmp) / "result.json", Path(tmp) / "stderr.log"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec), "--child-out", str(out)]
        with open(log, "wb") as err:
            proc = subprocess.Popen(command, cwd=os.getcwd(), stdout=subprocess.DEVNULL, stderr=err,
                                    env={**os.environ, **(env or {})})
            _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0 or not out.is_file():
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            return {"error": f"exit status {proc.returncode}: " + " | ".join(tail)}
        result = json.loads(out.read_text())
    return {**result, "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}  # ru_maxrss: KiB on Linux


def bf16_skip_reason(accelerator: str = "cpu") -> Optional[str]:
    """Why bf16-mixed is not measured on this CPU (or GPU), or None where it is native."""
    from nmt.errors import ConfigError
    from nmt.training.precision import cpu_capability, native_bf16, resolve_precision

    device = "cuda" if accelerator == "gpu" else "cpu"
    if native_bf16(device):
        try:
            resolve_precision("bf16-mixed", device)
        except ConfigError as err:
            return str(err)
        return None
    if device == "cuda":
        return "this GPU has no native bf16"
    return (f"no native bf16 on this CPU ({cpu_capability()}): torch emulates bf16 matmuls there (10-50x slower "
            f"than fp32) and nmt train refuses bf16-mixed rather than fake it")


def prepare_data(names: list[str], data_dir: str) -> None:
    """Tokenizers and caches for every target_pieces setting used, before any timing."""
    from nmt.data.pipeline import prepare

    for pieces in sorted({VARIANTS[name].target_pieces for name in names}):
        with tempfile.TemporaryDirectory() as run_dir:
            config = make_config(Variant({}, target_pieces=pieces), data_dir, run_dir, "32", 1, 1)
        prepare(config.data, progress=False)


def machine(gpu: bool = False) -> dict:
    from nmt.training.machine import describe_machine

    return describe_machine(gpu=gpu).to_json()


def summarise(name: str, precision: str, runs: list[dict]) -> dict:
    good = [r for r in runs if "error" not in r]
    row = {"variant": name, "precision": precision, "about": VARIANTS[name].about,
           "target_pieces": VARIANTS[name].target_pieces, "step_path_forced": VARIANTS[name].step_path}
    if not good:
        return {**row, "error": runs[0]["error"] if runs else "not run"}
    speeds = [r["tgt_tokens_per_s"] for r in good]
    return {
        **row, "tgt_vocab": good[0]["tgt_vocab"],
        "tgt_tokens_per_s_best": max(speeds), "tgt_tokens_per_s_median": round(statistics.median(speeds), 1),
        "s_per_step_best": min(r["s_per_step"] for r in good),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in good),
        "rounds": good,
    }


def benchmark(names: list[str], data_dir: str, rounds: int = 2, threads: int = 2, warmup: int = 5,
              steps: int = 20, precisions: tuple[str, ...] = PRECISIONS, accelerator: str = "cpu") -> dict:
    """Every (variant, precision) once per round, interleaved; a JSON-ready summary."""
    prepare_data(names, data_dir)
    skip = bf16_skip_reason(accelerator)
    plan = [(n, p) for n in names for p in precisions if not (p == "bf16-mixed" and skip)]
    runs: dict[tuple[str, str], list[dict]] = {key: [] for key in plan}
    started, load = time.monotonic(), os.getloadavg()
    for r in range(rounds):
        for name, precision in plan:
            spec = {"variant": name, "data_dir": data_dir, "precision": precision, "threads": threads,
                    "warmup": warmup, "steps": steps, "accelerator": accelerator}
            result = run_child(spec)
            runs[(name, precision)].append(result)
            print(f"round {r + 1}/{rounds} {name} {precision}: "
                  f"{result.get('tgt_tokens_per_s', result.get('error'))} tok/s, "
                  f"{result.get('peak_rss_mb')} MB", file=sys.stderr, flush=True)
    rows = [summarise(name, precision, runs[(name, precision)]) for name, precision in plan]
    if skip:
        rows += [{"variant": n, "precision": "bf16-mixed", "skipped": skip} for n in names]
    return {
        **machine(gpu=accelerator == "gpu"), "accelerator": accelerator, "threads": threads, "rounds": rounds, "warmup_steps": warmup, "window_steps": steps,
        "data_dir": data_dir, "load_avg_start": [round(x, 2) for x in load],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "minutes": round((time.monotonic() - started) / 60, 1), "results": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("NMT_DATA_DIR", "../shared/data/multi30k"),
                        help="Multi30k train/val/test2016 .de/.en files (default: $NMT_DATA_DIR or ../shared/data/multi30k)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=list(PRECISIONS))
    parser.add_argument("--rounds", type=int, default=2, help="times every variant runs, interleaved")
    parser.add_argument("--warmup", type=int, default=5, help="steps before the timed window")
    parser.add_argument("--steps", type=int, default=20, help="steps in the timed window")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch CPU threads (train.threads)")
    parser.add_argument("--accelerator", choices=("cpu", "gpu"), default="cpu", help="train.accelerator (default: cpu)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        variant = VARIANTS[spec.pop("variant")]
        Path(args.child_out).write_text(json.dumps(measure(variant, **spec)))
        return
    print(json.dumps(benchmark(args.variants, args.data_dir, args.rounds, args.threads, args.warmup, args.steps,
                               tuple(args.precisions), args.accelerator), indent=1))


if __name__ == "__main__":
    main()
