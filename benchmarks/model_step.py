"""Forward + backward time of one training batch, per decoder variant, on synthetic data.

The reference model (bi-LSTM encoder 256 per direction, LSTM decoder 512, embeddings 256, 8k
joint vocabulary) on a 4096-token batch like Multi30k's (256 sentences of 12..16 tokens with EOS),
fp32, label smoothing 0.1. No data loading, no optimizer: this isolates the model. The loss is
training's (`projected_loss`: output layer and loss in row chunks); `--loss both` also runs each
variant through the logits and `sequence_loss` (rows "<variant>/logits"). Variants run
interleaved (one batch of each in turn), so load from other processes hits them alike; the
minimum over repeats is the least disturbed measurement. Prints one JSON object per variant:

    python benchmarks/model_step.py --threads 2 --repeats 8
    python benchmarks/model_step.py --variants luong-feed luong-fused --tune-malloc
    python benchmarks/model_step.py --variants luong-feed --loss both --tune-malloc
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from nmt.training.allocator import tune_malloc
from nmt.config import ModelConfig
from nmt.data.batch import Batch, collate
from nmt.model import Seq2Seq, build_model, sequence_loss
from nmt.model.loss import projected_loss

VARIANTS = {  # name -> (decoder overrides, teacher forcing)
    "luong-feed": (dict(attention="luong", score="general", input_feeding=True), 1.0),  # step path
    "luong-fused": (dict(attention="luong", score="general", input_feeding=False), 1.0),
    "bahdanau": (dict(attention="bahdanau"), 1.0),  # step path
    "none-fused": (dict(attention="none"), 1.0),
    "luong-feed-ss": (dict(attention="luong", score="general", input_feeding=True), 0.75),  # scheduled sampling
}


def synthetic_batch(sentences: int, vocab: int, low: int, high: int, seed: int = 0) -> Batch:
    """Random pairs of low..high pieces (before EOS) per side."""
    g = torch.Generator().manual_seed(seed)

    def sentence() -> list[int]:
        n = int(torch.randint(low, high + 1, (1,), generator=g))
        return torch.randint(4, vocab, (n,), generator=g).tolist()

    return collate([(sentence(), sentence()) for _ in range(sentences)])


def train_batch(model: Seq2Seq, batch: Batch, teacher_forcing: float, logits: bool = False) -> tuple[float, float]:
    """(wall, CPU) seconds of one forward + backward."""
    start, cpu_start = time.perf_counter(), time.process_time()
    out = model(batch.src, batch.src_lengths, batch.tgt_in, teacher_forcing, project=logits)
    targets = batch.tgt_out[out.mask]
    if logits:
        loss = sequence_loss(out.logits, targets, label_smoothing=0.1)
    else:
        loss = projected_loss(out.features, model.decoder.output, targets, label_smoothing=0.1)
    del out
    loss.loss.backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start, time.process_time() - cpu_start


def run(names: list[str], batch: Batch, vocab: int, repeats: int, warmup: int, loss: str = "projected") -> list[dict]:
    models = {}
    for name in names:
        torch.manual_seed(1234)
        models[name] = build_model(ModelConfig.model_validate({"decoder": VARIANTS[name][0]}), vocab, vocab).train()
    runs = [(name, logits) for name in names for logits in {"projected": [False], "logits": [True],
                                                            "both": [False, True]}[loss]]
    times: dict[tuple, list[tuple[float, float]]] = {key: [] for key in runs}
    for i in range(warmup + repeats):
        for name, logits in runs:
            measured = train_batch(models[name], batch, VARIANTS[name][1], logits)
            if i >= warmup:
                times[name, logits].append(measured)
    results = []
    for name, logits in runs:
        wall = [w for w, _ in times[name, logits]]
        results.append({
            "variant": name + ("/logits" if logits and loss == "both" else ""),
            "loss": "logits, then sequence_loss" if logits else "projected_loss",
            "fused": models[name].decoder.can_fuse(VARIANTS[name][1]),
            "teacher_forcing": VARIANTS[name][1],
            "min_seconds": round(min(wall), 4),
            "median_seconds": round(statistics.median(wall), 4),
            "min_cpu_seconds": round(min(c for _, c in times[name, logits]), 4),  # all threads together
            "tgt_tokens_per_s": round(batch.num_target_tokens / min(wall), 1),  # at the minimum
            "params": sum(p.numel() for p in models[name].parameters()),
        })
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--sentences", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--tune-malloc", action="store_true", help="raise glibc's mmap/trim thresholds first")
    parser.add_argument("--loss", choices=("projected", "logits", "both"), default="projected",
                        help="training's projected_loss, logits + sequence_loss, or both interleaved")
    args = parser.parse_args()
    malloc_tuned = tune_malloc() if args.tune_malloc else False
    if args.threads:
        torch.set_num_threads(args.threads)
    batch = synthetic_batch(args.sentences, args.vocab, low=11, high=15)
    context = {
        "sentences": batch.size, "tgt_tokens": batch.num_target_tokens, "src_tokens": int(batch.src_lengths.sum()),
        "threads": torch.get_num_threads(), "malloc_tuned": malloc_tuned, "torch": torch.__version__,
        "cpu": torch.backends.cpu.get_cpu_capability(), "machine": platform.machine(),
        "load_before": round(os.getloadavg()[0], 2),
    }
    results = run(args.variants, batch, args.vocab, args.repeats, args.warmup, args.loss)
    for result in results:
        print(json.dumps({**result, **context, "load_after": round(os.getloadavg()[0], 2)}), flush=True)


if __name__ == "__main__":
    main()
