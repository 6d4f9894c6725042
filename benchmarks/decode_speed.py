"""Decoding speed through the `Translator` (text in, text out) on Multi30k test2016.

Sentences/s, output tokens/s and decoder rows (hypotheses x steps: the work, free of timing
noise) for greedy and beam 5 at batch sizes 1 / 32 / 128, fp32 and bf16
(bf16 only where the hardware has it natively; elsewhere it is reported as skipped with the
reason, not measured). Load time and one warm-up batch are excluded from the rates.

The model is a trained export (`--model runs/<name>/export`: outputs end where the model ends
them) or, by default, the reference architecture with random weights (bi-LSTM encoder 256 per
direction, LSTM decoder 512, embeddings 256, Luong general attention with input feeding, joint
8k SentencePiece vocabulary). Random weights never choose to stop, so every output is forced to
a fixed length: the mean reference length of the test set in pieces. The JSON says which.

    python benchmarks/decode_speed.py                       # random weights, 2 threads
    python benchmarks/decode_speed.py --model runs/multi30k-de-en/export --threads 2
    python benchmarks/decode_speed.py --model DIR --int8 --shortlist 100,50 100,20 100,10 --batch-sizes 1 64
    python benchmarks/decode_speed.py --model DIR --int8 --shortlist 100,20 --beams 5 --early-stop
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import sacrebleu
import torch

from nmt.training.allocator import tune_malloc
from nmt.config import ModelConfig, SearchConfig, TokenizerConfig
from nmt.model import build_model
from nmt.decoding.quantization import quantize_decoder
from nmt.commands.decoding_options import shortlist_sizes
from nmt.decoding.shortlist import FILE, LexicalTable
from nmt.training.precision import cpu_capability, native_bf16
from nmt.tokenizer import Tokenizer, TrainingTextWriter, train_tokenizer
import nmt.decoding.translator
from nmt.decoding.translator import Translator

DEFAULT_DATA = os.environ.get("NMT_DATA_DIR", "../shared/data/multi30k")


def reference_tokenizer(data_dir: Path, directory: Path | None, src: str, tgt: str) -> tuple[Tokenizer, str]:
    """The tokenizer `nmt prepare` made for Multi30k, or a joint 8k unigram trained now (not timed)."""
    if directory is not None and (directory / "tokenizer.json").is_file():
        return Tokenizer.load(directory), str(directory)
    work = Path(tempfile.mkdtemp(prefix="decode-speed-"))
    writer = TrainingTextWriter(work, "multi30k train", "decode-speed")
    src_lines = (data_dir / f"train.{src}").read_text(encoding="utf-8").splitlines()
    tgt_lines = (data_dir / f"train.{tgt}").read_text(encoding="utf-8").splitlines()
    for pair in zip(src_lines, tgt_lines):
        writer.add(pair)
    tokenizer = train_tokenizer(work / "tokenizer", writer.close(), TokenizerConfig(vocab_size=8000), src, tgt)
    return tokenizer, f"joint unigram 8000 trained on {data_dir}/train for this run"


def load_translator(args: argparse.Namespace, references: list[str]) -> tuple[Translator, dict]:
    if args.model is not None:
        translator = Translator.load(args.model, device=args.device)
        return translator, {"weights": f"trained export {args.model}", "output_length": "as the model ends it"}
    tokenizer, origin = reference_tokenizer(args.data_dir, args.tokenizer, args.src, args.tgt)
    torch.manual_seed(0)
    model = build_model(ModelConfig(), tokenizer.src_vocab_size, tokenizer.tgt_vocab_size).to(args.device).eval()
    length = round(statistics.mean(len(ids) for ids in tokenizer.encode_tgt(references)))
    fixed = SearchConfig(beam_size=1).fixed_length(length)
    info = {"weights": "random (reference architecture)", "tokenizer": origin,
            "output_length": f"fixed: {length} pieces + EOS (mean test reference length)"}
    return Translator(model, tokenizer, fixed, device=args.device), info


class RowCounter:
    """Counts the rows every decoder step runs (hypotheses x steps): the search's work, which
    unlike the time does not move with the machine's noise. Wraps the Translator's `search`
    from when `main` creates it, for this benchmark only."""

    def __init__(self):
        self.rows = 0
        self._search = nmt.decoding.translator.search
        nmt.decoding.translator.search = self.search

    def search(self, model, *args, **kwargs):
        counter, step = self, model.step

        class Counting:
            def __getattr__(self, name):
                return getattr(model, name)

            def step(self, state, prev):
                counter.rows += prev.numel()
                return step(state, prev)

        return self._search(Counting(), *args, **kwargs)


def time_one(translator: Translator, counter: RowCounter, lines: list[str], beam: int, batch_size: int,
             references: list[str] | None = None, early_stop: bool = False) -> dict:
    """Sentences/s and output tokens/s; with `references` (a trained model) also BLEU of these lines."""
    config = translator.search_config.model_copy(update={"beam_size": beam, "nbest": 1, "early_stop": early_stop})
    translator.batch_size = batch_size
    translator.translate(lines[:batch_size], config)  # warm-up: allocator, kernels
    counter.rows = 0
    start = time.perf_counter()
    results = translator.translate(lines, config)
    seconds = time.perf_counter() - start
    rows = counter.rows
    tokens = sum(len(t.hypotheses[0].tokens) for t in results if t.hypotheses)
    score = {}
    if references is not None:
        score = {"bleu": round(sacrebleu.corpus_bleu([t.text for t in results], [references]).score, 2)}
    return {**score, "load_average_1min": round(os.getloadavg()[0], 2), "beam": beam, "batch_size": batch_size, "sentences": len(lines), "output_tokens": tokens, "decoder_rows": rows,
            "seconds": round(seconds, 3), "sentences_per_s": round(len(lines) / seconds, 1),
            "tokens_per_s": round(tokens / seconds, 1)}


def bf16_skip_reason(device: str) -> str | None:
    kind = torch.device(device).type
    if native_bf16(kind):
        return None
    what = cpu_capability() if kind == "cpu" else "this GPU"
    return f"no native bf16 on {what}: torch would emulate it, much slower than fp32"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA), help="Multi30k folder (default: %(default)s)")
    parser.add_argument("--src", default="de")
    parser.add_argument("--tgt", default="en")
    parser.add_argument("--model", type=Path, help="a trained export directory (default: random weights)")
    parser.add_argument("--tokenizer", type=Path, default=Path("tokenizers/multi30k-de-en"),
                        help="tokenizer folder for random weights; trained now if missing (default: %(default)s)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 128])
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--batch1-sentences", type=int, default=200, help="sentences timed at batch size 1")
    parser.add_argument("--sentences", type=int, default=1000, help="sentences timed at larger batch sizes")
    parser.add_argument("--int8", action="store_true", help="also time the int8 decoder (CPU), as `--int8` runs it")
    parser.add_argument("--shortlist", type=shortlist_sizes, nargs="+", metavar="F,K[,M]",
                        help="with --model: also time each precision over the model's vocabulary shortlist at each "
                             "size given, as `--shortlist F,K[,M]` runs it")
    parser.add_argument("--early-stop", action="store_true",
                        help="also time every beam search row with `--early-stop`, right after the exact one")
    args = parser.parse_args()
    if args.shortlist and args.model is None:
        parser.error("--shortlist needs --model (a trained export with its shortlist.safetensors)")
    if args.threads:
        torch.set_num_threads(args.threads)
    tune_malloc()
    sources = (args.data_dir / f"test2016.{args.src}").read_text(encoding="utf-8").splitlines()
    references = (args.data_dir / f"test2016.{args.tgt}").read_text(encoding="utf-8").splitlines()
    start = time.perf_counter()
    translator, model_info = load_translator(args, references)
    load_seconds = time.perf_counter() - start
    results, skipped = [], []
    counter = RowCounter()
    precisions = ("fp32", "int8", "bf16") if args.int8 else ("fp32", "bf16")
    fp32_model = translator.model
    lexical = LexicalTable.load(args.model / FILE) if args.shortlist else None
    shortlists = [None] + [(lexical, sizes) for sizes in args.shortlist or []]
    for precision in precisions:
        if precision == "int8":
            translator.model = quantize_decoder(copy.deepcopy(fp32_model))
        elif precision == "bf16":
            translator.model = fp32_model
            reason = bf16_skip_reason(args.device)
            if reason:
                skipped.append({"precision": "bf16", "reason": reason})
                continue
            translator.model.to(torch.bfloat16)
        for shortlist in shortlists:
            translator.shortlist = shortlist
            for beam in args.beams:
                for batch_size in args.batch_sizes:
                    count = args.batch1_sentences if batch_size == 1 else args.sentences
                    for early_stop in (False, True) if args.early_stop and beam > 1 else (False,):
                        row = time_one(translator, counter, sources[:count], beam, batch_size,
                                       references[:count] if args.model is not None else None, early_stop)
                        label = {"shortlist": str(shortlist[1])} if shortlist else {}
                        label |= {"early_stop": True} if early_stop else {}
                        results.append({"precision": precision, **label, **row})
                        print(json.dumps(results[-1]), flush=True)
        translator.shortlist = None
    summary = {
        "benchmark": "decode_speed", "data": f"{args.data_dir}/test2016.{args.src} ({len(sources)} lines)",
        "model": {**model_info, "params": sum(p.numel() for p in fp32_model.parameters())},
        "load_seconds_not_counted": round(load_seconds, 2), "device": args.device,
        "threads": torch.get_num_threads(), "cpu": f"{platform.machine()} {cpu_capability()}",
        "load_average_1_5_15_min": [round(x, 2) for x in os.getloadavg()],  # other jobs on the machine
        "torch": torch.__version__, "results": results, "skipped": skipped,
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
