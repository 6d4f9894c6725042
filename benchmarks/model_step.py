"""Forward + backward time of one training batch, per decoder variant, on synthetic data.

The reference model (bi-LSTM encoder 256 per direction, LSTM decoder 512, embeddings 256, 8k
joint vocabulary) on a 4096-token batch like Multi30k's (256 sentences of 12..16 tokens), fp32.
No data, no optimizer: this isolates the model. Prints one JSON object per variant, e.g.

    python benchmarks/model_step.py --threads 2 --repeats 5
    python benchmarks/model_step.py --variants luong-feed luong-fused --tune-malloc
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from nmt.allocator import tune_malloc
from nmt.config import ModelConfig
from nmt.data.batch import Batch, collate
from nmt.model import build_model, sequence_loss

VARIANTS = {  # name -> decoder overrides
    "luong-feed": dict(attention="luong", score="general", input_feeding=True),
    "luong-fused": dict(attention="luong", score="general", input_feeding=False),
    "bahdanau": dict(attention="bahdanau"),
    "none-fused": dict(attention="none"),
    "luong-feed-ss": dict(attention="luong", score="general", input_feeding=True),  # teacher forcing 0.75
}


def synthetic_batch(sentences: int, vocab: int, low: int, high: int, seed: int = 0) -> Batch:
    """Random pairs of low..high pieces (before EOS) per side."""
    g = torch.Generator().manual_seed(seed)

    def sentence() -> list[int]:
        n = int(torch.randint(low, high + 1, (1,), generator=g))
        return torch.randint(4, vocab, (n,), generator=g).tolist()

    return collate([(sentence(), sentence()) for _ in range(sentences)])


def time_variant(name: str, batch: Batch, vocab: int, repeats: int, warmup: int) -> dict:
    cfg = ModelConfig.model_validate({"decoder": VARIANTS[name]})
    model = build_model(cfg, vocab, vocab).train()
    teacher_forcing = 0.75 if name.endswith("-ss") else 1.0
    times, cpu_times = [], []
    for i in range(warmup + repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        out = model(batch.src, batch.src_lengths, batch.tgt_in, teacher_forcing)
        loss = sequence_loss(out.logits, batch.tgt_out[out.mask], label_smoothing=0.1)
        loss.loss.backward()
        model.zero_grad(set_to_none=True)
        if i >= warmup:
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    seconds = statistics.median(times)
    return {
        "variant": name,
        "fused": model.decoder.can_fuse(teacher_forcing),
        "teacher_forcing": teacher_forcing,
        "seconds_per_batch": round(seconds, 4),
        "min_seconds": round(min(times), 4),
        "min_cpu_seconds": round(min(cpu_times), 4),  # all threads: about threads x wall when unloaded
        "tgt_tokens_per_s": round(batch.num_target_tokens / seconds, 1),
        "sentences": batch.size,
        "tgt_tokens": batch.num_target_tokens,
        "src_tokens": int(batch.src_lengths.sum()),
        "params": sum(p.numel() for p in model.parameters()),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["luong-feed", "luong-fused"], choices=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--sentences", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--tune-malloc", action="store_true", help="raise glibc's mmap/trim thresholds first")
    args = parser.parse_args()
    malloc_tuned = tune_malloc() if args.tune_malloc else False
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1234)
    batch = synthetic_batch(args.sentences, args.vocab, low=11, high=15)
    for name in args.variants:
        result = time_variant(name, batch, args.vocab, args.repeats, args.warmup)
        print(json.dumps({**result, "malloc_tuned": malloc_tuned}), flush=True)


if __name__ == "__main__":
    main()
